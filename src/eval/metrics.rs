//! Ranking metrics at a cut-off, with binary relevance.

use serde::Serialize;

/// Metrics for one query, or their mean over queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RankMetrics {
    /// Precision of the first hit.
    pub p1: f64,
    /// Precision at 10.
    pub p10: f64,
    /// Average precision at 10: sum of P@i * rel_i over min(#relevant, 10).
    pub map10: f64,
    /// NDCG at 10 with binary gains; ideal DCG over min(#relevant, 10).
    pub ndcg10: f64,
    /// Reciprocal rank of the first relevant hit within 10.
    pub mrr10: f64,
}

/// Scores one ranked list. `rel[i]` says whether hit `i` is relevant;
/// `total_relevant` counts relevant items in the corpus (query excluded).
/// Only the first `k` entries of `rel` are used.
pub fn rank_metrics(rel: &[bool], total_relevant: usize, k: usize) -> RankMetrics {
    let rel = &rel[..rel.len().min(k)];
    if total_relevant == 0 {
        return RankMetrics::default();
    }
    let mut hits = 0usize;
    let mut ap = 0.0;
    let mut dcg = 0.0;
    let mut rr = 0.0;
    for (i, &r) in rel.iter().enumerate() {
        if r {
            hits += 1;
            ap += hits as f64 / (i + 1) as f64;
            dcg += 1.0 / ((i + 2) as f64).log2();
            if rr == 0.0 {
                rr = 1.0 / (i + 1) as f64;
            }
        }
    }
    let ideal_n = total_relevant.min(k);
    let idcg: f64 = (0..ideal_n).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    RankMetrics {
        p1: if rel.first() == Some(&true) { 1.0 } else { 0.0 },
        p10: hits as f64 / k as f64,
        map10: ap / ideal_n as f64,
        ndcg10: dcg / idcg,
        mrr10: rr,
    }
}

/// Running mean of [`RankMetrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanMetrics {
    sum: RankMetrics,
    /// Number of queries added.
    pub n: usize,
}

impl MeanMetrics {
    /// Adds one query's metrics.
    pub fn add(&mut self, m: &RankMetrics) {
        self.sum.p1 += m.p1;
        self.sum.p10 += m.p10;
        self.sum.map10 += m.map10;
        self.sum.ndcg10 += m.ndcg10;
        self.sum.mrr10 += m.mrr10;
        self.n += 1;
    }

    /// The mean (zeros when empty).
    pub fn mean(&self) -> RankMetrics {
        let n = self.n.max(1) as f64;
        RankMetrics {
            p1: self.sum.p1 / n,
            p10: self.sum.p10 / n,
            map10: self.sum.map10 / n,
            ndcg10: self.sum.ndcg10 / n,
            mrr10: self.sum.mrr10 / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn perfect_ranking() {
        let m = rank_metrics(&[true; 10], 50, 10);
        assert!(
            close(m.p1, 1.0)
                && close(m.p10, 1.0)
                && close(m.map10, 1.0)
                && close(m.ndcg10, 1.0)
                && close(m.mrr10, 1.0)
        );
    }

    #[test]
    fn hand_computed_case() {
        // Relevant at ranks 2 and 4, 3 relevant items in the corpus.
        let rel = [
            false, true, false, true, false, false, false, false, false, false,
        ];
        let m = rank_metrics(&rel, 3, 10);
        assert!(close(m.p1, 0.0));
        assert!(close(m.p10, 0.2));
        // AP = (1/2 + 2/4) / min(3, 10) = 1/3
        assert!(close(m.map10, 1.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/2
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(m.ndcg10, dcg / idcg));
        assert!(close(m.mrr10, 0.5));
    }

    #[test]
    fn few_relevant_items_cap_the_ideal() {
        // One relevant item in the corpus, found first: everything is 1 but P@10.
        let mut rel = [false; 10];
        rel[0] = true;
        let m = rank_metrics(&rel, 1, 10);
        assert!(close(m.map10, 1.0) && close(m.ndcg10, 1.0) && close(m.p10, 0.1));
        assert_eq!(rank_metrics(&rel, 0, 10), RankMetrics::default());
    }

    #[test]
    fn mean() {
        let mut mm = MeanMetrics::default();
        mm.add(&RankMetrics {
            p1: 1.0,
            ..Default::default()
        });
        mm.add(&RankMetrics::default());
        assert!(close(mm.mean().p1, 0.5));
        assert_eq!(mm.n, 2);
    }
}
