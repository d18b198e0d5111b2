//! End-to-end: `index --qdrant` writes a real catalogue into a Qdrant
//! server started here (from `$QDRANT_BIN`, `../shared/qdrant/qdrant` or
//! `qdrant` on the PATH; the test skips loudly without one), keeps it in
//! step on later runs, and refuses collections it cannot use.

#![cfg(feature = "qdrant")]

mod common;
mod qdrant_support;

use std::time::{Duration, Instant};

use common::*;
use qdrant_support::*;
use serde_json::{json, Value};

#[test]
fn index_writes_points_keeps_them_in_step_and_refuses_foreign_collections() {
    let Some(bin) = qdrant_bin() else { return };
    let Some(shared) = shared_small() else { return };
    let node = Cluster::single(&bin);
    let url = node.url(0);
    let api = |method: &str, path: &str, body: Value| {
        call(method, &format!("{url}{path}"), body).unwrap_or_else(|e| panic!("{e}"))
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let idx = tmp.path().join("index");
    let kit = tmp.path().join("kit");
    let ids = kaggle_subset(&shared, &cat, 120);
    let index_into = |collection: &str| {
        ok(&[
            "index",
            s(&cat),
            "--index",
            s(&idx),
            "--qdrant",
            &url,
            "--collection",
            collection,
            "--shards",
            "3",
            "--replicas",
            "1",
            "--kit",
            s(&kit),
        ])
    };

    let out = index_into("shop");
    assert!(out.contains("(made): 120 points written"), "{out}");
    assert!(kit.join("manifest.json").is_file() && kit.join("KIT").is_file());
    assert_eq!(node.count(0, "shop", Value::Null), 120);
    let info = api("GET", "/collections/shop", Value::Null);
    assert_eq!(info["config"]["params"]["shard_number"], 3, "{info}");
    assert!(
        info["payload_schema"]["kw.articletype"].is_object(),
        "{info}"
    );
    // Labels are matched in lower case, as the CLI's filters match them.
    let csv = std::fs::read_to_string(cat.join("styles.csv")).expect("csv");
    let column = csv
        .lines()
        .next()
        .and_then(|h| h.split(',').position(|c| c == "articleType"))
        .expect("articleType column");
    let tshirts = csv
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .nth(column)
                .is_some_and(|v| v.eq_ignore_ascii_case("tshirts"))
        })
        .count() as u64;
    assert!(tshirts > 0);
    let filter = json!({ "must": [{ "key": "kw.articletype", "match": { "value": "tshirts" } }] });
    assert_eq!(node.count(0, "shop", filter), tshirts);

    // Again: nothing to send.
    let out = index_into("shop");
    assert!(
        out.contains(": 0 points written") && out.contains("120 unchanged"),
        "{out}"
    );
    assert_eq!(node.count(0, "shop", Value::Null), 120);

    // A product leaves the catalogue: its point goes.
    let gone = &ids[119];
    remove_products(&cat, std::slice::from_ref(gone));
    let out = index_into("shop");
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(node.count(0, "shop", Value::Null), 119);
    let gone_filter = json!({ "must": [{ "key": "product_id", "match": { "value": gone } }] });
    assert_eq!(node.count(0, "shop", gone_filter), 0);

    // Collections lookalike cannot use are refused, by name, with what to do.
    let refused_into = |collection: &str| {
        fails(&[
            "index",
            s(&cat),
            "--index",
            s(&idx),
            "--qdrant",
            &url,
            "--collection",
            collection,
        ])
    };
    api(
        "PUT",
        "/collections/foreign",
        json!({ "vectors": { "size": 4, "distance": "Dot" } }),
    );
    let err = refused_into("foreign");
    assert!(err.contains("not made by lookalike"), "{err}");
    api(
        "PUT",
        "/collections/othermodel",
        json!({ "vectors": { "size": 4, "distance": "Dot" },
                "metadata": { "lookalike": { "embedder": { "model": "lite2" } } } }),
    );
    let err = refused_into("othermodel");
    assert!(
        err.contains("made another way") && err.contains("--collection"),
        "{err}"
    );
    let err = refused_into("a/b");
    assert!(err.contains("collection name"), "{err}");

    // A cluster that cannot be reached: a quick error naming the node.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let t = Instant::now();
    let err = fails(&["index", s(&cat), "--index", s(&idx), "--qdrant", &dead]);
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(
        err.contains(&dead) && err.contains("no Qdrant node answered"),
        "{err}"
    );
}
