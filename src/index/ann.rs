//! The approximate-nearest-neighbour component of a generation: an HNSW
//! graph over the search rows (`usearch`), written with the generation and
//! memory-mapped when it is opened.
//!
//! Why `usearch`: measured against `hannoy` on 200,000 of this index's
//! search rows (docs/scale.md), it built 10x faster on two cores, keeps
//! its vectors as i8 (629 bytes of a row's 2,516), and opens a file as a
//! memory-mapped view. Its i8 distances alone find 0.93 of the true top
//! ten; the search backend (`search::ann`) therefore asks for several
//! times `k` candidates and rescores them with the exact f32 rows, which
//! brings recall to 0.999.
//!
//! Keys are not row numbers but a hash of the product id
//! ([`product_key`]), so that a generation that adds or removes products
//! can start from the previous graph: rows move, keys do not
//! ([`AnnWriter::update`]).
//!
//! The graph is built with the default ranking's geometry: both parts of a
//! search row are unit length, so the inner product of two rows is the
//! weighted cosine at colour weight 0.5 (times 2), and a query at another
//! weight is the row `[(1 - w) shape, w colour]`, an inner product too.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use usearch::{IndexOptions, MetricKind, ScalarKind};

use super::format::ProductRecord;
use crate::error::{Error, IoResultExt, Result};
use crate::layout::SearchLayout;
use crate::progress::Progress;
use crate::vector::dot;

/// Catalogues of at least this many products get an ANN graph when
/// `index --ann auto` (the default) decides. The exact scan's cost grows
/// with the catalogue: on the 44k Kaggle catalogue it took 2.0 ms by id and
/// 3.3 ms for an upload's search against 0.5 and 0.8 ms through the graph,
/// at the same eval figures, for about 10 s of graph build and 778 bytes a
/// product (docs/speed.md, "Search through the graph from 20,000
/// products"). Below this size the scan takes under a millisecond and the
/// graph's build is not worth it.
pub const ANN_AUTO_MIN_PRODUCTS: usize = 20_000;

/// Rebuild the graph from scratch rather than update it when more than
/// this share of its rows would be new, changed, or deleted-but-kept
/// (usearch marks removed rows and keeps their slots).
const MAX_UPDATE_SHARE: f64 = 0.2;

/// Rows whose stored vector is compared with the search row when a graph
/// is opened (the check that it belongs to this generation).
const CHECKED_ROWS: usize = 32;

/// Whether a generation gets an ANN graph (`index --ann`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnMode {
    /// A graph for catalogues of at least [`ANN_AUTO_MIN_PRODUCTS`].
    #[default]
    Auto,
    /// Always a graph.
    On,
    /// Never a graph: every search is the exact scan.
    Off,
}

impl AnnMode {
    /// Whether a generation of `products` products gets a graph.
    pub fn wants_graph(self, products: usize) -> bool {
        match self {
            AnnMode::Auto => products >= ANN_AUTO_MIN_PRODUCTS,
            AnnMode::On => products > 0,
            AnnMode::Off => false,
        }
    }
}

impl std::str::FromStr for AnnMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(AnnMode::Auto),
            "on" => Ok(AnnMode::On),
            "off" => Ok(AnnMode::Off),
            _ => Err(format!("unknown ANN mode `{s}` (auto, on or off)")),
        }
    }
}

impl std::fmt::Display for AnnMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnnMode::Auto => "auto",
            AnnMode::On => "on",
            AnnMode::Off => "off",
        })
    }
}

/// The HNSW parameters of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnParams {
    /// Links per node (HNSW's `M`; twice that on the bottom layer).
    pub connectivity: usize,
    /// Candidates kept while inserting (`ef_construction`).
    pub expansion_add: usize,
    /// Candidates kept while searching (`ef`; at least the rows asked for).
    pub expansion_search: usize,
}

impl Default for AnnParams {
    /// Chosen by `lookalike bench scale` (docs/scale.md): with rescoring,
    /// a larger `ef` or `M` did not raise recall@10 above 0.99 on 1M rows.
    fn default() -> Self {
        AnnParams {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
        }
    }
}

/// What the manifest records of a generation's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnInfo {
    /// The engine and its version, e.g. `usearch 2.26.6 hnsw i8`.
    pub engine: String,
    /// Its parameters.
    pub params: AnnParams,
    /// Live rows (the generation's products).
    pub rows: usize,
    /// Removed rows whose slots the graph still holds (updates add to it;
    /// a rebuild clears it).
    pub deleted: usize,
    /// Size of the file, checked when it is opened.
    pub bytes: u64,
}

