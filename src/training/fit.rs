//! One pass of training ([`Phase`]): a fresh network fitted to some rows,
//! epoch by epoch, stopping early on validation rows when it has them.
//!
//! The weights kept are an exponential moving average of the weights over
//! the steps (`ema`), which generalises better than the last step's: on the
//! Kaggle catalogue it lifted held-out baseColour top-1 by about 0.01.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use super::dataset::Dataset;
use super::loss::{batch_loss, class_weights};
use super::net::{Net, NetConfig};
use super::optimiser::{AdamWConfig, Optimiser};
use super::options::TrainOptions;
use super::standardise::Standardiser;
use super::{candle, candle_err};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Which of training's two passes an epoch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// On the training rows, validated after each epoch: picks how many
    /// epochs to train (early stopping).
    Select,
    /// On the training and validation rows together, for the number of
    /// epochs the first pass picked; nothing is held out to validate on.
    Refit,
}

/// One epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct EpochStats {
    /// The pass it belongs to.
    pub phase: Phase,
    /// 1-based, within its pass.
    pub epoch: usize,
    /// Most epochs the pass runs (the first pass may stop earlier; the
    /// refit runs all of them).
    pub of: usize,
    /// Mean training loss.
    pub loss: f32,
    /// Validation top-1 accuracy per task field (empty when refitting).
    pub accuracy: Vec<(String, f32)>,
    /// The early-stopping score (mean validation accuracy; none when
    /// refitting).
    pub score: Option<f32>,
    /// Time spent.
    pub took: Duration,
}

/// What one pass trains on and for how long.
pub(super) struct Pass<'a> {
    /// The pass.
    pub phase: Phase,
    /// Rows trained on (a row may repeat: photo rows do).
    pub rows: &'a [usize],
    /// Rows to stop early on: with them the pass stops after
    /// `opts.patience` epochs without a better score and keeps the best
    /// epoch's weights; without, it runs every epoch and keeps the last.
    pub validation: Option<&'a [usize]>,
    /// Most epochs.
    pub epochs: usize,
}

/// Where a pass reports its progress.
pub(super) struct Progress<'a> {
    /// Every epoch's figures.
    pub on_epoch: &'a mut dyn FnMut(&EpochStats),
    /// Every step: pass, step (1-based) and steps per epoch.
    pub on_step: &'a mut dyn FnMut(Phase, usize, usize),
}

/// One pass of training: a network fitted to some rows.
pub(super) struct Fitted {
    /// The network, holding the kept weights.
    pub net: Net,
    /// The standardisation of its input, measured on the rows trained on.
    pub standard: Standardiser,
    /// Every epoch run.
    pub epochs: Vec<EpochStats>,
    /// The epoch whose weights the network holds.
    pub best_epoch: usize,
}

