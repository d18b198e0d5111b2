//! Product labels: the payload searched by filters and shown with hits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The labels of one product, field name to value. Missing values are absent
/// (the CSV's `NA` and empty cells are never stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// The value of `field`, if present.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Sets `field` to `value`, unless the value means "missing" (`NA` or blank).
    pub fn set(&mut self, field: &str, value: &str) {
        let value = value.trim();
        if !is_missing(value) {
            self.0.insert(field.to_string(), value.to_string());
        }
    }

    /// True when the product has no labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over `(field, value)` pairs in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// True for the cell values that mean "no value" in the Kaggle CSV.
pub fn is_missing(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v.eq_ignore_ascii_case("NA")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn na_and_blank_are_missing() {
        let mut l = Labels::default();
        l.set("a", "NA");
        l.set("b", "  ");
        l.set("c", "na");
        l.set("d", " Navy Blue ");
        assert_eq!(l.get("a"), None);
        assert_eq!(l.get("b"), None);
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get("d"), Some("Navy Blue"));
    }
}