/// The key of a product in the graph: the first 8 bytes of the BLAKE3 of
/// its id (collisions are checked when a graph is written and opened).
pub(crate) fn product_key(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    // usearch reserves the all-ones key for free slots.
    u64::from_le_bytes(b) & (u64::MAX >> 1)
}

fn engine_name() -> String {
    format!("usearch {} hnsw i8", usearch::version())
}

fn options(dim: usize, params: &AnnParams) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::IP,
        quantization: ScalarKind::I8,
        connectivity: params.connectivity,
        expansion_add: params.expansion_add,
        expansion_search: params.expansion_search,
        multi: false,
    }
}

/// A usearch error on `path` as the library's error.
fn engine_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::CorruptIndex {
        path: path.to_path_buf(),
        reason: format!("ANN graph: {what}: {e}"),
    }
}

/// The product keys of `products`, refusing two ids with one key.
fn keys_of(products: &[ProductRecord], path: &Path) -> Result<Vec<u64>> {
    let keys: Vec<u64> = products.par_iter().map(|p| product_key(&p.id)).collect();
    let mut seen = HashMap::with_capacity(keys.len());
    for (row, &k) in keys.iter().enumerate() {
        if let Some(other) = seen.insert(k, row) {
            return Err(Error::CorruptIndex {
                path: path.to_path_buf(),
                reason: format!(
                    "products `{}` and `{}` share an ANN key; build with `--ann off`",
                    products[other].id, products[row].id
                ),
            });
        }
    }
    Ok(keys)
}

/// The generation being replaced, as an update of its graph needs it.
pub(crate) struct PreviousGraph<'a> {
    /// Its graph file.
    pub file: PathBuf,
    /// What its manifest says of the graph.
    pub info: &'a AnnInfo,
    /// Its products, in row order.
    pub products: &'a [ProductRecord],
    /// Its search rows (row-major) and their layout.
    pub search_rows: &'a [f32],
    /// The layout of its search rows.
    pub layout: SearchLayout,
}

/// Writes the graph of a new generation.
pub(crate) struct AnnWriter<'a> {
    /// The new generation's search rows.
    pub search_rows: &'a [Vec<f32>],
    /// Their layout.
    pub layout: SearchLayout,
    /// Its products, in row order.
    pub products: &'a [ProductRecord],
    /// The graph's parameters.
    pub params: AnnParams,
}

