//! The exact scan: every row the filters allow, through its i8 codes.
//!
//! Every allowed row is visited (brute force, in parallel chunks), but
//! through its i8 codes, a quarter of the bytes of the f32 row:
//!
//! 1. for each row, an approximate cosine `a` and a guaranteed error bound
//!    `b` (from the stored quantisation-error norms, by Cauchy-Schwarz), so the
//!    exact score lies in `[a - b, a + b]`;
//! 2. `L` = the k-th largest lower bound: at least k rows score `>= L`;
//! 3. only rows whose upper bound reaches `L` can be in the top k; those are
//!    rescored with their exact f32 rows in order of upper bound, until the
//!    next one's upper bound is below the k-th exact score (so the f32 rows,
//!    the cold part of a large index, are read as little as possible).
//!
//! The result is exactly the brute-force f32 top-k (a test in
//! `search/mod.rs` checks it). Both parts of every row are unit length, so
//! Euclidean distance ranks like the cosine (`d^2 = 2 - 2 cos`) and shares
//! the candidate step. Filters become a [`RowSet`] first, so a filtered
//! search returns k hits whenever at least k rows match.
//!
//! The label term is exact per row, so it adds to both bounds and the
//! result stays exact. Several rankings (the hits and the vote's
//! neighbours) share one pass: each row's two dot products are computed
//! once and serve them all.

use rayon::prelude::*;

use super::backend::{Ranking, VectorBackend};
use super::filter;
use super::label_prior::{self, LabelPrior};
use super::metric::Metric;
use super::row_set::RowSet;
use super::topk::{Candidate, TopK};
use crate::error::Result;
use crate::index::search_rows::{QueryCodes, META_FLOATS};
use crate::index::Index;
use crate::vector::dot;

/// Rows scored per parallel task (a multiple of 64, so that a chunk's rows
/// are whole words of a [`RowSet`]).
const CHUNK: usize = 2048;

/// The exact scan over an index's codes, as a [`VectorBackend`].
pub(crate) struct ExactScan<'a> {
    index: &'a Index,
}

