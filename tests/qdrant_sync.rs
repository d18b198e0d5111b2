//! End-to-end: `index --qdrant` writes a real catalogue into a Qdrant
//! server started here (from `$QDRANT_BIN`, `../shared/qdrant/qdrant` or
//! `qdrant` on the PATH; the test skips loudly without one), keeps it in
//! step on later runs, and refuses collections it cannot use.

#![cfg(feature = "qdrant")]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The Qdrant server binary, if this machine has one.
fn qdrant_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("QDRANT_BIN") {
        return Some(PathBuf::from(p));
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/qdrant/qdrant");
    if shared.is_file() {
        return Some(shared);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("qdrant"))
            .find(|p| p.is_file())
    })
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One Qdrant node on loopback, killed when dropped.
struct Node {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts a node and waits (at most 60 s) until it is ready.
    fn start(bin: &PathBuf) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http, grpc) = (free_port(), free_port());
        let child = Command::new(bin)
            .current_dir(dir.path())
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.path().join("storage"))
            .env(
                "QDRANT__STORAGE__SNAPSHOTS_PATH",
                dir.path().join("snapshots"),
            )
            .env("QDRANT__SERVICE__ENABLE_STATIC_CONTENT", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qdrant");
        let node = Node {
            child,
            url: format!("http://127.0.0.1:{http}"),
            _dir: dir,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if ureq::get(&format!("{}/readyz", node.url)).call().is_ok() {
                return node;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("qdrant at {} was not ready within 60 s", node.url);
    }

    /// `method path` with `body`, the answer's `result`.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let mut r = match method {
            "PUT" => ureq::put(&url).send_json(&body),
            "POST" => ureq::post(&url).send_json(&body),
            _ => ureq::get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value = r.body_mut().read_json().expect("json");
        v["result"].clone()
    }

    /// Points of `collection` matching `filter` (exact count).
    fn count(&self, collection: &str, filter: Value) -> u64 {
        self.call(
            "POST",
            &format!("/collections/{collection}/points/count"),
            json!({ "exact": true, "filter": filter }),
        )["count"]
            .as_u64()
            .expect("count")
    }
}

#[test]
fn index_writes_points_keeps_them_in_step_and_refuses_foreign_collections() {
    let Some(bin) = qdrant_bin() else {
        eprintln!("SKIPPED: no Qdrant server (set QDRANT_BIN, or see ../shared/qdrant/README.md)");
        return;
    };
    let Some(shared) = shared_small() else { return };
    let node = Node::start(&bin);
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    let idx = tmp.path().join("index");
    let ids = kaggle_subset(&shared, &cat, 120);
    let index_into = |collection: &str| {
        ok(&[
            "index",
            s(&cat),
            "--index",
            s(&idx),
            "--qdrant",
            &node.url,
            "--collection",
            collection,
            "--shards",
            "3",
            "--replicas",
            "1",
        ])
    };

    let out = index_into("shop");
    assert!(out.contains("(made): 120 points written"), "{out}");
    assert_eq!(node.count("shop", Value::Null), 120);
    let info = node.call("GET", "/collections/shop", Value::Null);
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
    assert_eq!(node.count("shop", filter), tshirts);

    // Again: nothing to send.
    let out = index_into("shop");
    assert!(
        out.contains(": 0 points written") && out.contains("120 unchanged"),
        "{out}"
    );
    assert_eq!(node.count("shop", Value::Null), 120);

    // A product leaves the catalogue: its point goes.
    let gone = &ids[119];
    remove_products(&cat, std::slice::from_ref(gone));
    let out = index_into("shop");
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(node.count("shop", Value::Null), 119);
    let gone_filter = json!({ "must": [{ "key": "product_id", "match": { "value": gone } }] });
    assert_eq!(node.count("shop", gone_filter), 0);

    // Collections lookalike cannot use are refused, by name, with what to do.
    let refused_into = |collection: &str| {
        fails(&[
            "index",
            s(&cat),
            "--index",
            s(&idx),
            "--qdrant",
            &node.url,
            "--collection",
            collection,
        ])
    };
    node.call(
        "PUT",
        "/collections/foreign",
        json!({ "vectors": { "size": 4, "distance": "Dot" } }),
    );
    let err = refused_into("foreign");
    assert!(err.contains("not made by lookalike"), "{err}");
    node.call(
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
