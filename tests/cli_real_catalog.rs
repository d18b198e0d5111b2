//! End-to-end: the real binary on a few hundred real catalogue images.

mod common;

use common::*;

#[test]
fn index_search_update_and_eval_a_real_catalogue() {
    let Some(shared) = shared_small() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let idx = tmp.path().join("index");
    let ids = kaggle_subset(&shared, &cat, 300);
    assert_eq!(ids.len(), 300);

    // Kaggle quirks on top of the real rows: BOM + CRLF, unquoted commas in a
    // name, NA cells, a row without image, a duplicate id, an image without row.
    let csv = std::fs::read_to_string(cat.join("styles.csv")).expect("csv");
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    lines[1] = {
        let mut f: Vec<&str> = lines[1].split(',').collect();
        f[5] = "NA";
        f.push(" with, unquoted, commas");
        f.join(",")
    };
    lines.push("999999999,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,No image".into());
    lines.push(lines[2].clone());
    let quirky = format!("\u{feff}{}\r\n", lines.join("\r\n"));
    std::fs::write(cat.join("styles.csv"), quirky).expect("write");
    let extra = first_rows(&shared, 301).pop().expect("row").0;
    copy_image(
        &shared.join("images").join(format!("{extra}.jpg")),
        &cat.join("images").join(format!("{extra}.jpg")),
    );
    std::fs::remove_file(cat.join("styles.csv.bak")).ok();

    let out = ok(&["index", s(&cat), "--index", s(&idx)]);
    assert!(out.contains("indexed 301 products"), "{out}");
    assert!(out.contains("CSV rows without an image"), "{out}");
    assert!(out.contains("duplicate ids"), "{out}");
    assert!(out.contains("unquoted commas"), "{out}");
    assert!(out.contains("images without a CSV row"), "{out}");

    let info = json(&["info", "--index", s(&idx), "--json"]);
    assert_eq!(info["products"], 301);
    assert_eq!(info["model"]["name"], "efficientnet-lite0");
    assert_eq!(
        info["model"]["input_size"].as_array().map(Vec::len),
        Some(2)
    );
    // Bytes per product: every file of the generation, and what a scan reads.
    let per = &info["bytes_per_product"];
    let files = per["files"].as_object().expect("files");
    for c in ["vectors", "products", "search", "codes", "scales"] {
        assert!(files[c].as_f64().is_some_and(|b| b > 0.0), "{c}: {per}");
    }
    let sum: f64 = files.values().filter_map(|v| v.as_f64()).sum();
    assert!(
        (sum - per["disk"].as_f64().expect("disk")).abs() < 1e-6,
        "{per}"
    );
    // i8 codes plus four f32 scales per row, whatever the search dimension.
    let codes = files["codes"].as_f64().expect("codes");
    assert_eq!(per["read_by_a_scan"].as_f64(), Some(codes + 16.0), "{per}");

    // The repaired row kept its name with commas, and NA became missing.
    let q = &ids[0];
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--image",
        s(&cat.join("images").join(format!("{q}.jpg"))),
        "--json",
    ]);
    let hits = r["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 10);
    assert_eq!(
        hits[0]["id"],
        q.as_str(),
        "an image finds its own product first"
    );
    assert!(hits[0]["labels"]["productDisplayName"]
        .as_str()
        .unwrap_or("")
        .ends_with("with, unquoted, commas"));
    assert!(hits[0]["labels"].get("baseColour").is_none());
    assert!(r["took_ms"].as_f64().is_some());

    // By id: the product itself is not among its hits; scores descend.
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &ids[5],
        "-k",
        "20",
        "--json",
    ]);
    let hits = r["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 20);
    assert!(hits.iter().all(|h| h["id"] != ids[5].as_str()));
    let scores: Vec<f64> = hits
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Filters apply inside the search: k hits come back, all matching.
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &ids[5],
        "--filter",
        "gender=Women",
        "-k",
        "15",
        "--json",
    ]);
    let hits = r["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 15);
    assert!(hits.iter().all(|h| h["labels"]["gender"] == "Women"));
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &ids[5],
        "--filter",
        "articleType in (Shirts,Tshirts)",
        "--filter",
        "year>=2012",
        "--metric",
        "euclidean",
        "--json",
    ]);
    for h in r["hits"].as_array().expect("hits") {
        let t = h["labels"]["articleType"].as_str().expect("type");
        assert!(t == "Shirts" || t == "Tshirts", "{t}");
        assert!(
            h["labels"]["year"]
                .as_str()
                .expect("year")
                .parse::<u32>()
                .expect("num")
                >= 2012
        );
    }
    let table = ok(&["search", "--index", s(&idx), "--id", &ids[5], "-k", "3"]);
    assert!(
        table.contains("rank") && table.contains("articleType") && table.contains("3 hits"),
        "{table}"
    );

    // Errors are clear and non-zero.
    assert!(
        fails(&["search", "--index", s(&idx), "--id", "no-such-id"]).contains("unknown product id")
    );
    assert!(fails(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &ids[0],
        "--filter",
        "colour=Red"
    ])
    .contains("unknown field"));
    assert!(fails(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &ids[0],
        "--filter",
        "year>=abc"
    ])
    .contains("not a number"));
    assert!(
        fails(&["search", "--index", s(&idx), "--id", &ids[0], "-k", "0"]).contains("k must be")
    );
    assert!(fails(&[
        "search",
        "--index",
        s(&tmp.path().join("nothing")),
        "--id",
        "1"
    ])
    .contains("no index"));

    // Evaluation runs and has the documented shape.
    let e = json(&["eval", "--index", s(&idx), "--queries", "50", "--json"]);
    assert_eq!(e["queries"], 50);
    for rel in ["type", "type_colour"] {
        for m in ["p1", "p10", "map10", "ndcg10", "mrr10"] {
            let v = e["relevance"][rel][m].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{rel}.{m} = {v}");
        }
    }
    assert!(e["relevance"]["type"]["ndcg10"].as_f64().unwrap_or(0.0) > 0.3);

    // Re-running on an unchanged catalogue embeds nothing.
    let out = ok(&["index", s(&cat), "--index", s(&idx)]);
    assert!(
        out.contains("0 embedded") && out.contains("301 unchanged"),
        "{out}"
    );

    // A deleted product disappears, a new one is embedded, nothing else is.
    std::fs::remove_file(cat.join("images").join(format!("{}.jpg", ids[10]))).expect("rm");
    let newer = first_rows(&shared, 302).pop().expect("row").0;
    copy_image(
        &shared.join("images").join(format!("{newer}.jpg")),
        &cat.join("images").join(format!("{newer}.jpg")),
    );
    let out = ok(&["index", s(&cat), "--index", s(&idx)]);
    assert!(
        out.contains("indexed 301 products")
            && out.contains("1 embedded")
            && out.contains("1 removed"),
        "{out}"
    );
    assert!(fails(&["search", "--index", s(&idx), "--id", &ids[10]]).contains("unknown product id"));

    // Another model or input size is refused with a hint to re-index...
    let err = fails(&[
        "index",
        s(&cat),
        "--index",
        s(&idx),
        "--input-size",
        "96x72",
    ]);
    assert!(err.contains("re-index"), "{err}");
    // ...and --rebuild replaces the index.
    let out = ok(&[
        "index",
        s(&cat),
        "--index",
        s(&idx),
        "--input-size",
        "96x72",
        "--rebuild",
    ]);
    assert!(out.contains("indexed 301 products"), "{out}");
    let info = json(&["info", "--index", s(&idx), "--json"]);
    assert_eq!(info["model"]["input_size"], serde_json::json!([96, 72]));
}

