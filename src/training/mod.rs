//! `lookalike train`: learns a [`Head`] from the catalogue's labels.
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
//! * [`dataset`]: rows and labels from the index, the split by id;
//! * [`model`]: the network, its initialisation and the training loop (two
//!   passes: early stopping, then the refit);
//! * `optimiser`: AdamW and the weight average, fused into one pass;
//! * `data_linear`: the first layers' product, without the data's gradient;
//! * [`photos`]: shopper photos as training rows, with seeded variants;
//! * [`step_bench`]: one training step timed both ways, for `lookalike bench`.

mod data_linear;
pub mod dataset;
pub mod model;
mod optimiser;
pub mod photos;
pub mod step_bench;

pub use crate::split::is_test_id;
pub use dataset::Dataset;
pub use model::{train, EpochStats, Phase, TrainOptions, TrainReport};
pub use step_bench::{bench_training_step, StepBench};
