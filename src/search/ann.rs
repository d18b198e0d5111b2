//! The approximate backend: candidates from the index's HNSW graph,
//! rescored exactly.
//!
//! For each ranking, the graph is asked for a few times `k` rows by the
//! inner product of `[(1 - w) shape, w colour]` (the weighted cosine, and
//! the Euclidean order too, as both parts are unit length); those
//! candidates are then scored as the exact scan scores rows, the label
//! term included: through their i8 codes with an error bound, then with
//! the f32 rows for the few that can reach the top `k`, which are kept. Two cases go to the exact scan
//! instead, which is then both faster and exact:
//!
//! * a selective filter: a graph search that may only return 1 % of its
//!   nodes walks far to find them, while scanning those rows is quick
//!   ([`exact_is_cheaper`]);
//! * a graph that returns fewer than `k` rows although `k` pass the
//!   filters (the contract of [`VectorBackend`]).
//!
//! The label term can lift a row the graph ranked low. After rescoring,
//! the candidates' `k`-th lifted score is compared with the best score an
//! unseen row could reach (the lowest candidate's score with the largest
//! lift of the query's classes): while it could beat the `k`-th, the
//! search asks for four times as many candidates, up to
//! [`MAX_CANDIDATES`].

use super::backend::{Ranking, VectorBackend};
use super::exact::{ExactScan, Rescorer};
use super::filter;
use super::label_prior::{self, LikeliestClass};
use super::row_set::RowSet;
use super::topk::Candidate;
use crate::error::Result;
use crate::index::{AnnGraph, Index};

/// Candidates asked of the graph per hit wanted, at first.
const OVERSAMPLE: usize = 4;
/// Candidates asked of the graph at least. 40 already find 0.999 of the
/// top ten on 200,000 synthetic rows, but shopper photos, far from every
/// packshot, need more for the catalogue's vote: with 40, 0.841 of them
/// were recognised against the exact scan's 0.848; with 100, 0.848
/// (docs/scale.md).
const MIN_CANDIDATES: usize = 100;
/// Candidates asked of the graph at most, when the label term keeps
/// asking for more.
pub(crate) const MAX_CANDIDATES: usize = 400;
/// See [`exact_is_cheaper`].
const EXACT_FACTOR: f64 = 6000.0;

/// Whether scanning the `matching` rows of an `n`-row index beats a graph
/// search restricted to them. The scan costs about `matching` row visits;
/// a restricted graph search about `1 / selectivity` times an unrestricted
/// one (`n / matching`), so the scan wins below `sqrt(c n)` rows, with `c`
/// measured by `lookalike bench scale` (docs/scale.md): 77,000 rows of
/// 1M (8 %), 16,000 of 44,000.
pub(crate) fn exact_is_cheaper(matching: usize, n: usize) -> bool {
    (matching as f64) < (EXACT_FACTOR * n as f64).sqrt()
}

/// A candidate row with its approximate score before the label term and
/// that score's error bound ([`Rescorer::approximate`]).
type Scored = (usize, (f32, f32));

/// The lowest approximate score of `scored`: the graph's estimate of the
/// best score a row it did not return can have.
fn lowest_of(scored: &[Scored]) -> f32 {
    scored
        .iter()
        .map(|&(_, (s, _))| s)
        .fold(f32::INFINITY, f32::min)
}

/// The likeliest kind's candidates of one ranking (see
/// [`AnnSearch::likely_pass`]).
struct LikelyPass<'c> {
    class: LikeliestClass<'c>,
    /// Its exact top `k` under the filters (approximate scores, as the
    /// graph's candidates), where scanning its rows is cheaper than
    /// searching the graph.
    exact: Option<Vec<Scored>>,
}

/// Candidates from the graph, rescored exactly.
pub(crate) struct AnnSearch<'a> {
    index: &'a Index,
    graph: &'a AnnGraph,
    /// Filters matching fewer rows than this go to the exact scan
    /// (`None`: [`exact_is_cheaper`] decides).
    exact_below: Option<usize>,
}