#[test]
fn a_full_size_photo_finds_its_thumbnail() {
    let (Some(shared), Some(full)) = (shared_small(), shared_full()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let idx = tmp.path().join("index");
    // The photos' own products plus 200 others as distractors.
    let mut photos: Vec<_> = std::fs::read_dir(full.join("images"))
        .expect("photos")
        .flatten()
        .map(|e| e.path())
        .collect();
    photos.sort();
    photos.truncate(4);
    kaggle_subset(&shared, &cat, 200);
    let mut csv = std::fs::read_to_string(cat.join("styles.csv")).expect("csv");
    let full_csv = std::fs::read_to_string(shared.join("styles.csv")).expect("csv");
    for p in &photos {
        let id = p.file_stem().and_then(|s| s.to_str()).expect("id");
        if let Some(line) = full_csv.lines().find(|l| l.split(',').next() == Some(id)) {
            csv.push_str(line);
            csv.push('\n');
        }
        copy_image(
            &shared.join("images").join(format!("{id}.jpg")),
            &cat.join("images").join(format!("{id}.jpg")),
        );
    }
    std::fs::write(cat.join("styles.csv"), csv).expect("csv");
    ok(&["index", s(&cat), "--index", s(&idx)]);
    for p in &photos {
        let id = p.file_stem().and_then(|s| s.to_str()).expect("id");
        let r = json(&[
            "search",
            "--index",
            s(&idx),
            "--image",
            s(p),
            "-k",
            "3",
            "--json",
        ]);
        assert_eq!(
            r["hits"][0]["id"],
            id,
            "photo {} should find its thumbnail first",
            p.display()
        );
    }
}

#[test]
fn lite2_and_a_model_spec_file_are_selectable() {
    let Some(shared) = shared_small() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let ids = kaggle_subset(&shared, &cat, 12);

    let idx = tmp.path().join("lite2");
    ok(&[
        "index",
        s(&cat),
        "--index",
        s(&idx),
        "--model",
        "lite2",
        "--input-size",
        "96x72",
    ]);
    let info = json(&["info", "--index", s(&idx), "--json"]);
    assert_eq!(info["model"]["name"], "efficientnet-lite2");
    assert_eq!(info["model"]["input_size"], serde_json::json!([96, 72]));
    let img = cat.join("images").join(format!("{}.jpg", ids[3]));
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--image",
        s(&img),
        "-k",
        "1",
        "--json",
    ]);
    assert_eq!(r["hits"][0]["id"], ids[3].as_str());

    // Any ONNX image model through a JSON spec (here the bundled Lite0 file under another name).
    let model =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/efficientnet_lite0.onnx");
    let spec = tmp.path().join("spec.json");
    std::fs::write(
        &spec,
        serde_json::json!({
            "name": "my-model", "file": model, "input": "input", "output": "features",
            "layout": "nchw", "height": 64, "width": 48, "fit": "letterbox",
            "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]
        })
        .to_string(),
    )
    .expect("spec");
    let idx = tmp.path().join("custom");
    ok(&["index", s(&cat), "--index", s(&idx), "--model", s(&spec)]);
    let info = json(&["info", "--index", s(&idx), "--json"]);
    assert_eq!(info["model"]["name"], "my-model");
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--image",
        s(&img),
        "-k",
        "1",
        "--json",
    ]);
    assert_eq!(r["hits"][0]["id"], ids[3].as_str());

    // A spec naming an output the model does not have is a clear error.
    let bad = tmp.path().join("bad.json");
    let text = std::fs::read_to_string(&spec)
        .expect("spec")
        .replace("\"features\"", "\"pool9\"");
    std::fs::write(&bad, text).expect("bad spec");
    let err = fails(&[
        "index",
        s(&cat),
        "--index",
        s(&tmp.path().join("x")),
        "--model",
        s(&bad),
    ]);
    assert!(err.contains("no output named `pool9`"), "{err}");
}
