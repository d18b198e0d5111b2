//! Fixtures that several modules' tests share: a made-up embedder and a
//! small synthetic training problem that a head learns in well under a
//! second.

use crate::embedding::head::{Part, TaskSpec};
use crate::embedding::EmbedderFingerprint;
use crate::rng::SplitMix64;
use crate::training::dataset::Task;
use crate::training::{Dataset, TrainOptions};

/// The fingerprint of a made-up embedder called `model`: 12 CNN values and
/// the default colour descriptor.
pub(crate) fn fingerprint(model: &str) -> EmbedderFingerprint {
    serde_json::from_value(serde_json::json!({
        "model": model, "model_hash": "0", "input_size": [8, 8], "fit": "letterbox",
        "layout": "nchw", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "output": "o",
        "cnn_dim": 12, "colour": crate::embedding::ColourSpec::default(), "pipeline_version": 1
    }))
    .expect("fingerprint")
}

/// Three "types" told apart by the first 12 values and two "colours" by
/// the last 4, under noise: a head must learn both.
pub(crate) fn synthetic(n: usize) -> Dataset<'static> {
    synthetic_rows(n, false)
}

/// As [`synthetic`], or with 4 more values, a "head colour" descriptor at
/// the end of the taps, that alone tells the colours (the 4 colour values
/// are then noise).
pub(crate) fn synthetic_rows(n: usize, colour_in_taps: bool) -> Dataset<'static> {
    let mut rng = SplitMix64(7);
    let mut noise = move || ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.2;
    let extra = if colour_in_taps { 4 } else { 0 };
    let dim = 16 + extra;
    let mut rows = Vec::with_capacity(n * dim);
    let (mut types, mut colours) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (t, c) = (i % 3, (i / 3) % 2);
        for j in 0..dim {
            let centre = if j < 12 {
                f32::from(u8::from(j / 4 == t))
            } else if colour_in_taps && j < 16 {
                0.5
            } else if j >= 16 {
                f32::from(u8::from((j - 16) / 2 == c))
            } else {
                f32::from(u8::from((j - 12) / 2 == c))
            };
            rows.push(centre + noise());
        }
        types.push(Some(t as u32));
        colours.push(Some(c as u32));
    }
    let task = |field: &str, classes: &[&str], part, targets| Task {
        spec: TaskSpec {
            field: field.into(),
            classes: classes.iter().map(|s| s.to_string()).collect(),
            part,
        },
        weight: 1.0,
        targets,
        any_of: Default::default(),
    };
    Dataset {
        rows: rows.into(),
        dim,
        tap_dim: extra,
        train: (0..n).filter(|i| i % 5 != 0 && i % 7 != 0).collect(),
        validation: (0..n).filter(|i| i % 5 != 0 && i % 7 == 0).collect(),
        test: (0..n).filter(|i| i % 5 == 0).collect(),
        tasks: vec![
            task("articleType", &["a", "b", "c"], Part::Shape, types),
            task("baseColour", &["red", "blue"], Part::Colour, colours),
        ],
    }
}

/// Options for a head the size of the synthetic problem.
pub(crate) fn small_options() -> TrainOptions {
    TrainOptions {
        epochs: 12,
        patience: 12,
        batch_size: 32,
        hidden_dim: 16,
        colour_hidden_dim: 8,
        shape_dim: 8,
        colour_dim: 4,
        instance_dim: 4,
        learning_rate: 1e-2,
        ..TrainOptions::default()
    }
}
