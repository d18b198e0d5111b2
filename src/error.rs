//! The library's error type.
//!
//! Every variant names the thing that went wrong (a path, a CSV line, a filter
//! expression) so that the CLI can print it as is.

use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    // Not `#[source]`: the message already holds it, and error chains
    // (`{:#}`) would print it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// `styles.csv` (or another label file) is not a catalogue.
    #[error("{path}: not a catalogue CSV: {reason}")]
    NotACatalog {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An image could not be decoded or was refused.
    #[error("{0}")]
    Image(#[from] crate::imaging::ImageError),

    /// The ONNX model could not be loaded or run.
    #[error("model: {0}")]
    Model(String),

    /// A model spec file is invalid.
    #[error("model spec {path}: {reason}")]
    ModelSpec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The index on disk is damaged or of an unknown format.
    #[error("index {path}: {reason}")]
    CorruptIndex {
        /// The index directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// No index exists in the directory.
    #[error("no index in {0}: run `lookalike index CATALOG --index {0}` first")]
    NoIndex(PathBuf),

    /// The index was built with another model or preprocessing.
    #[error(
        "the index in {path} was built with {built_with}, but {requested} was requested; \
         re-index the catalogue with the new model (`lookalike index CATALOG --index {path} --rebuild`)"
    )]
    ModelMismatch {
        /// The index directory.
        path: PathBuf,
        /// Description of the index's embedder.
        built_with: String,
        /// Description of the requested embedder.
        requested: String,
    },

    /// A filter expression could not be parsed or does not apply.
    #[error("bad filter `{expr}`: {reason}")]
    BadFilter {
        /// The filter as written.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A product id is not in the index.
    #[error("unknown product id `{0}`")]
    UnknownId(String),

    /// An argument from the caller (a CLI flag, a query parameter, a
    /// request field) is malformed or out of range: the caller can fix it.
    #[error("{0}")]
    InvalidArgument(String),

    /// Two parts that must agree in length do not (a query embedded by
    /// another embedder, rows of another layout): a bug or a mixed-up
    /// index, not something the end user typed.
    #[error("{what} has {got} values, expected {expected}")]
    DimensionMismatch {
        /// What was measured (`query row`, `row 17`, ...).
        what: String,
        /// The length the index or model wants.
        expected: usize,
        /// The length it got.
        got: usize,
    },

    /// Another process holds the index's write lock.
    #[error("{0}: another `lookalike index` is writing this index; wait for it to finish")]
    Locked(PathBuf),

    /// A head file cannot be read, or its contents are unusable.
    #[error("head file {path}: {reason}")]
    HeadFile {
        /// The head file (`<in memory>` for a head not read from disk).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A head was trained on other features than the index holds.
    #[error(
        "the head was trained on features of {head_features}, but the index in {index} holds \
         features of {index_features}; train a head on this index (`lookalike train --index {index}`)"
    )]
    HeadMismatch {
        /// The index directory.
        index: PathBuf,
        /// Description of the head's features.
        head_features: String,
        /// Description of the index's features.
        index_features: String,
    },

    /// The server could not listen or serve.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A Qdrant node refused a request, or answered what lookalike cannot use.
    #[error("Qdrant {node}: {reason}")]
    Qdrant {
        /// The node (or nodes) asked.
        node: String,
        /// What it said, and what to do.
        reason: String,
    },

    /// No Qdrant node could be reached or answered.
    #[error("no Qdrant node answered ({0}); check the URLs and that the cluster is running")]
    QdrantUnreachable(String),

    /// The operation was interrupted (Ctrl-C); finished work was kept.
    #[error("interrupted")]
    Interrupted,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Adds a path to I/O results: `fs::read(p).at(p)?`.
pub trait IoResultExt<T> {
    /// Maps the error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
