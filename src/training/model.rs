//! The head network and its training loop (candle, CPU).
//!
//! Shapes, for a batch of `b` rows of `input` values:
//!
//! ```text
//! x [b, input]
//! h  = relu(x[:, ..input - colour_taps] W1^T + b1)   [b, hidden]
//! hc = relu(x[:, cnn..] W2^T + b2)                    [b, colour_hidden]
//! shape  = unit(h Ws^T + bs)                          [b, shape_dim]
//! colour = unit((h | hc) Wc^T + bc)                   [b, colour_dim]
//! logits(task) = scale * part . unit(P_task)^T   [b, classes]
//! loss = sum over tasks of weight * cross_entropy(logits, target)
//! ```
//!
//! The weights kept are an exponential moving average of the weights over
//! the steps (`ema`), which generalises better than the last step's: on the
//! Kaggle catalogue it lifted held-out baseColour top-1 by about 0.01.
//!
//! Training makes two passes ([`Phase`]): the first stops early on the
//! validation rows and so picks the number of epochs; the second (the
//! refit) trains again from scratch, on the validation rows as well, for
//! that many epochs.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, Var};
use serde::Serialize;

use super::data_linear::DataLinear;
use super::dataset::Dataset;
use super::optimiser::{values, AdamWConfig, Optimiser};
use crate::embedding::head::{Head, HeadWeights, Part};
use crate::embedding::EmbedderFingerprint;
use crate::error::{Error, Result};
use crate::eval::sample::SplitMix64;

/// Training settings.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOptions {
    /// Most epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Hidden layer width.
    pub hidden_dim: usize,
    /// Width of the colour branch, which reads the colour descriptors and
    /// the taps (0: no branch; the colour part reads the hidden layer).
    pub colour_hidden_dim: usize,
    /// Decay of the moving average of the weights, in `0..1` (0: keep the
    /// last step's weights).
    pub ema: f64,
    /// Length of the shape part of the output.
    pub shape_dim: usize,
    /// Length of the colour part of the output.
    pub colour_dim: usize,
    /// Softmax temperature of the cosine classifier.
    pub scale: f32,
    /// Length of the instance part: a PCA of the raw CNN features that keeps
    /// a product's identity (0: none).
    pub instance_dim: usize,
    /// Share of the shape part given to the instance part, in `0..1`.
    pub instance_weight: f32,
    /// Class balancing: each example weighs `count(class)^-b` in the loss
    /// (0: plain average; 0.5: rare articleTypes count more, as they do in
    /// the evaluation's stratified queries).
    pub class_balance: f32,
    /// Share of hidden units dropped in each training step (regularises:
    /// the head otherwise memorises the training rows within a few epochs).
    pub dropout: f32,
    /// Seed of initialisation, shuffling and dropout: same seed, same head.
    pub seed: u64,
    /// After early stopping has picked the number of epochs, train again on
    /// the training and validation rows together for that many epochs (the
    /// validation rows are a tenth of the labelled products: on the Kaggle
    /// catalogue, learning from them too lifts held-out top-1 by about
    /// 0.004). Doubles training time.
    pub refit: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 40,
            patience: 4,
            batch_size: 256,
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            hidden_dim: 512,
            colour_hidden_dim: 256,
            ema: 0.998,
            shape_dim: 192,
            colour_dim: 64,
            scale: 16.0,
            instance_dim: 128,
            instance_weight: 0.3,
            dropout: 0.5,
            class_balance: 0.0,
            seed: 42,
            refit: true,
        }
    }
}

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

fn candle_err(e: candle_core::Error) -> Error {
    Error::Model(format!("training: {e}"))
}

struct Net {
    w1: Var,
    b1: Var,
    /// The colour branch, when there is one.
    branch: Option<(Var, Var)>,
    /// Lengths of the main input and of the CNN part (where the branch's
    /// input starts).
    main_input: usize,
    cnn_dim: usize,
    ws: Var,
    bs: Var,
    wc: Var,
    bc: Var,
    protos: Vec<Var>,
}

/// Uniform in `±1/sqrt(fan_in)`, as PyTorch initialises linear layers, from
/// a seeded generator (candle's own CPU generator cannot be seeded).
pub(super) fn uniform(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    fan_in: usize,
) -> Result<Var> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound)
        .collect();
    let shape: Vec<usize> = if rows == 1 {
        vec![cols]
    } else {
        vec![rows, cols]
    };
    Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu).map_err(candle_err)?)
        .map_err(candle_err)
}

