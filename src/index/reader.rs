//! Opening an index for reading: the manifest, the memory-mapped vectors and
//! the product records.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::format::{self, Manifest, ProductRecord};
use super::payload::PayloadIndex;
use crate::embedding::EmbedderFingerprint;
use crate::error::{Error, Result};

#[cfg(target_endian = "big")]
compile_error!(
    "the index stores little-endian f32 and is mapped as is; big-endian hosts are not supported"
);

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
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

/// A read-only, memory-mapped index.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    map: Option<Mmap>,
    products: Vec<ProductRecord>,
    by_id: HashMap<String, usize>,
    payload: PayloadIndex,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("products", &self.products.len())
            .field("generation", &self.manifest.generation)
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

        let vpath = dir.join(&manifest.vectors_file);
        let file = File::open(&vpath).map_err(|e| Error::io(&vpath, e))?;
        let len = file.metadata().map_err(|e| Error::io(&vpath, e))?.len();
        let expected = (manifest.products * manifest.dim() * 4) as u64;
        if len != expected {
            return Err(corrupt(
                &vpath,
                format!(
                    "{len} bytes, expected {expected} ({} rows x {} floats)",
                    manifest.products,
                    manifest.dim()
                ),
            ));
        }
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the file is never modified in place: writers create new
            // generation files and rename, so the mapping stays valid.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&vpath, e))?)
        };
        if let Some(m) = &map {
            // SAFETY: any bit pattern is a valid f32; only alignment matters.
            let (head, _, _) = unsafe { m.align_to::<f32>() };
            if !head.is_empty() {
                return Err(corrupt(&vpath, "mapping is not 4-byte aligned".into()));
            }
        }

        let ppath = dir.join(&manifest.products_file);
        let bytes = std::fs::read(&ppath).map_err(|e| Error::io(&ppath, e))?;
        let products: Vec<ProductRecord> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(&ppath, e.to_string()))?;
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
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            map,
            products,
            by_id,
            payload,
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest of the open generation.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// How the vectors were made.
    pub fn fingerprint(&self) -> &EmbedderFingerprint {
        &self.manifest.embedder
    }

    /// Fails with [`Error::ModelMismatch`] unless `other` made these vectors.
    pub fn check_fingerprint(&self, other: &EmbedderFingerprint) -> Result<()> {
        if &self.manifest.embedder == other {
            Ok(())
        } else {
            Err(Error::ModelMismatch {
                path: self.dir.clone(),
                built_with: self.manifest.embedder.to_string(),
                requested: other.to_string(),
            })
        }
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// True when the index holds no product.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// All vectors, row-major, `len() * dim()` floats.
    pub fn vectors(&self) -> &[f32] {
        match &self.map {
            // SAFETY: checked aligned at open; any bit pattern is a valid f32.
            Some(m) => unsafe { m.align_to::<f32>().1 },
            None => &[],
        }
    }

    /// Length of a row.
    pub fn dim(&self) -> usize {
        self.manifest.dim()
    }

    /// The stored row of product `row`: CNN part then colour part.
    pub fn row(&self, row: usize) -> &[f32] {
        let d = self.dim();
        &self.vectors()[row * d..(row + 1) * d]
    }

    /// All product records, in row order.
    pub fn products(&self) -> &[ProductRecord] {
        &self.products
    }

    /// The row of product `id`.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The label index used by filters.
    pub fn payload(&self) -> &PayloadIndex {
        &self.payload
    }
}
