//! Writing a new generation of the index atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::format::{self, Manifest, ProductRecord};
use super::projection::Projection;
use super::search_rows;
use crate::embedding::head::Head;
use crate::error::{Error, IoResultExt, Result};

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
            Err(fs::TryLockError::WouldBlock) => Err(Error::InvalidArgument(format!(
                "{}: another `lookalike index` is writing this index; wait for it to finish",
                dir.display()
            ))),
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

/// Which learned head a commit makes search rows with.
#[derive(Debug, Clone, Default)]
pub enum HeadChoice {
    /// The head of the current generation, if any (and if it still fits the
    /// embedder; otherwise it is dropped with a warning).
    #[default]
    Keep,
    /// No head: PCA or raw rows.
    Remove,
    /// This head.
    Use(std::sync::Arc<Head>),
}

impl HeadChoice {
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
    ) -> Result<HeadChoice> {
        if let Ok(current) = super::reader::read_manifest(dir) {
            let stale_head = current.head_file.is_some() && &current.embedder != embedder;
            if !stale_head {
                return Ok(HeadChoice::Keep);
            }
        }
        let Some(head) = crate::embedding::head::builtin_kaggle(&embedder.model)? else {
            return Ok(HeadChoice::Keep);
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
            Ok(HeadChoice::Use(Arc::new(head)))
        } else {
            Ok(HeadChoice::Keep)
        }
    }
}

/// How search rows are derived from stored rows at commit time.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    /// Length of the projected CNN part (0: no projection).
    pub projection_dim: usize,
    /// Whitening exponent of the projection.
    pub alpha: f32,
    /// Catalogues smaller than this are searched without projection (a PCA
    /// needs many more samples than dimensions, and small scans are fast anyway).
    pub min_products: usize,
    /// The learned head, which replaces the projection when present.
    pub head: HeadChoice,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            projection_dim: 256,
            alpha: 0.5,
            min_products: 2000,
            head: HeadChoice::Keep,
        }
    }
}

/// Commits the current rows and products again with another head (or
/// none): what `lookalike train` does to make the index use what it learned.
/// No image is read; the previous generation stays intact until the swap.
pub fn recommit_with_head(dir: &Path, head: HeadChoice) -> Result<Manifest> {
    let lock = WriteLock::acquire(dir)?;
    let index = super::reader::Index::open(dir)?;
    let rows: Vec<&[f32]> = (0..index.len()).map(|r| index.row(r)).collect();
    let settings = SearchSettings {
        head,
        ..SearchSettings::default()
    };
    commit(
        &lock,
        index.manifest().clone(),
        &rows,
        index.products(),
        &settings,
    )
}

/// The head to commit with, checked against the embedder.
fn choose_head(dir: &Path, manifest: &Manifest, choice: &HeadChoice) -> Result<Option<Arc<Head>>> {
    let head = match choice {
        HeadChoice::Remove => return Ok(None),
        HeadChoice::Use(h) => h.clone(),
        HeadChoice::Keep => {
            let Some(current) = super::reader::read_manifest(dir).ok() else {
                return Ok(None);
            };
            let Some(file) = current.head_file else {
                return Ok(None);
            };
            let h = Arc::new(Head::load(&dir.join(file))?);
            if h.info.embedder != manifest.embedder {
                tracing::warn!(
                    "the index's head was trained on other features ({}); it is dropped, \
                     run `lookalike train` again",
                    h.info.embedder
                );
                return Ok(None);
            }
            h
        }
    };
    head.check_embedder(&manifest.embedder, dir)?;
    if head.info.input_dim != manifest.dim() {
        return Err(Error::InvalidArgument(format!(
            "the head takes rows of {} values, the index has {}",
            head.info.input_dim,
            manifest.dim()
        )));
    }
    Ok(Some(head))
}

