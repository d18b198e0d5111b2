//! The evaluation protocol of `../shared/datasets/README.md`.
//!
//! Corpus: every product in the index. Queries: a seeded sample of 2,000
//! stratified by articleType, or all products, or the test split
//! (`id % 5 == 0`). The query itself is excluded from its results. Relevance
//! is "same articleType" (type) and "same articleType and baseColour"
//! (type+colour). Metrics at 10: P@1, P@10, mAP@10, NDCG@10, MRR@10.
//! Queries with no relevant item in the corpus are left out of that
//! relevance's mean (they have no defined AP or NDCG).

mod instance;
mod metrics;
mod photos;
mod sample;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

pub use instance::{instance_recall, photos_in, InstanceReport};
pub use metrics::{rank_metrics, MeanMetrics, RankMetrics};
pub use photos::{
    evaluate_photos, kind_types, shopper_photos, KindReport, ShopperPhoto, ShopperReport, KINDS,
};
pub use sample::{stratified_sample, SEED};

use crate::error::{Error, Result};
use crate::index::{Index, ProductRecord};
use crate::search::{Metric, Query, Recognition, SearchRequest, SearchTarget};

/// Which queries to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuerySet {
    /// A stratified sample of this many (the protocol's default is 2,000).
    Sample(usize),
    /// Every labelled product.
    All,
}

/// Which ids may be queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Any id.
    All,
    /// Only the ids held out from training ([`crate::split`]: numeric ids
    /// with `id % 5 == 0`, others by a hash of the id).
    Test,
}

/// Settings of an evaluation run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Query set.
    pub queries: QuerySet,
    /// Split.
    pub split: Split,
    /// How the queries are ranked and recognised: metric and weights (its
    /// `k` and filters are not used: the protocol takes 10 hits, unfiltered).
    pub ranking: SearchRequest,
    /// Sampling seed.
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            queries: QuerySet::Sample(2000),
            split: Split::All,
            ranking: SearchRequest::default(),
            seed: sample::SEED,
        }
    }
}

