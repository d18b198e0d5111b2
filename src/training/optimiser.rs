//! AdamW and the moving average of the weights, fused into one pass.
//!
//! candle's own `AdamW` updates each parameter with about fifteen tensor
//! operations, every one of which allocates a tensor the size of the
//! parameter; on the head's 2 million weights that made the optimiser, not
//! the matrix products, most of a training step. Here each step walks every
//! parameter's values once, updating the moments, the weights (decoupled
//! weight decay, as in Loshchilov & Hutter and in candle) and the weight
//! average together, and then hands the new weights to the network's `Var`s.

use candle_core::{Tensor, Var};

/// AdamW settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamWConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Decoupled weight decay (per step, scaled by the learning rate).
    pub weight_decay: f64,
    /// Decay of the weight average, in `0..1` (0: the average is the
    /// current weights).
    pub ema: f64,
}

/// One parameter: its network variable and the optimiser's copies.
struct Slot {
    var: Var,
    value: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    average: Vec<f32>,
}

/// AdamW over a set of variables, with a bias-corrected moving average of
/// their values.
pub(crate) struct Optimiser {
    config: AdamWConfig,
    steps: i32,
    slots: Vec<Slot>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f32 = 1e-8;

/// A tensor's values, flattened.
pub(super) fn values(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Optimiser {
    /// Starts from the variables' current values.
    pub fn new(vars: Vec<Var>, config: AdamWConfig) -> candle_core::Result<Optimiser> {
        let slots = vars
            .into_iter()
            .map(|var| {
                let value = values(var.as_tensor())?;
                let n = value.len();
                Ok(Slot {
                    var,
                    average: value.clone(),
                    value,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Optimiser {
            config,
            steps: 0,
            slots,
        })
    }

    /// Back-propagates `loss` and takes one step.
    pub fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        self.steps += 1;
        let t = self.steps;
        let lr = self.config.learning_rate as f32;
        let shrink = (1.0 - self.config.learning_rate * self.config.weight_decay) as f32;
        let scale_m = (1.0 / (1.0 - BETA1.powi(t))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(t))) as f32;
        let (b1, b2) = (BETA1 as f32, BETA2 as f32);
        // Bias-corrected, as the moments are: the average starts at the
        // first step's weights rather than leaning on the random
        // initialisation (0.998^1000 = 13 % of it after eight epochs).
        let ema = self.config.ema;
        let decay = (ema * (1.0 - ema.powi(t - 1)) / (1.0 - ema.powi(t))) as f32;
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let g = values(g)?;
            for ((((x, m), v), a), g) in slot
                .value
                .iter_mut()
                .zip(&mut slot.m)
                .zip(&mut slot.v)
                .zip(&mut slot.average)
                .zip(&g)
            {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let step = (*m * scale_m) / ((*v * scale_v).sqrt() + EPS);
                *x = *x * shrink - lr * step;
                *a = decay * *a + (1.0 - decay) * *x;
            }
            slot.put(&slot.value)?;
        }
        Ok(())
    }

    /// A copy of the averaged weights, one vector per variable.
    pub fn average(&self) -> Vec<Vec<f32>> {
        self.slots.iter().map(|s| s.average.clone()).collect()
    }

    /// Puts `weights` (as from [`Optimiser::average`]) into the variables;
    /// the optimiser's own state is left as it is.
    pub fn load(&self, weights: &[Vec<f32>]) -> candle_core::Result<()> {
        for (slot, w) in self.slots.iter().zip(weights) {
            slot.put(w)?;
        }
        Ok(())
    }

    /// Puts the averaged weights into the variables.
    pub fn load_average(&self) -> candle_core::Result<()> {
        self.slots.iter().try_for_each(|s| s.put(&s.average))
    }

    /// Puts the current (not averaged) weights back into the variables.
    pub fn load_current(&self) -> candle_core::Result<()> {
        self.slots.iter().try_for_each(|s| s.put(&s.value))
    }
}

impl Slot {
    /// Sets the network variable to `values`.
    fn put(&self, values: &[f32]) -> candle_core::Result<()> {
        self.var.set(&Tensor::from_slice(
            values,
            self.var.shape(),
            self.var.device(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer;

    /// The same steps as candle's `AdamW` (up to rounding), on a small
    /// least-squares problem.
    #[test]
    fn follows_candle_adamw() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (3, 2), &dev)?;
        let y = Tensor::from_vec(vec![1f32, -1., 2.], (3, 1), &dev)?;
        let start = vec![0.3f32, -0.2];
        let loss_of = |w: &Var| (x.matmul(w.as_tensor())? - &y)?.sqr()?.sum_all();
        let ours = Var::from_tensor(&Tensor::from_slice(&start, (2, 1), &dev)?)?;
        let theirs = Var::from_tensor(&Tensor::from_slice(&start, (2, 1), &dev)?)?;
        let config = AdamWConfig {
            learning_rate: 0.05,
            weight_decay: 0.1,
            ema: 0.0,
        };
        let mut opt = Optimiser::new(vec![ours.clone()], config)?;
        let mut reference = candle_nn::AdamW::new(
            vec![theirs.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.1,
                ..Default::default()
            },
        )?;
        for _ in 0..50 {
            opt.backward_step(&loss_of(&ours)?)?;
            reference.backward_step(&loss_of(&theirs)?)?;
        }
        let (a, b) = (values(ours.as_tensor())?, values(theirs.as_tensor())?);
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Without averaging, the average is the weights themselves.
        assert_eq!(opt.average()[0], a);
        Ok(())
    }

    /// The average is bias-corrected: after one step it is that step's
    /// weights, after two the decay-weighted mean of both.
    #[test]
    fn the_average_starts_at_the_first_step() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::from_slice(&[1f32], 1, &dev)?)?;
        let mut opt = Optimiser::new(
            vec![w.clone()],
            AdamWConfig {
                learning_rate: 0.1,
                weight_decay: 0.0,
                ema: 0.9,
            },
        )?;
        opt.backward_step(&w.as_tensor().sqr()?.sum_all()?)?;
        let first = values(w.as_tensor())?[0];
        assert_eq!(opt.average()[0][0], first);
        opt.backward_step(&w.as_tensor().sqr()?.sum_all()?)?;
        let second = values(w.as_tensor())?[0];
        // Weights 0.9 and 1 over 1.9 (bias-corrected 0.9 and 0.1 / 0.19).
        let want = (0.9 * first + second) / 1.9;
        assert!((opt.average()[0][0] - want).abs() < 1e-6);
        opt.load_average()?;
        assert!((values(w.as_tensor())?[0] - want).abs() < 1e-6);
        opt.load_current()?;
        assert_eq!(values(w.as_tensor())?[0], second);
        Ok(())
    }
}
