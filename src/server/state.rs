//! What every request reads: the current index snapshot, swapped atomically
//! when `lookalike index` commits a new generation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::Semaphore;

use crate::embedding::Embedder;
use crate::imaging::DecodeLimits;
use crate::index::read_manifest;
use crate::{Index, Result};

/// One generation of the index and the embedder that matches it.
///
/// Requests clone the `Arc` and keep it to the end, so a reload never pulls
/// an index from under a request: the old files stay mapped until the last
/// request that holds them is done.
#[derive(Debug)]
pub struct Snapshot {
    /// The index.
    pub index: Index,
    /// Built on first use (or by the warm-up task): loading the model takes
    /// longer than opening the index, and browsing does not need it.
    embedder: OnceLock<std::result::Result<Arc<Embedder>, String>>,
}

impl Snapshot {
    /// Opens the index in `dir`.
    pub fn open(dir: &Path) -> Result<Snapshot> {
        Ok(Snapshot {
            index: Index::open(dir)?,
            embedder: OnceLock::new(),
        })
    }

    /// The embedder of this index, loading it on first use (blocking).
    pub fn embedder(&self) -> std::result::Result<Arc<Embedder>, String> {
        self.embedder
            .get_or_init(|| {
                self.index
                    .embedder()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Reuses `older`'s embedder when the model did not change.
    fn inherit_embedder(&self, older: &Snapshot) {
        if self.index.fingerprint() == older.index.fingerprint() {
            if let Some(Ok(e)) = older.embedder.get() {
                let _ = self.embedder.set(Ok(e.clone()));
            }
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The index directory.
    pub index_dir: PathBuf,
    /// Where the catalogue images are now, if not where the index says.
    pub catalog_dir: Option<PathBuf>,
    /// Largest accepted request body (upload), in bytes.
    pub max_upload_bytes: usize,
    /// Largest accepted decoded image, in pixels.
    pub max_pixels: u64,
    /// Embeddings that may run at once; more requests wait their turn.
    pub max_concurrent_embeddings: usize,
    /// Longest a request may take before a 408.
    pub request_timeout: std::time::Duration,
    /// How often to look for a new index generation.
    pub reload_interval: std::time::Duration,
}

impl ServeOptions {
    /// Defaults for `index_dir`: 20 MB uploads, 64 Mpx, one embedding per
    /// core, 30 s timeout, 1 s reload check.
    pub fn new(index_dir: impl Into<PathBuf>) -> ServeOptions {
        ServeOptions {
            index_dir: index_dir.into(),
            catalog_dir: None,
            max_upload_bytes: 20 << 20,
            max_pixels: DecodeLimits::default().max_pixels,
            max_concurrent_embeddings: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            request_timeout: std::time::Duration::from_secs(30),
            reload_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub options: ServeOptions,
    current: RwLock<Arc<Snapshot>>,
    /// Permits for embedding uploads.
    pub embed_permits: Semaphore,
    /// Permits for index scans, one per core. Scans are parallel already;
    /// admitting them first-come first-served keeps the tail latency near
    /// the median under many clients instead of letting some starve.
    pub search_permits: Semaphore,
}

impl AppState {
    /// Opens the index of `options`.
    pub fn open(options: ServeOptions) -> Result<AppState> {
        let snapshot = Snapshot::open(&options.index_dir)?;
        // Finding and loading ONNX Runtime opens a shared library: done here,
        // off the async threads, rather than in whichever request asks first.
        crate::embedding::current_backend();
        Ok(AppState {
            embed_permits: Semaphore::new(options.max_concurrent_embeddings.max(1)),
            search_permits: Semaphore::new(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            ),
            current: RwLock::new(Arc::new(snapshot)),
            options,
        })
    }

    /// The snapshot to serve this request from.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a valid Arc: the writer only swaps it.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Decode limits for uploads.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_pixels: self.options.max_pixels,
            max_bytes: self.options.max_upload_bytes as u64,
        }
    }

    /// The catalogue folder images are served from.
    pub fn catalog_dir(&self, snapshot: &Snapshot) -> PathBuf {
        self.options
            .catalog_dir
            .clone()
            .unwrap_or_else(|| snapshot.index.manifest().catalog_root.clone())
    }

    /// Opens the index again if its manifest names another generation (or
    /// always, with `force`), and swaps it in. Returns the new generation if
    /// it swapped. A failed open keeps the current snapshot.
    pub fn reload(&self, force: bool) -> Result<Option<u64>> {
        let current = self.snapshot();
        let on_disk = read_manifest(&self.options.index_dir)?;
        if !force && on_disk.generation == current.index.manifest().generation {
            return Ok(None);
        }
        let fresh = Snapshot::open(&self.options.index_dir)?;
        fresh.inherit_embedder(&current);
        let generation = fresh.index.manifest().generation;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(Some(generation))
    }
}