/// Trains a fresh network of `config`'s sizes for `pass`.
pub(super) fn fit(
    data: &Dataset,
    config: &NetConfig,
    opts: &TrainOptions,
    pass: Pass,
    progress: &mut Progress,
) -> Result<Fitted> {
    let Pass {
        phase,
        rows,
        validation,
        epochs,
    } = pass;
    let standard = Standardiser::fit(data, rows);
    let net = Net::new(config, opts.seed)?;
    let mut optimiser = Optimiser::new(
        net.vars(),
        AdamWConfig {
            learning_rate: opts.learning_rate,
            weight_decay: opts.weight_decay,
            ema: opts.ema,
        },
    )
    .map_err(candle_err)?;
    let class_weights = class_weights(data, rows, opts.class_balance);
    // One generator for the shuffles and the dropout masks, in the order
    // they are drawn: the same seed repeats the same training.
    let mut rng = SplitMix64(opts.seed ^ 0x5eed);
    let mut order = rows.to_vec();
    let mut stats_run = Vec::new();
    let mut best: Option<(f32, usize, Vec<Vec<f32>>)> = None;
    let steps = order.len().div_ceil(opts.batch_size);
    let hidden = config.hidden_dim + config.colour_hidden_dim;
    for epoch in 1..=epochs {
        let t = Instant::now();
        // Fisher-Yates with the seeded generator.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut total = 0f64;
        for (step, rows) in order.chunks(opts.batch_size).enumerate() {
            let x = standard.batch(data, rows)?;
            let mask = dropout_mask(&mut rng, rows.len(), hidden, opts.dropout)?;
            let parts = net.forward(&x, mask.as_ref())?;
            let loss = batch_loss(data, rows, &parts, &net.classifiers, &class_weights)?;
            if let Some(loss) = loss {
                total += loss
                    .to_dtype(DType::F64)
                    .and_then(|l| l.to_scalar::<f64>())
                    .map_err(candle_err)?;
                optimiser.backward_step(&loss).map_err(candle_err)?;
            }
            (progress.on_step)(phase, step + 1, steps);
        }
        let loss = (total / steps as f64) as f32;
        if !loss.is_finite() {
            return Err(Error::Model(format!(
                "training diverged at epoch {epoch} (loss {loss}); lower --learning-rate"
            )));
        }
        let (accuracy, score) = match validation {
            Some(validation) => {
                // Validate the averaged weights; training goes on from its own.
                optimiser.load_average().map_err(candle_err)?;
                let acc = accuracy(&net, data, &standard, validation)?;
                optimiser.load_current().map_err(candle_err)?;
                let score = acc.iter().map(|a| a.1).sum::<f32>() / acc.len().max(1) as f32;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    best = Some((score, epoch, optimiser.average()));
                }
                (acc, Some(score))
            }
            None => (Vec::new(), None),
        };
        let stats = EpochStats {
            phase,
            epoch,
            of: epochs,
            loss,
            accuracy,
            score,
            took: t.elapsed(),
        };
        (progress.on_epoch)(&stats);
        stats_run.push(stats);
        if validation.is_some() && epoch - best.as_ref().map_or(0, |b| b.1) >= opts.patience {
            break;
        }
    }
    let best_epoch = match best {
        Some((_, epoch, weights)) => {
            optimiser.load(&weights).map_err(candle_err)?;
            epoch
        }
        None => {
            optimiser.load_average().map_err(candle_err)?;
            stats_run.len()
        }
    };
    Ok(Fitted {
        net,
        standard,
        epochs: stats_run,
        best_epoch,
    })
}

/// A dropout mask for `rows` rows of `width` units: each unit kept with
/// probability `1 - dropout` and then scaled by `1 / (1 - dropout)`, or
/// none without dropout. Drawn from `rng`, unlike candle's own dropout, so
/// that training repeats.
fn dropout_mask(
    rng: &mut SplitMix64,
    rows: usize,
    width: usize,
    dropout: f32,
) -> Result<Option<Tensor>> {
    if dropout <= 0.0 {
        return Ok(None);
    }
    let keep = 1.0 - dropout;
    let m: Vec<f32> = (0..rows * width)
        .map(|_| {
            let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            if u < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    candle(|| Tensor::from_vec(m, (rows, width), &Device::Cpu)).map(Some)
}

/// Top-1 accuracy per task over `rows`, as the head will recognise them.
pub(super) fn accuracy(
    net: &Net,
    data: &Dataset,
    standard: &Standardiser,
    rows: &[usize],
) -> Result<Vec<(String, f32)>> {
    let mut right = vec![0usize; data.tasks.len()];
    let mut seen = vec![0usize; data.tasks.len()];
    // In chunks, which bounds the memory whatever the number of rows.
    for chunk in rows.chunks(4096) {
        let x = standard.batch(data, chunk)?;
        let parts = net.forward(&x, None)?;
        for (k, (task, classifier)) in data.tasks.iter().zip(&net.classifiers).enumerate() {
            let logits = classifier.forward(parts.get(classifier.part))?;
            let pred = candle(|| logits.argmax(1)?.to_vec1::<u32>())?;
            for (i, &r) in chunk.iter().enumerate() {
                if let Some(t) = task.targets[r] {
                    seen[k] += 1;
                    right[k] += usize::from(pred[i] == t);
                }
            }
        }
    }
    Ok(data
        .tasks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            (
                t.spec.field.clone(),
                right[k] as f32 / seen[k].max(1) as f32,
            )
        })
        .collect())
}
