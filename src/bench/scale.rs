//! `lookalike bench scale`: search at catalogue sizes nobody has at hand.
//!
//! A synthetic index of `rows` products is derived from a real one: each is
//! a real product's search row plus noise (both parts renormalised), with
//! that product's labels, so label filters keep the catalogue's
//! selectivities and the head's label term and vote still apply. Only
//! search rows are written (no stored rows: 12 KB a product that search
//! never reads), then the ANN graph, timed. Queries by product id and by
//! vector (a real row plus fresh noise, not in the index) then run through
//! [`search`] with the exact scan and with the graph, so recall is
//! measured against the exact scan on the same rows with the same scoring.
//! The CLI runs each in a child process of its own (one thread), so that
//! the graph's resident memory is that of a server answering from it, not
//! of the build or of the scans.

use std::path::Path;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Latency;
use crate::error::{Error, IoResultExt, Result};
use crate::index::writer::{write_generation, Generation};
use crate::index::{AnnMode, AnnParams, Index, ProductRecord, SearchSettings, WriteLock};
use crate::progress::Progress;
use crate::rng::SplitMix64;
use crate::search::{search, Backend, Filter, Query, SearchRequest};

/// The share of products each filtered run's filter should match.
pub const SELECTIVITIES: [f64; 3] = [0.1, 0.01, 0.001];

/// The file of the by-vector queries, next to the synthetic index.
const QUERIES_FILE: &str = "queries.f32";
/// The file of the chosen filters, next to the synthetic index.
const PLAN_FILE: &str = "plan.json";

/// What to build and ask.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Synthetic products.
    pub rows: usize,
    /// Queries of each kind.
    pub queries: usize,
    /// Length of the noise added to each part of a row (both parts are unit
    /// vectors; 0.5 puts a copy at cosine 0.89 of its original, about a real
    /// product's nearest neighbour).
    pub noise: f32,
    /// Seed of the noise and of the queries.
    pub seed: u64,
    /// The graph's parameters.
    pub ann: AnnParams,
}

impl Default for ScaleOptions {
    fn default() -> Self {
        ScaleOptions {
            rows: 1_000_000,
            queries: 1000,
            noise: 0.5,
            seed: 7,
            ann: AnnParams::default(),
        }
    }
}

/// What the queries of a run are: written by [`write_synthetic_index`],
/// read by [`bench_scale_queries`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryPlan {
    /// Product ids to search by.
    pub ids: Vec<String>,
    /// Filters, one per target in [`SELECTIVITIES`]: `(target, filter,
    /// share of products it matches)`.
    pub filters: Vec<(f64, String, f64)>,
    /// Number of by-vector queries in the queries file.
    pub vectors: usize,
}

/// The synthetic index, as built.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticIndex {
    /// Products.
    pub rows: usize,
    /// Seconds to build the ANN graph from the search rows.
    pub build_s: f64,
    /// Seconds to write the rest of the generation (rows, codes, products).
    pub write_s: f64,
    /// Bytes of the index directory.
    pub disk_bytes: u64,
    /// The queries to run.
    pub plan: QueryPlan,
}

/// Latency of the exact scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExactFigures {
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// Recall and latency of the graph, unfiltered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnnFigures {
    /// Share of the exact top ten found.
    pub recall10: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Queries per second on one core (1000 / mean ms).
    pub qps_per_core: f64,
}

/// One filtered run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilteredFigures {
    /// Share of products the filter matches.
    pub selectivity: f64,
    /// The filter.
    pub filter: String,
    /// Share of the exact top ten found.
    pub recall10: f64,
    /// Median, ms (graph or scan, as the backend chose).
    pub p50_ms: f64,
    /// Median of the exact scan, ms.
    pub exact_p50_ms: f64,
    /// Queries that got fewer hits than the exact scan.
    pub short_results: usize,
}

