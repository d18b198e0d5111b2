//! End-to-end: `index --stored-rows f16` on real catalogue images keeps the
//! stored rows at half the bytes, searches like the f32 index, and later
//! runs (an update) keep the choice.

mod common;

use common::*;

#[test]
fn f16_stored_rows_take_half_the_bytes_search_the_same_and_are_kept() {
    let Some(shared) = shared_small() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let (full, half) = (tmp.path().join("f32"), tmp.path().join("f16"));
    let ids = kaggle_subset(&shared, &cat, 200);
    ok(&["index", s(&cat), "--index", s(&full)]);
    ok(&[
        "index",
        s(&cat),
        "--index",
        s(&half),
        "--stored-rows",
        "f16",
    ]);
    let (a, b) = (
        json(&["info", "--index", s(&full), "--json"]),
        json(&["info", "--index", s(&half), "--json"]),
    );
    assert_eq!(a["stored_rows"], "f32", "{a}");
    assert_eq!(b["stored_rows"], "f16", "{b}");
    let vectors = |info: &serde_json::Value| {
        info["bytes_per_product"]["files"]["vectors"]
            .as_f64()
            .expect("vectors bytes")
    };
    assert_eq!(vectors(&a), 2.0 * vectors(&b));
    // Search rows are made before the stored rows are narrowed.
    for q in ids.iter().step_by(40) {
        assert_eq!(similar(&full, q, &[]), similar(&half, q, &[]), "by id {q}");
    }

    // An update without the flag keeps f16, and reads the f16 rows of the
    // products it keeps.
    let gone = &ids[199];
    remove_products(&cat, std::slice::from_ref(gone));
    ok(&["index", s(&cat), "--index", s(&half)]);
    let b = json(&["info", "--index", s(&half), "--json"]);
    assert_eq!(b["stored_rows"], "f16", "{b}");
    assert_eq!(b["products"], 199);
    let hits = similar(&half, &ids[0], &[]);
    assert_eq!(hits.len(), 10);
    assert!(!hits.contains(gone));

    // A bad value is refused by name.
    let err = fails(&["index", s(&cat), "--index", s(&half), "--stored-rows", "f8"]);
    assert!(err.contains("f8") && err.contains("f16"), "{err}");
}