/// Mean metrics per relevance definition.
#[derive(Debug, Clone, Serialize)]
pub struct Relevances {
    /// Same articleType.
    #[serde(rename = "type")]
    pub type_: RankMetrics,
    /// Same articleType and baseColour.
    pub type_colour: RankMetrics,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Number of queries run.
    pub queries: usize,
    /// Queries counted in the type+colour mean (those with a colour and at
    /// least one relevant item).
    pub type_colour_queries: usize,
    /// Corpus size.
    pub corpus: usize,
    /// Split used.
    pub split: Split,
    /// Metric used.
    pub metric: Metric,
    /// Colour weight used.
    pub colour_weight: f32,
    /// Label weight used (0 when the index has no head: it has no effect).
    pub label_weight: f32,
    /// Share of the catalogue's vote in recognition (0 without a head).
    pub vote_weight: f32,
    /// The means.
    pub relevance: Relevances,
    /// Top-1 accuracy of the head's recognition per label field, over the
    /// products of the split that have the label (empty without a head).
    pub accuracy: std::collections::BTreeMap<String, f32>,
    /// Products of the split whose recognition was judged (0 without a
    /// head).
    pub recognised: usize,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

const K: usize = 10;
const TYPE: &str = "articleType";
const COLOUR: &str = "baseColour";

/// Runs the protocol on `index`.
pub fn evaluate(index: &Index, opts: &EvalOptions) -> Result<EvalReport> {
    evaluate_on(index, index.products(), opts)
}

/// Runs the protocol on `target`, whose products are `products` (a remote
/// collection's, read once by the caller).
pub fn evaluate_on(
    target: &dyn SearchTarget,
    products: &[ProductRecord],
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let start = Instant::now();
    if !products.iter().any(|p| p.labels.get(TYPE).is_some()) {
        return Err(Error::InvalidArgument(format!(
            "the index has no `{TYPE}` labels: evaluation needs a labelled catalogue (styles.csv)"
        )));
    }
    let eligible: Vec<bool> = products
        .iter()
        .map(|p| match opts.split {
            Split::All => true,
            Split::Test => crate::split::is_test_id(&p.id),
        })
        .collect();
    let rows: Vec<usize> = match opts.queries {
        QuerySet::All => (0..products.len())
            .filter(|&r| eligible[r] && products[r].labels.get(TYPE).is_some())
            .collect(),
        QuerySet::Sample(n) => {
            let pool: Vec<usize> = (0..products.len()).filter(|&r| eligible[r]).collect();
            let sub: Vec<_> = pool.iter().map(|&r| products[r].clone()).collect();
            sample::stratified_sample(&sub, TYPE, n, opts.seed)
                .into_iter()
                .map(|i| pool[i])
                .collect()
        }
    };
    if rows.is_empty() {
        return Err(Error::InvalidArgument("no query matches the split".into()));
    }

    let mut type_count: HashMap<&str, usize> = HashMap::new();
    let mut pair_count: HashMap<(&str, &str), usize> = HashMap::new();
    for p in products {
        if let Some(t) = p.labels.get(TYPE) {
            *type_count.entry(t).or_default() += 1;
            if let Some(c) = p.labels.get(COLOUR) {
                *pair_count.entry((t, c)).or_default() += 1;
            }
        }
    }

    let req = SearchRequest {
        k: K,
        filters: Vec::new(),
        ..opts.ranking.clone()
    };
    let per_query: Vec<Result<(Option<RankMetrics>, Option<RankMetrics>)>> = rows
        .par_iter()
        .map(|&r| {
            let q = &products[r];
            let qt = q.labels.get(TYPE);
            let qc = q.labels.get(COLOUR);
            let hits = target.search(&Query::Product(&q.id), &req)?.hits;
            let type_m = qt.and_then(|t| {
                let total = type_count.get(t).copied().unwrap_or(1) - 1;
                let rel: Vec<bool> = hits.iter().map(|h| h.labels.get(TYPE) == Some(t)).collect();
                (total > 0).then(|| rank_metrics(&rel, total, K))
            });
            let pair_m = match (qt, qc) {
                (Some(t), Some(c)) => {
                    let total = pair_count.get(&(t, c)).copied().unwrap_or(1) - 1;
                    let rel: Vec<bool> = hits
                        .iter()
                        .map(|h| h.labels.get(TYPE) == Some(t) && h.labels.get(COLOUR) == Some(c))
                        .collect();
                    (total > 0).then(|| rank_metrics(&rel, total, K))
                }
                _ => None,
            };
            Ok((type_m, pair_m))
        })
        .collect();
    let mut accuracy = std::collections::BTreeMap::new();
    let mut recognised = 0;
    if let Some(head) = target.model().head() {
        // Over every product of the split, not only the queries: the query
        // sample is stratified by articleType for the ranking metrics, which
        // weighs a rare type as much as a common one, and the 8,912 products
        // of the Kaggle test split have half the sampling error of 2,000.
        // Each is recognised as a search by its id would be (its own label
        // left out of the catalogue's vote).
        let judged: Vec<usize> = (0..products.len()).filter(|&r| eligible[r]).collect();
        recognised = judged.len();
        let guesses: Vec<Recognition> = judged
            .par_iter()
            .map(|&r| {
                let query = Query::Product(&products[r].id);
                let probs = target.recognition(&query, req.vote_weight)?;
                Ok(probs.map_or_else(Vec::new, |p| head.guesses(&p, 1)))
            })
            .collect::<Result<_>>()?;
        let mut right: HashMap<String, (usize, usize)> = HashMap::new();
        for (&r, recognition) in judged.iter().zip(guesses) {
            for (field, guesses) in recognition {
                if let Some(truth) = products[r].labels.get(&field) {
                    let e = right.entry(field).or_default();
                    e.1 += 1;
                    e.0 += usize::from(guesses.first().is_some_and(|g| g.label == truth));
                }
            }
        }
        for (field, (ok, n)) in right {
            accuracy.insert(field, ok as f32 / n.max(1) as f32);
        }
    }
    let (mut type_mean, mut pair_mean) = (MeanMetrics::default(), MeanMetrics::default());
    for r in per_query {
        let (t, p) = r?;
        if let Some(t) = t {
            type_mean.add(&t);
        }
        if let Some(p) = p {
            pair_mean.add(&p);
        }
    }
    Ok(EvalReport {
        queries: rows.len(),
        type_colour_queries: pair_mean.n,
        corpus: products.len(),
        split: opts.split,
        metric: req.metric,
        colour_weight: req.colour_weight,
        label_weight: if target.model().head().is_some() {
            req.label_weight
        } else {
            0.0
        },
        vote_weight: if target.model().head().is_some() {
            req.vote_weight
        } else {
            0.0
        },
        accuracy,
        recognised,
        relevance: Relevances {
            type_: type_mean.mean(),
            type_colour: pair_mean.mean(),
        },
        elapsed: start.elapsed(),
    })
}
