//! The on-disk vector index: one directory, memory-mapped vectors, product
//! labels, and the fingerprint of the model that made them.
//!
//! * [`format`]: the files and the manifest;
//! * `writer`: atomic commits under a write lock;
//! * `reader`: [`Index`], the read side;
//! * `payload`: label posting lists for filters;
//! * `stored_rows`: the stored rows' precision (f32 or f16);
//! * `journal`: resume after interruption;
//! * `ann`: the HNSW graph of large catalogues;
//! * `build`: the indexing pipeline, incremental.

pub(crate) mod ann;
mod build;
pub(crate) mod format;
mod journal;
pub(crate) mod label_classes;
mod model;
pub(crate) mod payload;
mod reader;
pub(crate) mod search_rows;
mod stored_rows;
pub(crate) mod writer;

pub use ann::{AnnGraph, AnnInfo, AnnMode, AnnParams, ANN_AUTO_MIN_PRODUCTS};
pub use build::{build_index, BuildOptions, BuildReport, StageTimes};
pub use format::{Component, Manifest, ProductRecord, FORMAT_VERSION};
pub use label_classes::LabelClasses;
pub use model::SearchModel;
pub use payload::PayloadIndex;
pub use reader::{read_manifest, Index};
pub use stored_rows::StoredPrecision;
pub use writer::{commit, recommit, PcaSettings, SearchSettings, TransformChoice, WriteLock};