/// What the queries measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryFigures {
    /// Resident memory of the process that opened the index and ran every
    /// query through the graph (as a server would).
    pub rss_bytes: Option<u64>,
    /// Of which the heap (product records, lookups).
    pub rss_anon_bytes: Option<u64>,
    /// Of which mapped index files that the queries touched.
    pub rss_file_bytes: Option<u64>,
    /// Resident memory of the process that ran the exact scans (every
    /// row's codes touched).
    #[serde(default)]
    pub rss_exact_bytes: Option<u64>,
    /// Resident bytes of each mapped index file (graph process, Linux).
    #[serde(default)]
    pub rss_by_file: std::collections::BTreeMap<String, u64>,
    /// By product id, exact scan.
    pub exact: ExactFigures,
    /// By product id, graph.
    pub ann: AnnFigures,
    /// By vector: graph, and the exact scan's median.
    pub by_vector: AnnFigures,
    /// By vector, exact scan.
    pub by_vector_exact: ExactFigures,
    /// By product id under each filter.
    pub filtered: Vec<FilteredFigures>,
    /// Seconds to open the index.
    pub open_s: f64,
}

/// Writes the synthetic index of `opts.rows` products derived from
/// `source` into `dir` (which must not hold an index), with its graph and
/// the query plan. `progress` hears of the graph's build.
pub fn write_synthetic_index(
    source: &Index,
    dir: &Path,
    opts: &ScaleOptions,
    progress: &dyn Progress,
) -> Result<SyntheticIndex> {
    if source.is_empty() || opts.rows == 0 {
        return Err(Error::InvalidArgument(
            "bench scale needs a non-empty source index and --rows > 0".into(),
        ));
    }
    if dir.join(crate::index::format::MANIFEST).exists() {
        return Err(Error::InvalidArgument(format!(
            "{} already holds an index; bench scale writes a fresh one",
            dir.display()
        )));
    }
    let layout = source.search_layout();
    let n_src = source.len();
    let t = Instant::now();
    let search: Vec<Vec<f32>> = (0..opts.rows)
        .into_par_iter()
        .map(|i| {
            let row = source.search_row(i % n_src);
            if i < n_src {
                row.to_vec()
            } else {
                noisy(row, layout.shape, opts.noise, opts.seed ^ i as u64)
            }
        })
        .collect();
    let products: Vec<ProductRecord> = (0..opts.rows)
        .map(|i| {
            let p = &source.products()[i % n_src];
            ProductRecord {
                id: format!("s{i}"),
                hash: String::new(),
                image: p.image.clone(),
                labels: p.labels.clone(),
            }
        })
        .collect();
    let mut manifest = source.manifest().clone();
    manifest.vectors_file = String::new();
    manifest.ann_file = None;
    manifest.ann = None;
    let lock = WriteLock::acquire(dir)?;
    let settings = SearchSettings {
        ann: Some(AnnMode::On),
        ann_params: opts.ann,
        ..SearchSettings::default()
    };
    let timed = TimedProgress {
        inner: progress,
        graph_started: std::sync::Mutex::new(None),
    };
    let written = write_generation(
        &lock,
        manifest,
        None,
        Generation {
            stored: None,
            transform: source.transform(),
            search: &search,
            products: &products,
        },
        &settings,
        &timed,
    )?;
    let total = t.elapsed();
    let build = timed
        .graph_started
        .lock()
        .ok()
        .and_then(|g| *g)
        .map_or(Duration::ZERO, |s| s.elapsed());
    drop(lock);

    // The plan: ids, filters near each selectivity, by-vector queries.
    let mut rng = SplitMix64(opts.seed);
    let ids: Vec<String> = (0..opts.queries)
        .map(|_| products[rng.below(opts.rows)].id.clone())
        .collect();
    let filters = SELECTIVITIES
        .iter()
        .filter_map(|&target| closest_filter(source, target).map(|(f, share)| (target, f, share)))
        .collect();
    let mut vectors = Vec::with_capacity(opts.queries * layout.dim());
    for q in 0..opts.queries {
        let row = source.search_row(rng.below(n_src));
        vectors.extend(noisy(
            row,
            layout.shape,
            opts.noise,
            !(opts.seed ^ q as u64),
        ));
    }
    let path = dir.join(QUERIES_FILE);
    std::fs::write(&path, bytemuck::cast_slice(&vectors)).at(&path)?;
    let plan = QueryPlan {
        ids,
        filters,
        vectors: opts.queries,
    };
    let path = dir.join(PLAN_FILE);
    let json = serde_json::to_vec(&plan).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    std::fs::write(&path, json).at(&path)?;
    let disk_bytes = std::fs::read_dir(dir)
        .at(dir)?
        .flatten()
        .filter(|e| crate::index::format::is_generation_file(&e.file_name().to_string_lossy()))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    tracing::debug!("generation {} written", written.generation);
    Ok(SyntheticIndex {
        rows: opts.rows,
        build_s: build.as_secs_f64(),
        write_s: (total - build).as_secs_f64(),
        disk_bytes,
        plan,
    })
}

