//! The ONNX Runtime backend: how it is chosen, that it gives tract's vectors,
//! and that the int8 network agrees with the fp32 one.
//!
//! The library comes from `LOOKALIKE_ONNXRUNTIME` (`.ci/run` points it at the
//! PyPI wheel's) or the system; where there is none, the tests that need it
//! skip loudly and the fall-back tests still run.

#![cfg(feature = "ort")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use lookalike::embedding::{Backend, ColourSpec, Embedder, ModelSpec};
use lookalike::imaging::{decode_file, DecodeLimits, RgbImage};
use lookalike::vector::dot;

/// The library the test environment names, if it names one.
fn named_library() -> Option<PathBuf> {
    let lib = std::env::var_os("LOOKALIKE_ONNXRUNTIME").map(PathBuf::from)?;
    lib.is_file().then_some(lib)
}

fn images(shared: &Path, n: usize) -> Vec<RgbImage> {
    first_rows(shared, n)
        .iter()
        .map(|(id, _)| {
            decode_file(
                &shared.join("images").join(format!("{id}.jpg")),
                &DecodeLimits::default(),
            )
            .expect("decode")
        })
        .collect()
}

/// An embedder on ONNX Runtime, or `None` with a loud skip.
fn on_onnxruntime(model: &str) -> Option<Embedder> {
    let spec = ModelSpec::resolve(model).expect("spec");
    let e = Embedder::new(&spec, ColourSpec::default()).expect("embedder");
    if e.backend() == Backend::Tract {
        eprintln!(
            "SKIPPED: no ONNX Runtime library found (set LOOKALIKE_ONNXRUNTIME); \
             the ONNX Runtime backend is not tested"
        );
        return None;
    }
    Some(e)
}

#[test]
fn onnxruntime_and_tract_agree() {
    let Some(shared) = shared_small() else {
        return;
    };
    let Some(ort) = on_onnxruntime("lite0") else {
        return;
    };
    let spec = ModelSpec::resolve("lite0").expect("spec");
    let tract = Embedder::new(&spec, ColourSpec::default())
        .expect("tract")
        .on_tract();
    assert_eq!(tract.backend(), Backend::Tract);
    assert_eq!(
        tract.fingerprint(),
        ort.fingerprint(),
        "both backends make comparable vectors"
    );
    for img in &images(&shared, 3) {
        let a = tract.embed_image(img).expect("tract embed");
        let b = ort.embed_image(img).expect("ort embed");
        let cos = dot(&a.cnn, &b.cnn);
        assert!(cos > 0.9999, "cosine between backends {cos}");
        assert_eq!(a.colour, b.colour);
        assert_eq!(a.head_colour, b.head_colour);
        // The taps (fetched from ONNX Runtime as added graph outputs) too;
        // each of the 4 is scaled to norm 1/2, so the part has unit length.
        assert_eq!(a.taps.len(), b.taps.len());
        let cos = dot(&a.taps, &b.taps);
        assert!(cos > 0.9999, "taps: cosine between backends {cos}");
    }
}

/// The int8 network keeps the fp32 one's features: on 64 real catalogue
/// images (not the calibration set's draw) the pooled features measured a
/// mean cosine of 0.990 and a minimum of 0.982 with ONNX Runtime 1.32, and
/// the nearest other image agreed for most of them. The bounds leave room
/// for other runtime versions' kernels, not for a broken quantisation
/// (quantising the stem too gave a mean of 0.78).
#[test]
fn the_int8_network_agrees_with_the_fp32_one() {
    let Some(shared) = shared_small() else {
        return;
    };
    let (Some(fp32), Some(int8)) = (on_onnxruntime("lite0"), on_onnxruntime("lite0-int8")) else {
        return;
    };
    assert_ne!(
        fp32.fingerprint(),
        int8.fingerprint(),
        "an int8 index is not searched with fp32 vectors"
    );
    let imgs = images(&shared, 64);
    let a: Vec<_> = imgs
        .iter()
        .map(|i| fp32.embed_image(i).expect("fp32"))
        .collect();
    let b: Vec<_> = imgs
        .iter()
        .map(|i| int8.embed_image(i).expect("int8"))
        .collect();
    let cos: Vec<f32> = a.iter().zip(&b).map(|(x, y)| dot(&x.cnn, &y.cnn)).collect();
    let mean = cos.iter().sum::<f32>() / cos.len() as f32;
    let min = cos.iter().cloned().fold(1.0, f32::min);
    assert!(
        mean > 0.985 && min > 0.97,
        "int8 vs fp32 cosine: mean {mean}, min {min}"
    );
    // The colour descriptors do not involve the network at all.
    assert!(a.iter().zip(&b).all(|(x, y)| x.colour == y.colour));
    let nearest = |e: &[lookalike::Embedding], i: usize| {
        (0..e.len())
            .filter(|&j| j != i)
            .max_by(|&p, &q| dot(&e[i].cnn, &e[p].cnn).total_cmp(&dot(&e[i].cnn, &e[q].cnn)))
    };
    let same = (0..a.len())
        .filter(|&i| nearest(&a, i) == nearest(&b, i))
        .count();
    assert!(
        same * 4 >= a.len() * 3,
        "nearest neighbour kept for {same} of 64"
    );

    // tract runs the int8 network too (slower than fp32 there, but an index
    // moves to a machine without ONNX Runtime).
    let on_tract = Embedder::new(
        &ModelSpec::resolve("lite0-int8").expect("spec"),
        ColourSpec::default(),
    )
    .expect("int8 on tract")
    .on_tract();
    let t = on_tract.embed_image(&imgs[0]).expect("tract int8");
    let cos = dot(&t.cnn, &b[0].cnn);
    assert!(cos > 0.99, "int8 on tract vs on onnxruntime: {cos}");
}

