//! Opening an index for reading: the manifest, the memory-mapped vectors and
//! the product records.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::ann::AnnGraph;
use super::format::{self, Manifest, ProductRecord};
use super::model::SearchModel;
use super::payload::PayloadIndex;
use super::search_rows::META_FLOATS;
use crate::embedding::{EmbedderFingerprint, Head};
use crate::error::{Error, Result};
use crate::index::label_classes::LabelClasses;
use crate::layout::{RowLayout, SearchLayout};
use crate::transform::SearchTransform;

/// Reads and checks `manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = format::manifest_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoIndex(dir.to_path_buf()))
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let corrupt = |reason: String| Error::CorruptIndex {
        path: path.clone(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(format::FORMAT_NAME) {
        return Err(corrupt("not a lookalike index manifest".into()));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != u64::from(format::FORMAT_VERSION) {
        return Err(corrupt(format!(
            "format version {version}, this build reads version {}; re-index with `lookalike index --rebuild`",
            format::FORMAT_VERSION
        )));
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    // The colour settings size the histograms every query is binned into.
    let colours = &manifest.embedder;
    for c in std::iter::once(&colours.colour).chain(&colours.head_colour) {
        c.validate().map_err(|why| {
            corrupt(format!(
                "broken colour descriptor ({why}); re-index with `lookalike index CATALOG --rebuild`"
            ))
        })?;
    }
    Ok(manifest)
}

/// A read-only file mapping (empty files are not mapped).
struct Mapped(Option<Mmap>);

impl Mapped {
    /// Maps `dir/name`, checking it is exactly `expected` bytes.
    fn open(dir: &Path, name: &str, expected: usize) -> Result<Mapped> {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len != expected as u64 {
            return Err(Error::CorruptIndex {
                path,
                reason: format!("{len} bytes, expected {expected}"),
            });
        }
        if len == 0 {
            return Ok(Mapped(None));
        }
        // SAFETY: index files are never modified in place: writers create new
        // generation files and rename, so the mapping stays valid.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        // SAFETY: any bit pattern is a valid f32; only alignment is checked.
        if !unsafe { map.align_to::<f32>() }.0.is_empty() {
            return Err(Error::CorruptIndex {
                path,
                reason: "mapping is not 4-byte aligned".into(),
            });
        }
        Ok(Mapped(Some(map)))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }

    fn f32s(&self) -> &[f32] {
        // SAFETY: aligned (checked at open); any bit pattern is a valid f32.
        unsafe { self.bytes().align_to::<f32>().1 }
    }

    fn i8s(&self) -> &[i8] {
        // SAFETY: i8 and u8 have the same size, alignment and validity.
        unsafe { self.bytes().align_to::<i8>().1 }
    }
}

/// A read-only, memory-mapped index.
pub struct Index {
    /// The manifest and transform (what a kit holds).
    model: SearchModel,
    vectors: Mapped,
    search: Mapped,
    /// The same file, for positional reads ([`Index::read_search_row`]).
    search_file: Option<File>,
    codes: Mapped,
    scales: Mapped,
    /// The head's classes of every product (with a head only).
    label_classes: Option<LabelClasses>,
    /// The HNSW graph over the search rows, if the generation has one.
    ann: Option<AnnGraph>,
    products: Vec<ProductRecord>,
    by_id: HashMap<String, usize>,
    payload: PayloadIndex,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir())
            .field("products", &self.products.len())
            .field("generation", &self.model.manifest().generation)
            .finish()
    }
}

impl Index {
    /// Opens the current generation of the index in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Index> {
        let dir = dir.as_ref();
        let manifest = read_manifest(dir)?;
        let corrupt = |path: &Path, reason: String| Error::CorruptIndex {
            path: path.to_path_buf(),
            reason,
        };

        let n = manifest.products;
        let layout = manifest.row_layout();
        let search_layout = manifest.search_layout();
        // Checked first: a bad head is named before the large files are mapped.
        let model = SearchModel::from_manifest(dir, manifest.clone())?;
        let size = |rows_len: usize, bytes: usize| {
            n.checked_mul(rows_len)
                .and_then(|v| v.checked_mul(bytes))
                .ok_or_else(|| corrupt(&format::manifest_path(dir), "sizes overflow".into()))
        };
        // A generation without stored rows (a synthetic benchmark index)
        // can be searched, not updated or trained on.
        let vectors = if manifest.vectors_file.is_empty() {
            Mapped(None)
        } else {
            let bytes = manifest.stored_precision.bytes();
            Mapped::open(dir, &manifest.vectors_file, size(layout.dim(), bytes)?)?
        };
        let search = Mapped::open(dir, &manifest.search_file, size(search_layout.dim(), 4)?)?;
        let search_file = File::open(dir.join(&manifest.search_file)).ok();
        let codes = Mapped::open(dir, &manifest.codes_file, size(search_layout.dim(), 1)?)?;
        let scales = Mapped::open(dir, &manifest.scales_file, size(META_FLOATS, 4)?)?;
        let ppath = dir.join(&manifest.products_file);
        let bytes = std::fs::read(&ppath).map_err(|e| Error::io(&ppath, e))?;
        // Labels repeat across products: each distinct string is held once.
        let products: Vec<ProductRecord> = crate::catalog::with_interning(|| {
            serde_json::from_slice(&bytes).map_err(|e| corrupt(&ppath, e.to_string()))
        })?;
        drop(bytes);
        if products.len() != manifest.products {
            return Err(corrupt(
                &ppath,
                format!(
                    "{} products, the manifest says {}",
                    products.len(),
                    manifest.products
                ),
            ));
        }
        let by_id: HashMap<String, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let payload = PayloadIndex::build(&products);
        let search_dim = search_layout.dim();
        let label_classes = model.head().map(|h| {
            let rows = search.f32s();
            LabelClasses::build(h, &products, |r| {
                &rows[r * search_dim..(r + 1) * search_dim]
            })
        });
        let ann = match (&manifest.ann_file, &manifest.ann) {
            (Some(f), Some(info)) => Some(AnnGraph::open(
                &dir.join(f),
                info,
                &products,
                search.f32s(),
                search_layout,
            )?),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    &format::manifest_path(dir),
                    "ann_file and ann must come together".into(),
                ))
            }
        };
        Ok(Index {
            ann,
            model,
            vectors,
            search,
            search_file,
            codes,
            scales,
            label_classes,
            products,
            by_id,
            payload,
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        self.model.dir()
    }

    /// The manifest of the open generation.
    pub fn manifest(&self) -> &Manifest {
        self.model.manifest()
    }

    /// The manifest and transform: what a kit holds.
    pub fn model(&self) -> &SearchModel {
        &self.model
    }

    /// How the vectors were made.
    pub fn fingerprint(&self) -> &EmbedderFingerprint {
        self.model.fingerprint()
    }

    /// Fails with [`Error::ModelMismatch`] unless `other` made these vectors.
    pub fn check_fingerprint(&self, other: &EmbedderFingerprint) -> Result<()> {
        self.model.check_fingerprint(other)
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// True when the index holds no product.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// Whether the generation keeps its stored rows (every index that
    /// `lookalike index` writes does; `bench scale`'s synthetic ones keep
    /// only search rows).
    pub fn has_stored_rows(&self) -> bool {
        !self.model.manifest().vectors_file.is_empty()
    }

    /// Fails unless the generation keeps its stored rows, naming `what`
    /// needs them.
    pub fn require_stored_rows(&self, what: &str) -> Result<()> {
        if self.has_stored_rows() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "{what} needs the stored rows, and the index in {} keeps only search rows \
                 (a `bench scale` index); index the catalogue with `lookalike index`",
                self.model.dir().display()
            )))
        }
    }

    /// All stored rows, row-major, `len() * row_layout().dim()` floats
    /// (empty without [`Index::has_stored_rows`]); f16 rows are widened
    /// into a copy.
    pub fn stored_rows(&self) -> Cow<'_, [f32]> {
        let values = self.len() * self.model.row_layout().dim();
        self.model
            .manifest()
            .stored_precision
            .read(self.vectors.bytes(), 0..values)
    }

    /// All exact search rows, `len() * search_layout().dim()` floats.
    pub fn search_rows(&self) -> &[f32] {
        self.search.f32s()
    }

    /// All quantised search rows, `len() * search_layout().dim()` codes.
    pub fn codes(&self) -> &[i8] {
        self.codes.i8s()
    }

    /// Per-row `[cnn scale, cnn error, colour scale, colour error]`.
    pub fn scales(&self) -> &[f32] {
        self.scales.f32s()
    }

    /// The layout of the stored rows.
    pub fn row_layout(&self) -> RowLayout {
        self.model.row_layout()
    }

    /// The layout of the search rows.
    pub fn search_layout(&self) -> SearchLayout {
        self.model.search_layout()
    }

    /// How stored rows become search rows.
    pub fn transform(&self) -> &SearchTransform {
        self.model.transform()
    }

    /// The exact search row of product `row`.
    pub fn search_row(&self, row: usize) -> &[f32] {
        let d = self.model.search_layout().dim();
        &self.search_rows()[row * d..(row + 1) * d]
    }

    /// The exact search row of product `row`, copied into `buf` with a
    /// positional read of its file (falling back to the mapping).
    ///
    /// Searches read the f32 rows of a few dozen products each, spread
    /// over the whole file: read through the mapping, every such page
    /// would stay mapped into the process (half the 2.5 GB of a 1M-product
    /// index after a few thousand queries; docs/scale.md). Read this way
    /// they are ordinary page cache, not the process's resident memory.
    pub fn read_search_row<'b>(&self, row: usize, buf: &'b mut Vec<f32>) -> &'b [f32] {
        let d = self.model.search_layout().dim();
        buf.clear();
        buf.resize(d, 0.0);
        #[cfg(unix)]
        if let Some(file) = &self.search_file {
            use std::os::unix::fs::FileExt;
            let offset = (row * d * std::mem::size_of::<f32>()) as u64;
            if file
                .read_exact_at(bytemuck::cast_slice_mut(buf.as_mut_slice()), offset)
                .is_ok()
            {
                return buf;
            }
        }
        buf.copy_from_slice(self.search_row(row));
        buf
    }

    /// Turns an embedding into a search row, as the products' were made.
    /// An embedding of another layout (another embedder) is refused.
    pub fn query_row(&self, e: &crate::embedding::Embedding) -> Result<Vec<f32>> {
        self.model.query_row(e)
    }

    /// The stored row of product `row` (empty without
    /// [`Index::has_stored_rows`]); an f16 row is widened into a copy.
    pub fn row(&self, row: usize) -> Cow<'_, [f32]> {
        let d = self.model.row_layout().dim();
        self.model
            .manifest()
            .stored_precision
            .read(self.vectors.bytes(), row * d..(row + 1) * d)
    }

    /// All product records, in row order.
    pub fn products(&self) -> &[ProductRecord] {
        &self.products
    }

    /// The image file of product `row`, in the catalogue the index was
    /// built from.
    pub fn image_path(&self, row: usize) -> PathBuf {
        self.image_path_in(row, &self.model.manifest().catalog_root)
    }

    /// The image file of product `row` if the catalogue is now at `root`.
    /// Absolute record paths (older indexes) are returned as they are.
    pub fn image_path_in(&self, row: usize, root: &Path) -> PathBuf {
        root.join(&self.products[row].image)
    }

    /// The row of product `id`.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Loads the embedder that makes query vectors comparable with this
    /// index's rows (its model and colour settings), checked against the
    /// fingerprint the index recorded.
    pub fn embedder(&self) -> Result<crate::embedding::Embedder> {
        self.model.embedder()
    }

    /// The head's class of every product (its catalogue label, or the
    /// head's guess), when the index has a head.
    pub fn label_classes(&self) -> Option<&LabelClasses> {
        self.label_classes.as_ref()
    }

    /// The learned head the search rows were made with, if any.
    pub fn head(&self) -> Option<&Head> {
        self.model.head()
    }

    /// The ANN graph over the search rows, if the generation has one.
    pub fn ann(&self) -> Option<&AnnGraph> {
        self.ann.as_ref()
    }

    /// The label index used by filters.
    pub fn payload(&self) -> &PayloadIndex {
        &self.payload
    }
}