impl<'a> AnnSearch<'a> {
    /// The approximate backend of `index`, which has `graph`.
    pub fn new(index: &'a Index, graph: &'a AnnGraph) -> AnnSearch<'a> {
        AnnSearch {
            index,
            graph,
            exact_below: None,
        }
    }

    /// Whether a filter that `matching` rows pass is better scanned.
    fn scan_is_cheaper(&self, matching: usize) -> bool {
        match self.exact_below {
            Some(rows) => matching < rows,
            None => exact_is_cheaper(matching, self.index.len()),
        }
    }

    /// One ranking's top `k`, or `None` where the exact scan must answer.
    fn ranking(
        &self,
        query: &[f32],
        exclude: Option<usize>,
        ranking: &Ranking<'_>,
    ) -> Result<Option<Vec<Candidate>>> {
        let n = self.index.len();
        let allowed: Option<RowSet> = filter::compile(ranking.filters, self.index.payload(), n)?;
        let excluded = |rows: Option<&RowSet>| {
            exclude.is_some_and(|e| rows.is_none_or(|a| a.contains(e))) as usize
        };
        let matching = allowed.as_ref().map_or(n, RowSet::count) - excluded(allowed.as_ref());
        if allowed.is_some() && self.scan_is_cheaper(matching) {
            return Ok(None);
        }
        let layout = self.index.search_layout();
        let w = ranking.colour_weight;
        let (shape, colour) = layout.split(query);
        let weighted: Vec<f32> = shape
            .iter()
            .map(|x| (1.0 - w) * x)
            .chain(colour.iter().map(|x| w * x))
            .collect();
        let pass = |r: usize| Some(r) != exclude && allowed.as_ref().is_none_or(|a| a.contains(r));
        let wanted = ranking.k.min(matching);
        let max_lift = ranking.prior.map_or(0.0, |p| p.max_lift());
        // Each candidate is scored once, from its codes: `(row, (score
        // before the label term, error bound))`; only those that can reach
        // the top k read their f32 rows ([`Rescorer::top_k`]).
        let rescorer = Rescorer::new(self.index, query, ranking);
        let scored_rows = |rows: Vec<usize>| -> Vec<Scored> {
            rows.into_iter()
                .map(|r| (r, rescorer.approximate(r)))
                .collect()
        };
        let mut count = (ranking.k * OVERSAMPLE).max(MIN_CANDIDATES);
        // With the label term, the rows it lifts furthest (the likeliest
        // kind's) become candidates of their own once the plain ones leave
        // the bound unsettled: a photo's neighbours by looks are often of
        // other kinds, and the term is what brings its kind's products up
        // (docs/scale.md). Most queries settle without it.
        let mut likely: Option<LikelyPass<'_>> = None;
        let mut reuse: Option<Vec<Scored>> = None;
        loop {
            let plain = match reuse.take() {
                Some(plain) => plain,
                None => {
                    let rows = self.graph.nearest(&weighted, count, pass)?;
                    if rows.len() < wanted {
                        tracing::debug!(
                            "the graph found {} of {wanted} rows under the filters: exact scan",
                            rows.len()
                        );
                        return Ok(None);
                    }
                    scored_rows(rows)
                }
            };
            let found = plain.len();
            let lowest = lowest_of(&plain);
            // The best an unseen row can reach, from its raw score bound
            // and its largest lift.
            let mut unseen_best = label_prior::lifted(lowest, max_lift);
            let mut scored = plain.clone();
            if let Some(extra) = &likely {
                unseen_best = label_prior::lifted(lowest, extra.class.rest_lift);
                match &extra.exact {
                    Some(top) => scored.extend_from_slice(top),
                    None => {
                        let in_class =
                            scored_rows(self.graph.nearest(&weighted, count, |r| {
                                pass(r) && extra.class.contains(r)
                            })?);
                        if in_class.len() == count {
                            let bound = label_prior::lifted(lowest_of(&in_class), max_lift);
                            unseen_best = unseen_best.max(bound);
                        }
                        scored.extend(in_class);
                    }
                }
                scored.sort_unstable_by_key(|&(r, _)| r);
                scored.dedup_by_key(|&mut (r, _)| r);
            }
            let top = rescorer.top_k(&scored);
            let settled = ranking.prior.is_none()
                || found < count
                || top.threshold().is_some_and(|t| t >= unseen_best);
            if settled {
                return Ok(Some(top.into_sorted()));
            }
            if likely.is_none() {
                if let Some(class) = ranking.prior.and_then(|p| p.likeliest_class()) {
                    likely = Some(self.likely_pass(
                        class,
                        allowed.as_ref(),
                        (query, exclude),
                        ranking,
                        &rescorer,
                    ));
                    reuse = Some(plain);
                    continue;
                }
            }
            if count >= MAX_CANDIDATES {
                return Ok(Some(top.into_sorted()));
            }
            count = (count * 4).min(MAX_CANDIDATES);
        }
    }

    /// The likeliest kind's candidates: its rows under the filters scanned
    /// exactly when few, else (`exact: None`) searched in the graph with
    /// each round's candidate count.
    fn likely_pass<'c>(
        &self,
        class: LikeliestClass<'c>,
        allowed: Option<&RowSet>,
        (query, exclude): (&[f32], Option<usize>),
        ranking: &Ranking<'_>,
        rescorer: &Rescorer<'_>,
    ) -> LikelyPass<'c> {
        let rows = class.rows();
        let matching = match allowed {
            None => rows.len(),
            Some(a) => rows.iter().filter(|&&r| a.contains(r as usize)).count(),
        };
        let exact = self.scan_is_cheaper(matching).then(|| {
            let mut set = RowSet::empty(self.index.len());
            set.extend(rows);
            if let Some(a) = allowed {
                set.intersect_with(a);
            }
            ExactScan::new(self.index)
                .top_k_in(query, exclude, ranking, set)
                .iter()
                .map(|c| (c.row as usize, rescorer.approximate(c.row as usize)))
                .collect()
        });
        LikelyPass { class, exact }
    }
}

