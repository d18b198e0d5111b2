//! Training a head: the two passes of [`fit`](super::fit) and the head
//! file assembled from the result.
//!
//! The first pass stops early on the validation rows and so picks the
//! number of epochs; the second (the refit) trains again from scratch, on
//! the validation rows as well, for that many epochs.

use super::dataset::Dataset;
use super::fit::{accuracy, fit, EpochStats, Fitted, Pass, Phase, Progress};
use super::net::{Net, NetConfig};
use super::options::TrainOptions;
use super::standardise::Standardiser;
use crate::embedding::EmbedderFingerprint;
use crate::embedding::{Head, HeadWeights};
use crate::error::Result;
use crate::transform::Projection;

/// The outcome of training.
#[derive(Debug)]
pub struct TrainReport {
    /// The head: of the refit, or else of the best epoch.
    pub head: Head,
    /// Every epoch of the first pass (early stopping).
    pub epochs: Vec<EpochStats>,
    /// The first pass's best epoch: the number of epochs refitted.
    pub best_epoch: usize,
    /// Every epoch of the refit (empty without one).
    pub refit_epochs: Vec<EpochStats>,
    /// Top-1 accuracy per task on the test split (never used for choices).
    pub test_accuracy: Vec<(String, f32)>,
}

/// Trains a head on `data`; `on_epoch` sees every epoch's figures, `on_step`
/// every step (for a progress bar).
///
/// Training runs in two passes. The first trains on the training rows and
/// stops early when the validation rows stop improving; that picks the
/// number of epochs. With `opts.refit`, the second trains a fresh network
/// on the training and validation rows together for that many epochs, and
/// its weights are the head: held-out products then serve twice, to choose
/// when to stop and to learn from.
pub fn train(
    data: &Dataset,
    embedder: &EmbedderFingerprint,
    opts: &TrainOptions,
    mut on_epoch: impl FnMut(&EpochStats),
    mut on_step: impl FnMut(Phase, usize, usize),
) -> Result<TrainReport> {
    opts.check(data, embedder)?;
    let config = NetConfig::new(data, embedder, opts);
    let mut progress = Progress {
        on_epoch: &mut on_epoch,
        on_step: &mut on_step,
    };
    let select = Pass {
        phase: Phase::Select,
        rows: &data.train,
        validation: (!data.validation.is_empty()).then_some(&data.validation[..]),
        epochs: opts.epochs,
    };
    let mut select = fit(data, &config, opts, select, &mut progress)?;
    let epochs = std::mem::take(&mut select.epochs);
    let best_epoch = select.best_epoch;
    let (fitted, trained_on) = if opts.refit && !data.validation.is_empty() {
        let mut all: Vec<usize> = data.train.iter().chain(&data.validation).copied().collect();
        all.sort_unstable();
        let refit = Pass {
            phase: Phase::Refit,
            rows: &all,
            validation: None,
            epochs: best_epoch,
        };
        (fit(data, &config, opts, refit, &mut progress)?, all)
    } else {
        (select, data.train.clone())
    };
    let Fitted {
        net,
        standard,
        epochs: refit_epochs,
        ..
    } = fitted;
    let test_accuracy = accuracy(&net, data, &standard, &data.test)?;
    let instance = instance_projection(data, embedder, opts, &trained_on)?;
    let info = Head::describe(
        embedder.clone(),
        config.layout,
        config.head_dims(opts.instance_dim, opts.instance_weight),
        opts.scale,
        data.tasks.iter().map(|t| t.spec.clone()).collect(),
        serde_json::json!({
            "options": opts,
            "best_epoch": best_epoch,
            "epochs_run": epochs.len(),
            "train_products": data.train.len(),
            "validation_products": data.validation.len(),
            "refit": !refit_epochs.is_empty(),
            "products_fitted": trained_on.len(),
            "validation_accuracy": epochs[best_epoch - 1].accuracy,
            "test_accuracy": test_accuracy,
        }),
    );
    let head = Head::new(info, head_weights(&net, standard, instance)?)?;
    // Give the head its hash as a file would.
    let bytes = head.to_bytes()?;
    let head = Head::from_bytes(&bytes, std::path::Path::new("<trained head>"))?;
    Ok(TrainReport {
        head,
        epochs,
        best_epoch,
        refit_epochs,
        test_accuracy,
    })
}

