//! The on-disk layout of an index directory.
//!
//! ```text
//! DIR/
//!   manifest.json           which generation is current, model fingerprint, sizes
//!   vectors-000007.f32      N rows of (cnn | colour) little-endian f32: the stored truth
//!   products-000007.json    N product records (id, content hash, image, labels)
//!   projection-000007.bin   PCA of the CNN part (large catalogues only)
//!   search-000007.f32       N search rows (projected cnn | colour), f32
//!   codes-000007.i8         the search rows quantised to i8 (what the scan reads)
//!   scales-000007.f32       per row: i8 scale and error norm of each part
//!   journal.bin             embeddings of an unfinished run (resume), if any
//!   LOCK                    held (flock) by the one process writing
//! ```
//!
//! A write creates the files of generation g+1 next to those of g, then
//! atomically replaces `manifest.json` (write temp, fsync, rename, fsync dir).
//! Until that rename, readers and a crashed writer's successor see g intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::Labels;
use crate::embedding::{EmbedderFingerprint, ModelSpec};

/// Magic string of the manifest.
pub const FORMAT_NAME: &str = "lookalike-index";
/// Version of this layout; readers refuse others.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The resume journal's file name.
pub const JOURNAL: &str = "journal.bin";
/// The writer lock's file name.
pub const LOCK: &str = "LOCK";

/// The index's table of contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Layout version, [`FORMAT_VERSION`].
    pub version: u32,
    /// Increases with every committed write.
    pub generation: u64,
    /// Number of products (rows).
    pub products: usize,
    /// Length of the CNN part of a row.
    pub cnn_dim: usize,
    /// Length of the colour part of a row.
    pub colour_dim: usize,
    /// Length of the taps part of a row (pooled intermediate maps, read by
    /// a trained head; 0 in indexes made before taps existed).
    #[serde(default)]
    pub tap_dim: usize,
    /// The vectors file (relative to the directory).
    pub vectors_file: String,
    /// The products file (relative to the directory).
    pub products_file: String,
    /// Length of the CNN part of a search row (the projection's output, or
    /// `cnn_dim` without projection).
    pub search_cnn_dim: usize,
    /// Exact search rows (f32).
    pub search_file: String,
    /// Quantised search rows (i8).
    pub codes_file: String,
    /// Per-row scales and error norms of the codes.
    pub scales_file: String,
    /// The PCA projection of the CNN part, if one is used.
    pub projection_file: Option<String>,
    /// The learned head the search rows were made with, if any (a copy of
    /// the head file, so the index stands alone).
    #[serde(default)]
    pub head_file: Option<String>,
    /// BLAKE3 of `head_file`: a head that changed on disk is refused.
    #[serde(default)]
    pub head_hash: Option<String>,
    /// Length of the colour part of a search row when a head makes it
    /// (else `colour_dim`).
    #[serde(default)]
    pub search_colour_dim: Option<usize>,
    /// How the vectors were made.
    pub embedder: EmbedderFingerprint,
    /// The model spec, to embed queries the same way.
    pub model: ModelSpec,
    /// Median `[width, height]` of the catalogue's images; larger query
    /// images are shrunk to it before embedding.
    #[serde(default)]
    pub catalog_image_size: Option<[u32; 2]>,
    /// Where the catalogue was (absolute), for serving images.
    pub catalog_root: PathBuf,
    /// Label columns of the catalogue, in CSV order.
    pub fields: Vec<String>,
    /// Seconds since the Unix epoch at commit.
    pub committed_at: u64,
}

impl Manifest {
    /// Length of a stored row: CNN part, colour part, taps.
    pub fn dim(&self) -> usize {
        self.cnn_dim + self.colour_dim + self.tap_dim
    }

    /// Length of a search row.
    pub fn search_dim(&self) -> usize {
        self.search_cnn_dim + self.search_colour_dim.unwrap_or(self.colour_dim)
    }
}

/// One product as stored in the index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProductRecord {
    /// Product id.
    pub id: String,
    /// BLAKE3 of the image bytes (hex), to skip unchanged images on update.
    pub hash: String,
    /// The image file, relative to the manifest's `catalog_root` (indexes
    /// written before this rule may hold other paths; see
    /// [`Index::image_path`](crate::Index::image_path)).
    pub image: PathBuf,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
}

/// File name of the vectors of generation `g`.
pub fn vectors_file(g: u64) -> String {
    format!("vectors-{g:06}.f32")
}

/// File name of the products of generation `g`.
pub fn products_file(g: u64) -> String {
    format!("products-{g:06}.json")
}

/// File name of the `kind` file of generation `g` (`search`, `codes`, ...).
pub fn generation_file(kind: &str, g: u64, ext: &str) -> String {
    format!("{kind}-{g:06}.{ext}")
}

/// Prefixes of per-generation files.
const GENERATION_PREFIXES: &[&str] = &[
    "head-",
    "vectors-",
    "products-",
    "search-",
    "codes-",
    "scales-",
    "projection-",
    "manifest.json.",
];

/// True for files that belong to some generation (or are temporaries of one).
pub fn is_generation_file(name: &str) -> bool {
    GENERATION_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The manifest path of an index directory.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST)
}

/// A manifest for a test index of `cnn_dim + colour_dim` rows made by
/// `embedder` (JSON of an [`EmbedderFingerprint`]), before its first commit.
#[cfg(test)]
pub(crate) fn test_manifest(
    cnn_dim: usize,
    colour_dim: usize,
    embedder: serde_json::Value,
    fields: &[&str],
) -> Manifest {
    serde_json::from_value(serde_json::json!({
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "generation": 0, "products": 0,
        "cnn_dim": cnn_dim, "colour_dim": colour_dim, "vectors_file": "", "products_file": "",
        "search_cnn_dim": 0, "search_file": "", "codes_file": "", "scales_file": "",
        "projection_file": null, "embedder": embedder,
        "model": {
            "name": "test", "input": "i", "output": "o", "layout": "nchw", "height": 8, "width": 8,
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]
        },
        "catalog_root": "/", "fields": fields, "committed_at": 0
    }))
    .expect("test manifest")
}
