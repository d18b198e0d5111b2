//! Exact top-k search over an [`Index`], with label filters.
//!
//! Every row allowed by the filters is visited (brute force, in parallel
//! chunks), but through its i8 codes, a quarter of the bytes of the f32 row:
//!
//! 1. for each row, an approximate cosine `a` and a guaranteed error bound
//!    `b` (from the stored quantisation-error norms, by Cauchy-Schwarz), so the
//!    exact score lies in `[a - b, a + b]`;
//! 2. `L` = the k-th largest lower bound: at least k rows score `>= L`;
//! 3. only rows whose upper bound reaches `L` can be in the top k; those few
//!    are rescored with their exact f32 rows.
//!
//! The result is exactly the brute-force f32 top-k (a test checks it). Both
//! parts of every row are unit length, so Euclidean distance ranks like the
//! cosine (`d^2 = 2 - 2 cos`) and shares the candidate step; it is computed
//! exactly for the hits. Filters become a row bitset first, so a filtered
//! search returns k hits whenever at least k rows match.
//!
//! With a head, the cosine also gets a label term ([`label_prior`]): exact
//! per row, so it adds to both bounds and the result stays exact.

pub mod browse;
pub mod filter;
pub mod label_prior;
pub mod metric;
pub mod topk;

use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

pub use browse::{browse, Page, NAME_FIELD};
pub use filter::Filter;
pub use label_prior::LabelPrior;
pub use metric::{Metric, Scored};
use topk::{Candidate, TopK};

use crate::catalog::Labels;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::index::search_rows::META_FLOATS;
use crate::index::Index;
use crate::vector::{dot, dot_i8};

/// Largest `k` accepted.
pub const MAX_K: usize = 1000;

/// The default weight of the colour part, chosen by the type+colour
/// evaluation (see README, "Ablations").
pub const DEFAULT_COLOUR_WEIGHT: f32 = 0.5;

/// The default weight of the catalogue's labels (with a head, cosine only),
/// chosen by the evaluation (see README, "Learned head").
pub const DEFAULT_LABEL_WEIGHT: f32 = 0.7;

/// What to search for.
#[derive(Debug, Clone)]
pub enum Query<'a> {
    /// A product already in the index (it is excluded from its own hits).
    Product(&'a str),
    /// An embedded image.
    Embedding(&'a Embedding),
}

/// Search parameters besides the query.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Number of hits wanted (1..=[`MAX_K`]).
    pub k: usize,
    /// Label filters, combined with AND.
    pub filters: Vec<Filter>,
    /// Similarity metric.
    pub metric: Metric,
    /// Weight of the colour part in `0..=1`.
    pub colour_weight: f32,
    /// Weight of the catalogue's labels in `0..=1` (see [`label_prior`]);
    /// used with a head and the cosine metric only.
    pub label_weight: f32,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            k: 10,
            filters: Vec::new(),
            metric: Metric::Cosine,
            colour_weight: DEFAULT_COLOUR_WEIGHT,
            label_weight: DEFAULT_LABEL_WEIGHT,
        }
    }
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// Product id.
    pub id: String,
    /// Similarity (cosine) or distance (Euclidean).
    pub score: f32,
    /// Contribution of shape/category (the CNN part) to `score`; for
    /// Euclidean, to the squared distance.
    pub shape: f32,
    /// Contribution of colour to `score` (squared distance for Euclidean).
    pub colour: f32,
    /// Contribution of the catalogue's labels to `score` (cosine with a
    /// head; else 0).
    pub label: f32,
    /// Product labels.
    pub labels: Labels,
    /// Row in the index.
    #[serde(skip)]
    pub row: usize,
}

/// Hits and timing.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Time spent in the search (embedding a query image not included).
    #[serde(skip)]
    pub took: Duration,
    /// The query's search row (what [`recognise`] reads).
    #[serde(skip)]
    pub query_row: Vec<f32>,
}

/// Rows scored per parallel task.
const CHUNK: usize = 2048;

impl SearchRequest {
    /// Checks `k` and the weights.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::InvalidArgument(format!(
                "k must be in 1..={MAX_K}, got {}",
                self.k
            )));
        }
        for (name, w) in [("colour", self.colour_weight), ("label", self.label_weight)] {
            if !(0.0..=1.0).contains(&w) {
                return Err(Error::InvalidArgument(format!(
                    "{name} weight must be in 0..=1, got {w}"
                )));
            }
        }
        Ok(())
    }
}

