//! Product labels: the payload searched by filters and shown with hits.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The labels of one product, field name to value. Missing values are absent
/// (the CSV's `NA` and empty cells are never stored).
///
/// Kept as a sorted list of shared strings rather than a map of owned
/// ones: a catalogue repeats a few field names and values millions of
/// times, and an index opened with [`with_interning`] holds each once
/// (about 300 bytes per product instead of 1,100 at 1M products).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<(Arc<str>, Arc<str>)>);

impl Labels {
    /// The value of `field`, if present.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.position(field).ok().map(|i| &*self.0[i].1)
    }

    /// Sets `field` to `value`, unless the value means "missing" (`NA` or blank).
    pub fn set(&mut self, field: &str, value: &str) {
        let value = value.trim();
        if !is_missing(value) {
            self.insert(intern(field), intern(value));
        }
    }

    /// True when the product has no labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of fields with a value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates over `(field, value)` pairs in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    fn position(&self, field: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(field))
    }

    fn insert(&mut self, field: Arc<str>, value: Arc<str>) {
        match self.position(&field) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (field, value)),
        }
    }
}

impl FromIterator<(String, String)> for Labels {
    /// Labels from `(field, value)` pairs as they are (no "missing" rule);
    /// a repeated field keeps its last value.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Labels {
        let mut labels = Labels::default();
        for (k, v) in pairs {
            labels.insert(intern(&k), intern(&v));
        }
        labels
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct LabelsVisitor;
        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of label names to text values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut labels = Labels(Vec::with_capacity(map.size_hint().unwrap_or(0)));
                // Borrowed where the input allows (no escapes), owned otherwise.
                while let Some((k, v)) =
                    map.next_entry::<std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>>()?
                {
                    labels.insert(intern(&k), intern(&v));
                }
                labels.0.shrink_to_fit();
                Ok(labels)
            }
        }
        d.deserialize_map(LabelsVisitor)
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        map.into_iter().collect()
    }
}

thread_local! {
    /// The strings seen by [`with_interning`] on this thread, while it runs.
    static INTERNER: RefCell<Option<HashSet<Arc<str>>>> = const { RefCell::new(None) };
}

/// Runs `f` with label strings shared: every label made on this thread
/// meanwhile (parsed, or set) reuses an equal string made before. The
/// index reader reads its product records this way.
pub fn with_interning<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(Option<HashSet<Arc<str>>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            INTERNER.with(|i| *i.borrow_mut() = previous);
        }
    }
    let previous = INTERNER.with(|i| i.borrow_mut().replace(HashSet::new()));
    let _reset = Reset(previous);
    f()
}

/// `text` as a shared string: the interned one inside [`with_interning`].
fn intern(text: &str) -> Arc<str> {
    INTERNER.with(|i| match i.borrow_mut().as_mut() {
        Some(seen) => match seen.get(text) {
            Some(s) => s.clone(),
            None => {
                let s: Arc<str> = Arc::from(text);
                seen.insert(s.clone());
                s
            }
        },
        None => Arc::from(text),
    })
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

    #[test]
    fn labels_read_back_as_written_and_share_their_strings_when_interned() {
        let mut l = Labels::default();
        l.set("usage", "Casual");
        l.set("articleType", "Tops");
        l.set("articleType", "Shirts");
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            [("articleType", "Shirts"), ("usage", "Casual")]
        );
        let json = serde_json::to_string(&l).expect("json");
        assert_eq!(json, r#"{"articleType":"Shirts","usage":"Casual"}"#);
        // Escapes and a repeated field: the last value wins, as a map's.
        let back: Labels = serde_json::from_str(
            r#"{"usage":"Casual","articleType":"Sh\u0069rts","usage":"Formal"}"#,
        )
        .expect("parse");
        assert_eq!(back.get("articleType"), Some("Shirts"));
        assert_eq!(back.get("usage"), Some("Formal"));
        assert_eq!(back.len(), 2);
        assert!(
            serde_json::from_str::<Labels>(r#"{"a":1}"#).is_err(),
            "values are text"
        );

        let twice = r#"[{"kind":"Shirts"},{"kind":"Shirts"}]"#;
        let shared: Vec<Labels> = with_interning(|| serde_json::from_str(twice).expect("parse"));
        assert!(
            Arc::ptr_eq(&shared[0].0[0].1, &shared[1].0[0].1),
            "one string"
        );
        let apart: Vec<Labels> = serde_json::from_str(twice).expect("parse");
        assert!(
            !Arc::ptr_eq(&apart[0].0[0].1, &apart[1].0[0].1),
            "interning ends with its scope"
        );
        assert_eq!(shared, apart);
    }
}
