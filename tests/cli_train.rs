//! `lookalike train` end to end on real catalogue images: one epoch on a few
//! hundred products, then search, recognition (CLI and API), incremental
//! updates that keep the head, and the errors for a head that does not fit.
#![cfg(all(feature = "server", feature = "training"))]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lookalike::server::{router, AppState, ServeOptions};
use tower::ServiceExt;

#[tokio::test]
async fn train_one_epoch_then_search_and_recognise() {
    let Some(shared) = common::shared_small() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (catalog, index, ids) =
        common::indexed_subset(&shared, dir.path(), 300, &["--head", "none"]);
    let head = dir.path().join("head.safetensors");
    let (cat, idx, hd) = (
        catalog.to_str().expect("utf8"),
        index.to_str().expect("utf8"),
        head.to_str().expect("utf8"),
    );

    let report = common::json(&[
        "train", "--index", idx, "--epochs", "1", "--out", hd, "--json",
    ]);
    assert_eq!(report["epochs"].as_array().expect("epochs").len(), 1);
    assert!(report["epochs"][0]["loss"].as_f64().expect("loss") > 0.0);
    // Then the refit on training + validation products, as many epochs.
    let refit = report["refit_epochs"].as_array().expect("refit epochs");
    assert_eq!(refit.len(), 1, "{report}");
    assert_eq!(refit[0]["phase"], "refit");
    assert!(head.is_file());
    let info = common::json(&["info", "--index", idx, "--json"]);
    assert!(info.to_string().contains("head"), "{info}");

    // Search with the head; recognition comes with the hits.
    let hits = common::json(&[
        "search", "--index", idx, "--id", &ids[3], "--json", "-k", "5",
    ]);
    assert_eq!(hits["hits"].as_array().expect("hits").len(), 5);
    let guess = &hits["recognised"]["articleType"][0];
    assert!(guess["label"].is_string() && guess["confidence"].as_f64().expect("conf") > 0.0);
    assert!(hits["recognised"]["baseColour"][0]["label"].is_string());
    // Each score is explained: looks (shape + colour) plus the catalogue's labels.
    for h in hits["hits"].as_array().expect("hits") {
        let part = |k: &str| h[k].as_f64().expect(k);
        let (score, label) = (part("score"), part("label"));
        assert!(
            (score - part("shape") - part("colour") - label).abs() < 1e-4,
            "{h}"
        );
        let looks = part("shape") + part("colour");
        assert!(label >= 0.0 && label <= 0.7 * (1.0 - looks) + 1e-4, "{h}");
    }
    // The catalogue's vote looks at every product, so filters change the
    // hits but not what the query is recognised as; `--vote-weight 0` is
    // the head alone, with the same hits.
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search", "--index", idx, "--id", &ids[3], "--json", "-k", "5",
        ];
        args.extend_from_slice(extra);
        common::json(&args)
    };
    let kind = hits["recognised"]["articleType"][0]["label"]
        .as_str()
        .expect("label")
        .to_string();
    let other_kinds = search(&["--filter", &format!("articleType!={kind}")]);
    assert_eq!(other_kinds["recognised"], hits["recognised"]);
    assert!(other_kinds["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .all(|h| h["labels"]["articleType"] != kind.as_str()));
    let head_alone = search(&["--vote-weight", "0"]);
    assert_eq!(head_alone["hits"], hits["hits"]);
    assert!(head_alone["recognised"]["baseColour"][0]["label"].is_string());
    let bad = common::fails(&[
        "search",
        "--index",
        idx,
        "--id",
        &ids[3],
        "--vote-weight",
        "1.5",
    ]);
    assert!(bad.contains("vote weight"), "{bad}");

    let looks = search(&["--label-weight", "0"]);
    assert!(looks["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .all(|h| h["label"] == 0.0));
    let image = catalog.join("images").join(format!("{}.jpg", ids[9]));
    let by_image = common::json(&[
        "search",
        "--index",
        idx,
        "--image",
        image.to_str().expect("utf8"),
        "--json",
    ]);
    assert_eq!(by_image["hits"][0]["id"], ids[9].as_str(), "{by_image}");
    let text = common::ok(&["search", "--index", idx, "--id", &ids[3]]);
    assert!(text.contains("looks like: articleType"), "{text}");

    // Evaluation reports recognition accuracy.
    let eval = common::json(&[
        "eval",
        "--index",
        idx,
        "--split",
        "test",
        "--queries",
        "all",
        "--json",
    ]);
    assert!(eval["accuracy"]["articleType"].as_f64().is_some(), "{eval}");

    // The API answers with recognition too.
    let app = router(Arc::new(
        AppState::open(ServeOptions::new(&index)).expect("open"),
    ));
    let res = app
        .clone()
        .oneshot(
            Request::get(format!("/api/products/{}/similar", ids[3]))
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("call");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert!(
        v["recognised"]["articleType"][0]["label"].is_string(),
        "{v}"
    );

    // An incremental update keeps the head; `--head none` drops it.
    common::kaggle_subset(&shared, &catalog, 320);
    common::ok(&["index", cat, "--index", idx]);
    let hits = common::json(&["search", "--index", idx, "--id", &ids[3], "--json"]);
    assert!(
        hits.get("recognised").is_some(),
        "the head was lost on update"
    );
    common::ok(&["index", cat, "--index", idx, "--head", "none"]);
    let hits = common::json(&["search", "--index", idx, "--id", &ids[3], "--json"]);
    assert!(hits.get("recognised").is_none());
    // `--head none` sticks: a later default update does not add one.
    common::ok(&["index", cat, "--index", idx]);
    let hits = common::json(&["search", "--index", idx, "--id", &ids[3], "--json"]);
    assert!(
        hits.get("recognised").is_none(),
        "auto added a head to an existing index"
    );
    // ...and the saved file brings it back.
    common::ok(&["index", cat, "--index", idx, "--head", hd]);
    let hits = common::json(&["search", "--index", idx, "--id", &ids[3], "--json"]);
    assert!(hits.get("recognised").is_some());

    // By default a Kaggle-labelled catalogue gets the shipped head; a plain
    // folder of images (no labels) does not.
    let auto = dir.path().join("auto");
    common::ok(&["index", cat, "--index", auto.to_str().expect("utf8")]);
    let info = common::json(&["info", "--index", auto.to_str().expect("utf8"), "--json"]);
    assert!(info["head"]["tasks"].is_array(), "{info}");
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    for id in &ids[..12] {
        common::copy_image(
            &catalog.join("images").join(format!("{id}.jpg")),
            &plain.join(format!("{id}.jpg")),
        );
    }
    let plain_index = dir.path().join("plain-index");
    common::ok(&[
        "index",
        plain.to_str().expect("utf8"),
        "--index",
        plain_index.to_str().expect("utf8"),
    ]);
    let info = common::json(&[
        "info",
        "--index",
        plain_index.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(info["head"].is_null(), "{info}");

    // A head trained on other features is refused with a clear message.
    let other = dir.path().join("other");
    let err = common::fails(&[
        "index",
        cat,
        "--index",
        other.to_str().expect("utf8"),
        "--input-size",
        "128x96",
        "--head",
        hd,
    ]);
    assert!(err.contains("the head was trained on features of"), "{err}");
    assert!(err.contains("lookalike train"), "{err}");
    // A damaged head file in the index is refused when the index opens.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("manifest.json")).expect("manifest"))
            .expect("json");
    let file = index.join(m["head_file"].as_str().expect("head file"));
    let mut bytes = std::fs::read(&file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&file, bytes).expect("write");
    let err = common::fails(&["search", "--index", idx, "--id", &ids[3]]);
    assert!(err.contains("head file changed"), "{err}");
}
