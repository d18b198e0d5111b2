//! The label ("payload") index: for each field, which rows hold each value.
//!
//! Filters are answered from these posting lists before the vector scan, so
//! a filtered search visits only matching rows and still returns k hits
//! whenever k rows match.

use std::collections::{BTreeMap, HashMap};

use super::format::ProductRecord;

/// Posting lists per field and value.
#[derive(Debug, Default)]
pub struct PayloadIndex {
    /// field (lower case) -> (its spelling, value (lower case) -> (spelling, rows)).
    fields: HashMap<String, Field>,
}

#[derive(Debug, Default)]
struct Field {
    name: String,
    values: HashMap<String, Value>,
}

#[derive(Debug, Default)]
struct Value {
    text: String,
    rows: Vec<u32>,
}

impl PayloadIndex {
    /// Builds the posting lists of `products`.
    pub fn build(products: &[ProductRecord]) -> PayloadIndex {
        let mut fields: HashMap<String, Field> = HashMap::new();
        for (row, p) in products.iter().enumerate() {
            for (k, v) in p.labels.iter() {
                let field = fields.entry(k.to_lowercase()).or_insert_with(|| Field {
                    name: k.to_string(),
                    values: HashMap::new(),
                });
                field
                    .values
                    .entry(v.to_lowercase())
                    .or_insert_with(|| Value {
                        text: v.to_string(),
                        rows: Vec::new(),
                    })
                    .rows
                    .push(row as u32);
            }
        }
        PayloadIndex { fields }
    }

    /// The field's own spelling, looked up case-insensitively.
    pub fn field_name(&self, field: &str) -> Option<&str> {
        self.fields
            .get(&field.to_lowercase())
            .map(|f| f.name.as_str())
    }

    /// All field names, sorted.
    pub fn field_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.fields.values().map(|f| f.name.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// Rows whose `field` equals `value` (both case-insensitive).
    pub fn rows_eq(&self, field: &str, value: &str) -> &[u32] {
        self.fields
            .get(&field.to_lowercase())
            .and_then(|f| f.values.get(&value.to_lowercase()))
            .map(|v| v.rows.as_slice())
            .unwrap_or(&[])
    }

    /// Every `(value, rows)` of `field`.
    pub fn values(&self, field: &str) -> impl Iterator<Item = (&str, &[u32])> {
        self.fields
            .get(&field.to_lowercase())
            .into_iter()
            .flat_map(|f| {
                f.values
                    .values()
                    .map(|v| (v.text.as_str(), v.rows.as_slice()))
            })
    }

    /// Value counts of `field`, by value.
    pub fn facet(&self, field: &str) -> BTreeMap<String, usize> {
        self.values(field)
            .map(|(v, rows)| (v.to_string(), rows.len()))
            .collect()
    }
}