/// Passes progress on and notes when the graph's stage starts.
struct TimedProgress<'a> {
    inner: &'a dyn Progress,
    graph_started: std::sync::Mutex<Option<Instant>>,
}

impl Progress for TimedProgress<'_> {
    fn stage(&self, name: &str, total: Option<u64>) {
        if let Ok(mut g) = self.graph_started.lock() {
            g.get_or_insert_with(Instant::now);
        }
        self.inner.stage(name, total);
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// `row` with Gaussian noise of length about `noise` added to each part
/// (split at `shape`), each part renormalised.
fn noisy(row: &[f32], shape: usize, noise: f32, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    let mut out = row.to_vec();
    let (a, b) = out.split_at_mut(shape);
    for part in [a, b] {
        let sigma = noise / (part.len().max(1) as f32).sqrt();
        for x in part.iter_mut() {
            *x += sigma * gaussian(&mut rng);
        }
        crate::vector::l2_normalise(part);
    }
    out
}

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut SplitMix64) -> f32 {
    let u = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// The `field=value` filter of `source` whose share of products is
/// closest to `target` (by ratio), with that share.
fn closest_filter(source: &Index, target: f64) -> Option<(String, f64)> {
    let payload = source.payload();
    let n = source.len() as f64;
    payload
        .field_names()
        .into_iter()
        .filter(|f| *f != crate::search::NAME_FIELD)
        .flat_map(|f| {
            payload
                .values(f)
                .map(move |(v, rows)| (format!("{f}={v}"), rows.len() as f64 / n))
        })
        .filter(|(expr, share)| *share > 0.0 && Filter::parse(expr).is_ok())
        .min_by(|a, b| {
            let d = |s: f64| (s / target).ln().abs();
            d(a.1).total_cmp(&d(b.1))
        })
}

/// The file of the exact scan's answers, next to the synthetic index.
const REFERENCE_FILE: &str = "exact-reference.json";

/// Which half of the query run a process does: the exact scan (the
/// reference, saved next to the index), then the graph, measured against
/// it. Separate processes, so that the graph's resident memory is that of
/// a server answering from the graph, not of one that also scanned every
/// row for the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryPhase {
    /// Every query with the exact scan; writes the reference.
    Exact,
    /// Every query with the graph; reads the reference.
    Graph,
}

/// The exact scan's answers and latency for each case of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExactReference {
    /// One per case, in [`cases`] order.
    cases: Vec<ExactCase>,
    /// Resident memory of the process that ran the exact scans.
    rss_bytes: Option<u64>,
}

/// The exact answers to one case's queries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExactCase {
    /// The case ([`Case::name`]).
    name: String,
    /// The rows of each query's hits, best first.
    hits: Vec<Vec<u32>>,
    /// Their latency.
    latency: ExactFigures,
}

/// One set of queries of the plan, with its filter.
struct Case<'q> {
    name: String,
    queries: &'q [Query<'q>],
    filters: Vec<Filter>,
}