impl AnnWriter<'_> {
    /// Builds or updates the graph and writes it to `path` (atomically:
    /// a temporary file, fsync, rename). An update starts from
    /// `previous`'s graph when the parameters match and few rows changed;
    /// otherwise the graph is built from scratch. `progress` hears of
    /// the rows added and may cancel ([`Error::Interrupted`]; nothing is
    /// left but a temporary file the next commit removes).
    pub fn write(
        &self,
        path: &Path,
        previous: Option<PreviousGraph<'_>>,
        progress: &dyn Progress,
    ) -> Result<AnnInfo> {
        let dim = self.layout.dim();
        let keys = keys_of(self.products, path)?;
        let opts = options(dim, &self.params);
        let (graph, deleted) = match previous.and_then(|p| self.update(&p, &keys, path).transpose())
        {
            Some(updated) => updated?,
            None => {
                let graph =
                    usearch::Index::new(&opts).map_err(|e| engine_error(path, "creating", e))?;
                let todo: Vec<usize> = (0..keys.len()).collect();
                self.add_rows(&graph, &keys, &todo, path, progress)?;
                (graph, 0)
            }
        };
        let tmp = path.with_extension("usearch.tmp");
        let tmp_str = tmp.to_str().ok_or_else(|| Error::CorruptIndex {
            path: tmp.clone(),
            reason: "the index path is not valid UTF-8".into(),
        })?;
        graph
            .save(tmp_str)
            .map_err(|e| engine_error(&tmp, "saving", e))?;
        File::open(&tmp).and_then(|f| f.sync_all()).at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)?;
        let bytes = std::fs::metadata(path).at(path)?.len();
        Ok(AnnInfo {
            engine: engine_name(),
            params: self.params,
            rows: keys.len(),
            deleted,
            bytes,
        })
    }

    /// Adds rows `todo` to `graph`, in parallel, reporting progress.
    fn add_rows(
        &self,
        graph: &usearch::Index,
        keys: &[u64],
        todo: &[usize],
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let threads = rayon::current_num_threads();
        graph
            .reserve_capacity_and_threads(graph.size() + todo.len(), threads)
            .map_err(|e| engine_error(path, "reserving", e))?;
        progress.stage("ANN graph", Some(todo.len() as u64));
        todo.par_chunks(1024).try_for_each(|chunk| {
            if progress.cancelled() {
                return Err(Error::Interrupted);
            }
            for &r in chunk {
                graph
                    .add(keys[r], &self.search_rows[r])
                    .map_err(|e| engine_error(path, "adding a row", e))?;
            }
            progress.advance(chunk.len() as u64);
            Ok(())
        })
    }

    /// The previous graph with the changes applied, or `None` when it
    /// cannot serve (other parameters or dimensions, a missing or damaged
    /// file, too many changes): the caller builds from scratch.
    fn update(
        &self,
        prev: &PreviousGraph<'_>,
        keys: &[u64],
        path: &Path,
    ) -> Result<Option<(usearch::Index, usize)>> {
        let dim = self.layout.dim();
        if prev.info.params != self.params || prev.layout != self.layout {
            return Ok(None);
        }
        // The rows whose search row is new or changed, and the old keys
        // that are gone or changed (to remove first).
        let old_rows: HashMap<&str, usize> = prev
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        // Bit patterns, so that equal rows compare equal (NaN included).
        let bits = |row: &[f32]| -> Vec<u32> { row.iter().map(|x| x.to_bits()).collect() };
        let changed: Vec<(usize, Option<usize>)> = (0..keys.len())
            .into_par_iter()
            .filter_map(|r| match old_rows.get(self.products[r].id.as_str()) {
                Some(&o)
                    if bits(&prev.search_rows[o * dim..(o + 1) * dim])
                        == bits(&self.search_rows[r]) =>
                {
                    None
                }
                Some(&o) => Some((r, Some(o))),
                None => Some((r, None)),
            })
            .collect();
        let now: std::collections::HashSet<&str> =
            self.products.iter().map(|p| p.id.as_str()).collect();
        let gone: Vec<u64> = prev
            .products
            .iter()
            .filter(|p| !now.contains(p.id.as_str()))
            .map(|p| product_key(&p.id))
            .collect();
        let replaced = changed.iter().filter(|(_, o)| o.is_some()).count();
        let deleted = prev.info.deleted + gone.len() + replaced;
        let work = changed.len() + deleted;
        if work as f64 > MAX_UPDATE_SHARE * keys.len() as f64 {
            tracing::info!(
                "{} of {} rows changed: the ANN graph is built anew",
                changed.len() + gone.len(),
                keys.len()
            );
            return Ok(None);
        }
        let Ok(graph) = usearch::Index::new(&options(dim, &self.params)) else {
            return Ok(None);
        };
        let Some(file) = prev.file.to_str() else {
            return Ok(None);
        };
        if let Err(e) = graph.load(file) {
            tracing::warn!("{}: {e}; the ANN graph is built anew", prev.file.display());
            return Ok(None);
        }
        if graph.size() != prev.products.len() || graph.dimensions() != dim {
            tracing::warn!(
                "{}: does not match its generation; the ANN graph is built anew",
                prev.file.display()
            );
            return Ok(None);
        }
        for k in gone.iter().copied().chain(
            changed
                .iter()
                .filter(|(_, o)| o.is_some())
                .map(|&(r, _)| keys[r]),
        ) {
            graph
                .remove(k)
                .map_err(|e| engine_error(path, "removing a row", e))?;
        }
        tracing::info!(
            "ANN graph updated: {} rows added or changed, {} removed",
            changed.len(),
            gone.len()
        );
        let todo: Vec<usize> = changed.iter().map(|&(r, _)| r).collect();
        self.add_rows(&graph, keys, &todo, path, &crate::progress::NoProgress)?;
        Ok(Some((graph, deleted)))
    }
}

/// An open graph: the memory-mapped file and the row of every key.
pub struct AnnGraph {
    graph: usearch::Index,
    row_of_key: HashMap<u64, u32>,
    info: AnnInfo,
    /// usearch gives each concurrent search one of a fixed number of
    /// per-thread contexts and fails the search when none is free; this
    /// queue makes a caller wait for one instead (a server runs many
    /// searches at once).
    contexts: Contexts,
}

/// Free search contexts of a graph, and a queue for them.
struct Contexts {
    free: std::sync::Mutex<usize>,
    returned: std::sync::Condvar,
}

impl Contexts {
    fn new(n: usize) -> Contexts {
        Contexts {
            free: std::sync::Mutex::new(n),
            returned: std::sync::Condvar::new(),
        }
    }

    /// Waits for a free context, held until the guard drops.
    fn take(&self) -> ContextGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        ContextGuard(self)
    }
}

struct ContextGuard<'a>(&'a Contexts);

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.returned.notify_one();
    }
}

/// Search contexts a graph reserves: more than the cores, as a server's
/// blocking threads outnumber them.
fn search_contexts() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()) * 4
}

impl std::fmt::Debug for AnnGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnGraph")
            .field("info", &self.info)
            .finish()
    }
}

