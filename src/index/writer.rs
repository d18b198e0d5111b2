//! Writing a new generation of the index atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::ann::{AnnMode, AnnParams, AnnWriter, PreviousGraph};
use super::format::{self, Component, Manifest, ProductRecord};
use super::search_rows;
use super::stored_rows::StoredPrecision;
use crate::embedding::Head;
use crate::error::{Error, IoResultExt, Result};
use crate::layout::{check_dim, SearchLayout};
use crate::progress::Progress;
use crate::transform::{Projection, SearchTransform};

/// Exclusive right to write an index directory, held until dropped.
///
/// Uses an OS file lock (released by the kernel if the process dies, so a
/// `kill -9` never leaves a stale lock behind).
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
    dir: PathBuf,
}

impl WriteLock {
    /// Creates `dir` if needed and takes its write lock, failing at once if
    /// another process holds it.
    pub fn acquire(dir: &Path) -> Result<WriteLock> {
        fs::create_dir_all(dir).at(dir)?;
        let path = dir.join(format::LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock {
                _file: file,
                dir: dir.to_path_buf(),
            }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(e) => format!("{}.tmp", e.to_string_lossy()),
        None => "tmp".into(),
    });
    let file = File::create(&tmp).at(&tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w).at(&tmp)?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().at(&tmp)?;
    drop(file);
    fs::rename(&tmp, path).at(path)?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Makes the renames durable; not all platforms can open a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Which search transform a commit makes search rows with.
#[derive(Debug, Clone, Default)]
pub enum TransformChoice {
    /// The head of the current generation, if any and if it still fits the
    /// embedder (otherwise it is dropped with a warning); else as
    /// [`TransformChoice::Auto`].
    #[default]
    Keep,
    /// No head: a PCA for catalogues large enough to fit one
    /// ([`PcaSettings`]), raw rows for smaller ones.
    Auto,
    /// Raw rows (`cnn | colour`) whatever the catalogue's size.
    Raw,
    /// This head.
    Head(Arc<Head>),
}

impl TransformChoice {
    /// `index --head auto`: an existing index in `dir` keeps what it has (a
    /// head, or none because it was built with `--head none`); a new index
    /// of a catalogue with every label the shipped Kaggle head learned
    /// (`fields`), made with the features it was trained on, gets that head.
    /// So does an existing one whose head was trained on features that the
    /// index is now rebuilt without (its head could not be kept).
    pub fn auto(
        dir: &Path,
        fields: &[String],
        embedder: &crate::embedding::EmbedderFingerprint,
    ) -> Result<TransformChoice> {
        if let Ok(current) = super::reader::read_manifest(dir) {
            let stale_head = current.head_file.is_some() && &current.embedder != embedder;
            if !stale_head {
                return Ok(TransformChoice::Keep);
            }
        }
        let Some(head) = crate::embedding::builtin_kaggle(&embedder.model)? else {
            return Ok(TransformChoice::Keep);
        };
        let labelled = head
            .info
            .tasks
            .iter()
            .all(|t| fields.iter().any(|f| f == &t.field));
        if labelled && &head.info.embedder == embedder {
            tracing::info!(
                "using the head trained on the Kaggle catalogue (--head none to index without)"
            );
            Ok(TransformChoice::Head(Arc::new(head)))
        } else {
            Ok(TransformChoice::Keep)
        }
    }
}

/// How the PCA transform is fitted, when the choice comes to one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcaSettings {
    /// Length of the projected CNN part.
    pub dim: usize,
    /// Whitening exponent.
    pub alpha: f32,
    /// Catalogues smaller than this are searched without projection (a PCA
    /// needs many more samples than dimensions, and small scans are fast anyway).
    pub min_products: usize,
}

impl Default for PcaSettings {
    fn default() -> Self {
        PcaSettings {
            dim: 256,
            alpha: 0.5,
            min_products: 2000,
        }
    }
}

/// How search rows are derived from stored rows at commit time, and what
/// is built over them.
#[derive(Debug, Clone, Default)]
pub struct SearchSettings {
    /// The transform.
    pub transform: TransformChoice,
    /// How a PCA is fitted ([`TransformChoice::Auto`], or `Keep` without a head).
    pub pca: PcaSettings,
    /// Whether the generation gets an ANN graph (`None`: what the current
    /// generation recorded, else [`AnnMode::Auto`]).
    pub ann: Option<AnnMode>,
    /// The graph's parameters.
    pub ann_params: AnnParams,
    /// The stored rows' precision (`None`: what the current generation
    /// recorded, else f32).
    pub stored_precision: Option<StoredPrecision>,
}