/// The projection for `n` rows: the previous one while the catalogue has not
/// changed size by more than 25%, else a fresh fit, or none.
fn choose_projection(
    dir: &Path,
    cnn_dim: usize,
    rows: &[&[f32]],
    settings: &SearchSettings,
) -> Result<Option<Projection>> {
    let n = rows.len();
    let d = settings.projection_dim;
    if d == 0 || d >= cnn_dim || n < settings.min_products.max(2 * d) {
        return Ok(None);
    }
    let previous = super::reader::read_manifest(dir)
        .ok()
        .and_then(|m| m.projection_file)
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

/// Commits a new generation: stored vectors, search rows (projected and
/// quantised), products, then the manifest that points to them.
/// `manifest.generation`, sizes and file names are set here.
pub fn commit(
    lock: &WriteLock,
    mut manifest: Manifest,
    rows: &[&[f32]],
    products: &[ProductRecord],
    settings: &SearchSettings,
) -> Result<Manifest> {
    let dir = lock.dir();
    let dim = manifest.dim();
    if rows.len() != products.len() {
        return Err(Error::InvalidArgument(format!(
            "{} rows for {} products",
            rows.len(),
            products.len()
        )));
    }
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != dim) {
        return Err(Error::InvalidArgument(format!(
            "row {i} has {} values, expected {dim}",
            r.len()
        )));
    }
    let previous = super::reader::read_manifest(dir)
        .ok()
        .map(|m| m.generation)
        .unwrap_or(0);
    let generation = previous + 1;
    let cnn_dim = manifest.cnn_dim;
    manifest.generation = generation;
    manifest.products = products.len();
    manifest.vectors_file = format::vectors_file(generation);
    manifest.products_file = format::products_file(generation);
    manifest.search_file = format::generation_file("search", generation, "f32");
    manifest.codes_file = format::generation_file("codes", generation, "i8");
    manifest.scales_file = format::generation_file("scales", generation, "f32");

    write_atomic(&dir.join(&manifest.vectors_file), |w| {
        rows.iter().try_for_each(|r| search_rows::write_f32s(w, r))
    })?;

    let head = choose_head(dir, &manifest, &settings.head)?;
    manifest.head_file = None;
    manifest.head_hash = None;
    manifest.search_colour_dim = None;
    if let Some(h) = &head {
        let name = format::generation_file("head", generation, "safetensors");
        let bytes = h.to_bytes()?;
        write_atomic(&dir.join(&name), |w| w.write_all(&bytes))?;
        manifest.head_file = Some(name);
        manifest.head_hash = Some(blake3::hash(&bytes).to_hex().to_string());
        manifest.search_colour_dim = Some(h.search_colour_dim());
    }
    let projection = match head {
        Some(_) => None,
        None => choose_projection(dir, cnn_dim, rows, settings)?,
    };
    manifest.search_cnn_dim = match (&head, &projection) {
        (Some(h), _) => h.search_shape_dim(),
        (None, Some(p)) => p.output_dim,
        (None, None) => cnn_dim,
    };
    manifest.projection_file = match &projection {
        Some(p) => {
            let name = format::generation_file("projection", generation, "bin");
            write_atomic(&dir.join(&name), |w| p.write_to(w))?;
            Some(name)
        }
        None => None,
    };
    let colour_dim = manifest.colour_dim;
    let search: Vec<Vec<f32>> = rows
        .par_iter()
        .map(|r| search_rows::of(r, cnn_dim, colour_dim, head.as_deref(), projection.as_ref()))
        .collect();
    let (codes, scales) = search_rows::build(&search, manifest.search_cnn_dim);
    write_atomic(&dir.join(&manifest.search_file), |w| {
        search
            .iter()
            .try_for_each(|r| search_rows::write_f32s(w, r))
    })?;
    write_atomic(&dir.join(&manifest.codes_file), |w| {
        let bytes: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
        w.write_all(&bytes)
    })?;
    write_atomic(&dir.join(&manifest.scales_file), |w| {
        search_rows::write_f32s(w, &scales)
    })?;

    write_atomic(&dir.join(&manifest.products_file), |w| {
        serde_json::to_writer(&mut *w, products).map_err(std::io::Error::other)
    })?;

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

    // The new generation is live; older files are garbage now. Readers that
    // still map them keep their (unlinked) copies until they let go.
    let live: Vec<&str> = [
        &manifest.vectors_file,
        &manifest.products_file,
        &manifest.search_file,
        &manifest.codes_file,
        &manifest.scales_file,
    ]
    .into_iter()
    .map(String::as_str)
    .chain(manifest.projection_file.as_deref())
    .chain(manifest.head_file.as_deref())
    .collect();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if format::is_generation_file(&name) && !live.contains(&name.as_str()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::EmbedderFingerprint;
    use crate::index::format::{manifest_path, test_manifest};

    #[test]
    fn auto_keeps_a_fitting_head_and_replaces_a_stale_one() {
        let builtin = crate::embedding::head::builtin_kaggle("efficientnet-lite0")
            .expect("shipped head")
            .expect("this build ships a head");
        let features = builtin.info.embedder.clone();
        let fields: Vec<String> = builtin.info.tasks.iter().map(|t| t.field.clone()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let choose = || HeadChoice::auto(dir.path(), &fields, &features).expect("auto");
        let is_shipped = |c: HeadChoice| matches!(c, HeadChoice::Use(h) if h.hash == builtin.hash);
        let is_kept = |c: HeadChoice| matches!(c, HeadChoice::Keep);
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
        let other = HeadChoice::auto(tempfile::tempdir().expect("dir").path(), &[], &features);
        assert!(is_kept(other.expect("auto")));
    }
}
