//! The head network, block by block (candle, CPU).
//!
//! For a batch of `b` standardised rows of `input` values:
//!
//! ```text
//! h      = relu(hidden(x[:, ..main_input]))          [b, hidden]
//! hc     = relu(colour_branch(x[:, cnn..]))           [b, colour_hidden]
//! shape  = unit(shape(h))                             [b, shape_dim]
//! colour = unit(colour(h | hc))                       [b, colour_dim]
//! logits(task) = scale * part . unit(P_task)^T        [b, classes]
//! ```
//!
//! where each of `hidden`, `colour_branch`, `shape` and `colour` is a
//! [`Dense`] layer and each task's prototypes `P_task` a [`Cosine`]
//! classifier (normalised softmax, as in NormFace). `main_input` leaves out
//! the head colour descriptor at the end of the taps: only the colour
//! branch reads it. [`crate::embedding::Head::apply`] computes the same
//! in plain Rust from the weights [`Net::head_weights`] hands over.

use candle_core::{Device, Tensor, Var};

use super::data_linear::DataLinear;
use super::dataset::Dataset;
use super::optimiser::values;
use super::options::TrainOptions;
use super::{candle, candle_err};
use crate::embedding::EmbedderFingerprint;
use crate::embedding::{HeadDims, HeadWeights, Part};
use crate::error::{Error, Result};
use crate::layout::RowLayout;
use crate::rng::SplitMix64;

/// The network's sizes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NetConfig {
    /// The input rows: the hidden layer reads all but the head colour
    /// descriptor ([`RowLayout::main_input`]), the colour branch all after
    /// the CNN part ([`RowLayout::colour_branch_input`]).
    pub layout: RowLayout,
    /// Hidden layer width.
    pub hidden_dim: usize,
    /// Colour branch width (0: no branch).
    pub colour_hidden_dim: usize,
    /// Length of the shape part.
    pub shape_dim: usize,
    /// Length of the colour part.
    pub colour_dim: usize,
    /// Softmax temperature of the cosine classifiers.
    pub scale: f32,
    /// Per task: its number of classes and the part it classifies.
    pub tasks: Vec<(usize, Part)>,
}

impl NetConfig {
    /// The sizes for rows of `data` made by `embedder`, with `opts`' widths.
    pub fn new(data: &Dataset, embedder: &EmbedderFingerprint, opts: &TrainOptions) -> NetConfig {
        NetConfig {
            layout: data.row_layout(embedder),
            hidden_dim: opts.hidden_dim,
            colour_hidden_dim: opts.colour_hidden_dim,
            shape_dim: opts.shape_dim,
            colour_dim: opts.colour_dim,
            scale: opts.scale,
            tasks: data
                .tasks
                .iter()
                .map(|t| (t.spec.classes.len(), t.spec.part))
                .collect(),
        }
    }

    /// Length of a part.
    pub fn part_dim(&self, part: Part) -> usize {
        match part {
            Part::Shape => self.shape_dim,
            Part::Colour => self.colour_dim,
        }
    }

    /// The head's layer sizes, with an instance part of `instance` values
    /// weighted `instance_weight` (the network has none: the PCA is fitted
    /// apart).
    pub fn head_dims(&self, instance: usize, instance_weight: f32) -> HeadDims {
        HeadDims {
            hidden: self.hidden_dim,
            colour_hidden: self.colour_hidden_dim,
            shape: self.shape_dim,
            colour: self.colour_dim,
            instance,
            instance_weight,
        }
    }
}

/// Uniform in `±1/sqrt(fan_in)`, as PyTorch initialises linear layers, from
/// a seeded generator (candle's own CPU generator cannot be seeded).
pub(super) fn uniform(rng: &mut SplitMix64, shape: &[usize], fan_in: usize) -> Result<Var> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let data: Vec<f32> = (0..shape.iter().product())
        .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound)
        .collect();
    candle(|| Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?))
}

