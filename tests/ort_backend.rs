//! The optional ONNX Runtime backend gives the same vectors as tract.
//!
//! Runs only when built with `--features ort` and `LOOKALIKE_ONNXRUNTIME`
//! names a `libonnxruntime.so` (`.ci/run` installs the PyPI wheel for it).

#![cfg(feature = "ort")]

mod common;

use lookalike::embedding::{ColourSpec, Embedder, ModelSpec};
use lookalike::imaging::{decode_file, DecodeLimits};
use lookalike::vector::dot;

#[test]
fn onnxruntime_and_tract_agree() {
    let Some(shared) = common::shared_small() else {
        return;
    };
    let Ok(lib) = std::env::var(lookalike::embedding::ort_backend::ENV_VAR) else {
        eprintln!(
            "SKIPPED: LOOKALIKE_ONNXRUNTIME is not set; the ONNX Runtime backend is not tested"
        );
        return;
    };
    let spec = ModelSpec::resolve("lite0").expect("spec");
    let rows = common::first_rows(&shared, 3);
    let images: Vec<_> = rows
        .iter()
        .map(|(id, _)| {
            decode_file(
                &shared.join("images").join(format!("{id}.jpg")),
                &DecodeLimits::default(),
            )
            .expect("decode")
        })
        .collect();

    // SAFETY (edition 2021): this test binary has a single test, so no other
    // thread reads the environment while it changes.
    std::env::remove_var(lookalike::embedding::ort_backend::ENV_VAR);
    let tract = Embedder::new(&spec, ColourSpec::default()).expect("tract");
    std::env::set_var(lookalike::embedding::ort_backend::ENV_VAR, &lib);
    let ort = Embedder::new(&spec, ColourSpec::default()).expect("onnxruntime");
    assert_eq!(
        tract.fingerprint(),
        ort.fingerprint(),
        "both backends make comparable vectors"
    );

    for img in &images {
        let a = tract.embed_image(img).expect("tract embed");
        let b = ort.embed_image(img).expect("ort embed");
        let cos = dot(&a.cnn, &b.cnn);
        assert!(cos > 0.9999, "cosine between backends {cos}");
        assert_eq!(a.colour, b.colour);
        // The taps (fetched from ONNX Runtime as added graph outputs) too;
        // each of the 4 is scaled to norm 1/2, so the part has unit length.
        assert_eq!(a.taps.len(), b.taps.len());
        let cos = dot(&a.taps, &b.taps);
        assert!(cos > 0.9999, "taps: cosine between backends {cos}");
    }
}
