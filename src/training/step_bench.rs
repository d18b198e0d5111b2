//! One training step of the head, timed two ways in one run: built from
//! candle's own blocks (matrix products, `candle_nn::AdamW`, the weight
//! average as tensor operations), as `train` did before, and as `train`
//! does it now ([`DataLinear`] and the fused [`Optimiser`]). `lookalike
//! bench` prints both.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use serde::Serialize;

use super::data_linear::DataLinear;
use super::net::uniform;
use super::optimiser::{AdamWConfig, Optimiser};
use crate::bench::Latency;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Step times of the two ways.
#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    /// Rows per step.
    pub batch: usize,
    /// Weights trained.
    pub parameters: usize,
    /// candle's blocks.
    pub candle: Latency,
    /// `train`'s fused optimiser and data-only products.
    pub fused: Latency,
}

/// The shapes of the Kaggle head: main input, branch input, hidden widths,
/// colour classes.
const MAIN: usize = 2229;
const BRANCH: usize = 1831;
const HIDDEN: usize = 512;
const COLOUR_HIDDEN: usize = 256;
const CLASSES: usize = 46;
const BATCH: usize = 256;
const DECAY: f64 = 0.998;

fn err(e: candle_core::Error) -> Error {
    Error::Model(format!("training benchmark: {e}"))
}

/// Weights of a two-branch network the head's size, initialised as
/// `train` initialises them.
fn weights(seed: u64) -> Result<Vec<Var>> {
    let mut rng = SplitMix64(seed);
    [
        (HIDDEN, MAIN),
        (COLOUR_HIDDEN, BRANCH),
        (CLASSES, HIDDEN + COLOUR_HIDDEN),
    ]
    .into_iter()
    .map(|(o, i)| uniform(&mut rng, &[o, i], i))
    .collect()
}

/// A `[rows, MAIN + BRANCH]` batch of values uniform in `±1`, and class
/// targets.
fn batch(rows: usize) -> Result<(Tensor, Tensor)> {
    let mut rng = SplitMix64(1);
    let x = uniform(&mut rng, &[rows, MAIN + BRANCH], 1)?;
    let t: Vec<u32> = (0..rows).map(|_| rng.below(CLASSES) as u32).collect();
    let targets = Tensor::from_vec(t, rows, &Device::Cpu).map_err(err)?;
    Ok((x.as_tensor().clone(), targets))
}

/// Cross-entropy of the network on one batch; `data_linear` picks how the
/// first layers are computed.
fn loss(
    w: &[Var],
    main: &Tensor,
    branch: &Tensor,
    targets: &Tensor,
    data_linear: bool,
) -> candle_core::Result<Tensor> {
    let first = |x: &Tensor, w: &Var| {
        if data_linear {
            DataLinear::new(x)?.apply(w.as_tensor())
        } else {
            x.matmul(&w.as_tensor().t()?)
        }
    };
    let h = Tensor::cat(
        &[first(main, &w[0])?.relu()?, first(branch, &w[1])?.relu()?],
        1,
    )?;
    let logits = h.matmul(&w[2].as_tensor().t()?)?;
    candle_nn::loss::cross_entropy(&logits, targets)
}

/// Times `steps` steps each way (after one untimed step each).
pub fn bench_training_step(steps: usize) -> Result<StepBench> {
    let (x, targets) = batch(BATCH)?;
    let main = x.narrow(1, 0, MAIN).map_err(err)?;
    let branch = x.narrow(1, MAIN, BRANCH).map_err(err)?;
    let lr = 2e-3;

    // candle's blocks.
    let w = weights(7)?;
    let mut adamw = candle_nn::AdamW::new(
        w.clone(),
        candle_nn::ParamsAdamW {
            lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )
    .map_err(err)?;
    let mut average: Vec<Tensor> = w
        .iter()
        .map(|v| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()
        .map_err(err)?;
    let mut candle_times = Vec::with_capacity(steps);
    for i in 0..=steps {
        let start = Instant::now();
        let l = loss(&w, &main, &branch, &targets, false).map_err(err)?;
        adamw.backward_step(&l).map_err(err)?;
        for (a, v) in average.iter_mut().zip(&w) {
            // As `train` blended the average before: three tensors a step.
            *a = ((&*a * DECAY).and_then(|a| a + (v.as_tensor() * (1.0 - DECAY))?))
                .map(|a| a.detach())
                .map_err(err)?;
        }
        if i > 0 {
            candle_times.push(start.elapsed());
        }
    }

    // train's way.
    let w = weights(7)?;
    let mut fused = Optimiser::new(
        w.clone(),
        AdamWConfig {
            learning_rate: lr,
            weight_decay: 1e-4,
            ema: DECAY,
        },
    )
    .map_err(err)?;
    let mut fused_times: Vec<Duration> = Vec::with_capacity(steps);
    for i in 0..=steps {
        let start = Instant::now();
        let l = loss(&w, &main, &branch, &targets, true).map_err(err)?;
        fused.backward_step(&l).map_err(err)?;
        if i > 0 {
            fused_times.push(start.elapsed());
        }
    }
    Ok(StepBench {
        batch: BATCH,
        parameters: w.iter().map(|v| v.as_tensor().elem_count()).sum(),
        candle: Latency::of(&candle_times),
        fused: Latency::of(&fused_times),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways compute the same loss on the same weights.
    #[test]
    fn both_ways_agree() -> Result<()> {
        let (x, targets) = batch(4)?;
        let (main, branch) = (
            x.narrow(1, 0, MAIN).map_err(err)?,
            x.narrow(1, MAIN, BRANCH).map_err(err)?,
        );
        let w = weights(7)?;
        let loss_of = |data_linear| {
            loss(&w, &main, &branch, &targets, data_linear).and_then(|l| l.to_scalar::<f32>())
        };
        let (a, b) = (loss_of(false).map_err(err)?, loss_of(true).map_err(err)?);
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        Ok(())
    }
}
