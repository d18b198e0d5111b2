//! The seam between the ranking rules and the vectors: what a search asks
//! of whatever holds the search rows.
//!
//! The rules ([`super::search`]: the label term, the catalogue's vote, the
//! hits' explanations) stay in one place and ask a [`VectorBackend`] for
//! the best rows of each [`Ranking`] they need. The backend receives label
//! filters as [`Filter`]s, not as one index's row bitsets, so a backend
//! that keeps its own payload (an approximate index, a remote cluster)
//! translates them itself.

use super::filter::Filter;
use super::label_prior::LabelPrior;
use super::metric::Metric;
use super::topk::Candidate;
use crate::error::Result;

/// One top-k a search needs.
#[derive(Debug, Clone)]
pub(crate) struct Ranking<'a> {
    /// Rows wanted.
    pub k: usize,
    /// How rows are scored.
    pub metric: Metric,
    /// Weight of the colour part in the score.
    pub colour_weight: f32,
    /// The label term of the score (cosine only): part of what is ranked
    /// by, so a backend must apply it before choosing the top `k`.
    pub prior: Option<&'a LabelPrior<'a>>,
    /// Filters every returned row passes (AND); empty: any row.
    pub filters: &'a [Filter],
}

/// Where a search's candidates come from.
pub(crate) trait VectorBackend {
    /// For each of `rankings`, in order, its best `k` rows for the search
    /// row `query` (best first, by [`Metric::rank_key`] of the score with
    /// the label term), `exclude` left out. The contract: `k` rows whenever
    /// `k` rows pass the ranking's filters, fewer only when fewer do.
    fn top_k(
        &self,
        query: &[f32],
        exclude: Option<usize>,
        rankings: &[Ranking<'_>],
    ) -> Result<Vec<Vec<Candidate>>>;
}
