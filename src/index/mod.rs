//! The on-disk vector index: one directory, memory-mapped vectors, product
//! labels, and the fingerprint of the model that made them.
//!
//! * [`format`]: the files and the manifest;
//! * [`writer`]: atomic commits under a write lock;
//! * [`reader`]: [`Index`], the read side;
//! * [`payload`]: label posting lists for filters;
//! * [`journal`]: resume after interruption;
//! * [`build`]: the indexing pipeline, incremental.

pub mod build;
pub mod format;
pub mod journal;
pub mod label_classes;
pub mod payload;
pub mod reader;
pub mod search_rows;
pub mod writer;

pub use build::{build_index, BuildOptions, BuildReport, StageTimes};
pub use format::{Manifest, ProductRecord};
pub use reader::Index;
pub use writer::{PcaSettings, SearchSettings, TransformChoice};