fn unit(t: &Tensor) -> candle_core::Result<Tensor> {
    let norm = (t.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-6)?;
    t.broadcast_div(&norm)
}

impl Net {
    fn new(data: &Dataset, embedder: &EmbedderFingerprint, opts: &TrainOptions) -> Result<Net> {
        let cnn_dim = embedder.cnn_dim;
        let mut rng = SplitMix64(opts.seed);
        let (h, ch) = (opts.hidden_dim, opts.colour_hidden_dim);
        let main_input = data.dim - embedder.head_colour_dim();
        let w1 = uniform(&mut rng, h, main_input, main_input)?;
        let b1 = uniform(&mut rng, 1, h, main_input)?;
        let branch = if ch > 0 {
            let input = data.dim - cnn_dim;
            Some((
                uniform(&mut rng, ch, input, input)?,
                uniform(&mut rng, 1, ch, input)?,
            ))
        } else {
            None
        };
        let classes = data
            .tasks
            .iter()
            .map(|t| (t.spec.classes.len(), t.spec.part));
        Ok(Net {
            w1,
            b1,
            branch,
            main_input,
            cnn_dim,
            ws: uniform(&mut rng, opts.shape_dim, h, h)?,
            bs: uniform(&mut rng, 1, opts.shape_dim, h)?,
            wc: uniform(&mut rng, opts.colour_dim, h + ch, h + ch)?,
            bc: uniform(&mut rng, 1, opts.colour_dim, h + ch)?,
            protos: classes
                .map(|(n, part)| {
                    let d = if part == Part::Shape {
                        opts.shape_dim
                    } else {
                        opts.colour_dim
                    };
                    uniform(&mut rng, n, d, d)
                })
                .collect::<Result<_>>()?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.w1.clone(), self.b1.clone()];
        if let Some((w2, b2)) = &self.branch {
            v.extend([w2.clone(), b2.clone()]);
        }
        v.extend([
            self.ws.clone(),
            self.bs.clone(),
            self.wc.clone(),
            self.bc.clone(),
        ]);
        v.extend(self.protos.iter().cloned());
        v
    }

    /// (shape, colour) parts, unit rows; `mask` drops units of the hidden
    /// layer and the colour branch side by side (already scaled by 1/keep)
    /// while training.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<(Tensor, Tensor)> {
        let main = x.narrow(1, 0, self.main_input)?;
        let mut h = DataLinear::new(&main)?
            .apply(self.w1.as_tensor())?
            .broadcast_add(&self.b1)?
            .relu()?;
        if let Some((w2, b2)) = &self.branch {
            let input = x.narrow(1, self.cnn_dim, x.dim(1)? - self.cnn_dim)?;
            let hc = DataLinear::new(&input)?
                .apply(w2.as_tensor())?
                .broadcast_add(b2)?
                .relu()?;
            h = Tensor::cat(&[&h, &hc], 1)?;
        }
        if let Some(m) = mask {
            h = (h * m)?;
        }
        let hidden = self.ws.dim(1)?;
        let s = unit(
            &h.narrow(1, 0, hidden)?
                .matmul(&self.ws.t()?)?
                .broadcast_add(&self.bs)?,
        )?;
        let c = unit(&h.matmul(&self.wc.t()?)?.broadcast_add(&self.bc)?)?;
        Ok((s, c))
    }

    fn logits(&self, k: usize, part: &Tensor, scale: f32) -> candle_core::Result<Tensor> {
        part.matmul(&unit(&self.protos[k])?.t()?)? * scale as f64
    }
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    values(t).map_err(candle_err)
}

/// The standardised rows `rows` as a `[rows.len(), dim]` tensor.
fn batch(data: &Dataset, rows: &[usize], mean: &[f32], inv_std: &[f32]) -> Result<Tensor> {
    let mut x = Vec::with_capacity(rows.len() * data.dim);
    for &r in rows {
        x.extend(
            data.row(r)
                .iter()
                .zip(mean)
                .zip(inv_std)
                .map(|((v, m), s)| (v - m) * s),
        );
    }
    Tensor::from_vec(x, (rows.len(), data.dim), &Device::Cpu).map_err(candle_err)
}