impl<'a> ExactScan<'a> {
    /// The scan of `index`.
    pub fn new(index: &'a Index) -> ExactScan<'a> {
        ExactScan { index }
    }
}

impl VectorBackend for ExactScan<'_> {
    fn top_k(
        &self,
        query: &[f32],
        exclude: Option<usize>,
        rankings: &[Ranking<'_>],
    ) -> Result<Vec<Vec<Candidate>>> {
        let (payload, n) = (self.index.payload(), self.index.len());
        let scan_rankings = rankings
            .iter()
            .map(|r| {
                Ok(ScanRanking {
                    k: r.k,
                    metric: r.metric,
                    colour_weight: r.colour_weight,
                    prior: r.prior,
                    allowed: filter::compile(r.filters, payload, n)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Scan::new(self.index, query, exclude).run(&scan_rankings))
    }
}

impl ExactScan<'_> {
    /// The exact top `ranking.k` among the rows of `allowed` (the
    /// ranking's own filters are not applied: `allowed` already holds
    /// them), best first, by the ranking's key with its label term.
    pub fn top_k_in(
        &self,
        query: &[f32],
        exclude: Option<usize>,
        ranking: &Ranking<'_>,
        allowed: RowSet,
    ) -> Vec<Candidate> {
        let scan = ScanRanking {
            k: ranking.k,
            metric: ranking.metric,
            colour_weight: ranking.colour_weight,
            prior: ranking.prior,
            allowed: Some(allowed),
        };
        Scan::new(self.index, query, exclude)
            .run(std::slice::from_ref(&scan))
            .pop()
            .unwrap_or_default()
    }
}

/// Scores an approximate backend's candidates the way the scan scores
/// rows: through their codes first, so that only the few that can reach
/// the top `k` read their f32 rows (a quarter of the bytes per candidate,
/// and at 1M products the difference between the f32 rows staying on disk
/// and all of them being paged in; docs/scale.md).
pub(crate) struct Rescorer<'a> {
    scan: Scan<'a>,
    ranking: ScanRanking<'a>,
}

impl<'a> Rescorer<'a> {
    /// The rescorer of `ranking` for the search row `query` of `index`
    /// (the ranking's filters are the caller's to apply).
    pub fn new(index: &'a Index, query: &'a [f32], ranking: &Ranking<'a>) -> Rescorer<'a> {
        Rescorer {
            scan: Scan::new(index, query, None),
            ranking: ScanRanking {
                k: ranking.k,
                metric: ranking.metric,
                colour_weight: ranking.colour_weight,
                prior: ranking.prior,
                allowed: None,
            },
        }
    }

    /// Row `r`'s approximate score before the label term, with its error
    /// bound.
    #[inline]
    pub fn approximate(&self, r: usize) -> (f32, f32) {
        let (dim, cnn_dim) = (self.scan.dim, self.scan.cnn_dim);
        let code = &self.scan.index.codes()[r * dim..(r + 1) * dim];
        let m = self.scan.meta(r);
        let a = Approx {
            row: r as u32,
            shape: m[0] * self.scan.qc.dot(&code[..cnn_dim]),
            colour: if self.ranking.colour_weight > 0.0 {
                m[2] * self.scan.qk.dot(&code[cnn_dim..])
            } else {
                0.0
            },
        };
        self.ranking.approximate(&a, self.scan.bounds(m))
    }

    /// The exact top `k` of the candidates `scored` (each row once, with
    /// [`Rescorer::approximate`]'s score and bound). Rows are rescored in
    /// f32 by decreasing upper bound until the next one's cannot reach the
    /// `k`-th exact score: the fewest f32 rows read for an exact answer.
    pub fn top_k(&self, scored: &[(usize, (f32, f32))]) -> TopK {
        let r = &self.ranking;
        let by_upper = scored
            .iter()
            .map(|&(row, (s, b))| (r.lifted(row, s + b), row as u32))
            .collect();
        rescore_by_upper(&self.scan, r, by_upper)
    }
}

/// The exact top `k` of `ranking` among `candidates` (`(upper bound of
/// the lifted score, row)`): rescored in f32 by decreasing upper bound
/// until the next one's cannot reach the `k`-th exact score, so that as
/// few f32 rows as possible are read (they are the cold part of a large
/// index: at 1M products each read pages in 2.5 KB).
fn rescore_by_upper(
    scan: &Scan<'_>,
    ranking: &ScanRanking<'_>,
    mut candidates: Vec<(f32, u32)>,
) -> TopK {
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let cnn_dim = scan.cnn_dim;
    let mut buf = Vec::new();
    let mut top = TopK::new(ranking.k);
    // The exact scores in the bounds' terms (the weighted cosine with the
    // lift): Euclidean distance ranks as `1 - d^2 / 2` of unit parts.
    let mut in_bound_terms = TopK::new(ranking.k);
    for (upper, row) in candidates {
        // The slack covers rounding between the two computations.
        if in_bound_terms.threshold().is_some_and(|t| upper + 1e-5 < t) {
            break;
        }
        let r = row as usize;
        let x = scan.index.read_search_row(r, &mut buf);
        let exact = ranking
            .metric
            .score(scan.q, x, cnn_dim, ranking.colour_weight)
            .score;
        let cosine = match ranking.metric {
            Metric::Cosine => exact,
            Metric::Euclidean => 1.0 - exact * exact / 2.0,
        };
        in_bound_terms.push(Candidate {
            key: ranking.lifted(r, cosine),
            row,
        });
        top.push(Candidate {
            key: ranking.metric.rank_key(ranking.lifted(r, exact)),
            row,
        });
    }
    top
}

/// Visits the allowed rows of `lo..hi` (all but `exclude`).
fn for_allowed(
    lo: usize,
    hi: usize,
    allowed: Option<&RowSet>,
    exclude: Option<usize>,
    f: impl FnMut(usize),
) {
    match allowed {
        None => (lo..hi).filter(|&r| Some(r) != exclude).for_each(f),
        Some(rows) => rows
            .iter_in(lo..hi)
            .filter(|&r| Some(r) != exclude)
            .for_each(f),
    }
}

/// Whether `allowed` (`None`: every row) holds row `r`.
#[inline]
fn is_allowed(allowed: Option<&RowSet>, r: usize) -> bool {
    allowed.is_none_or(|rows| rows.contains(r))
}

/// A row's approximate shape and colour cosines, from its i8 codes (each
/// within its part's bound of the exact value, see [`Scan::bounds`]).
#[derive(Debug, Clone, Copy)]
struct Approx {
    row: u32,
    shape: f32,
    colour: f32,
}

/// A [`Ranking`] as the scan runs it: its filters compiled to rows.
struct ScanRanking<'a> {
    k: usize,
    metric: Metric,
    colour_weight: f32,
    /// The label term (cosine only).
    prior: Option<&'a LabelPrior<'a>>,
    /// The rows it may return (`None`: all).
    allowed: Option<RowSet>,
}

impl ScanRanking<'_> {
    /// Score `s` of row `r` with the label term.
    #[inline]
    fn lifted(&self, r: usize, s: f32) -> f32 {
        label_prior::lifted(s, self.lift(r))
    }

    /// The label term's lift of row `r` (see [`LabelPrior::lift`]).
    #[inline]
    fn lift(&self, r: usize) -> f32 {
        self.prior.map_or(0.0, |p| p.lift(r))
    }

    /// The approximate score of `a` with its error bound.
    #[inline]
    fn approximate(&self, a: &Approx, (bs, bk): (f32, f32)) -> (f32, f32) {
        let (ws, wk) = (1.0 - self.colour_weight, self.colour_weight);
        (ws * a.shape + wk * a.colour, ws * bs + wk * bk)
    }
}

/// One query's pass over the quantised rows (see the module docs).
struct Scan<'a> {
    index: &'a Index,
    q: &'a [f32],
    exclude: Option<usize>,
    cnn_dim: usize,
    dim: usize,
    /// The query's shape and colour parts in i16 codes.
    qc: QueryCodes,
    qk: QueryCodes,
    qc_norm: f32,
    qk_norm: f32,
}