/// The plan's cases: by id, by vector, then by id under each filter.
fn cases<'q>(
    plan: &QueryPlan,
    by_id: &'q [Query<'q>],
    by_vector: &'q [Query<'q>],
) -> Result<Vec<Case<'q>>> {
    let mut out = vec![
        Case {
            name: "by id".into(),
            queries: by_id,
            filters: Vec::new(),
        },
        Case {
            name: "by vector".into(),
            queries: by_vector,
            filters: Vec::new(),
        },
    ];
    for (_, expr, _) in &plan.filters {
        out.push(Case {
            name: format!("by id, {expr}"),
            queries: by_id,
            filters: vec![Filter::parse(expr)?],
        });
    }
    Ok(out)
}

/// Runs one phase of the plan next to the synthetic index in `dir`: every
/// query by id and by vector, unfiltered, then by id under each filter.
/// [`QueryPhase::Exact`] saves the answers and returns `None`;
/// [`QueryPhase::Graph`] (after it) returns the figures. Run each on one
/// thread, in its own process, for per-core figures.
pub fn bench_scale_queries(dir: &Path, phase: QueryPhase) -> Result<Option<QueryFigures>> {
    let path = dir.join(PLAN_FILE);
    let plan: QueryPlan = serde_json::from_slice(&std::fs::read(&path).at(&path)?)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    let t = Instant::now();
    let index = Index::open(dir)?;
    let open_s = t.elapsed().as_secs_f64();
    if index.ann().is_none() {
        return Err(Error::InvalidArgument(format!(
            "{} has no ANN graph",
            dir.display()
        )));
    }
    let path = dir.join(QUERIES_FILE);
    let bytes = std::fs::read(&path).at(&path)?;
    let dim = index.search_layout().dim();
    if bytes.len() % 4 != 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: {} bytes, not whole f32 values",
            path.display(),
            bytes.len()
        )));
    }
    // The same float I/O as the index files.
    let vectors: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
    if vectors.len() != plan.vectors * dim {
        return Err(Error::InvalidArgument(format!(
            "{}: {} values, expected {} queries of {dim}",
            path.display(),
            vectors.len(),
            plan.vectors
        )));
    }
    let by_id: Vec<Query<'_>> = plan.ids.iter().map(|id| Query::Product(id)).collect();
    let by_vector: Vec<Query<'_>> = vectors.chunks_exact(dim).map(Query::SearchRow).collect();
    let cases = cases(&plan, &by_id, &by_vector)?;
    let reference_path = dir.join(REFERENCE_FILE);
    let request = |backend: Backend, case: &Case<'_>| SearchRequest {
        backend,
        filters: case.filters.clone(),
        ..SearchRequest::default()
    };
    if phase == QueryPhase::Exact {
        let mut out = Vec::new();
        for case in &cases {
            let req = request(Backend::Exact, case);
            let (hits, times) = run_case(&index, case.queries, &req)?;
            out.push(ExactCase {
                name: case.name.clone(),
                hits,
                latency: ExactFigures::of(&times),
            });
        }
        let reference = ExactReference {
            cases: out,
            rss_bytes: resident_bytes(),
        };
        let json = serde_json::to_vec(&reference)
            .map_err(|e| Error::InvalidArgument(format!("the exact reference: {e}")))?;
        crate::index::writer::write_atomic(&reference_path, |w| {
            std::io::Write::write_all(w, &json)
        })?;
        return Ok(None);
    }
    let reference: ExactReference =
        serde_json::from_slice(&std::fs::read(&reference_path).at(&reference_path)?)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", reference_path.display())))?;
    if reference.cases.len() != cases.len()
        || reference
            .cases
            .iter()
            .zip(&cases)
            .any(|(r, c)| r.name != c.name || r.hits.len() != c.queries.len())
    {
        return Err(Error::InvalidArgument(format!(
            "{} does not answer this plan's queries; run the exact phase again",
            reference_path.display()
        )));
    }
    let mut measured = Vec::new();
    for (case, exact) in cases.iter().zip(&reference.cases) {
        let req = request(Backend::Auto, case);
        let (hits, times) = run_case(&index, case.queries, &req)?;
        measured.push(AnnFigures::against(&hits, &times, &exact.hits));
    }
    let exact_of = |i: usize| reference.cases[i].latency.clone();
    let filtered = plan
        .filters
        .iter()
        .enumerate()
        .map(|(i, (_, expr, share))| {
            let (a, short) = &measured[2 + i];
            FilteredFigures {
                selectivity: *share,
                filter: expr.clone(),
                recall10: a.recall10,
                p50_ms: a.p50_ms,
                exact_p50_ms: exact_of(2 + i).p50_ms,
                short_results: *short,
            }
        })
        .collect();
    Ok(Some(QueryFigures {
        rss_bytes: resident_bytes(),
        rss_anon_bytes: status_kib("RssAnon:").map(|k| k * 1024),
        rss_file_bytes: status_kib("RssFile:").map(|k| k * 1024),
        rss_exact_bytes: reference.rss_bytes,
        rss_by_file: resident_by_file(dir),
        exact: exact_of(0),
        ann: measured[0].0.clone(),
        by_vector: measured[1].0.clone(),
        by_vector_exact: exact_of(1),
        filtered,
        open_s,
    }))
}

