//! Exact top-k search over an [`Index`], with label filters.
//!
//! The scan is brute force and exact: every row allowed by the filters is
//! scored, in parallel chunks, each chunk keeping its own top-k, merged at the
//! end. Filters are turned into a row bitset first, so a filtered search
//! returns k hits whenever at least k rows match.

pub mod filter;
pub mod metric;
pub mod topk;

use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

pub use filter::Filter;
pub use metric::{Metric, Scored};
use topk::{Candidate, TopK};

use crate::catalog::Labels;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::index::Index;

/// Largest `k` accepted.
pub const MAX_K: usize = 1000;

/// The default weight of the colour part, chosen by the type+colour
/// evaluation (see README, "Ablations").
pub const DEFAULT_COLOUR_WEIGHT: f32 = 0.3;

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
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            k: 10,
            filters: Vec::new(),
            metric: Metric::Cosine,
            colour_weight: DEFAULT_COLOUR_WEIGHT,
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
}

/// Rows scored per parallel task.
const CHUNK: usize = 2048;

impl SearchRequest {
    /// Checks `k` and the colour weight.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::InvalidArgument(format!(
                "k must be in 1..={MAX_K}, got {}",
                self.k
            )));
        }
        if !(0.0..=1.0).contains(&self.colour_weight) {
            return Err(Error::InvalidArgument(format!(
                "colour weight must be in 0..=1, got {}",
                self.colour_weight
            )));
        }
        Ok(())
    }
}

/// Searches `index` for the `req.k` rows closest to `query`.
pub fn search(index: &Index, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
    let start = Instant::now();
    req.validate()?;
    let owned;
    let (q, exclude): (&[f32], Option<usize>) = match query {
        Query::Product(id) => {
            let row = index
                .row_of(id)
                .ok_or_else(|| Error::UnknownId(id.to_string()))?;
            (index.row(row), Some(row))
        }
        Query::Embedding(e) => {
            let m = index.manifest();
            if e.cnn.len() != m.cnn_dim || e.colour.len() != m.colour_dim {
                return Err(Error::InvalidArgument(format!(
                    "query has {}+{} dimensions, the index {}+{}",
                    e.cnn.len(),
                    e.colour.len(),
                    m.cnn_dim,
                    m.colour_dim
                )));
            }
            owned = e.to_row();
            (&owned, None)
        }
    };
    let allowed = filter::compile(&req.filters, index.payload(), index.len())?;
    let candidates = scan(index, q, req, allowed.as_deref(), exclude);
    let cnn_dim = index.manifest().cnn_dim;
    let hits = candidates
        .into_iter()
        .map(|c| {
            let row = c.row as usize;
            let s = req
                .metric
                .score(q, index.row(row), cnn_dim, req.colour_weight);
            let p = &index.products()[row];
            SearchHit {
                id: p.id.clone(),
                score: s.score,
                shape: s.shape,
                colour: s.colour,
                labels: p.labels.clone(),
                row,
            }
        })
        .collect();
    Ok(SearchResults {
        hits,
        took: start.elapsed(),
    })
}

/// The exact top-k rows for query row `q`.
fn scan(
    index: &Index,
    q: &[f32],
    req: &SearchRequest,
    allowed: Option<&[u64]>,
    exclude: Option<usize>,
) -> Vec<Candidate> {
    let n = index.len();
    let dim = index.dim();
    let cnn_dim = index.manifest().cnn_dim;
    let vectors = index.vectors();
    let (metric, w, k) = (req.metric, req.colour_weight, req.k);
    let chunks = n.div_ceil(CHUNK);
    (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut top = TopK::new(k);
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            let mut visit = |r: usize| {
                if Some(r) == exclude {
                    return;
                }
                let x = &vectors[r * dim..(r + 1) * dim];
                let key = metric.rank_key(metric.score(q, x, cnn_dim, w).score);
                top.push(Candidate { key, row: r as u32 });
            };
            match allowed {
                None => (lo..hi).for_each(&mut visit),
                Some(bits) => {
                    // CHUNK is a multiple of 64, so words never straddle chunks.
                    for word in lo / 64..hi.div_ceil(64) {
                        let mut b = bits[word];
                        while b != 0 {
                            let r = word * 64 + b.trailing_zeros() as usize;
                            b &= b - 1;
                            if r < hi {
                                visit(r);
                            }
                        }
                    }
                }
            }
            top
        })
        .reduce(|| TopK::new(k), TopK::merge)
        .into_sorted()
}