impl<'a> Scan<'a> {
    fn new(index: &'a Index, q: &'a [f32], exclude: Option<usize>) -> Scan<'a> {
        let layout = index.search_layout();
        let (qc, qk) = layout.split(q);
        Scan {
            index,
            q,
            exclude,
            cnn_dim: layout.shape,
            dim: layout.dim(),
            qc: QueryCodes::new(qc),
            qk: QueryCodes::new(qk),
            qc_norm: dot(qc, qc).sqrt(),
            qk_norm: dot(qk, qk).sqrt(),
        }
    }

    /// Error bounds of row `r`'s approximate shape and colour cosines, from
    /// its scales and error norms `m` (row and query quantisation both).
    #[inline]
    fn bounds(&self, m: &[f32]) -> (f32, f32) {
        (
            self.qc_norm * m[1] + self.qc.bound(m[0]),
            self.qk_norm * m[3] + self.qk.bound(m[2]),
        )
    }

    /// Row `r`'s scales and error norms.
    #[inline]
    fn meta(&self, r: usize) -> &'a [f32] {
        &self.index.scales()[r * META_FLOATS..(r + 1) * META_FLOATS]
    }

    /// The exact top-k of each ranking, from one pass over the codes: per
    /// row, the approximate cosines, and per ranking the lower bound of its
    /// score; then, per ranking, the rows whose upper bound reaches its
    /// k-th best lower bound are rescored in f32.
    fn run(&self, rankings: &[ScanRanking<'_>]) -> Vec<Vec<Candidate>> {
        let n = self.index.len();
        let codes = self.index.codes();
        let (dim, cnn_dim) = (self.dim, self.cnn_dim);
        // A single ranking visits only its rows; several visit them all.
        let visit = match rankings {
            [only] => only.allowed.as_ref(),
            _ => None,
        };
        let colour = rankings.iter().any(|r| r.colour_weight > 0.0);
        let (approx, lowers): (Vec<Vec<Approx>>, Vec<Vec<TopK>>) = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                let mut out = Vec::new();
                let mut lowers: Vec<TopK> = rankings.iter().map(|r| TopK::new(r.k)).collect();
                for_allowed(lo, hi, visit, self.exclude, |r| {
                    let code = &codes[r * dim..(r + 1) * dim];
                    let m = self.meta(r);
                    let a = Approx {
                        row: r as u32,
                        shape: m[0] * self.qc.dot(&code[..cnn_dim]),
                        colour: if colour {
                            m[2] * self.qk.dot(&code[cnn_dim..])
                        } else {
                            0.0
                        },
                    };
                    let bounds = self.bounds(m);
                    // The chunk's k-th lower bound only grows and never
                    // exceeds the final floor: a row whose upper bound is
                    // already below it cannot be a hit and is not kept.
                    let mut keep = false;
                    for (ranking, lower) in rankings.iter().zip(&mut lowers) {
                        if !is_allowed(ranking.allowed.as_ref(), r) {
                            continue;
                        }
                        let (score, bound) = ranking.approximate(&a, bounds);
                        // One lift for both bounds.
                        let lift = ranking.lift(r);
                        let upper = label_prior::lifted(score + bound, lift);
                        // Most rows stop here: below the floor even at best.
                        if lower.threshold().is_some_and(|t| upper < t) {
                            continue;
                        }
                        lower.push(Candidate {
                            key: label_prior::lifted(score - bound, lift),
                            row: a.row,
                        });
                        keep = true;
                    }
                    if keep {
                        out.push(a);
                    }
                });
                (out, lowers)
            })
            .unzip();
        let floors: Vec<f32> = rankings
            .iter()
            .enumerate()
            .map(|(i, ranking)| floor(lowers.iter().map(|l| l[i].clone()), ranking.k))
            .collect();
        // Per ranking, the rows whose upper bound reaches its floor, then
        // the fewest of them rescored in f32 (`rescore_by_upper`).
        rankings
            .iter()
            .zip(&floors)
            .map(|(ranking, &floor)| {
                let candidates: Vec<(f32, u32)> = approx
                    .par_iter()
                    .flat_map_iter(|chunk| {
                        chunk.iter().filter_map(move |a| {
                            let r = a.row as usize;
                            if !is_allowed(ranking.allowed.as_ref(), r) {
                                return None;
                            }
                            let (score, bound) = ranking.approximate(a, self.bounds(self.meta(r)));
                            let upper = ranking.lifted(r, score + bound);
                            (upper >= floor).then_some((upper, a.row))
                        })
                    })
                    .collect();
                rescore_by_upper(self, ranking, candidates).into_sorted()
            })
            .collect()
    }
}

/// The k-th best of the chunks' lower bounds: at least k rows score this
/// much. Fewer than k rows: no floor, every one of them is a hit.
fn floor(lowers: impl Iterator<Item = TopK>, k: usize) -> f32 {
    lowers
        .fold(TopK::new(k), TopK::merge)
        .threshold()
        .unwrap_or(f32::NEG_INFINITY)
}