/// Each query of one case: the rows of its hits and its latency.
fn run_case(
    index: &Index,
    queries: &[Query<'_>],
    req: &SearchRequest,
) -> Result<(Vec<Vec<u32>>, Vec<Duration>)> {
    let (mut hits, mut times) = (Vec::new(), Vec::new());
    for q in queries {
        let t = Instant::now();
        let found = search(index, q, req)?;
        times.push(t.elapsed());
        hits.push(
            found
                .hits
                .iter()
                .map(|h| h.row.unwrap_or(usize::MAX) as u32)
                .collect(),
        );
    }
    Ok((hits, times))
}

impl ExactFigures {
    fn of(times: &[Duration]) -> ExactFigures {
        let l = Latency::of(times);
        ExactFigures {
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
        }
    }
}

impl AnnFigures {
    /// The graph's figures for `hits` found in `times` against the exact
    /// scan's `exact`, and how many queries got fewer hits than it.
    fn against(hits: &[Vec<u32>], times: &[Duration], exact: &[Vec<u32>]) -> (AnnFigures, usize) {
        let (mut found, mut wanted, mut short) = (0usize, 0usize, 0usize);
        for (g, e) in hits.iter().zip(exact) {
            wanted += e.len();
            found += g.iter().filter(|r| e.contains(r)).count();
            short += usize::from(g.len() < e.len());
        }
        let l = Latency::of(times);
        let figures = AnnFigures {
            recall10: if wanted == 0 {
                1.0
            } else {
                found as f64 / wanted as f64
            },
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
            qps_per_core: if l.mean_ms > 0.0 {
                1000.0 / l.mean_ms
            } else {
                0.0
            },
        };
        (figures, short)
    }
}

/// This process's resident memory (`VmRSS`), where the platform says
/// (Linux); mapped index files count only once touched.
pub fn resident_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// Resident bytes of each file of `dir` this process maps, by file name,
/// from `/proc/self/smaps` (empty where the platform has none).
fn resident_by_file(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return out;
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        if let Some(kib) = line.strip_prefix("Rss:") {
            if let (Some(name), Some(k)) = (&current, kib.trim().strip_suffix("kB")) {
                let k: u64 = k.trim().parse().unwrap_or(0);
                *out.entry(name.clone()).or_insert(0) += k * 1024;
            }
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            // A mapping's header: `start-end perms offset dev inode path`.
            current = line
                .split_whitespace()
                .nth(5)
                .map(Path::new)
                .filter(|p| p.parent() == Some(dir.as_path()))
                .and_then(|p| p.file_name())
                .map(|f| f.to_string_lossy().into_owned());
        }
    }
    out
}

/// A `kB` line of `/proc/self/status`.
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}
