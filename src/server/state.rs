//! What every request reads: the current index snapshot (or the kit of a
//! Qdrant collection), swapped atomically when `lookalike index` commits a
//! new generation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::Semaphore;

use crate::embedding::Embedder;
use crate::imaging::DecodeLimits;
use crate::index::read_manifest;
use crate::index::SearchModel;
use crate::search::SearchTarget;
use crate::store::Store;
use crate::Result;

/// One generation of the index (or of the kit of a Qdrant collection) and
/// the embedder that matches it.
///
/// Requests clone the `Arc` and keep it to the end, so a reload never pulls
/// an index from under a request: the old files stay mapped until the last
/// request that holds them is done.
#[derive(Debug)]
pub struct Snapshot {
    /// The products.
    pub store: Store,
    /// Built on first use (or by the warm-up task): loading the model takes
    /// longer than opening the index, and browsing does not need it.
    embedder: OnceLock<std::result::Result<Arc<Embedder>, String>>,
}

impl Snapshot {
    /// Opens the index (or the Qdrant collection) of `options`.
    pub fn open(options: &ServeOptions) -> Result<Snapshot> {
        let store = match &options.qdrant {
            #[cfg(feature = "qdrant")]
            Some(q) => Store::open_qdrant(&q.urls, &q.collection, &q.kit)?,
            #[cfg(not(feature = "qdrant"))]
            Some(_) => {
                return Err(crate::Error::InvalidArgument(
                    "this build has no Qdrant support (the `qdrant` feature)".into(),
                ))
            }
            None => Store::open_local(&options.index_dir)?,
        };
        Ok(Snapshot {
            store,
            embedder: OnceLock::new(),
        })
    }

    /// The products as the search API sees them.
    pub fn target(&self) -> &dyn SearchTarget {
        self.store.target()
    }

    /// The model, head and manifest.
    pub fn model(&self) -> &SearchModel {
        self.store.model()
    }

    /// The embedder of this index, loading it on first use (blocking).
    pub fn embedder(&self) -> std::result::Result<Arc<Embedder>, String> {
        self.embedder
            .get_or_init(|| {
                self.model()
                    .embedder()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Reuses `older`'s embedder when the model did not change.
    fn inherit_embedder(&self, older: &Snapshot) {
        if self.model().fingerprint() == older.model().fingerprint() {
            if let Some(Ok(e)) = older.embedder.get() {
                let _ = self.embedder.set(Ok(e.clone()));
            }
        }
    }
}

/// A Qdrant collection to serve instead of a local index.
#[derive(Debug, Clone)]
pub struct QdrantSource {
    /// The nodes' REST URLs, comma-separated.
    pub urls: String,
    /// The collection.
    pub collection: String,
    /// The kit (or index) its queries are made with; a new generation of
    /// it is picked up as a new index is.
    pub kit: PathBuf,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The index directory.
    pub index_dir: PathBuf,
    /// Serve this Qdrant collection instead of the index.
    pub qdrant: Option<QdrantSource>,
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
    /// Where the manifest that marks a new generation is: the index, or
    /// the kit of a Qdrant collection.
    pub fn model_dir(&self) -> &Path {
        self.qdrant.as_ref().map_or(&self.index_dir, |q| &q.kit)
    }

    /// Defaults for `index_dir`: 20 MB uploads, 64 Mpx, one embedding per
    /// core, 30 s timeout, 1 s reload check.
    pub fn new(index_dir: impl Into<PathBuf>) -> ServeOptions {
        ServeOptions {
            index_dir: index_dir.into(),
            qdrant: None,
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
        let snapshot = Snapshot::open(&options)?;
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
            .unwrap_or_else(|| snapshot.model().manifest().catalog_root.clone())
    }

    /// Opens the index again if its manifest names another generation (or
    /// always, with `force`), and swaps it in. Returns the new generation if
    /// it swapped. A failed open keeps the current snapshot.
    pub fn reload(&self, force: bool) -> Result<Option<u64>> {
        let current = self.snapshot();
        let on_disk = read_manifest(self.options.model_dir())?;
        if !force && on_disk.generation == current.model().manifest().generation {
            return Ok(None);
        }
        let fresh = Snapshot::open(&self.options)?;
        fresh.inherit_embedder(&current);
        let generation = fresh.model().manifest().generation;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(Some(generation))
    }
}