impl VectorBackend for AnnSearch<'_> {
    fn top_k(
        &self,
        query: &[f32],
        exclude: Option<usize>,
        rankings: &[Ranking<'_>],
    ) -> Result<Vec<Vec<Candidate>>> {
        rankings
            .iter()
            .map(|r| match self.ranking(query, exclude, r)? {
                Some(top) => Ok(top),
                None => Ok(ExactScan::new(self.index)
                    .top_k(query, exclude, std::slice::from_ref(r))?
                    .pop()
                    .unwrap_or_default()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{AnnMode, SearchSettings, TransformChoice};
    use crate::search::tests::{random_index, random_index_of};
    use crate::search::{search, Backend, Filter, Metric, Query, SearchRequest};

    fn with_graph() -> SearchSettings {
        SearchSettings {
            transform: TransformChoice::Raw,
            ann: Some(AnnMode::On),
            ..SearchSettings::default()
        }
    }

    /// Share of the exact top-k that `backend` finds, over `queries`
    /// products, for each ranking case.
    fn recall(index: &Index, backend: &dyn VectorBackend, req: &SearchRequest) -> f64 {
        let (mut found, mut total) = (0, 0);
        for i in (0..index.len()).step_by(index.len() / 40) {
            let q = index.search_row(i);
            let filters = &req.filters;
            let ranking = Ranking {
                k: req.k,
                metric: req.metric,
                colour_weight: req.colour_weight,
                prior: None,
                filters,
            };
            let want = ExactScan::new(index)
                .top_k(q, Some(i), std::slice::from_ref(&ranking))
                .expect("exact")
                .pop()
                .expect("one ranking");
            let got = backend
                .top_k(q, Some(i), std::slice::from_ref(&ranking))
                .expect("ann")
                .pop()
                .expect("one ranking");
            assert_eq!(got.len(), want.len(), "k hits when k match");
            assert!(
                got.iter().all(|c| c.row as usize != i),
                "the query is excluded"
            );
            let allowed = filter::compile(filters, index.payload(), index.len()).expect("compile");
            assert!(got
                .iter()
                .all(|c| allowed.as_ref().is_none_or(|a| a.contains(c.row as usize))));
            found += got
                .iter()
                .filter(|c| want.iter().any(|w| w.row == c.row))
                .count();
            total += want.len();
        }
        found as f64 / total as f64
    }

    #[test]
    fn the_graph_finds_what_the_exact_scan_finds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index(dir.path(), 4000, &with_graph());
        let graph = index.ann().expect("a graph with --ann on");
        assert_eq!(graph.info().rows, 4000);
        // Filters through the graph too (no scan below any size).
        let through_graph = AnnSearch {
            exact_below: Some(0),
            ..AnnSearch::new(&index, graph)
        };
        for (metric, w, k, filters) in [
            (Metric::Cosine, 0.5, 10, vec![]),
            (Metric::Cosine, 0.2, 25, vec![]),
            (Metric::Euclidean, 0.5, 10, vec![]),
            (Metric::Euclidean, 0.8, 10, vec![]),
            (Metric::Cosine, 0.5, 10, vec!["gender=Women"]),
            (Metric::Euclidean, 0.3, 10, vec!["gender!=Women"]),
        ] {
            let req = SearchRequest {
                k,
                metric,
                colour_weight: w,
                filters: filters
                    .iter()
                    .map(|f| Filter::parse(f).expect("filter"))
                    .collect(),
                ..SearchRequest::default()
            };
            let r = recall(&index, &through_graph, &req);
            assert!(r >= 0.95, "{metric} w={w} k={k} {filters:?}: recall {r:.3}");
        }
    }

    #[test]
    fn many_searches_at_once_all_succeed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index(dir.path(), 2000, &with_graph());
        let graph = index.ann().expect("graph");
        // Far more threads than the graph has search contexts.
        std::thread::scope(|s| {
            for t in 0..64 {
                let index = &index;
                s.spawn(move || {
                    for i in 0..20 {
                        let row = (t * 31 + i * 7) % index.len();
                        let near = graph
                            .nearest(index.search_row(row), 10, |_| true)
                            .expect("a search never fails for want of a context");
                        assert_eq!(near.len(), 10);
                    }
                });
            }
        });
    }

    #[test]
    fn a_very_selective_filter_still_gets_k_hits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index(dir.path(), 3000, &with_graph());
        let graph = index.ann().expect("graph");
        // 12 products are `rare`; the graph alone finds few of them.
        let rare = vec![Filter::parse("tag=rare").expect("filter")];
        for backend in [
            AnnSearch::new(&index, graph),
            AnnSearch {
                exact_below: Some(0),
                ..AnnSearch::new(&index, graph)
            },
        ] {
            let req = SearchRequest {
                k: 10,
                filters: rare.clone(),
                ..SearchRequest::default()
            };
            assert_eq!(recall(&index, &backend, &req), 1.0);
        }
        // Through `search`, by default: all 11 others when k exceeds them.
        let req = SearchRequest {
            k: 50,
            filters: rare,
            ..SearchRequest::default()
        };
        let rare_id = index
            .products()
            .iter()
            .find(|p| p.labels.get("tag") == Some("rare"));
        let id = rare_id.expect("a rare product").id.clone();
        let hits = search(&index, &Query::Product(&id), &req)
            .expect("search")
            .hits;
        assert_eq!(hits.len(), 11);
    }

    #[test]
    fn an_update_finds_added_products_and_never_removed_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first: Vec<usize> = (0..3000).collect();
        let index = random_index_of(dir.path(), &first, &with_graph());
        assert_eq!(index.ann().expect("graph").info().deleted, 0);
        drop(index);
        // 3 % removed, 3 % added: the graph is updated, not rebuilt.
        let second: Vec<usize> = (100..3100).collect();
        let index = random_index_of(dir.path(), &second, &with_graph());
        let graph = index.ann().expect("graph");
        assert_eq!(
            graph.info().deleted,
            100,
            "an update keeps the removed slots"
        );
        assert_eq!(graph.info().rows, 3000);
        for id in (3000..3100).step_by(7) {
            let row = index.row_of(&format!("p{id}")).expect("added");
            let near = graph
                .nearest(index.search_row(row), 5, |_| true)
                .expect("nearest");
            assert_eq!(
                near.first(),
                Some(&row),
                "an added product is its own nearest"
            );
        }
        let req = SearchRequest {
            k: 40,
            label_weight: 0.0,
            ..SearchRequest::default()
        };
        for id in (100..3100).step_by(97) {
            let hits = search(&index, &Query::Product(&format!("p{id}")), &req)
                .expect("search")
                .hits;
            assert!(hits.iter().all(|h| {
                let n: usize = h.id[1..].parse().expect("id");
                (100..3100).contains(&n)
            }));
        }
        assert!(recall(&index, &AnnSearch::new(&index, graph), &req) >= 0.95);
        let exact = SearchRequest {
            backend: Backend::Exact,
            ..req
        };
        let by_scan = search(&index, &Query::Product("p3050"), &exact).expect("exact");
        assert_eq!(by_scan.hits.len(), 40);
    }

    #[test]
    fn a_graph_of_another_generation_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index_of(dir.path(), &(0..500).collect::<Vec<_>>(), &with_graph());
        let old_file = dir
            .path()
            .join(index.manifest().ann_file.clone().expect("file"));
        let old_copy = dir.path().join("old-graph");
        std::fs::copy(&old_file, &old_copy).expect("copy");
        drop(index);
        let index = random_index_of(dir.path(), &(1000..1500).collect::<Vec<_>>(), &with_graph());
        let manifest = index.manifest().clone();
        drop(index);
        // The round trip: what the manifest records is what opens.
        let reopened = Index::open(dir.path()).expect("reopen");
        assert_eq!(
            reopened.ann().expect("graph").info(),
            manifest.ann.as_ref().expect("info")
        );
        drop(reopened);
        let live = dir.path().join(manifest.ann_file.as_ref().expect("file"));
        std::fs::copy(&old_copy, &live).expect("swap");
        let err = Index::open(dir.path()).expect_err("a graph of other products");
        assert!(err.to_string().contains("ann-000002.usearch"), "{err}");
        // Even with its size recorded, its keys give it away.
        let mut m = manifest.clone();
        m.ann.as_mut().expect("info").bytes = std::fs::metadata(&live).expect("len").len();
        let path = crate::index::format::manifest_path(dir.path());
        std::fs::write(&path, serde_json::to_vec(&m).expect("json")).expect("manifest");
        let err = Index::open(dir.path())
            .expect_err("a graph of other products")
            .to_string();
        assert!(
            err.contains("another generation") && err.contains("--ann"),
            "{err}"
        );
    }
}
