//! Writing a new generation of the index atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{self, Manifest, ProductRecord};
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

/// Commits a new generation: vectors, products, then the manifest that
/// points to them. `manifest.generation` and the file names are set here.
///
/// `rows` yields exactly `products.len()` rows of `manifest.dim()` floats.
pub fn commit<'a>(
    lock: &WriteLock,
    mut manifest: Manifest,
    rows: impl Iterator<Item = &'a [f32]>,
    products: &[ProductRecord],
) -> Result<Manifest> {
    let dir = lock.dir();
    let previous = super::reader::read_manifest(dir)
        .ok()
        .map(|m| m.generation)
        .unwrap_or(0);
    let generation = previous + 1;
    manifest.generation = generation;
    manifest.products = products.len();
    manifest.vectors_file = format::vectors_file(generation);
    manifest.products_file = format::products_file(generation);
    let dim = manifest.dim();

    let vectors_path = dir.join(&manifest.vectors_file);
    let mut written = 0usize;
    let mut bad_row = None;
    write_atomic(&vectors_path, |w| {
        for row in rows {
            if row.len() != dim {
                bad_row = Some((written, row.len()));
                break;
            }
            for v in row {
                w.write_all(&v.to_le_bytes())?;
            }
            written += 1;
        }
        Ok(())
    })?;
    if let Some((i, len)) = bad_row {
        let _ = fs::remove_file(&vectors_path);
        return Err(Error::InvalidArgument(format!(
            "row {i} has {len} values, expected {dim}"
        )));
    }
    if written != products.len() {
        let _ = fs::remove_file(&vectors_path);
        return Err(Error::InvalidArgument(format!(
            "{written} rows for {} products",
            products.len()
        )));
    }

    let products_path = dir.join(&manifest.products_file);
    write_atomic(&products_path, |w| {
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
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if format::is_generation_file(&name)
                && name != manifest.vectors_file
                && name != manifest.products_file
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(manifest)
}
