//! The ranking options that `search` and `eval` share.

use anyhow::Result;
use lookalike::search::{
    Backend, Filter, Metric, SearchRequest, DEFAULT_COLOUR_WEIGHT, DEFAULT_LABEL_WEIGHT,
    DEFAULT_VOTE_WEIGHT,
};

/// How hits are scored.
#[derive(Debug, Clone, clap::Args)]
pub struct RankingArgs {
    /// Similarity metric.
    #[arg(long, default_value = "cosine")]
    pub metric: Metric,
    /// Weight of colour against shape, 0..=1.
    #[arg(long, default_value_t = DEFAULT_COLOUR_WEIGHT)]
    pub colour_weight: f32,
    /// Weight of the catalogue's labels, 0..=1: with a trained head, products
    /// whose articleType and baseColour are what the query looks like rank
    /// higher (cosine only; 0 ranks by looks alone).
    #[arg(long, default_value_t = DEFAULT_LABEL_WEIGHT)]
    pub label_weight: f32,
    /// Share of the catalogue's vote in what the query is recognised as,
    /// 0..=1: with a trained head, the query's 10 nearest products vote
    /// with their labels (0: the head alone).
    #[arg(long, default_value_t = DEFAULT_VOTE_WEIGHT)]
    pub vote_weight: f32,
    /// Where candidates come from: `auto` (the index's ANN graph if it has
    /// one, else the exact scan) or `exact` (always the scan).
    #[arg(long, default_value = "auto")]
    pub backend: Backend,
}

impl RankingArgs {
    /// The request for `k` hits that pass `filters`, checked.
    pub fn request(&self, k: usize, filters: Vec<Filter>) -> Result<SearchRequest> {
        let req = SearchRequest {
            k,
            filters,
            metric: self.metric,
            colour_weight: self.colour_weight,
            label_weight: self.label_weight,
            vote_weight: self.vote_weight,
            backend: self.backend,
        };
        req.validate()?;
        Ok(req)
    }
}
