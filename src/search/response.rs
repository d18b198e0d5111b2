//! The answer to a search as the CLI's `search --json` and the API's two
//! search endpoints print it: one type, so the two cannot drift apart.

use std::time::Duration;

use serde::Serialize;

use super::query_image::{QueryImage, QueryRegion};
use super::{recognition_json, Recognition, SearchHit, SearchResults};

/// `{"hits": [..], "took_ms", "search_ms", "recognised"?, "query"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Time from the request to the answer, embedding included.
    pub took_ms: f64,
    /// Time in the index search alone.
    pub search_ms: f64,
    /// What the head recognises in the query (with a head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised: Option<serde_json::Value>,
    /// For an image query: what was searched with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryRegion>,
}

impl SearchResponse {
    /// The response for `results`, `took` after the request started.
    pub fn new(
        results: SearchResults,
        recognised: Option<&Recognition>,
        query: Option<&QueryImage>,
        took: Duration,
    ) -> SearchResponse {
        SearchResponse {
            search_ms: results.took.as_secs_f64() * 1e3,
            hits: results.hits,
            took_ms: took.as_secs_f64() * 1e3,
            recognised: recognised.map(recognition_json),
            query: query.map(QueryRegion::from),
        }
    }
}