impl AnnGraph {
    /// Maps the graph `path` of a generation whose products and search
    /// rows are given, and checks that it is theirs: its size, every
    /// product's key, and the stored vectors of a few rows.
    pub(crate) fn open(
        path: &Path,
        info: &AnnInfo,
        products: &[ProductRecord],
        search_rows: &[f32],
        layout: SearchLayout,
    ) -> Result<AnnGraph> {
        let dim = layout.dim();
        let mismatch = |reason: String| Error::CorruptIndex {
            path: path.to_path_buf(),
            reason: format!(
                "{reason}; rebuild the graph with `lookalike index CATALOG --ann on` \
                 (or search without it: `--ann off`)"
            ),
        };
        let len = std::fs::metadata(path).at(path)?.len();
        if len != info.bytes {
            return Err(mismatch(format!(
                "{len} bytes, the manifest says {}",
                info.bytes
            )));
        }
        let file = path
            .to_str()
            .ok_or_else(|| mismatch("path is not UTF-8".into()))?;
        let graph = usearch::Index::new(&options(dim, &info.params))
            .map_err(|e| engine_error(path, "creating", e))?;
        graph
            .view(file)
            .map_err(|e| mismatch(format!("not readable as a graph ({e})")))?;
        if graph.dimensions() != dim || graph.size() != products.len() {
            return Err(mismatch(format!(
                "a graph of {} rows of {} values, this generation has {} of {dim}",
                graph.size(),
                graph.dimensions(),
                products.len()
            )));
        }
        let keys = keys_of(products, path)?;
        if let Some(r) = keys.iter().position(|&k| !graph.contains(k)) {
            return Err(mismatch(format!(
                "product `{}` is not in the graph: it belongs to another generation",
                products[r].id
            )));
        }
        // The stored (i8) vectors of a spread of rows point where this
        // generation's rows do: a graph of the same products made with
        // another head or projection is refused too.
        let step = (products.len() / CHECKED_ROWS).max(1);
        let mut stored = vec![0f32; dim];
        for r in (0..products.len()).step_by(step) {
            let got = graph
                .get(keys[r], &mut stored)
                .map_err(|e| engine_error(path, "reading a row", e))?;
            let row = &search_rows[r * dim..(r + 1) * dim];
            let cos = dot(&stored, row) / (dot(&stored, &stored) * dot(row, row)).sqrt();
            if got != 1 || cos.is_nan() || cos <= 0.98 {
                return Err(mismatch(format!(
                    "the graph's vector of product `{}` is not its search row \
                     (cosine {cos:.3}): it belongs to another generation",
                    products[r].id
                )));
            }
        }
        graph.change_expansion_search(info.params.expansion_search);
        let contexts = search_contexts();
        graph
            .reserve_capacity_and_threads(graph.size(), contexts)
            .map_err(|e| engine_error(path, "reserving search contexts", e))?;
        let row_of_key = keys
            .into_iter()
            .enumerate()
            .map(|(r, k)| (k, r as u32))
            .collect();
        Ok(AnnGraph {
            graph,
            row_of_key,
            info: info.clone(),
            contexts: Contexts::new(contexts),
        })
    }

    /// What the manifest records of it.
    pub fn info(&self) -> &AnnInfo {
        &self.info
    }

    /// Up to `count` rows nearest to `query` by inner product, best first,
    /// among those `allowed` accepts; a row of a key this generation does
    /// not know is never returned.
    pub(crate) fn nearest(
        &self,
        query: &[f32],
        count: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Result<Vec<usize>> {
        let row = |k: u64| self.row_of_key.get(&k).map(|&r| r as usize);
        let _context = self.contexts.take();
        let matches = self
            .graph
            .filtered_search(query, count, |k| row(k).is_some_and(&allowed))
            .map_err(|e| Error::CorruptIndex {
                path: PathBuf::from("ANN graph"),
                reason: format!("search failed: {e}"),
            })?;
        Ok(matches.keys.into_iter().filter_map(row).collect())
    }

    /// Bytes of memory the engine reports for the open graph (a view maps
    /// the file instead of holding it).
    pub fn memory_usage(&self) -> usize {
        self.graph.memory_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_builds_a_graph_from_the_threshold_on() {
        let auto = AnnMode::Auto;
        assert!(!auto.wants_graph(ANN_AUTO_MIN_PRODUCTS - 1));
        assert!(auto.wants_graph(ANN_AUTO_MIN_PRODUCTS));
        // The Kaggle catalogue (44,441 products) gets one.
        assert!(auto.wants_graph(44_441));
        assert!(AnnMode::On.wants_graph(1) && !AnnMode::On.wants_graph(0));
        assert!(!AnnMode::Off.wants_graph(1_000_000));
    }
}
