//! # lookalike
//!
//! A visual search engine for fashion catalogues. The pipeline, one module
//! per stage:
//!
//! * [`catalog`]: read a catalogue (Kaggle `styles.csv` + `images/`, or any
//!   folder of images) into [`Product`]s, reporting every bad row;
//! * [`imaging`]: decode untrusted image bytes and fit them to the model input;
//! * [`embedding`]: CNN features (EfficientNet-Lite via `tract`) and a colour
//!   descriptor, the two parts of an [`Embedding`];
//! * [`index`]: the on-disk vector index with labels, written atomically and
//!   updated incrementally;
//! * [`search`]: exact top-k with filters on labels, cosine or Euclidean;
//! * [`eval`]: the retrieval-quality protocol of the shared dataset;
//! * [`mod@bench`]: throughput and latency figures;
//! * [`training`]: learning a head from the labels (`lookalike train`);
//! * [`server`]: the HTTP API and web page (`lookalike serve`);
//! * `qdrant`: a Qdrant cluster as the store of the vectors (`index --qdrant`).
//!
//! The `lookalike` binary (CLI and `serve`) is a thin face over this library.

#![warn(missing_docs)]

pub mod bench;
pub mod catalog;
pub mod embedding;
pub mod error;
pub mod eval;
pub mod imaging;
pub mod index;
pub mod layout;
pub mod progress;
#[cfg(feature = "qdrant")]
pub mod qdrant;
pub mod rng;
pub mod search;
#[cfg(feature = "server")]
pub mod server;
pub mod split;
pub mod store;
#[cfg(all(test, feature = "training"))]
pub(crate) mod test_support;
#[cfg(feature = "training")]
pub mod training;
pub mod transform;
pub mod vector;

#[cfg(target_endian = "big")]
compile_error!(
    "the index stores little-endian f32 and maps its files as they are; big-endian hosts are not supported"
);

pub use catalog::{Catalog, Labels, Product};
pub use embedding::{Embedder, Embedding, ModelSpec};
pub use error::{Error, Result};
pub use index::Index;
pub use progress::{NoProgress, Progress};
pub use search::{Filter, Metric, SearchHit, SearchRequest};
