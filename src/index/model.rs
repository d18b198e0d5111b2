//! The part of an index that turns an image into a search row: the
//! manifest (the embedder that made the rows, their layouts, the label
//! fields) and the transform (the learned head or the PCA projection).
//!
//! Every [`Index`](super::Index) opens one. On its own it is a *kit*
//! ([`SearchModel::write_kit`]): the few megabytes a server needs to search
//! a catalogue whose vectors live elsewhere (a Qdrant cluster), with the
//! same model, head and rules as the index that filled it.

use std::path::{Path, PathBuf};

use super::format::{self, Manifest};
use super::reader::read_manifest;
use crate::embedding::{EmbedderFingerprint, Head};
use crate::error::{Error, Result};
use crate::layout::{RowLayout, SearchLayout};
use crate::transform::{Projection, SearchTransform};

/// The manifest and transform of one index generation (see the module docs).
#[derive(Debug, Clone)]
pub struct SearchModel {
    dir: PathBuf,
    manifest: Manifest,
    layout: RowLayout,
    search_layout: SearchLayout,
    transform: SearchTransform,
}

impl SearchModel {
    /// Opens the model part of the index (or kit) in `dir`: its manifest
    /// and head or projection, not its vectors.
    pub fn open(dir: impl AsRef<Path>) -> Result<SearchModel> {
        let dir = dir.as_ref();
        SearchModel::from_manifest(dir, read_manifest(dir)?)
    }

