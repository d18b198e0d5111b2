//! Qdrant servers for the end-to-end tests: one node, or a cluster on
//! loopback ports, started from `$QDRANT_BIN`, `../shared/qdrant/qdrant` or
//! `qdrant` on the PATH. Every wait is bounded and every process is killed
//! when its handle drops, whatever the test did.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The Qdrant server binary, if this machine has one (else a loud skip).
pub fn qdrant_bin() -> Option<PathBuf> {
    let found = std::env::var_os("QDRANT_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/qdrant/qdrant");
            shared.is_file().then_some(shared).or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|d| d.join("qdrant"))
                        .find(|p| p.is_file())
                })
            })
        });
    if found.is_none() {
        eprintln!("SKIPPED: no Qdrant server (set QDRANT_BIN, or see ../shared/qdrant/README.md)");
    }
    found
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `method url` with `body`; the answer's `result`, or why not.
pub fn call(method: &str, url: &str, body: Value) -> Result<Value, String> {
    let sent = match method {
        "PUT" => ureq::put(url).send_json(&body),
        "POST" => ureq::post(url).send_json(&body),
        "DELETE" => ureq::delete(url).call(),
        _ => ureq::get(url).call(),
    };
    let mut r = sent.map_err(|e| format!("{method} {url}: {e}"))?;
    let v: Value = r.body_mut().read_json().map_err(|e| e.to_string())?;
    Ok(v["result"].clone())
}

/// Polls `ready` every 100 ms for at most `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < limit {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?}");
}

/// One node's ports and directory (kept across a restart).
struct NodeSpec {
    dir: PathBuf,
    p2p: u16,
    grpc: u16,
    http: u16,
}

/// Qdrant nodes on loopback, killed when dropped.
pub struct Cluster {
    bin: PathBuf,
    nodes: Vec<NodeSpec>,
    children: Vec<Option<Child>>,
    clustered: bool,
    _root: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// One node, not in cluster mode.
    pub fn single(bin: &Path) -> Cluster {
        let mut c = Cluster::new(bin, 1, false);
        c.launch(0, None);
        c.wait_ready(0);
        c
    }

    /// `n` nodes in one Raft cluster: the first bootstraps it, the others
    /// join it; ready when every node sees `n` peers and answers /readyz.
    pub fn start(bin: &Path, n: usize) -> Cluster {
        let mut c = Cluster::new(bin, n, true);
        c.launch(0, None);
        let first = c.url(0);
        wait_until("the first node's leader", Duration::from_secs(60), || {
            call("GET", &format!("{first}/cluster"), Value::Null)
                .is_ok_and(|r| !r["raft_info"]["leader"].is_null())
        });
        let bootstrap = format!("http://127.0.0.1:{}", c.nodes[0].p2p);
        for i in 1..n {
            c.launch(i, Some(&bootstrap));
        }
        for i in 0..n {
            let url = c.url(i);
            wait_until("all peers", Duration::from_secs(60), || {
                call("GET", &format!("{url}/cluster"), Value::Null)
                    .is_ok_and(|r| r["peers"].as_object().is_some_and(|p| p.len() == n))
            });
            c.wait_ready(i);
        }
        c
    }

    fn new(bin: &Path, n: usize, clustered: bool) -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let nodes = (0..n)
            .map(|i| NodeSpec {
                dir: root.path().join(format!("n{i}")),
                p2p: free_port(),
                grpc: free_port(),
                http: free_port(),
            })
            .collect();
        Cluster {
            bin: bin.to_path_buf(),
            nodes,
            children: (0..n).map(|_| None).collect(),
            clustered,
            _root: root,
        }
    }

    fn launch(&mut self, i: usize, bootstrap: Option<&str>) {
        let n = &self.nodes[i];
        std::fs::create_dir_all(&n.dir).expect("node dir");
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&n.dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", n.http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", n.grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", n.dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", n.dir.join("snapshots"))
            .env("QDRANT__SERVICE__ENABLE_STATIC_CONTENT", "false")
            .env("QDRANT__LOG_LEVEL", "WARN")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.clustered {
            cmd.env("QDRANT__CLUSTER__ENABLED", "true")
                .env("QDRANT__CLUSTER__P2P__PORT", n.p2p.to_string())
                .args(["--uri", &format!("http://127.0.0.1:{}", n.p2p)]);
            if let Some(b) = bootstrap {
                cmd.args(["--bootstrap", b]);
            }
        }
        self.children[i] = Some(cmd.spawn().expect("start qdrant"));
    }

    fn wait_ready(&self, i: usize) {
        let url = self.url(i);
        wait_until(&format!("{url}/readyz"), Duration::from_secs(60), || {
            ureq::get(&format!("{url}/readyz")).call().is_ok()
        });
    }

    /// Node `i`'s REST URL.
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].http)
    }

    /// Every node's REST URL, comma-separated.
    pub fn urls(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `kill -9` of node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
    }

    /// Starts node `i` again with its storage and ports.
    pub fn restart(&mut self, i: usize) {
        self.launch(i, None);
        self.wait_ready(i);
    }

    /// Points of `collection` matching `filter`, as node `i` counts them.
    pub fn count(&self, i: usize, collection: &str, filter: Value) -> u64 {
        call(
            "POST",
            &format!("{}/collections/{collection}/points/count", self.url(i)),
            json!({ "exact": true, "filter": filter }),
        )
        .expect("count")["count"]
            .as_u64()
            .expect("count")
    }

    /// `(shard id, points, state)` of the replicas node `i` holds.
    pub fn local_shards(&self, i: usize, collection: &str) -> Vec<(u64, u64, String)> {
        let r = call(
            "GET",
            &format!("{}/collections/{collection}/cluster", self.url(i)),
            Value::Null,
        )
        .expect("collection cluster info");
        r["local_shards"]
            .as_array()
            .expect("local_shards")
            .iter()
            .map(|s| {
                (
                    s["shard_id"].as_u64().expect("id"),
                    s["points_count"].as_u64().unwrap_or(0),
                    s["state"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    }

    /// Every replica's state, as node 0 reports the cluster.
    pub fn replica_states(&self, collection: &str) -> Vec<String> {
        let r = call(
            "GET",
            &format!("{}/collections/{collection}/cluster", self.url(0)),
            Value::Null,
        )
        .expect("collection cluster info");
        let mut states: Vec<String> = Vec::new();
        for list in ["local_shards", "remote_shards"] {
            for s in r[list].as_array().into_iter().flatten() {
                states.push(s["state"].as_str().unwrap_or("?").to_string());
            }
        }
        states
    }
}

/// A server on loopback that answers every request 500, as a broken node
/// would; it lives until the test process ends.
pub fn broken_node() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            // Reads the whole request (headers, then content-length bytes)
            // so that the client sees the answer, not a reset.
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut got = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&got).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let body = r#"{"status":{"error":"Service internal error: disk on fire"}}"#;
            let _ = write!(
                s,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A server on loopback that accepts connections and never answers, as a
/// hung node would; it lives until the test process ends.
pub fn hung_node() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}