/// Searches `index` for the `req.k` rows closest to `query`.
pub fn search(index: &Index, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
    let start = Instant::now();
    req.validate()?;
    let (q, exclude): (Vec<f32>, Option<usize>) = match query {
        Query::Product(id) => {
            let row = index
                .row_of(id)
                .ok_or_else(|| Error::UnknownId(id.to_string()))?;
            (index.search_row(row).to_vec(), Some(row))
        }
        Query::Embedding(e) => {
            let m = index.manifest();
            if e.cnn.len() != m.cnn_dim
                || e.colour.len() != m.colour_dim
                || e.taps.len() != m.tap_dim
            {
                return Err(Error::InvalidArgument(format!(
                    "query has {}+{}+{} dimensions, the index {}+{}+{}",
                    e.cnn.len(),
                    e.colour.len(),
                    e.taps.len(),
                    m.cnn_dim,
                    m.colour_dim,
                    m.tap_dim
                )));
            }
            (index.query_row(e), None)
        }
    };
    let allowed = filter::compile(&req.filters, index.payload(), index.len())?;
    let prior = match req.metric {
        Metric::Cosine => LabelPrior::new(index, &q, req.label_weight),
        Metric::Euclidean => None,
    };
    let candidates = scan(index, &q, req, prior.as_ref(), allowed.as_deref(), exclude);
    let cnn_dim = index.manifest().search_cnn_dim;
    let hits = candidates
        .into_iter()
        .map(|c| {
            let row = c.row as usize;
            let s = req
                .metric
                .score(&q, index.search_row(row), cnn_dim, req.colour_weight);
            let p = &index.products()[row];
            let (score, label) = prior
                .as_ref()
                .map_or((s.score, 0.0), |l| l.apply(row, s.score));
            SearchHit {
                id: p.id.clone(),
                score,
                shape: s.shape,
                colour: s.colour,
                label,
                labels: p.labels.clone(),
                row,
            }
        })
        .collect();
    Ok(SearchResults {
        hits,
        took: start.elapsed(),
        query_row: q,
    })
}

/// What the index's head recognises in a query: per label field, the most
/// likely classes, best first.
pub type Recognition = Vec<(String, Vec<crate::embedding::head::Guess>)>;

/// Recognises the `top` likeliest articleType, baseColour, ... of the query
/// of `results` with the index's head (from the search row the search
/// already made); `None` when the index has no head.
pub fn recognise(index: &Index, results: &SearchResults, top: usize) -> Option<Recognition> {
    index
        .head()
        .map(|head| head.recognise(&results.query_row, top))
}

/// A recognition as JSON: `{"articleType": [{"label": .., "confidence": ..}], ..}`.
pub fn recognition_json(r: &Recognition) -> serde_json::Value {
    serde_json::Value::Object(
        r.iter()
            .map(|(field, guesses)| (field.clone(), serde_json::json!(guesses)))
            .collect(),
    )
}

/// Visits the allowed rows of `lo..hi` (all but `exclude`).
fn for_allowed(
    lo: usize,
    hi: usize,
    allowed: Option<&[u64]>,
    exclude: Option<usize>,
    mut f: impl FnMut(usize),
) {
    match allowed {
        None => (lo..hi).filter(|&r| Some(r) != exclude).for_each(f),
        Some(bits) => {
            // CHUNK is a multiple of 64, so words never straddle chunks.
            let first = lo / 64;
            for (offset, &word_bits) in bits[first..hi.div_ceil(64)].iter().enumerate() {
                let word = first + offset;
                let mut b = word_bits;
                while b != 0 {
                    let r = word * 64 + b.trailing_zeros() as usize;
                    b &= b - 1;
                    if r < hi && Some(r) != exclude {
                        f(r);
                    }
                }
            }
        }
    }
}