    /// The model of `manifest`, read from `dir`, its files checked against it.
    pub(crate) fn from_manifest(dir: &Path, manifest: Manifest) -> Result<SearchModel> {
        let corrupt = |path: &Path, reason: String| Error::CorruptIndex {
            path: path.to_path_buf(),
            reason,
        };
        let layout = manifest.row_layout();
        let search_layout = manifest.search_layout();
        if manifest.search_cnn_dim == 0 || manifest.search_cnn_dim > manifest.cnn_dim {
            return Err(corrupt(
                &format::manifest_path(dir),
                format!("bad search dimension {}", manifest.search_cnn_dim),
            ));
        }
        if manifest.tap_dim < layout.head_colour {
            return Err(corrupt(
                &format::manifest_path(dir),
                format!(
                    "tap_dim {} is shorter than the head colour descriptor ({})",
                    manifest.tap_dim, layout.head_colour
                ),
            ));
        }
        let projection = match &manifest.projection_file {
            Some(f) => {
                let p = Projection::read(&dir.join(f))?;
                if p.input_dim != manifest.cnn_dim || p.output_dim != manifest.search_cnn_dim {
                    return Err(corrupt(
                        &dir.join(f),
                        "dimensions do not match the manifest".into(),
                    ));
                }
                Some(p)
            }
            None => None,
        };
        let head = match (&manifest.head_file, &manifest.head_hash) {
            (Some(f), Some(hash)) => {
                let h = Head::load(&dir.join(f))?;
                if &h.hash != hash {
                    return Err(corrupt(
                        &dir.join(f),
                        "the head file changed since the index was written".into(),
                    ));
                }
                if h.search_layout() != search_layout || h.info.row_layout() != layout {
                    return Err(corrupt(
                        &dir.join(f),
                        "the head's dimensions do not match the manifest".into(),
                    ));
                }
                Some(h)
            }
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    &format::manifest_path(dir),
                    "head_file and head_hash must come together".into(),
                ))
            }
        };
        let transform = match (head, projection) {
            (Some(h), None) => SearchTransform::Head(std::sync::Arc::new(h)),
            (None, Some(p)) => SearchTransform::Pca(p),
            (None, None) => SearchTransform::Raw,
            (Some(_), Some(_)) => {
                return Err(corrupt(
                    &format::manifest_path(dir),
                    "a generation has a head or a projection, not both".into(),
                ))
            }
        };
        Ok(SearchModel {
            dir: dir.to_path_buf(),
            manifest,
            layout,
            search_layout,
            transform,
        })
    }

    /// The directory it was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest of the generation.
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

    /// The layout of the stored rows.
    pub fn row_layout(&self) -> RowLayout {
        self.layout
    }

    /// The layout of the search rows.
    pub fn search_layout(&self) -> SearchLayout {
        self.search_layout
    }

    /// How stored rows become search rows.
    pub fn transform(&self) -> &SearchTransform {
        &self.transform
    }

    /// The learned head the search rows were made with, if any.
    pub fn head(&self) -> Option<&Head> {
        self.transform.head().map(|h| h.as_ref())
    }

    /// Turns an embedding into a search row, as the products' were made.
    /// An embedding of another layout (another embedder) is refused.
    pub fn query_row(&self, e: &crate::embedding::Embedding) -> Result<Vec<f32>> {
        let layout = e.layout();
        if layout != self.layout {
            return Err(Error::DimensionMismatch {
                what: format!(
                    "the query embedding ({}+{}+{}+{} parts)",
                    layout.cnn, layout.colour, layout.taps, layout.head_colour
                ),
                expected: self.layout.dim(),
                got: layout.dim(),
            });
        }
        Ok(self.transform.apply(&self.layout, &e.to_row()))
    }

    /// Loads the embedder that makes query vectors comparable with these
    /// rows (its model and colour settings), checked against the
    /// fingerprint the index recorded.
    pub fn embedder(&self) -> Result<crate::embedding::Embedder> {
        let m = &self.manifest;
        let e = crate::embedding::Embedder::with_head_colour(
            &m.model,
            m.embedder.colour,
            m.embedder.head_colour,
        )?;
        self.check_fingerprint(e.fingerprint())?;
        Ok(e)
    }

    /// Writes the model as a kit in `dest` (`manifest.json`, the head or
    /// projection file, and a `KIT` marker file), as the index writes a
    /// generation: the model's file first (its name is the generation's),
    /// then the manifest, replaced atomically, then the older generations'
    /// files. A reader sees the old kit or the new one, never half of
    /// either. A folder that is not a kit (an index, anything else) is
    /// refused, never overwritten.
    pub fn write_kit(&self, dest: &Path) -> Result<()> {
        let refuse = |why: &str| {
            Err(Error::InvalidArgument(format!(
                "{} {why}; choose another --kit",
                dest.display()
            )))
        };
        if let (Ok(a), Ok(b)) = (dest.canonicalize(), self.dir.canonicalize()) {
            if a == b {
                return refuse("is the index itself");
            }
        }
        if dest.exists() {
            let empty = std::fs::read_dir(dest)
                .map_err(|e| Error::io(dest, e))?
                .next()
                .is_none();
            if !empty && !dest.join(KIT_MARKER).is_file() {
                return refuse("exists and is not a lookalike kit");
            }
        } else {
            std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        }
        super::writer::write_atomic(&dest.join(KIT_MARKER), |w| {
            std::io::Write::write_all(
                w,
                b"a lookalike kit: the model record and head of an index\n",
            )
        })?;
        let files: Vec<&String> = [&self.manifest.head_file, &self.manifest.projection_file]
            .into_iter()
            .flatten()
            .collect();
        for f in &files {
            let from = self.dir.join(f);
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            super::writer::write_atomic(&dest.join(f), |w| std::io::Write::write_all(w, &bytes))?;
        }
        let json = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| Error::InvalidArgument(format!("writing the kit manifest: {e}")))?;
        super::writer::write_atomic(&format::manifest_path(dest), |w| {
            std::io::Write::write_all(w, &json)
        })?;
        // The older generations' head and projection files go.
        for entry in std::fs::read_dir(dest).map_err(|e| Error::io(dest, e))? {
            let entry = entry.map_err(|e| Error::io(dest, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = (name.starts_with("head-") || name.starts_with("projection-"))
                && !files.iter().any(|f| **f == name);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// The file that marks a folder as a kit, so that writing a kit never
/// replaces anything else.
pub const KIT_MARKER: &str = "KIT";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::SearchSettings;

    #[test]
    fn a_kit_is_written_in_place_and_never_over_something_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = crate::search::tests::random_index(
            &dir.path().join("index"),
            300,
            &SearchSettings::default(),
        );
        let kit = dir.path().join("kit");
        index.model().write_kit(&kit).expect("kit");
        let opened = SearchModel::open(&kit).expect("open kit");
        assert_eq!(opened.fingerprint(), index.fingerprint());
        assert_eq!(opened.search_layout(), index.search_layout());
        // Again, over itself: fine.
        index.model().write_kit(&kit).expect("kit again");
        // Not over the index, not over a folder of something else.
        let err = index
            .model()
            .write_kit(index.dir())
            .unwrap_err()
            .to_string();
        assert!(err.contains("index itself"), "{err}");
        let other = dir.path().join("photos");
        std::fs::create_dir_all(&other).expect("mkdir");
        std::fs::write(other.join("a.jpg"), b"x").expect("write");
        let err = index.model().write_kit(&other).unwrap_err().to_string();
        assert!(err.contains("not a lookalike kit"), "{err}");
        assert!(other.join("a.jpg").is_file());
    }
}