/// Commits the current rows and products again with another transform:
/// what `lookalike train` does to make the index use the head it learned.
/// No image is read; the previous generation stays intact until the swap.
pub fn recommit(
    dir: &Path,
    transform: TransformChoice,
    progress: &dyn Progress,
) -> Result<Manifest> {
    let lock = WriteLock::acquire(dir)?;
    let index = super::reader::Index::open(dir)?;
    index.require_stored_rows("re-committing with another transform")?;
    // f16 rows are widened here, one row at a time.
    let owned: Vec<std::borrow::Cow<'_, [f32]>> = (0..index.len()).map(|r| index.row(r)).collect();
    let rows: Vec<&[f32]> = owned.iter().map(|r| r.as_ref()).collect();
    let settings = SearchSettings {
        transform,
        ..SearchSettings::default()
    };
    commit(
        &lock,
        index.manifest().clone(),
        &rows,
        index.products(),
        &settings,
        progress,
    )
}

/// The transform to commit `rows` with; `current` is the manifest of the
/// generation being replaced, if any.
fn choose_transform(
    dir: &Path,
    current: Option<&Manifest>,
    manifest: &Manifest,
    rows: &[&[f32]],
    settings: &SearchSettings,
) -> Result<SearchTransform> {
    let head = match &settings.transform {
        TransformChoice::Raw => return Ok(SearchTransform::Raw),
        TransformChoice::Auto => None,
        TransformChoice::Head(h) => Some(h.clone()),
        TransformChoice::Keep => current_head(dir, current, manifest)?,
    };
    match head {
        Some(head) => {
            head.check_embedder(&manifest.embedder, dir)?;
            check_dim(
                "a row the head takes",
                manifest.row_layout().dim(),
                head.info.input_dim,
            )?;
            Ok(SearchTransform::Head(head))
        }
        None => Ok(
            match choose_projection(dir, current, manifest.cnn_dim, rows, &settings.pca)? {
                Some(p) => SearchTransform::Pca(p),
                None => SearchTransform::Raw,
            },
        ),
    }
}

/// The current generation's head, if it still fits the embedder.
fn current_head(
    dir: &Path,
    current: Option<&Manifest>,
    manifest: &Manifest,
) -> Result<Option<Arc<Head>>> {
    let Some(file) = current.and_then(|m| m.head_file.as_ref()) else {
        return Ok(None);
    };
    let h = Head::load(&dir.join(file))?;
    if h.info.embedder != manifest.embedder {
        tracing::warn!(
            "the index's head was trained on other features ({}); it is dropped, \
             run `lookalike train` again",
            h.info.embedder
        );
        return Ok(None);
    }
    Ok(Some(Arc::new(h)))
}

/// The projection for `n` rows: the previous one while the catalogue has not
/// changed size by more than 25%, else a fresh fit, or none.
fn choose_projection(
    dir: &Path,
    current: Option<&Manifest>,
    cnn_dim: usize,
    rows: &[&[f32]],
    settings: &PcaSettings,
) -> Result<Option<Projection>> {
    let n = rows.len();
    let d = settings.dim;
    if d == 0 || d >= cnn_dim || n < settings.min_products.max(2 * d) {
        return Ok(None);
    }
    let previous = current
        .and_then(|m| m.projection_file.as_ref())
        .and_then(|f| Projection::read(&dir.join(f)).ok())
        .filter(|p| p.input_dim == cnn_dim && p.output_dim == d && p.alpha == settings.alpha);
    if let Some(p) = previous {
        let (lo, hi) = (p.fitted_on * 4 / 5, p.fitted_on * 5 / 4);
        if (lo..=hi).contains(&n) {
            return Ok(Some(p));
        }
    }
    tracing::info!("fitting a {cnn_dim}->{d} PCA projection on {n} products");
    Projection::fit(n, cnn_dim, d, settings.alpha, |i| &rows[i][..cnn_dim]).map(Some)
}