/// The exact top-k rows for query row `q` (see the module docs).
fn scan(
    index: &Index,
    q: &[f32],
    req: &SearchRequest,
    prior: Option<&LabelPrior<'_>>,
    allowed: Option<&[u64]>,
    exclude: Option<usize>,
) -> Vec<Candidate> {
    let lifted = |r: usize, s: f32| prior.map_or(s, |p| p.apply(r, s).0);
    let n = index.len();
    let dim = index.search_dim();
    let cnn_dim = index.manifest().search_cnn_dim;
    let (codes, scales) = (index.codes(), index.scales());
    let (metric, w, k) = (req.metric, req.colour_weight, req.k);
    let (ws, wk) = (1.0 - w, w);
    let (qc, qk) = q.split_at(cnn_dim);
    let (qc_norm, qk_norm) = (dot(qc, qc).sqrt(), dot(qk, qk).sqrt());
    let chunks = n.div_ceil(CHUNK);

    // Phase 1: approximate scores with error bounds; top-k of lower bounds.
    let (lowers, uppers): (Vec<TopK>, Vec<Vec<(f32, u32)>>) = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            let mut lower = TopK::new(k);
            let mut upper = Vec::with_capacity(hi - lo);
            for_allowed(lo, hi, allowed, exclude, |r| {
                let code = &codes[r * dim..(r + 1) * dim];
                let m = &scales[r * META_FLOATS..(r + 1) * META_FLOATS];
                let approx = ws * m[0] * dot_i8(qc, &code[..cnn_dim])
                    + if wk == 0.0 {
                        0.0
                    } else {
                        wk * m[2] * dot_i8(qk, &code[cnn_dim..])
                    };
                let bound = ws * qc_norm * m[1] + wk * qk_norm * m[3];
                lower.push(Candidate {
                    key: lifted(r, approx - bound),
                    row: r as u32,
                });
                upper.push((lifted(r, approx + bound), r as u32));
            });
            (lower, upper)
        })
        .unzip();
    // Fewer than k allowed rows: no floor, every one of them is a hit.
    let floor = lowers
        .into_iter()
        .fold(TopK::new(k), TopK::merge)
        .threshold()
        .unwrap_or(f32::NEG_INFINITY);

    // Phase 2: exact scores for the rows that can still make the top k.
    let search_rows = index.search_rows();
    uppers
        .into_par_iter()
        .map(|upper| {
            let mut top = TopK::new(k);
            for (ub, r) in upper {
                if ub >= floor {
                    let x = &search_rows[r as usize * dim..(r as usize + 1) * dim];
                    let score = lifted(r as usize, metric.score(q, x, cnn_dim, w).score);
                    let key = metric.rank_key(score);
                    top.push(Candidate { key, row: r });
                }
            }
            top
        })
        .reduce(|| TopK::new(k), TopK::merge)
        .into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Labels;
    use crate::eval::sample::SplitMix64;
    use crate::index::writer::{commit, WriteLock};
    use crate::index::{ProductRecord, SearchSettings};

    /// Writes an index of `n` random unit rows (cnn 48 | colour 16).
    pub(crate) fn random_index(
        dir: &std::path::Path,
        n: usize,
        settings: &SearchSettings,
    ) -> Index {
        let mut rng = SplitMix64(42);
        let mut unit = |len: usize| {
            let mut v: Vec<f32> = (0..len)
                .map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            crate::vector::l2_normalise(&mut v);
            v
        };
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                let mut r = unit(48);
                r.extend(unit(16));
                r
            })
            .collect();
        let products: Vec<ProductRecord> = (0..n)
            .map(|i| {
                let mut labels = Labels::default();
                labels.set("gender", if i % 3 == 0 { "Women" } else { "Men" });
                ProductRecord {
                    id: format!("p{i}"),
                    hash: String::new(),
                    image: Default::default(),
                    labels,
                }
            })
            .collect();
        let embedder = serde_json::json!({
            "model": "test", "model_hash": "0", "input_size": [8, 8], "fit": "letterbox",
            "layout": "nchw", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "output": "o",
            "cnn_dim": 48, "colour": crate::embedding::ColourSpec::default(), "pipeline_version": 1
        });
        let manifest = crate::index::format::test_manifest(48, 16, embedder, &["gender"]);
        let lock = WriteLock::acquire(dir).expect("lock");
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        commit(&lock, manifest, &refs, &products, settings).expect("commit");
        drop(lock);
        Index::open(dir).expect("open")
    }

    /// Brute force over the exact search rows: the reference.
    fn brute_force(
        index: &Index,
        q: &[f32],
        req: &SearchRequest,
        exclude: Option<usize>,
    ) -> Vec<u32> {
        let allowed = filter::compile(&req.filters, index.payload(), index.len()).expect("filters");
        let cnn = index.manifest().search_cnn_dim;
        let mut top = TopK::new(req.k);
        for r in 0..index.len() {
            let ok = allowed
                .as_ref()
                .is_none_or(|b| b[r / 64] >> (r % 64) & 1 == 1);
            if ok && Some(r) != exclude {
                let s = req
                    .metric
                    .score(q, index.search_row(r), cnn, req.colour_weight)
                    .score;
                top.push(Candidate {
                    key: req.metric.rank_key(s),
                    row: r as u32,
                });
            }
        }
        top.into_sorted().iter().map(|c| c.row).collect()
    }

    #[test]
    fn quantised_scan_equals_brute_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let no_projection = SearchSettings {
            projection_dim: 0,
            ..SearchSettings::default()
        };
        let index = random_index(dir.path(), 5000, &no_projection);
        for (i, (metric, w, k, filters)) in [
            (Metric::Cosine, 0.3, 10, vec![]),
            (Metric::Cosine, 0.0, 1, vec![]),
            (Metric::Euclidean, 0.5, 25, vec![]),
            (Metric::Cosine, 1.0, 10, vec!["gender=Women"]),
            (Metric::Euclidean, 0.2, 100, vec!["gender!=Women"]),
        ]
        .into_iter()
        .enumerate()
        {
            let req = SearchRequest {
                k,
                filters: filters
                    .iter()
                    .map(|f| Filter::parse(f).expect("filter"))
                    .collect(),
                metric,
                colour_weight: w,
                label_weight: 0.0,
            };
            let id = format!("p{}", i * 7);
            let row = index.row_of(&id).expect("row");
            let hits = search(&index, &Query::Product(&id), &req)
                .expect("search")
                .hits;
            let got: Vec<u32> = hits.iter().map(|h| h.row as u32).collect();
            let want = brute_force(&index, index.search_row(row), &req, Some(row));
            assert_eq!(got, want, "{metric} w={w} k={k} {filters:?}");
            assert_eq!(got.len(), k);
            if !filters.is_empty() {
                let women = filters[0] == "gender=Women";
                assert!(hits
                    .iter()
                    .all(|h| (h.labels.get("gender") == Some("Women")) == women));
            }
        }
    }

    #[test]
    fn projected_index_searches_its_own_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = SearchSettings {
            projection_dim: 16,
            alpha: 0.5,
            min_products: 100,
            ..SearchSettings::default()
        };
        let index = random_index(dir.path(), 600, &settings);
        assert_eq!(index.manifest().search_cnn_dim, 16);
        assert!(index.manifest().projection_file.is_some());
        let req = SearchRequest::default();
        let hits = search(&index, &Query::Product("p5"), &req)
            .expect("search")
            .hits;
        let row = index.row_of("p5").expect("row");
        assert_eq!(
            hits.iter().map(|h| h.row as u32).collect::<Vec<_>>(),
            brute_force(&index, index.search_row(row), &req, Some(row))
        );
        // A query embedding equal to a stored row finds that row first.
        let raw = index.row(row);
        let e = Embedding {
            cnn: raw[..48].to_vec(),
            colour: raw[48..].to_vec(),
            taps: Vec::new(),
        };
        let hits = search(&index, &Query::Embedding(&e), &req)
            .expect("search")
            .hits;
        assert_eq!(hits[0].id, "p5");
        assert!((hits[0].score - 1.0).abs() < 1e-4);
    }

    #[test]
    fn bad_requests_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index(dir.path(), 10, &SearchSettings::default());
        for req in [
            SearchRequest {
                k: 0,
                ..Default::default()
            },
            SearchRequest {
                k: MAX_K + 1,
                ..Default::default()
            },
            SearchRequest {
                colour_weight: 1.5,
                ..Default::default()
            },
            SearchRequest {
                label_weight: f32::NAN,
                ..Default::default()
            },
        ] {
            assert!(search(&index, &Query::Product("p1"), &req).is_err());
        }
        assert!(matches!(
            search(&index, &Query::Product("nope"), &SearchRequest::default()),
            Err(Error::UnknownId(_))
        ));
        // Fewer matches than k: all of them, no more.
        let req = SearchRequest {
            k: 50,
            ..Default::default()
        };
        assert_eq!(
            search(&index, &Query::Product("p1"), &req)
                .expect("search")
                .hits
                .len(),
            9
        );
    }
}
