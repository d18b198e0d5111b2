//! The JSON API handlers. Each one parses its parameters, calls the library,
//! and shapes the answer; none holds search logic.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::index::ProductRecord;
use crate::search::{self, Query, SearchRequest, SearchResults};

use super::error::ApiError;
use super::params;
use super::state::AppState;

/// Fields with more distinct values than this are not offered as facets
/// (names, free text).
const MAX_FACET_VALUES: usize = 500;

type ApiResult = Result<Json<Value>, ApiError>;

/// A path segment that failed to decode is a 400 in JSON like the rest.
pub(crate) fn product_id(
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(format!("bad product id in the path: {e}")))
}

fn product_json(p: &ProductRecord) -> Value {
    json!({ "id": p.id, "labels": p.labels })
}

/// The CLI's `search --json` shape (with `recognised` when the index has a
/// head, and `query` for an upload).
fn search_json(
    results: SearchResults,
    recognised: Option<search::Recognition>,
    query: Option<&search::QueryImage>,
    started: Instant,
) -> Result<Json<Value>, ApiError> {
    let r = search::SearchResponse::new(results, recognised.as_ref(), query, started.elapsed());
    serde_json::to_value(r)
        .map(Json)
        .map_err(|e| ApiError::internal("writing the answer", e))
}

/// Recognitions report this many classes per field.
const GUESSES: usize = 3;

/// Runs blocking library work (a Qdrant request, a search) off the async
/// threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(what, e))?
}

/// `GET /api/health`
pub async fn health(State(st): State<Arc<AppState>>) -> ApiResult {
    let snap = st.snapshot();
    blocking("checking health", move || {
        let m = snap.model().manifest();
        let store = match &snap.store {
            crate::store::Store::Local(_) => json!({ "kind": "local" }),
            #[cfg(feature = "qdrant")]
            crate::store::Store::Remote(r) => json!({
                "kind": "qdrant",
                "collection": r.name(),
                "nodes": r.nodes().urls(),
            }),
        };
        Ok(Json(json!({
            "status": "ok",
            "products": snap.store.product_count()?,
            "generation": m.generation,
            "model": m.model.name,
            "backend": crate::embedding::current_backend(),
            "store": store,
        })))
    })
    .await
}

/// `GET /api/openapi.json`
pub async fn openapi() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// `GET /api/products/{id}`
pub async fn product(
    State(st): State<Arc<AppState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult {
    let id = product_id(id)?;
    let snap = st.snapshot();
    blocking("reading a product", move || {
        let p = snap
            .store
            .product(&id)?
            .ok_or_else(|| ApiError::from(crate::Error::UnknownId(id)))?;
        Ok(Json(product_json(&p)))
    })
    .await
}

/// `GET /api/products?filter=..&q=..&offset=..&limit=..`
pub async fn products(State(st): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = params::list_params(q.as_deref())?;
    let snap = st.snapshot();
    blocking("browsing", move || {
        let (total, products) = snap.store.browse(&p.filters, &p.q, p.offset, p.limit)?;
        Ok(Json(json!({
            "total": total,
            "offset": p.offset,
            "limit": p.limit,
            "products": products.iter().map(product_json).collect::<Vec<_>>(),
        })))
    })
    .await
}

/// `GET /api/facets`: label values with counts, for filter menus.
pub async fn facets(State(st): State<Arc<AppState>>) -> ApiResult {
    let snap = st.snapshot();
    blocking("counting labels", move || {
        let facets = snap.store.facets(MAX_FACET_VALUES)?;
        Ok(Json(
            json!({ "products": snap.store.product_count()?, "facets": facets }),
        ))
    })
    .await
}

/// Checks the filters against the index before any expensive work.
fn check_filters(st: &AppState, req: &SearchRequest) -> Result<(), ApiError> {
    st.snapshot().store.check_filters(&req.filters)?;
    Ok(())
}

/// `GET /api/products/{id}/similar`: "more like this", no re-embedding.
pub async fn similar(
    State(st): State<Arc<AppState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let started = Instant::now();
    let id = product_id(id)?;
    let req = params::search_request(q.as_deref())?;
    let _permit = st
        .search_permits
        .acquire()
        .await
        .map_err(|e| ApiError::internal("waiting for a search slot", e))?;
    let snap = st.snapshot();
    let (results, recognised) = tokio::task::spawn_blocking(move || {
        let results = snap.target().search(&Query::Product(&id), &req)?;
        let recognised = search::recognise(snap.target(), &results, GUESSES);
        Ok::<_, crate::Error>((results, recognised))
    })
    .await
    .map_err(|e| ApiError::internal("searching", e))??;
    search_json(results, recognised, None, started)
}

/// `POST /api/search`: the image is the body, or the multipart field `image`.
pub async fn search_by_image(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    request: Request,
) -> ApiResult {
    let started = Instant::now();
    let (req, crop) = params::upload_request(q.as_deref())?;
    check_filters(&st, &req)?;
    let bytes = read_upload(request, st.options.max_upload_bytes).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty upload: send the image as the request body or as the multipart field `image`",
        ));
    }
    // Excess uploads wait here rather than decode at once and exhaust memory.
    let _permit = st
        .embed_permits
        .acquire()
        .await
        .map_err(|e| ApiError::internal("waiting for an embedding slot", e))?;
    let snap = st.snapshot();
    let limits = st.decode_limits();
    let (results, recognised, query) =
        tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
            let embedder = snap
                .embedder()
                .map_err(|e| ApiError::internal("loading the model", e))?;
            let target = snap.target();
            let query = search::embed_upload(target, &embedder, &bytes, &limits, crop)?;
            let results = target.search(&Query::Embedding(&query.embedding), &req)?;
            let recognised = search::recognise(target, &results, GUESSES);
            Ok((results, recognised, query))
        })
        .await
        .map_err(|e| ApiError::internal("embedding the upload", e))??;
    search_json(results, recognised, Some(&query), started)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "upload is over the limit of {} bytes ({:.1} MB; `serve --max-upload-mb` sets it)",
            limit,
            limit as f64 / 1e6
        ),
    )
}

/// The upload's bytes, from a multipart form or the raw body. Never written
/// to disk; the body limit bounds the memory.
async fn read_upload(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let status_error = |status: StatusCode, text: String| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::new(status, text)
        }
    };
    if !content_type.starts_with("multipart/form-data") {
        return Bytes::from_request(request, &())
            .await
            .map_err(|e| status_error(e.status(), e.body_text()));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| status_error(e.status(), e.body_text()))?;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| status_error(e.status(), e.body_text()))?;
        let Some(field) = field else {
            return Err(ApiError::bad_request(
                "multipart upload without an `image` field",
            ));
        };
        if field.name() == Some("image") {
            return field
                .bytes()
                .await
                .map_err(|e| status_error(e.status(), e.body_text()));
        }
    }
}

/// Any route that does not exist.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; the API is described at /api/openapi.json")
}
