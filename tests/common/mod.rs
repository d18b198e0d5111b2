//! Helpers shared by the end-to-end tests: the real catalogue, temp
//! catalogues built from it, and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared Kaggle catalogue, if present.
pub fn shared_small() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/fashion-product-images-small");
    if p.join("styles.csv").is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: the shared catalogue is not at {} (tests that need real images are skipped)",
            p.display()
        );
        None
    }
}

/// The shared full-size photo sample, if present.
pub fn shared_full() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/fashion-product-images-full-sample");
    p.join("images").is_dir().then_some(p)
}

/// Reads the first `n` data rows of the shared styles.csv whose image exists,
/// as raw CSV lines (header excluded), with their ids.
pub fn first_rows(shared: &Path, n: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(shared.join("styles.csv")).expect("styles.csv");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let id = line.split(',').next()?.to_string();
            shared
                .join("images")
                .join(format!("{id}.jpg"))
                .is_file()
                .then(|| (id, line.to_string()))
        })
        .take(n)
        .collect()
}

/// Copies a shared image to `dst` (never a link: a test that later writes to
/// `dst` must not be able to reach the shared dataset). An existing `dst` is
/// left alone.
pub fn copy_image(src: &Path, dst: &Path) {
    if dst.symlink_metadata().is_ok() {
        return;
    }
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
    std::fs::copy(src, dst).expect("copy image");
}

/// A Kaggle-layout catalogue in `dir` with the first `n` shared products.
/// Returns their ids.
pub fn kaggle_subset(shared: &Path, dir: &Path, n: usize) -> Vec<String> {
    let rows = first_rows(shared, n);
    let header = std::fs::read_to_string(shared.join("styles.csv"))
        .expect("styles.csv")
        .lines()
        .next()
        .expect("header")
        .to_string();
    let mut csv = header + "\n";
    for (id, line) in &rows {
        csv.push_str(line);
        csv.push('\n');
        copy_image(
            &shared.join("images").join(format!("{id}.jpg")),
            &dir.join("images").join(format!("{id}.jpg")),
        );
    }
    std::fs::write(dir.join("styles.csv"), csv).expect("write csv");
    rows.into_iter().map(|(id, _)| id).collect()
}

/// Runs the binary with `args`.
pub fn lookalike(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lookalike"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run lookalike");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "lookalike panicked: {stderr}");
    out
}

/// Runs the binary, expects success, returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = lookalike(args);
    assert!(
        out.status.success(),
        "lookalike {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary with `--json` output and parses it.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\n{out}"))
}

/// Runs the binary, expects failure, returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = lookalike(args);
    assert!(
        !out.status.success(),
        "lookalike {args:?} should have failed"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `p` as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A Kaggle-layout catalogue of the first `n` shared products in
/// `root/catalog`, indexed into `root/index` (with `extra` arguments to
/// `lookalike index`). Returns the catalogue, the index and the ids.
pub fn indexed_subset(
    shared: &Path,
    root: &Path,
    n: usize,
    extra: &[&str],
) -> (PathBuf, PathBuf, Vec<String>) {
    let catalog = root.join("catalog");
    let index = root.join("index");
    std::fs::create_dir_all(&catalog).expect("mkdir");
    let ids = kaggle_subset(shared, &catalog, n);
    let mut args = vec![
        "index",
        catalog.to_str().expect("utf-8"),
        "--index",
        index.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    (catalog, index, ids)
}

/// The shared shopper photos (`<kind>/*.jpg`), or `None` with a loud skip.
pub fn shared_shopper_photos() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/shopper-photos-dev");
    if dir.join("dress").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (the shared shopper photos); this test did not run",
            dir.display()
        );
        None
    }
}

/// The first photo (by name) of `kind` in the shopper photos.
pub fn first_shopper_photo(dir: &Path, kind: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(kind))
        .expect("kind folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files.into_iter().next().expect("a photo of the kind")
}

/// The ids of the hits of a search by `id` (10 by default), with extra arguments.
pub fn similar(idx: &Path, id: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["search", "--index", s(idx), "--id", id, "--json"];
    args.extend_from_slice(extra);
    let r = json(&args);
    r["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect()
}

/// Removes products `gone` from the catalogue in `cat` (row and image).
pub fn remove_products(cat: &Path, gone: &[String]) {
    let csv = std::fs::read_to_string(cat.join("styles.csv")).expect("csv");
    let kept: Vec<&str> = csv
        .lines()
        .filter(|l| !gone.iter().any(|g| l.split(',').next() == Some(g.as_str())))
        .collect();
    std::fs::write(cat.join("styles.csv"), kept.join("\n") + "\n").expect("write csv");
    for g in gone {
        std::fs::remove_file(cat.join("images").join(format!("{g}.jpg"))).expect("remove image");
    }
}
