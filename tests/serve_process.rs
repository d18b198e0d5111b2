//! `lookalike serve` as a process: it picks up an index that `lookalike
//! index` updates while clients keep searching (none of their requests
//! fails), reopens on SIGHUP, and exits cleanly on SIGTERM.
#![cfg(feature = "server")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A minimal HTTP/1.1 GET: (status, body).
fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Ok((status, body))
}

fn products(addr: &str) -> u64 {
    let (status, body) = http_get(addr, "/api/health").expect("health");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["products"].as_u64().expect("products")
}

#[test]
fn serve_reloads_a_growing_index_under_load_and_stops_on_sigterm() {
    let Some(shared) = common::shared_small() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (catalog, index, ids) = common::indexed_subset(&shared, dir.path(), 40, &[]);
    let (cat, idx) = (
        catalog.to_str().expect("utf8"),
        index.to_str().expect("utf8"),
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_lookalike"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--reload-secs",
            "0.2",
            "--index",
            idx,
        ])
        .env("RUST_LOG", "lookalike=info,warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").expect("read");
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().expect("addr").to_string();
        }
    };
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let log_writer = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            log_writer.lock().expect("log").push(line);
        }
    });
    assert_eq!(products(&addr), 40);

    // Clients search all along.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, ok, failures, addr) =
                (stop.clone(), ok.clone(), failures.clone(), addr.clone());
            let id = ids[i * 7].clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http_get(&addr, &format!("/api/products/{id}/similar?k=5")) {
                        Ok((200, _)) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.lock().expect("lock").push(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();

    // The catalogue grows and is re-indexed while the server runs.
    common::kaggle_subset(&shared, &catalog, 70);
    common::ok(&["index", cat, "--index", idx]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while products(&addr) != 70 {
        assert!(
            Instant::now() < deadline,
            "the server never picked up the new index"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGHUP reopens at once.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log
        .lock()
        .expect("log")
        .iter()
        .any(|l| l.contains("SIGHUP"))
    {
        assert!(Instant::now() < deadline, "SIGHUP was not handled");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(products(&addr), 70);

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "requests failed during the reload: {failures:?}"
    );
    assert!(ok.load(Ordering::Relaxed) > 20, "the clients hardly ran");

    // SIGTERM: a clean exit.
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exited with {status}");
    let log = log.lock().expect("log");
    assert!(log.iter().any(|l| l.contains("index reloaded")), "{log:?}");
}