/// Commits a new generation: every [`Component`] of it, then the manifest
/// that points to them. `manifest.generation`, sizes and file names are
/// set here. `progress` hears of the ANN graph's build and may cancel it
/// (the current generation then stays as it was).
pub fn commit(
    lock: &WriteLock,
    manifest: Manifest,
    rows: &[&[f32]],
    products: &[ProductRecord],
    settings: &SearchSettings,
    progress: &dyn Progress,
) -> Result<Manifest> {
    let dir = lock.dir();
    let layout = manifest.row_layout();
    check_dim("the rows for the products", products.len(), rows.len())?;
    // The row's name is formatted for the one that fails, not for every row.
    if let Some(i) = rows.iter().position(|r| r.len() != layout.dim()) {
        layout.check(&format!("row {i}"), rows[i])?;
    }
    // The generation being replaced, read once: its number, head and PCA.
    let current = super::reader::read_manifest(dir).ok();

    let transform = choose_transform(dir, current.as_ref(), &manifest, rows, settings)?;
    let search: Vec<Vec<f32>> = rows
        .par_iter()
        .map(|r| transform.apply(&layout, r))
        .collect();
    write_generation(
        lock,
        manifest,
        current.as_ref(),
        Generation {
            stored: Some(rows),
            transform: &transform,
            search: &search,
            products,
        },
        settings,
        progress,
    )
}

/// What a generation holds, ready to be written.
pub(crate) struct Generation<'a> {
    /// The stored rows (`None`: a generation of search rows only, which
    /// can be searched but not updated or trained on).
    pub stored: Option<&'a [&'a [f32]]>,
    /// The transform the search rows were made with.
    pub transform: &'a SearchTransform,
    /// The search rows.
    pub search: &'a [Vec<f32>],
    /// The products, in row order.
    pub products: &'a [ProductRecord],
}

/// Writes the components of `generation` as the one after `current`,
/// then the manifest that points to them.
pub(crate) fn write_generation(
    lock: &WriteLock,
    mut manifest: Manifest,
    current: Option<&Manifest>,
    generation: Generation<'_>,
    settings: &SearchSettings,
    progress: &dyn Progress,
) -> Result<Manifest> {
    let dir = lock.dir();
    let Generation {
        stored,
        transform,
        search,
        products,
    } = generation;
    check_dim(
        "the search rows for the products",
        products.len(),
        search.len(),
    )?;
    let layout = manifest.row_layout();
    let number = current.map_or(0, |m| m.generation) + 1;
    manifest.generation = number;
    manifest.products = products.len();
    let search_layout = transform.search_layout(&layout);
    if let Some(i) = search.iter().position(|r| r.len() != search_layout.dim()) {
        search_layout.check(&format!("search row {i}"), &search[i])?;
    }
    manifest.search_cnn_dim = search_layout.shape;
    // Recorded with a head only, as indexes before heads had no such field.
    manifest.search_colour_dim = transform.head().map(|_| search_layout.colour);
    let (codes, scales) = search_rows::build(search, search_layout.shape);
    let head_bytes = transform.head().map(|h| h.to_bytes()).transpose()?;
    manifest.head_hash = head_bytes
        .as_ref()
        .map(|b| blake3::hash(b).to_hex().to_string());
    manifest.ann_mode = settings
        .ann
        .or(current.map(|m| m.ann_mode))
        .unwrap_or_default();
    manifest.ann = None;
    manifest.stored_precision = settings
        .stored_precision
        .or(current.map(|m| m.stored_precision))
        .unwrap_or_default();

    for component in Component::ALL {
        let name = match component {
            Component::Vectors => manifest.stored_precision.file_name(number),
            _ => component.file_name(number),
        };
        let path = dir.join(&name);
        let written = match component {
            Component::Vectors => match stored {
                Some(rows) => {
                    let precision = manifest.stored_precision;
                    write_atomic(&path, |w| {
                        rows.iter().try_for_each(|r| precision.write_row(w, r))
                    })?;
                    true
                }
                None => false,
            },
            Component::Search => {
                write_atomic(&path, |w| search.iter().try_for_each(|r| write_f32s(w, r)))?;
                true
            }
            Component::Codes => {
                write_atomic(&path, |w| w.write_all(bytemuck::cast_slice(&codes)))?;
                true
            }
            Component::Scales => {
                write_atomic(&path, |w| write_f32s(w, &scales))?;
                true
            }
            Component::Projection => match transform.projection() {
                Some(p) => {
                    write_atomic(&path, |w| p.write_to(w))?;
                    true
                }
                None => false,
            },
            Component::Head => match &head_bytes {
                Some(bytes) => {
                    write_atomic(&path, |w| w.write_all(bytes))?;
                    true
                }
                None => false,
            },
            Component::Ann if manifest.ann_mode.wants_graph(products.len()) => {
                let writer = AnnWriter {
                    search_rows: search,
                    layout: search_layout,
                    products,
                    params: settings.ann_params,
                };
                let previous = PreviousGeneration::read(dir, current);
                let info = writer.write(&path, previous.as_ref().map(|p| p.graph()), progress)?;
                manifest.ann = Some(info);
                true
            }
            Component::Ann => false,
            Component::Products => {
                write_atomic(&path, |w| {
                    serde_json::to_writer(&mut *w, products).map_err(std::io::Error::other)
                })?;
                true
            }
        };
        component.set_in_manifest(&mut manifest, written.then_some(name));
    }

    manifest.committed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let manifest_path = format::manifest_path(dir);
    write_atomic(&manifest_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &manifest).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })?;
    sync_dir(dir)?;
    collect_garbage(dir, &manifest);
    Ok(manifest)
}