/// The instance part's PCA of the raw CNN features of `rows`, or `None`
/// without an instance part.
fn instance_projection(
    data: &Dataset,
    embedder: &EmbedderFingerprint,
    opts: &TrainOptions,
    rows: &[usize],
) -> Result<Option<Projection>> {
    if opts.instance_dim == 0 {
        return Ok(None);
    }
    let cnn = embedder.cnn_dim;
    Projection::fit(
        rows.len(),
        cnn,
        opts.instance_dim,
        crate::index::PcaSettings::default().alpha,
        |i| &data.row(rows[i])[..cnn],
    )
    .map(Some)
}

/// The head file's weights: the network's, with the standardisation of its
/// input and the instance projection.
fn head_weights(
    net: &Net,
    standard: Standardiser,
    instance: Option<Projection>,
) -> Result<HeadWeights> {
    let (pmean, pmatrix) = instance.map_or((Vec::new(), Vec::new()), |p| (p.mean, p.matrix));
    Ok(HeadWeights {
        mean: standard.mean,
        std: standard.std,
        pmean,
        pmatrix,
        ..net.head_weights()?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fingerprint, small_options, synthetic, synthetic_rows};

    #[test]
    fn learns_a_synthetic_problem() {
        let data = synthetic(600);
        let mut losses = Vec::new();
        let report = train(
            &data,
            &fingerprint("m"),
            &small_options(),
            |e| {
                if e.phase == Phase::Select {
                    losses.push(e.loss)
                }
            },
            |_, _, _| {},
        )
        .expect("train");
        assert!(
            losses.last().expect("loss") < &(losses[0] * 0.5),
            "loss did not fall: {losses:?}"
        );
        let first = &report.epochs[0].accuracy;
        for (field, acc) in &report.test_accuracy {
            assert!(
                *acc > 0.95,
                "{field}: test accuracy {acc} ({first:?} after one epoch)"
            );
        }
        // The head's own recognition agrees with training's accuracy.
        let head = &report.head;
        let r = data.test[0];
        let row = head.apply(data.row(r));
        // learned shape 8 + instance 4 | learned colour 4 + raw colour 4.
        assert_eq!(
            (
                row.len(),
                head.search_layout().dim(),
                head.search_layout().shape
            ),
            (20, 20, 12)
        );
        let guesses = head.recognise(&row, 1);
        assert_eq!(guesses[0].0, "articleType");
        assert_eq!(guesses[0].1[0].label, ["a", "b", "c"][r % 3]);
        assert!(guesses[0].1[0].confidence > 0.5);
    }

    #[test]
    fn only_the_colour_branch_reads_the_head_colour() {
        let data = synthetic_rows(600, true);
        // Rows made with a 4-value head colour descriptor (1 x 2 x 2 bins).
        let features = EmbedderFingerprint {
            head_colour: Some(crate::embedding::ColourSpec {
                l_bins: 1,
                ab_bins: 2,
                ..Default::default()
            }),
            ..fingerprint("m")
        };
        let colour_accuracy = |colour_hidden_dim| {
            let opts = TrainOptions {
                colour_hidden_dim,
                ..small_options()
            };
            let report = train(&data, &features, &opts, |_| {}, |_, _, _| {}).expect("train");
            let head = &report.head;
            assert_eq!(head.info.row_layout().head_colour, 4);
            // Applying the head agrees with the accuracy training reports.
            let right = data
                .test
                .iter()
                .filter(|&&r| {
                    let guess = &head.recognise(&head.apply(data.row(r)), 1)[1].1[0];
                    guess.label == ["red", "blue"][(r / 3) % 2]
                })
                .count();
            let applied = right as f32 / data.test.len() as f32;
            let reported = report.test_accuracy[1].1;
            assert!((applied - reported).abs() < 0.02, "{applied} vs {reported}");
            reported
        };
        let with_branch = colour_accuracy(8);
        assert!(with_branch > 0.95, "with the branch: {with_branch}");
        // Without the branch, nothing reads the head colour: chance.
        let without = colour_accuracy(0);
        assert!(without < 0.75, "without the branch: {without}");
    }

    #[test]
    fn the_same_seed_gives_the_same_head() {
        let data = synthetic(300);
        let opts = TrainOptions {
            epochs: 3,
            ..small_options()
        };
        let a = train(&data, &fingerprint("m"), &opts, |_| {}, |_, _, _| {}).expect("a");
        let b = train(&data, &fingerprint("m"), &opts, |_| {}, |_, _, _| {}).expect("b");
        assert_eq!(a.head.hash, b.head.hash);
        let c = train(
            &data,
            &fingerprint("m"),
            &TrainOptions { seed: 7, ..opts },
            |_| {},
            |_, _, _| {},
        )
        .expect("c");
        assert_ne!(a.head.hash, c.head.hash);
    }

    #[test]
    fn the_refit_learns_from_the_validation_rows_for_the_chosen_epochs() {
        let data = synthetic(300);
        let opts = TrainOptions {
            epochs: 6,
            patience: 2,
            ..small_options()
        };
        let mut seen = Vec::new();
        let with = train(
            &data,
            &fingerprint("m"),
            &opts,
            |e| seen.push((e.phase, e.score.is_some(), e.accuracy.is_empty())),
            |_, _, _| {},
        )
        .expect("with refit");
        let without = train(
            &data,
            &fingerprint("m"),
            &TrainOptions {
                refit: false,
                ..opts.clone()
            },
            |_| {},
            |_, _, _| {},
        )
        .expect("without refit");
        // The same first pass; then as many refit epochs as it chose.
        assert_eq!(with.epochs.len(), without.epochs.len());
        assert_eq!(with.best_epoch, without.best_epoch);
        assert_eq!(with.refit_epochs.len(), with.best_epoch);
        assert!(with.refit_epochs.iter().all(|e| e.of == with.best_epoch));
        assert!(with.epochs.iter().all(|e| e.of == opts.epochs));
        assert!(without.refit_epochs.is_empty());
        // Reported in order, and only the first pass is validated.
        let first = with.epochs.len();
        assert_eq!(seen.len(), first + with.best_epoch);
        for (i, (phase, scored, no_accuracy)) in seen.iter().enumerate() {
            let selecting = i < first;
            assert_eq!(*phase == Phase::Select, selecting, "epoch {i}");
            assert_eq!(
                (*scored, *no_accuracy),
                (selecting, !selecting),
                "epoch {i}"
            );
        }
        // The refitted head saw the validation rows too, and still solves
        // the problem.
        let fitted = |r: &TrainReport| r.head.info.training["products_fitted"].as_u64();
        let n = (data.train.len() + data.validation.len()) as u64;
        assert_eq!(fitted(&with), Some(n));
        assert_eq!(fitted(&without), Some(data.train.len() as u64));
        assert_ne!(with.head.hash, without.head.hash);
        for (field, acc) in &with.test_accuracy {
            assert!(*acc > 0.95, "{field}: test accuracy {acc}");
        }
    }

    #[test]
    fn bad_options_are_refused() {
        let data = synthetic(60);
        for opts in [
            TrainOptions {
                epochs: 0,
                ..small_options()
            },
            TrainOptions {
                shape_dim: 1,
                ..small_options()
            },
            TrainOptions {
                batch_size: 0,
                ..small_options()
            },
            TrainOptions {
                ema: 1.0,
                ..small_options()
            },
        ] {
            assert!(train(&data, &fingerprint("m"), &opts, |_| {}, |_, _, _| {}).is_err());
        }
    }
}