/// Runs the binary with `env` set (and the test's own library setting
/// removed), returning success, stdout and stderr.
fn run_with(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookalike"));
    cmd.args(args)
        .env_remove("LOOKALIKE_ONNXRUNTIME")
        .env_remove("ORT_DYLIB_PATH")
        .env("RUST_LOG", "lookalike=info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run lookalike");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "lookalike panicked: {stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn the_backend_is_chosen_once_and_a_bad_library_falls_back_to_tract() {
    let Some(shared) = shared_small() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = tmp.path().join("catalog");
    kaggle_subset(&shared, &cat, 4);
    let garbage = tmp.path().join("libonnxruntime.so");
    std::fs::write(&garbage, b"not a shared library").expect("write");
    let index = tmp.path().join("index");
    let backend_of = |env: &[(&str, &str)]| {
        let (ok, out, err) = run_with(env, &["info", "--index", s(&index), "--json"]);
        assert!(ok, "info failed: {err}");
        let info: serde_json::Value = serde_json::from_str(&out).expect("info JSON");
        (info["backend"]["name"].as_str().map(str::to_string), err)
    };

    // A missing or broken library: a warning that names it, then tract.
    for bad in ["/nonexistent/libonnxruntime.so", s(&garbage)] {
        let (ok, _, err) = run_with(
            &[("LOOKALIKE_ONNXRUNTIME", bad)],
            &["index", s(&cat), "--index", s(&index), "--rebuild"],
        );
        assert!(ok, "indexing must go on on tract: {err}");
        assert!(
            err.contains(bad) && err.contains("runs on tract"),
            "the message names the library and the fall-back: {err}"
        );
        assert_eq!(err.matches("CNN on tract").count(), 1, "said once: {err}");
        let (name, _) = backend_of(&[("LOOKALIKE_ONNXRUNTIME", bad)]);
        assert_eq!(name.as_deref(), Some("tract"));
    }
    // A new index gets the fp32 model.
    let (ok, out, _) = run_with(
        &[("LOOKALIKE_ONNXRUNTIME", "tract")],
        &["info", "--index", s(&index), "--json"],
    );
    assert!(ok);
    assert!(out.contains("\"efficientnet-lite0\""), "{out}");

    let Some(lib) = named_library() else {
        eprintln!(
            "SKIPPED: LOOKALIKE_ONNXRUNTIME names no library; only the fall-backs were tested"
        );
        return;
    };
    let lib = s(&lib);
    // The explicit setting wins over ORT_DYLIB_PATH, both ways.
    let (name, _) = backend_of(&[("LOOKALIKE_ONNXRUNTIME", "tract"), ("ORT_DYLIB_PATH", lib)]);
    assert_eq!(name.as_deref(), Some("tract"));
    let (name, _) = backend_of(&[("ORT_DYLIB_PATH", lib)]);
    assert_eq!(name.as_deref(), Some("onnxruntime"));
    let bad = s(&garbage);
    let (name, _) = backend_of(&[("LOOKALIKE_ONNXRUNTIME", lib), ("ORT_DYLIB_PATH", bad)]);
    assert_eq!(name.as_deref(), Some("onnxruntime"));

    // The int8 network comes with its own head...
    let fresh = tmp.path().join("int8");
    let (ok, _, err) = run_with(
        &[("LOOKALIKE_ONNXRUNTIME", lib)],
        &[
            "index",
            s(&cat),
            "--index",
            s(&fresh),
            "--model",
            "lite0-int8",
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("CNN on onnxruntime"), "{err}");
    let (_, out, _) = run_with(
        &[("LOOKALIKE_ONNXRUNTIME", lib)],
        &["info", "--index", s(&fresh), "--json"],
    );
    let info: serde_json::Value = serde_json::from_str(&out).expect("info JSON");
    assert_eq!(info["model"]["name"], "efficientnet-lite0-int8");
    assert!(
        info["head"].is_object(),
        "the int8 network's own head: {info}"
    );
    // ... an update keeps it, and another model is refused, not mixed in.
    let (ok, _, err) = run_with(
        &[("LOOKALIKE_ONNXRUNTIME", "tract")],
        &["index", s(&cat), "--index", s(&fresh)],
    );
    assert!(
        ok,
        "an update on tract keeps the index's int8 network: {err}"
    );
    let (ok, _, err) = run_with(
        &[("LOOKALIKE_ONNXRUNTIME", lib)],
        &["index", s(&cat), "--index", s(&fresh), "--model", "lite0"],
    );
    assert!(!ok, "an fp32 update of an int8 index must be refused");
    assert!(
        err.contains("--rebuild"),
        "the message says what to do: {err}"
    );
}
