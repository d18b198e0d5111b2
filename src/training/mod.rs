//! `lookalike train`: learns a [`Head`](crate::embedding::Head) from
//! the catalogue's labels.
//!
//! The head reads the rows already stored in the index (no re-embedding) and
//! is trained with candle's autodiff as a multi-task cosine classifier
//! (normalised-softmax, as in NormFace): the shape part of the output must
//! lie near a learned prototype of the product's articleType (and of its
//! subCategory and gender), the colour part near a prototype of its
//! baseColour. Products of the same type and colour then end up near each
//! other, which is what the search ranks by, and the prototypes double as
//! classifiers for recognition.
//!
//! * `dataset`: rows and labels from the index, the split by id;
//! * `photos`: shopper photos as training rows, with seeded variants;
//! * `options`: [`TrainOptions`] and their checks;
//! * `standardise`: the rows' per-value mean and deviation;
//! * `net`: the network, block by block (`Dense` layers, the colour branch,
//!   cosine classifiers), and its seeded initialisation;
//! * `loss`: the multi-task loss of a batch, photo rows included;
//! * `fit`: one pass of training, epoch by epoch, with early stopping;
//! * `train`: [`train`] itself: the two passes (early stopping, then the
//!   refit) and the head file made from them;
//! * `optimiser`: AdamW and the weight average, fused into one pass;
//! * `data_linear`: the first layers' product, without the data's gradient;
//! * `step_bench`: one training step timed both ways, for `lookalike bench`.

mod data_linear;
pub(crate) mod dataset;
mod fit;
mod loss;
mod net;
mod optimiser;
mod options;
mod photos;
mod standardise;
mod step_bench;
mod train;

pub use crate::split::is_test_id;
pub use dataset::Dataset;
pub use fit::{EpochStats, Phase};
pub use options::TrainOptions;
pub use photos::{photo_rows, PhotoRow};
pub use step_bench::{bench_training_step, StepBench};
pub use train::{train, TrainReport};

use crate::error::{Error, Result};

/// candle's error as the crate's, saying it came from training.
fn candle_err(e: candle_core::Error) -> Error {
    Error::Model(format!("training: {e}"))
}

/// Runs candle operations, their error as the crate's.
fn candle<T>(f: impl FnOnce() -> candle_core::Result<T>) -> Result<T> {
    f().map_err(candle_err)
}
