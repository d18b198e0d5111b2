//! Catalogue ingestion: which products exist, where their images are, and what
//! their labels say.
//!
//! Two layouts are understood:
//!
//! * the Kaggle "Fashion Product Images" layout: `styles.csv` next to an
//!   `images/` folder holding `<id>.jpg`;
//! * a plain folder of images, searched recursively, where the id of a product
//!   is its path relative to the folder (with `/` separators).
//!
//! Problems with individual rows or files never stop ingestion: they are
//! counted in an [`IngestReport`] and the rest goes on.

mod labels;
mod report;
mod scan;
mod styles_csv;

pub use labels::{with_interning, Labels};
pub use report::{IngestReport, Problem, ProblemKind};
pub use styles_csv::{read_styles_csv, StylesCsv};

use std::path::{Path, PathBuf};

use crate::error::Result;

/// One product of a catalogue: an id, the image that shows it, and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Stable identifier (the Kaggle id, or the path relative to the catalogue).
    pub id: String,
    /// The image file on disk.
    pub image: PathBuf,
    /// Labels from the CSV; empty for unlabelled images.
    pub labels: Labels,
}

/// How a catalogue folder is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `styles.csv` + `images/<id>.<ext>`.
    Kaggle,
    /// Any folder of images, recursively; ids are relative paths.
    PlainFolder,
}

/// A catalogue read from disk: its products and what went wrong reading it.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The folder the catalogue was read from.
    pub root: PathBuf,
    /// Which layout was recognised.
    pub layout: Layout,
    /// The products that have an image, in a stable order (by id).
    pub products: Vec<Product>,
    /// Label columns in CSV order (empty for a plain folder).
    pub fields: Vec<String>,
    /// Rows and files that were skipped or repaired.
    pub report: IngestReport,
}

impl Catalog {
    /// Reads the catalogue in `root`, recognising its layout.
    ///
    /// A folder with a `styles.csv` is read as the Kaggle layout (images in
    /// `images/` if that folder exists, else next to the CSV); any other folder
    /// is read as a plain folder of images.
    pub fn open(root: impl AsRef<Path>) -> Result<Catalog> {
        let root = root.as_ref();
        let meta = std::fs::metadata(root).map_err(|e| crate::Error::io(root, e))?;
        if !meta.is_dir() {
            return Err(crate::Error::InvalidArgument(format!(
                "{}: a catalogue is a folder (with styles.csv + images/, or any images)",
                root.display()
            )));
        }
        let csv = root.join("styles.csv");
        if csv.is_file() {
            // A million rows repeat a few dozen field values.
            labels::with_interning(|| scan::open_kaggle(root, &csv))
        } else {
            scan::open_plain_folder(root)
        }
    }

    /// Finds a product by id.
    pub fn get(&self, id: &str) -> Option<&Product> {
        self.products
            .binary_search_by(|p| p.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.products[i])
    }
}

/// File extensions (lower case) read as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

/// True when the path has an image extension (case-insensitive).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}
