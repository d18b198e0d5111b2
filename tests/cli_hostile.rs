//! End-to-end: hostile files, interruption and crash safety.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lookalike::imaging::test_support::bomb_png;

#[test]
fn hostile_files_are_reported_and_the_rest_indexed() {
    let Some(shared) = shared_small() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("folder");
    let idx = tmp.path().join("index");
    let rows = first_rows(&shared, 6);
    for (i, (id, _)) in rows.iter().enumerate() {
        let sub = if i % 2 == 0 { "tops" } else { "shoes/new" };
        copy_image(
            &shared.join("images").join(format!("{id}.jpg")),
            &dir.join(sub).join(format!("{id}.jpg")),
        );
    }
    let real =
        std::fs::read(shared.join("images").join(format!("{}.jpg", rows[0].0))).expect("jpg");
    std::fs::write(dir.join("truncated.jpg"), &real[..real.len() / 2]).expect("write");
    std::fs::write(dir.join("empty.jpg"), b"").expect("write");
    std::fs::write(dir.join("notes.jpg"), b"this is text, not a JPEG\n").expect("write");
    std::fs::write(dir.join("bomb.png"), bomb_png(50_000, 50_000)).expect("write");
    std::fs::write(dir.join("readme.txt"), b"ignored: not an image extension").expect("write");

    let out = ok(&["index", s(&dir), "--index", s(&idx), "--verbose"]);
    assert!(out.contains("indexed 6 products"), "{out}");
    assert!(out.contains("4 skipped"), "{out}");
    for name in ["truncated.jpg", "empty.jpg", "notes.jpg", "bomb.png"] {
        assert!(out.contains(name), "{name} should be reported:\n{out}");
    }
    assert!(out.contains("50000x50000"), "{out}");
    assert!(out.contains("empty file"), "{out}");

    // Plain-folder ids are relative paths.
    let id = format!("shoes/new/{}.jpg", rows[1].0);
    let r = json(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &id,
        "-k",
        "3",
        "--json",
    ]);
    assert_eq!(r["hits"].as_array().map(Vec::len), Some(3));

    // --strict turns skips into a failure (the index is still written).
    let out = lookalike(&["index", s(&dir), "--index", s(&idx), "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped (--strict)"));

    // Broken query images are errors, not panics.
    for bad in ["truncated.jpg", "empty.jpg", "notes.jpg", "bomb.png"] {
        let err = fails(&["search", "--index", s(&idx), "--image", s(&dir.join(bad))]);
        assert!(err.starts_with("error:"), "{bad}: {err}");
    }

    // A manifest whose colour descriptor has no bins (edited by hand, or
    // written by something else) is refused with what to do, not a panic.
    let manifest_path = idx.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("JSON");
    manifest["embedder"]["colour"]["ab_bins"] = serde_json::json!(0);
    std::fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
    let query = dir.join("tops").join(format!("{}.jpg", rows[0].0));
    let err = fails(&["search", "--index", s(&idx), "--image", s(&query)]);
    assert!(
        err.contains("broken colour descriptor") && err.contains("--rebuild"),
        "{err}"
    );

    // A CSV that is not a catalogue is a clear error.
    std::fs::write(dir.join("styles.csv"), "sku;price\n1;2\n").expect("write");
    let err = fails(&["index", s(&dir), "--index", s(&tmp.path().join("other"))]);
    assert!(
        err.contains("not a catalogue CSV") && err.contains("`id`"),
        "{err}"
    );
}

#[test]
fn kill_9_keeps_the_last_index_and_the_next_run_resumes() {
    let Some(shared) = shared_small() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let idx = tmp.path().join("index");

    // A first, small index.
    kaggle_subset(&shared, &cat, 20);
    ok(&["index", s(&cat), "--index", s(&idx)]);

    // Grow the catalogue, then kill the indexer once it has journalled work.
    kaggle_subset(&shared, &cat, 600);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookalike"))
        .args(["index", s(&cat), "--index", s(&idx), "--batch-size", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let journal = idx.join("journal.bin");
    let deadline = Instant::now() + Duration::from_secs(120);
    // 40-byte header + at least 150 records of ~12.5 KB (3,111 values each).
    while std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) < 1_900_000 {
        assert!(
            Instant::now() < deadline,
            "the indexer never journalled anything"
        );
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");

    // The previous generation is intact.
    let info = json(&["info", "--index", s(&idx), "--json"]);
    if info["products"] == 600 {
        eprintln!("note: the indexer finished before it could be killed; resume not exercised");
        return;
    }
    assert_eq!(info["products"], 20);
    ok(&[
        "search",
        "--index",
        s(&idx),
        "--id",
        &first_rows(&shared, 1)[0].0,
    ]);

    // The next run resumes from the journal instead of starting over.
    let out = ok(&["index", s(&cat), "--index", s(&idx)]);
    assert!(out.contains("indexed 600 products"), "{out}");
    let resumed: usize = out
        .split(" resumed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("resumed count");
    assert!(resumed >= 100, "expected a resume, got: {out}");
    assert!(!journal.exists(), "the journal is removed after a commit");
}

#[test]
fn bench_on_a_catalogue_of_broken_images_fails_clearly_and_cleans_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    std::fs::create_dir_all(cat.join("images")).expect("mkdir");
    for name in ["a.jpg", "b.png"] {
        std::fs::write(cat.join("images").join(name), b"not an image").expect("write");
    }
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let out = Command::new(env!("CARGO_BIN_EXE_lookalike"))
        .args([
            "bench",
            "--index",
            s(&tmp.path().join("none")),
            "--catalog",
            s(&cat),
        ])
        .args(["--images", "5", "--queries", "2", "--train-steps", "0"])
        .env("TMPDIR", &scratch)
        .env("LOOKALIKE_ONNXRUNTIME", "tract")
        .output()
        .expect("run lookalike");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nothing to query must fail: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("could be indexed") && err.contains("2 skipped"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&scratch).expect("scratch").collect();
    assert!(left.is_empty(), "the temporary index is removed: {left:?}");
}