/// What an update of the ANN graph needs of the generation being
/// replaced: its graph file, products and search rows (mapped).
struct PreviousGeneration {
    file: PathBuf,
    info: super::ann::AnnInfo,
    products: Vec<ProductRecord>,
    search: memmap2::Mmap,
    layout: SearchLayout,
}

impl PreviousGeneration {
    /// The current generation's, if it has a graph and its files read;
    /// otherwise the graph is built from scratch (never an error: the
    /// update only saves time).
    fn read(dir: &Path, current: Option<&Manifest>) -> Option<PreviousGeneration> {
        let m = current?;
        let (file, info) = (dir.join(m.ann_file.as_ref()?), m.ann.clone()?);
        let products: Vec<ProductRecord> =
            serde_json::from_slice(&fs::read(dir.join(&m.products_file)).ok()?).ok()?;
        let search_file = File::open(dir.join(&m.search_file)).ok()?;
        // SAFETY: generation files are never modified in place.
        let search = unsafe { memmap2::Mmap::map(&search_file) }.ok()?;
        let layout = m.search_layout();
        let aligned = unsafe { search.align_to::<f32>() }.0.is_empty();
        (aligned && search.len() == products.len() * layout.dim() * 4).then_some(
            PreviousGeneration {
                file,
                info,
                products,
                search,
                layout,
            },
        )
    }

    fn graph(&self) -> PreviousGraph<'_> {
        PreviousGraph {
            file: self.file.clone(),
            info: &self.info,
            products: &self.products,
            // SAFETY: alignment checked in `read`; any bits are an f32.
            search_rows: unsafe { self.search.align_to::<f32>().1 },
            layout: self.layout,
        }
    }
}

/// Writes floats as the index stores them (little-endian; big-endian hosts
/// are refused at compile time).
fn write_f32s(w: &mut impl Write, xs: &[f32]) -> std::io::Result<()> {
    w.write_all(bytemuck::cast_slice(xs))
}

