//! What `lookalike train` can be told: [`TrainOptions`], and their checks.

use serde::Serialize;

use super::dataset::Dataset;
use crate::embedding::EmbedderFingerprint;
use crate::error::{Error, Result};

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

impl TrainOptions {
    /// Checks the options against the data before any work is done.
    pub(super) fn check(&self, data: &Dataset, embedder: &EmbedderFingerprint) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 || self.hidden_dim == 0 {
            return Err(Error::InvalidArgument(
                "epochs, batch size and hidden size must be positive".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.class_balance) {
            return Err(Error::InvalidArgument(format!(
                "class balance must be in 0..=1, got {}",
                self.class_balance
            )));
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return Err(Error::InvalidArgument(format!(
                "dropout must be in 0..0.95, got {}",
                self.dropout
            )));
        }
        if self.instance_dim > embedder.cnn_dim || !(0.0..1.0).contains(&self.instance_weight) {
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
        if !(0.0..1.0).contains(&self.ema) {
            return Err(Error::InvalidArgument(format!(
                "the weight average's decay must be in 0..1, got {}",
                self.ema
            )));
        }
        if self.shape_dim < 2 || self.colour_dim < 2 {
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
}