/// Rows scaled to unit length (the `1e-6` keeps a zero row finite).
fn unit(t: &Tensor) -> candle_core::Result<Tensor> {
    let norm = (t.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-6)?;
    t.broadcast_div(&norm)
}

/// Checks that `x` is a batch of rows of `width` values.
fn check_rows(x: &Tensor, width: usize, what: &str) -> Result<()> {
    match x.dims() {
        [_, w] if *w == width => Ok(()),
        dims => Err(Error::Model(format!(
            "training: {what} takes rows of {width} values, got a tensor of shape {dims:?}"
        ))),
    }
}

/// A fully connected layer, `y = x W^T + b` (candle's and PyTorch's
/// `Linear`).
pub(super) struct Dense {
    /// `[out, in]`.
    pub w: Var,
    /// `[out]`.
    pub b: Var,
}

impl Dense {
    /// A layer from `input` to `output` values, initialised as PyTorch does
    /// (weights, then bias, from `rng`).
    fn new(rng: &mut SplitMix64, input: usize, output: usize) -> Result<Dense> {
        Ok(Dense {
            w: uniform(rng, &[output, input], input)?,
            b: uniform(rng, &[output], input)?,
        })
    }

    /// Length of the rows it reads.
    pub fn input(&self) -> usize {
        self.w.dims().get(1).copied().unwrap_or(0)
    }

    /// `x W^T + b` for `x` of shape `[batch, in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_rows(x, self.input(), "a dense layer")?;
        candle(|| x.matmul(&self.w.t()?)?.broadcast_add(&self.b))
    }

    /// The same for `x` a batch of data, not of parameters: no gradient is
    /// made for `x` (see [`DataLinear`]), which saves a third of a step.
    pub fn forward_data(&self, x: &Tensor) -> Result<Tensor> {
        check_rows(x, self.input(), "a dense layer")?;
        candle(|| {
            DataLinear::new(x)?
                .apply(self.w.as_tensor())?
                .broadcast_add(&self.b)
        })
    }

    fn vars(&self) -> [Var; 2] {
        [self.w.clone(), self.b.clone()]
    }
}

/// A cosine classifier: the logits of a part are its cosines with each
/// class's learned prototype, times a temperature (NormFace).
pub(super) struct Cosine {
    /// `[classes, part_dim]`, as learned (not unit).
    pub prototypes: Var,
    /// The part it classifies.
    pub part: Part,
    scale: f32,
}

impl Cosine {
    fn new(
        rng: &mut SplitMix64,
        classes: usize,
        dim: usize,
        part: Part,
        scale: f32,
    ) -> Result<Cosine> {
        Ok(Cosine {
            prototypes: uniform(rng, &[classes, dim], dim)?,
            part,
            scale,
        })
    }

    /// `[batch, classes]` logits of `x`, a `[batch, part_dim]` batch of
    /// unit rows.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dim = self.prototypes.dims().get(1).copied().unwrap_or(0);
        check_rows(x, dim, "a cosine classifier")?;
        candle(|| x.matmul(&unit(&self.prototypes)?.t()?)? * self.scale as f64)
    }
}

/// The network's outputs for a batch: unit rows.
pub(super) struct Parts {
    /// `[batch, shape_dim]`.
    pub shape: Tensor,
    /// `[batch, colour_dim]`.
    pub colour: Tensor,
}

impl Parts {
    /// The output `part`.
    pub fn get(&self, part: Part) -> &Tensor {
        match part {
            Part::Shape => &self.shape,
            Part::Colour => &self.colour,
        }
    }
}

/// The head network.
pub(super) struct Net {
    config: NetConfig,
    /// `W1, b1`: main input to hidden layer.
    pub hidden: Dense,
    /// `W2, b2`: the colour branch, when there is one.
    pub colour_branch: Option<Dense>,
    /// `Ws, bs`: hidden layer to shape part.
    pub shape: Dense,
    /// `Wc, bc`: hidden layer and colour branch to colour part.
    pub colour: Dense,
    /// One per task, in the dataset's task order.
    pub classifiers: Vec<Cosine>,
}