/// Removes the files of older generations: the new one is live. Readers
/// that still map them keep their (unlinked) copies until they let go.
fn collect_garbage(dir: &Path, manifest: &Manifest) {
    let live: Vec<&str> = Component::ALL
        .iter()
        .filter_map(|c| c.in_manifest(manifest))
        .collect();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if format::is_generation_file(&name) && !live.contains(&name.as_str()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::EmbedderFingerprint;
    use crate::index::format::{manifest_path, test_manifest};

    #[test]
    fn auto_keeps_a_fitting_head_and_replaces_a_stale_one() {
        let builtin = crate::embedding::builtin_kaggle("efficientnet-lite0")
            .expect("shipped head")
            .expect("this build ships a head");
        let features = builtin.info.embedder.clone();
        let fields: Vec<String> = builtin.info.tasks.iter().map(|t| t.field.clone()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let choose = || TransformChoice::auto(dir.path(), &fields, &features).expect("auto");
        let is_shipped =
            |c: TransformChoice| matches!(c, TransformChoice::Head(h) if h.hash == builtin.hash);
        let is_kept = |c: TransformChoice| matches!(c, TransformChoice::Keep);
        let write = |embedder: &EmbedderFingerprint, head: Option<&str>| {
            let embedder = serde_json::to_value(embedder).expect("fingerprint");
            let mut m = test_manifest(1, 1, embedder, &[]);
            m.head_file = head.map(String::from);
            let json = serde_json::to_vec(&m).expect("manifest");
            std::fs::write(manifest_path(dir.path()), json).expect("write manifest");
        };

        // A new index of a Kaggle catalogue gets the shipped head.
        assert!(is_shipped(choose()));
        // An index with these features keeps what it has, head or none.
        write(&features, Some("head-000001.safetensors"));
        assert!(is_kept(choose()));
        write(&features, None);
        assert!(is_kept(choose()));
        // Rebuilt from older features: its head cannot stay, the shipped one fits.
        let older = EmbedderFingerprint {
            head_colour: None,
            ..features.clone()
        };
        write(&older, Some("head-000001.safetensors"));
        assert!(is_shipped(choose()));
        // Built with `--head none`: stays without.
        write(&older, None);
        assert!(is_kept(choose()));
        // Another catalogue's labels: no shipped head.
        let other = TransformChoice::auto(tempfile::tempdir().expect("dir").path(), &[], &features);
        assert!(is_kept(other.expect("auto")));
    }
}

#[cfg(test)]
mod stored_precision_tests {
    use super::*;
    use crate::index::Index;
    use crate::search::tests::random_index;

    #[test]
    fn f16_stored_rows_halve_their_file_and_are_kept_by_later_commits() {
        let (d32, d16) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let raw = SearchSettings {
            transform: TransformChoice::Raw,
            ..SearchSettings::default()
        };
        let half = SearchSettings {
            stored_precision: Some(StoredPrecision::F16),
            ..raw.clone()
        };
        let a = random_index(d32.path(), 300, &raw);
        let b = random_index(d16.path(), 300, &half);
        let (ma, mb) = (a.manifest(), b.manifest());
        assert_eq!(ma.stored_precision, StoredPrecision::F32);
        assert_eq!(mb.stored_precision, StoredPrecision::F16);
        assert!(mb.vectors_file.ends_with(".f16"), "{}", mb.vectors_file);
        let size = |d: &Path, m: &Manifest| {
            fs::metadata(d.join(&m.vectors_file))
                .expect("stored rows")
                .len()
        };
        assert_eq!(2 * size(d16.path(), mb), size(d32.path(), ma));
        // Search rows are made before the rows are narrowed: identical.
        assert_eq!(a.search_rows(), b.search_rows());
        // Positional reads give what the mapping holds.
        let mut buf = Vec::new();
        for r in [0, 1, 150, 299] {
            assert_eq!(b.read_search_row(r, &mut buf), b.search_row(r));
        }
        for r in 0..a.len() {
            let (x, y) = (a.row(r), b.row(r));
            assert_eq!(x.len(), y.len());
            // Unit-length parts: f16's 2^-11 relative error is below 5e-4.
            assert!(x.iter().zip(y.iter()).all(|(p, q)| (p - q).abs() < 5e-4));
        }
        assert_eq!(b.stored_rows().len(), a.stored_rows().len());

        // A later commit that does not choose keeps f16, and the old
        // generation's file is collected.
        let old = d16.path().join(&mb.vectors_file);
        drop(b);
        let b = random_index(d16.path(), 300, &raw);
        assert_eq!(b.manifest().stored_precision, StoredPrecision::F16);
        assert!(!old.exists(), "the old generation's rows were collected");
        // So does a recommit (what `train` does), reading the f16 rows.
        drop(b);
        let m = recommit(d16.path(), TransformChoice::Raw, &crate::NoProgress).expect("recommit");
        assert_eq!(m.stored_precision, StoredPrecision::F16);
        let b = Index::open(d16.path()).expect("open");
        assert_eq!(b.len(), 300);
        // Its search rows come from the widened f16 rows: within f16 of f32's.
        assert!(a
            .search_rows()
            .iter()
            .zip(b.search_rows())
            .all(|(p, q)| (p - q).abs() < 1e-3));
        // And f32 can be chosen back.
        drop(b);
        let f32_again = SearchSettings {
            stored_precision: Some(StoredPrecision::F32),
            ..raw
        };
        let c = random_index(d16.path(), 300, &f32_again);
        assert!(c.manifest().vectors_file.ends_with(".f32"));
    }
}
