//! The held-out split, one rule for everything that learns or is evaluated:
//! catalogue products (`train`, `eval --split test`) and shopper photos.
//!
//! Numeric ids are held out when `id % 5 == 0`, the shared protocol's rule;
//! any other id (a path in a plain image folder, a photo's `<kind>/<uuid>`)
//! by a hash of the id, so that it splits the same way every time and about
//! a fifth is held out too.

/// True for ids held out from training, the test split.
pub fn is_test_id(id: &str) -> bool {
    match id.parse::<u64>() {
        Ok(n) => n.is_multiple_of(5),
        Err(_) => blake3::hash(id.as_bytes()).as_bytes()[0].is_multiple_of(5),
    }
}

/// Validation ids, carved out of the training ids (about 10 %) for early
/// stopping: the test split is never looked at while training.
pub fn is_validation_id(id: &str) -> bool {
    let h = blake3::hash(format!("validation:{id}").as_bytes());
    h.as_bytes()[0] < 26
}

/// A description of the rule, for reports.
pub const TEST_SPLIT_RULE: &str =
    "numeric ids with id % 5 == 0, other ids by a hash of the id (about 1 in 5)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_follow_the_protocol() {
        assert!(is_test_id("15970") && is_test_id("0"));
        assert!(!is_test_id("15971"));
    }

    #[test]
    fn string_ids_split_by_hash_about_a_fifth() {
        let ids: Vec<String> = (0..5000).map(|i| format!("shirts/item-{i}.jpg")).collect();
        let held = ids.iter().filter(|id| is_test_id(id)).count();
        assert!((800..1200).contains(&held), "{held} of 5000 held out");
        // The same id always splits the same way.
        assert_eq!(is_test_id("a/b.jpg"), is_test_id("a/b.jpg"));
        // A string id is not read as its digits: "0005" hashes like any text.
        assert_eq!(
            is_test_id("x15970"),
            blake3::hash(b"x15970").as_bytes()[0].is_multiple_of(5)
        );
    }
}