/// Top-1 accuracy per task over `rows`.
fn accuracy(
    net: &Net,
    data: &Dataset,
    rows: &[usize],
    mean: &[f32],
    inv_std: &[f32],
    scale: f32,
) -> Result<Vec<(String, f32)>> {
    let mut right = vec![0usize; data.tasks.len()];
    let mut seen = vec![0usize; data.tasks.len()];
    for chunk in rows.chunks(4096) {
        let x = batch(data, chunk, mean, inv_std)?;
        let (s, c) = net.forward(&x, None).map_err(candle_err)?;
        for (k, task) in data.tasks.iter().enumerate() {
            let part = if task.spec.part == Part::Shape {
                &s
            } else {
                &c
            };
            let pred = net
                .logits(k, part, scale)
                .and_then(|l| l.argmax(1))
                .and_then(|p| p.to_vec1::<u32>())
                .map_err(candle_err)?;
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

/// Checks options against the data before any work is done.
fn check(data: &Dataset, embedder: &EmbedderFingerprint, opts: &TrainOptions) -> Result<()> {
    if opts.epochs == 0 || opts.batch_size == 0 || opts.hidden_dim == 0 {
        return Err(Error::InvalidArgument(
            "epochs, batch size and hidden size must be positive".into(),
        ));
    }
    if !(0.0..=1.0).contains(&opts.class_balance) {
        return Err(Error::InvalidArgument(format!(
            "class balance must be in 0..=1, got {}",
            opts.class_balance
        )));
    }
    if !(0.0..0.95).contains(&opts.dropout) {
        return Err(Error::InvalidArgument(format!(
            "dropout must be in 0..0.95, got {}",
            opts.dropout
        )));
    }
    if opts.instance_dim > embedder.cnn_dim || !(0.0..1.0).contains(&opts.instance_weight) {
        return Err(Error::InvalidArgument(format!(
            "the instance part needs at most {} dimensions and a weight in 0..1",
            embedder.cnn_dim
        )));
    }
    if embedder.cnn_dim + embedder.head_colour_dim() >= data.dim {
        return Err(Error::InvalidArgument(format!(
            "rows of {} values cannot hold {} CNN and {} head colour values and more",
            data.dim,
            embedder.cnn_dim,
            embedder.head_colour_dim()
        )));
    }
    if !(0.0..1.0).contains(&opts.ema) {
        return Err(Error::InvalidArgument(format!(
            "the weight average's decay must be in 0..1, got {}",
            opts.ema
        )));
    }
    if opts.shape_dim < 2 || opts.colour_dim < 2 {
        return Err(Error::InvalidArgument(
            "the shape and colour parts need at least 2 dimensions".into(),
        ));
    }
    if data.train.is_empty() {
        return Err(Error::InvalidArgument(
            "no labelled training products (ids with id % 5 != 0)".into(),
        ));
    }
    Ok(())
}

/// Per-value mean and standard deviation of `rows`, for standardising.
struct Standardiser {
    mean: Vec<f32>,
    std: Vec<f32>,
    /// `1 / std`, or 0 for constant values.
    inv_std: Vec<f32>,
}

impl Standardiser {
    fn fit(data: &Dataset, rows: &[usize]) -> Standardiser {
        let dim = data.dim;
        let mut mean = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        for &r in rows {
            for (j, &v) in data.row(r).iter().enumerate() {
                mean[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let n = rows.len().max(1) as f64;
        let std: Vec<f32> = mean
            .iter()
            .zip(&sq)
            .map(|(m, s)| ((s / n - (m / n) * (m / n)).max(0.0).sqrt()) as f32)
            .collect();
        let mean: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
        let inv_std = std
            .iter()
            .map(|&s| if s > 1e-6 { 1.0 / s } else { 0.0 })
            .collect();
        Standardiser { mean, std, inv_std }
    }
}

/// One pass of training: a network fitted to some rows.
struct Fitted {
    net: Net,
    standard: Standardiser,
    epochs: Vec<EpochStats>,
    /// The epoch whose weights the network holds.
    best_epoch: usize,
}

/// Trains a fresh network on `rows` for at most `epochs` epochs. With
/// `validation`, it stops after `opts.patience` epochs without a better
/// validation score and keeps the best epoch's weights; without, it runs
/// every epoch and keeps the last.
#[allow(clippy::too_many_arguments)]
fn fit(
    data: &Dataset,
    rows: &[usize],
    validation: Option<&[usize]>,
    epochs: usize,
    phase: Phase,
    embedder: &EmbedderFingerprint,
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochStats),
    on_step: &mut dyn FnMut(Phase, usize, usize),
) -> Result<Fitted> {
    let standard = Standardiser::fit(data, rows);
    let (mean, inv_std) = (&standard.mean, &standard.inv_std);
    let net = Net::new(data, embedder, opts)?;
    let mut optimiser = Optimiser::new(
        net.vars(),
        AdamWConfig {
            learning_rate: opts.learning_rate,
            weight_decay: opts.weight_decay,
            ema: opts.ema,
        },
    )
    .map_err(candle_err)?;

    // Per task and class: the loss weight of one example.
    let class_weights: Vec<Vec<f32>> = data
        .tasks
        .iter()
        .map(|t| {
            let mut counts = vec![0usize; t.spec.classes.len()];
            for &r in rows {
                if let Some(c) = t.targets[r] {
                    counts[c as usize] += 1;
                }
            }
            counts
                .iter()
                .map(|&n| (n.max(1) as f32).powf(-opts.class_balance))
                .collect()
        })
        .collect();
    let mut rng = SplitMix64(opts.seed ^ 0x5eed);
    let mut order = rows.to_vec();
    let mut stats_run = Vec::new();
    let mut best: Option<(f32, usize, Vec<Vec<f32>>)> = None;
    let steps = order.len().div_ceil(opts.batch_size);
    for epoch in 1..=epochs {
        let t = Instant::now();
        // Fisher-Yates with the seeded generator.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut total = 0f64;
        for (step, rows) in order.chunks(opts.batch_size).enumerate() {
            let x = batch(data, rows, mean, inv_std)?;
            let hidden = opts.hidden_dim + opts.colour_hidden_dim;
            let mask = if opts.dropout > 0.0 {
                // Seeded, unlike candle's own dropout, so training repeats.
                let keep = 1.0 - opts.dropout;
                let m: Vec<f32> = (0..rows.len() * hidden)
                    .map(|_| {
                        let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                        if u < keep {
                            1.0 / keep
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Some(Tensor::from_vec(m, (rows.len(), hidden), &Device::Cpu).map_err(candle_err)?)
            } else {
                None
            };
            let (s, c) = net.forward(&x, mask.as_ref()).map_err(candle_err)?;
            let mut loss: Option<Tensor> = None;
            for (k, task) in data.tasks.iter().enumerate() {
                // Rows whose target is one of several classes (photos).
                let (alt_pos, alt_sets): (Vec<u32>, Vec<&Vec<u32>>) = if task.any_of.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    rows.iter()
                        .enumerate()
                        .filter_map(|(i, r)| task.any_of.get(r).map(|s| (i as u32, s)))
                        .unzip()
                };
                let (pos, tgt): (Vec<u32>, Vec<u32>) = rows
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &r)| task.targets[r].map(|t| (i as u32, t)))
                    .unzip();
                if pos.is_empty() && alt_pos.is_empty() {
                    continue;
                }
                let part = if task.spec.part == Part::Shape {
                    &s
                } else {
                    &c
                };
                let w: Vec<f32> = tgt.iter().map(|&t| class_weights[k][t as usize]).collect();
                // Photo rows weigh as one plain row each.
                let w_sum: f32 = w.iter().sum::<f32>() + alt_pos.len() as f32;
                let classes = task.spec.classes.len();
                let alt = (|| -> candle_core::Result<Option<Tensor>> {
                    if alt_pos.is_empty() {
                        return Ok(None);
                    }
                    // -log sum over the set of p(class), from the log-softmax
                    // plus a mask that is 0 inside the set and -1e4 outside.
                    let mut mask = vec![-1e4f32; alt_pos.len() * classes];
                    for (i, set) in alt_sets.iter().enumerate() {
                        for &c in set.iter() {
                            mask[i * classes + c as usize] = 0.0;
                        }
                    }
                    let idx = Tensor::from_vec(alt_pos.clone(), alt_pos.len(), &Device::Cpu)?;
                    let mask = Tensor::from_vec(mask, (alt_pos.len(), classes), &Device::Cpu)?;
                    let logits = net.logits(k, &part.index_select(&idx, 0)?, opts.scale)?;
                    let logp = candle_nn::ops::log_softmax(&logits, 1)?;
                    let nll = (logp + mask)?.log_sum_exp(1)?.sum_all()?.neg()?;
                    Ok(Some((nll * (task.weight / w_sum) as f64)?))
                })()
                .map_err(candle_err)?;
                let term = (|| {
                    if pos.is_empty() {
                        return Ok(alt);
                    }
                    let idx = Tensor::from_vec(pos.clone(), pos.len(), &Device::Cpu)?;
                    let tgt = Tensor::from_vec(tgt.clone(), (tgt.len(), 1), &Device::Cpu)?;
                    let w = Tensor::from_vec(w, pos.len(), &Device::Cpu)?;
                    let logits = net.logits(k, &part.index_select(&idx, 0)?, opts.scale)?;
                    // Weighted cross-entropy: -sum(w * log p(target)) / sum(w).
                    let logp = candle_nn::ops::log_softmax(&logits, 1)?;
                    let picked = logp.gather(&tgt, 1)?.squeeze(1)?;
                    let nll = (picked * w)?.sum_all()?.neg()?;
                    let l = (nll * (task.weight / w_sum) as f64)?;
                    match alt {
                        Some(a) => (l + a).map(Some),
                        None => Ok(Some(l)),
                    }
                })()
                .map_err(candle_err)?;
                let Some(l) = term else { continue };
                loss = Some(match loss {
                    None => l,
                    Some(acc) => (acc + l).map_err(candle_err)?,
                });
            }
            if let Some(loss) = loss {
                total += loss
                    .to_dtype(DType::F64)
                    .and_then(|l| l.to_scalar::<f64>())
                    .map_err(candle_err)?;
                optimiser.backward_step(&loss).map_err(candle_err)?;
            }
            on_step(phase, step + 1, steps);
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
                let acc = accuracy(&net, data, validation, mean, inv_std, opts.scale)?;
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
        on_epoch(&stats);
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
    check(data, embedder, opts)?;
    let mut select = fit(
        data,
        &data.train,
        (!data.validation.is_empty()).then_some(&data.validation[..]),
        opts.epochs,
        Phase::Select,
        embedder,
        opts,
        &mut on_epoch,
        &mut on_step,
    )?;
    let epochs = std::mem::take(&mut select.epochs);
    let best_epoch = select.best_epoch;
    let (fitted, trained_on) = if opts.refit && !data.validation.is_empty() {
        let mut all: Vec<usize> = data.train.iter().chain(&data.validation).copied().collect();
        all.sort_unstable();
        let refit = fit(
            data,
            &all,
            None,
            best_epoch,
            Phase::Refit,
            embedder,
            opts,
            &mut on_epoch,
            &mut on_step,
        )?;
        (refit, all)
    } else {
        (select, data.train.clone())
    };
    let Fitted {
        net,
        standard: Standardiser { mean, std, inv_std },
        epochs: refit_epochs,
        ..
    } = fitted;
    let dim = data.dim;
    let test_accuracy = accuracy(&net, data, &data.test, &mean, &inv_std, opts.scale)?;
    let (pmean, pmatrix) = if opts.instance_dim > 0 {
        let cnn = embedder.cnn_dim;
        let rows = &trained_on;
        let p = crate::index::projection::Projection::fit(
            rows.len(),
            cnn,
            opts.instance_dim,
            crate::index::SearchSettings::default().alpha,
            |i| &data.row(rows[i])[..cnn],
        )?;
        (p.mean, p.matrix)
    } else {
        (Vec::new(), Vec::new())
    };
    let info = Head::describe(
        embedder.clone(),
        [
            dim,
            opts.hidden_dim,
            opts.colour_hidden_dim,
            opts.shape_dim,
            opts.colour_dim,
        ],
        data.tap_dim,
        (opts.instance_dim, opts.instance_weight),
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
    let head = Head::new(
        info,
        HeadWeights {
            mean,
            std,
            w1: to_vec(net.w1.as_tensor())?,
            b1: to_vec(net.b1.as_tensor())?,
            w2: match &net.branch {
                Some((w2, _)) => to_vec(w2.as_tensor())?,
                None => Vec::new(),
            },
            b2: match &net.branch {
                Some((_, b2)) => to_vec(b2.as_tensor())?,
                None => Vec::new(),
            },
            ws: to_vec(net.ws.as_tensor())?,
            bs: to_vec(net.bs.as_tensor())?,
            wc: to_vec(net.wc.as_tensor())?,
            bc: to_vec(net.bc.as_tensor())?,
            pmean,
            pmatrix,
            prototypes: net
                .protos
                .iter()
                .map(|p| to_vec(p.as_tensor()))
                .collect::<Result<_>>()?,
        },
    )?;
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
            (row.len(), head.output_dim(), head.search_shape_dim()),
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
            assert_eq!(head.info.colour_tap_dim(), 4);
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
