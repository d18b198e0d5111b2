//! What the faces (CLI, server, evaluation) search: a local [`Index`] or a
//! remote collection (`crate::qdrant::QdrantCatalogue`), behind one trait.
//!
//! Both rank by the same rules (the label term, the catalogue's vote) with
//! the same model and head; they differ only in where the rows are.

use super::{Query, SearchRequest, SearchResults};
use crate::embedding::Embedding;
use crate::error::Result;
use crate::index::{Index, SearchModel};

/// A catalogue to search (see the module docs).
pub trait SearchTarget: Sync {
    /// The model, head and manifest its rows were made with.
    fn model(&self) -> &SearchModel;

    /// The `req.k` products closest to `query` (see [`super::search`]).
    fn search(&self, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults>;

    /// The query's class probabilities with the catalogue's vote at
    /// `vote_weight` (see [`super::recognition`]); `None` without a head.
    fn recognition(&self, query: &Query<'_>, vote_weight: f32) -> Result<Option<Vec<Vec<f32>>>>;

    /// The similarity by looks of the product nearest to `query` (the
    /// vote's measure); `None` for an empty catalogue.
    fn nearest_similarity(&self, query: &Embedding) -> Result<Option<f32>>;

    /// Whether product `id` is in the catalogue.
    fn contains(&self, id: &str) -> Result<bool>;
}

impl SearchTarget for Index {
    fn model(&self) -> &SearchModel {
        Index::model(self)
    }

    fn search(&self, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
        super::search(self, query, req)
    }

    fn recognition(&self, query: &Query<'_>, vote_weight: f32) -> Result<Option<Vec<Vec<f32>>>> {
        super::recognition(self, query, vote_weight)
    }

    fn nearest_similarity(&self, query: &Embedding) -> Result<Option<f32>> {
        super::nearest_similarity(self, query)
    }

    fn contains(&self, id: &str) -> Result<bool> {
        Ok(self.row_of(id).is_some())
    }
}
