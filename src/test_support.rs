//! Fixtures that several modules' tests share: a made-up embedder and a
//! small synthetic training problem that a head learns in well under a
//! second.

use std::sync::Arc;

use crate::catalog::Labels;
use crate::embedding::{EmbedderFingerprint, Part, TaskSpec};
use crate::index::format::test_manifest;
use crate::index::{commit, Index, ProductRecord, SearchSettings, TransformChoice, WriteLock};
use crate::rng::SplitMix64;
use crate::training::dataset::Task;
use crate::training::{train, Dataset, TrainOptions};

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

/// The synthetic training rows as an index with a head trained on them;
/// every 10th product has no labels.
pub(crate) fn labelled_index(dir: &std::path::Path) -> Index {
    let data = synthetic(300);
    let opts = crate::training::TrainOptions {
        epochs: 8,
        ..small_options()
    };
    let head = train(&data, &fingerprint("m"), &opts, |_| {}, |_, _, _| {})
        .expect("train")
        .head;
    let products: Vec<ProductRecord> = (0..300)
        .map(|i| {
            let mut labels = Labels::default();
            if i % 10 != 3 {
                labels.set("articleType", ["a", "b", "c"][i % 3]);
                labels.set("baseColour", ["red", "blue"][(i / 3) % 2]);
            }
            ProductRecord {
                id: format!("p{i}"),
                hash: format!("{i:064x}"),
                image: format!("{i}.png").into(),
                labels,
            }
        })
        .collect();
    let embedder = serde_json::to_value(fingerprint("m")).expect("fingerprint");
    let manifest = test_manifest(12, 4, embedder, &["articleType", "baseColour"]);
    let rows: Vec<&[f32]> = data.rows.chunks(data.dim).collect();
    let settings = SearchSettings {
        transform: TransformChoice::Head(Arc::new(head)),
        ..SearchSettings::default()
    };
    let lock = WriteLock::acquire(dir).expect("lock");
    commit(
        &lock,
        manifest,
        &rows,
        &products,
        &settings,
        &crate::NoProgress,
    )
    .expect("commit");
    drop(lock);
    Index::open(dir).expect("open")
}
