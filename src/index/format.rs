//! The on-disk layout of an index directory.
//!
//! ```text
//! DIR/
//!   manifest.json           which generation is current, model fingerprint, sizes
//!   vectors-000007.f32      N stored rows (cnn | colour | taps | head colour), LE f32: the truth
//!                           (`.f16`: the same at half precision, `index --stored-rows f16`)
//!   products-000007.json    N product records (id, content hash, image, labels)
//!   projection-000007.bin   PCA of the CNN part (PCA transform only)
//!   head-000007.safetensors the learned head (head transform only)
//!   search-000007.f32       N search rows (shape | colour), f32
//!   codes-000007.i8         the search rows quantised to i8 (what the scan reads)
//!   scales-000007.f32       per row: i8 scale and error norm of each part
//!   ann-000007.usearch      HNSW graph over the search rows (large catalogues, `--ann`)
//!   journal.bin             embeddings of an unfinished run (resume), if any
//!   LOCK                    held (flock) by the one process writing
//! ```
//!
//! The per-generation files are the [`Component`]s.
//!
//! A write creates the files of generation g+1 next to those of g, then
//! atomically replaces `manifest.json` (write temp, fsync, rename, fsync dir).
//! Until that rename, readers and a crashed writer's successor see g intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ann::{AnnInfo, AnnMode};
use super::stored_rows::StoredPrecision;
use crate::catalog::Labels;
use crate::embedding::{EmbedderFingerprint, ModelSpec};
use crate::layout::{RowLayout, SearchLayout};

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
    /// Always `FORMAT_NAME`.
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
    /// Length of the taps and the head colour descriptor together (read by
    /// a trained head; 0 in indexes made before taps existed); see
    /// [`Manifest::row_layout`].
    #[serde(default)]
    pub tap_dim: usize,
    /// The vectors file (relative to the directory).
    pub vectors_file: String,
    /// The precision of `vectors_file`, as `index --stored-rows` chose.
    #[serde(default)]
    pub stored_precision: StoredPrecision,
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
    /// The ANN graph over the search rows, if the generation has one.
    #[serde(default)]
    pub ann_file: Option<String>,
    /// What the graph is (with `ann_file`).
    #[serde(default)]
    pub ann: Option<AnnInfo>,
    /// Whether generations get a graph, as `index --ann` last chose.
    #[serde(default)]
    pub ann_mode: AnnMode,
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
    /// The layout of the stored rows. `tap_dim` holds the CNN taps and the
    /// head colour descriptor (the fingerprint says how long that is):
    /// the manifest's field names predate the split.
    pub fn row_layout(&self) -> RowLayout {
        RowLayout::from_recorded(
            self.cnn_dim,
            self.colour_dim,
            self.tap_dim,
            self.embedder.head_colour_dim(),
        )
    }

    /// The layout of the search rows.
    pub fn search_layout(&self) -> SearchLayout {
        SearchLayout {
            shape: self.search_cnn_dim,
            colour: self.search_colour_dim.unwrap_or(self.colour_dim),
        }
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

/// The files of one generation, each written once by a commit and never
/// changed (as tantivy's `SegmentComponent`): the manifest names the live
/// one of each, and garbage collection removes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The stored rows ([`Manifest::row_layout`], in
    /// [`Manifest::stored_precision`]): the truth.
    Vectors,
    /// The product records (JSON).
    Products,
    /// The exact search rows (f32, [`Manifest::search_layout`]).
    Search,
    /// The search rows quantised to i8, what the scan reads.
    Codes,
    /// Per row, the i8 scale and error norm of each search part (f32).
    Scales,
    /// The PCA of the CNN part (with the PCA transform only).
    Projection,
    /// A copy of the head (with the head transform only).
    Head,
    /// The HNSW graph over the search rows (with `--ann` only).
    Ann,
}

impl Component {
    /// Every component, in the order a commit writes them.
    pub const ALL: [Component; 8] = [
        Component::Vectors,
        Component::Search,
        Component::Codes,
        Component::Scales,
        Component::Projection,
        Component::Head,
        Component::Ann,
        Component::Products,
    ];

    /// `(prefix, extension)` of its file names.
    fn naming(self) -> (&'static str, &'static str) {
        match self {
            Component::Vectors => ("vectors", "f32"),
            Component::Products => ("products", "json"),
            Component::Search => ("search", "f32"),
            Component::Codes => ("codes", "i8"),
            Component::Scales => ("scales", "f32"),
            Component::Projection => ("projection", "bin"),
            Component::Head => ("head", "safetensors"),
            Component::Ann => ("ann", "usearch"),
        }
    }

    /// Its name, `vectors`, `codes`, ... (the prefix of its files).
    pub fn name(self) -> &'static str {
        self.naming().0
    }

    /// Its file name in generation `g`, e.g. `codes-000007.i8` (the
    /// stored rows' extension is their precision's, see
    /// [`StoredPrecision::file_name`]).
    pub fn file_name(self, g: u64) -> String {
        let (prefix, ext) = self.naming();
        format!("{prefix}-{g:06}.{ext}")
    }

    /// Its file in the generation `m` describes (`None`: that generation
    /// has none, e.g. no projection).
    pub fn in_manifest(self, m: &Manifest) -> Option<&str> {
        let name = match self {
            Component::Vectors => &m.vectors_file,
            Component::Products => &m.products_file,
            Component::Search => &m.search_file,
            Component::Codes => &m.codes_file,
            Component::Scales => &m.scales_file,
            Component::Projection => return m.projection_file.as_deref(),
            Component::Head => return m.head_file.as_deref(),
            Component::Ann => return m.ann_file.as_deref(),
        };
        // Empty: a generation without that file (no stored rows).
        Some(name.as_str()).filter(|n| !n.is_empty())
    }

    /// Records `name` as its file in `m`.
    pub(crate) fn set_in_manifest(self, m: &mut Manifest, name: Option<String>) {
        match self {
            Component::Vectors => m.vectors_file = name.unwrap_or_default(),
            Component::Products => m.products_file = name.unwrap_or_default(),
            Component::Search => m.search_file = name.unwrap_or_default(),
            Component::Codes => m.codes_file = name.unwrap_or_default(),
            Component::Scales => m.scales_file = name.unwrap_or_default(),
            Component::Projection => m.projection_file = name,
            Component::Head => m.head_file = name,
            Component::Ann => m.ann_file = name,
        }
    }

    /// True for a file of some generation of this component.
    fn owns(self, name: &str) -> bool {
        name.strip_prefix(self.naming().0)
            .is_some_and(|rest| rest.starts_with('-'))
    }
}

/// True for files that belong to some generation, or are temporaries of
/// one (a manifest being replaced included).
pub fn is_generation_file(name: &str) -> bool {
    Component::ALL.iter().any(|c| c.owns(name)) || name.starts_with("manifest.json.")
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