impl Net {
    /// A fresh network, initialised from `seed`: the same seed gives the
    /// same weights.
    pub fn new(config: &NetConfig, seed: u64) -> Result<Net> {
        let mut rng = SplitMix64(seed);
        let c = config;
        let (h, ch) = (c.hidden_dim, c.colour_hidden_dim);
        // The order of these calls is the order the weights are drawn in:
        // changing it changes every trained head.
        let hidden = Dense::new(&mut rng, c.layout.main_input().len(), h)?;
        let colour_branch = if ch > 0 {
            Some(Dense::new(
                &mut rng,
                c.layout.colour_branch_input().len(),
                ch,
            )?)
        } else {
            None
        };
        let shape = Dense::new(&mut rng, h, c.shape_dim)?;
        let colour = Dense::new(&mut rng, h + ch, c.colour_dim)?;
        let classifiers = c
            .tasks
            .iter()
            .map(|&(classes, part)| Cosine::new(&mut rng, classes, c.part_dim(part), part, c.scale))
            .collect::<Result<_>>()?;
        Ok(Net {
            config: config.clone(),
            hidden,
            colour_branch,
            shape,
            colour,
            classifiers,
        })
    }

    /// Every parameter, for the optimiser.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = self.hidden.vars().to_vec();
        if let Some(branch) = &self.colour_branch {
            v.extend(branch.vars());
        }
        v.extend(self.shape.vars());
        v.extend(self.colour.vars());
        v.extend(self.classifiers.iter().map(|c| c.prototypes.clone()));
        v
    }

    /// The (shape, colour) parts of `x`, a `[batch, input_dim]` batch of
    /// standardised rows. While training, `mask` drops units of the hidden
    /// layer and the colour branch side by side (`[batch, hidden +
    /// colour_hidden]`, already scaled by 1/keep).
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Parts> {
        let c = &self.config;
        check_rows(x, c.layout.dim(), "the network")?;
        let main = candle(|| x.narrow(1, 0, c.layout.main_input().len()))?;
        let h = self.hidden.forward_data(&main)?;
        let mut h = candle(|| h.relu())?;
        if let Some(branch) = &self.colour_branch {
            let reads = c.layout.colour_branch_input();
            let input = candle(|| x.narrow(1, reads.start, reads.len()))?;
            let hc = branch.forward_data(&input)?;
            h = candle(|| Tensor::cat(&[&h, &hc.relu()?], 1))?;
        }
        if let Some(m) = mask {
            h = candle(|| h * m)?;
        }
        let s = self
            .shape
            .forward(&candle(|| h.narrow(1, 0, c.hidden_dim))?)?;
        let col = self.colour.forward(&h)?;
        Ok(Parts {
            shape: candle(|| unit(&s))?,
            colour: candle(|| unit(&col))?,
        })
    }

    /// The weights as a head file holds them. The input standardisation
    /// and the instance projection are not the network's: they are left
    /// empty for the caller to fill.
    pub fn head_weights(&self) -> Result<HeadWeights> {
        let v = |var: &Var| values(var.as_tensor()).map_err(candle_err);
        let (w2, b2) = match &self.colour_branch {
            Some(branch) => (v(&branch.w)?, v(&branch.b)?),
            None => (Vec::new(), Vec::new()),
        };
        Ok(HeadWeights {
            w1: v(&self.hidden.w)?,
            b1: v(&self.hidden.b)?,
            w2,
            b2,
            ws: v(&self.shape.w)?,
            bs: v(&self.shape.b)?,
            wc: v(&self.colour.w)?,
            bc: v(&self.colour.b)?,
            prototypes: self
                .classifiers
                .iter()
                .map(|c| v(&c.prototypes))
                .collect::<Result<_>>()?,
            ..HeadWeights::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::ColourSpec;
    use crate::embedding::Head;
    use crate::test_support::{fingerprint, small_options, synthetic_rows};
    use crate::training::fit::{fit, Pass, Phase, Progress};

    /// A layer refuses rows of the wrong length with an error that says so,
    /// rather than candle's message from deep inside the product.
    #[test]
    fn a_dense_layer_checks_its_input() -> Result<()> {
        let dense = Dense::new(&mut SplitMix64(1), 4, 2)?;
        let ok = candle(|| Tensor::zeros((3, 4), candle_core::DType::F32, &Device::Cpu))?;
        assert_eq!(dense.forward(&ok)?.dims(), [3, 2]);
        let wrong = candle(|| Tensor::zeros((3, 5), candle_core::DType::F32, &Device::Cpu))?;
        for result in [dense.forward(&wrong), dense.forward_data(&wrong)] {
            let e = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                e.contains("rows of 4 values") && e.contains("[3, 5]"),
                "{e}"
            );
        }
        Ok(())
    }

    /// Training's network (candle) and the head that search applies (plain
    /// Rust, from [`Net::head_weights`]) give the same parts for the same
    /// rows, on a trained network with a colour branch and a head colour
    /// descriptor (so that both of the input's slices are exercised).
    ///
    /// Tolerance: the parts are unit vectors, so every value is in `-1..=1`.
    /// The two differ only in rounding: candle's matrix products and the
    /// head's dot products add the same f32 terms in another order (at most
    /// 24 terms here, so about `24 * 6e-8` relative error each), and
    /// candle's `unit` adds 1e-6 to the norm where the head divides by the
    /// norm itself. Measured: 1.8e-6 at worst, so 1e-5 leaves a margin; a
    /// real mismatch (a wrong slice, a missing bias, weights swapped) moves
    /// values by 0.01 or more.
    #[test]
    fn the_network_and_the_head_give_the_same_numbers() -> Result<()> {
        let data = synthetic_rows(300, true);
        let embedder = EmbedderFingerprint {
            head_colour: Some(ColourSpec {
                l_bins: 1,
                ab_bins: 2,
                ..Default::default()
            }),
            ..fingerprint("m")
        };
        // No instance part: it is the head's own (a PCA), not the network's.
        let opts = TrainOptions {
            instance_dim: 0,
            ..small_options()
        };
        let config = NetConfig::new(&data, &embedder, &opts);
        assert!(
            config.layout.main_input().len() < config.layout.dim() && config.colour_hidden_dim > 0
        );
        let pass = Pass {
            phase: Phase::Refit,
            rows: &data.train,
            validation: None,
            epochs: 2,
        };
        let progress = &mut Progress {
            on_epoch: &mut |_| {},
            on_step: &mut |_, _, _| {},
        };
        let fitted = fit(&data, &config, &opts, pass, progress)?;
        let info = Head::describe(
            embedder,
            config.layout,
            config.head_dims(0, 0.0),
            config.scale,
            data.tasks.iter().map(|t| t.spec.clone()).collect(),
            serde_json::Value::Null,
        );
        let weights = HeadWeights {
            mean: fitted.standard.mean.clone(),
            std: fitted.standard.std.clone(),
            ..fitted.net.head_weights()?
        };
        let head = Head::new(info, weights)?;

        let rows = &data.test;
        let x = fitted.standard.batch(&data, rows)?;
        let parts = fitted.net.forward(&x, None)?;
        let (shape, colour) = candle(|| {
            Ok((
                parts.shape.to_vec2::<f32>()?,
                parts.colour.to_vec2::<f32>()?,
            ))
        })?;
        let mut worst = 0f32;
        for (i, &r) in rows.iter().enumerate() {
            let applied = head.apply(data.row(r));
            let net: Vec<f32> = shape[i].iter().chain(&colour[i]).copied().collect();
            assert_eq!(applied.len(), net.len());
            for (a, b) in applied.iter().zip(&net) {
                worst = worst.max((a - b).abs());
            }
        }
        assert!(
            worst < 1e-5,
            "Net::forward and Head::apply differ by {worst}"
        );
        Ok(())
    }
}
