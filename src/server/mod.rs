//! `lookalike serve`: the web page and the JSON API over the engine.
//!
//! * `state`: the snapshot every request reads (a local index, or a Qdrant
//!   collection and its kit), and its reload;
//! * `api`: the JSON endpoints (described by `openapi.json`);
//! * `params`: query-string parsing, with a 400 for every bad value;
//! * `images`: catalogue images by product id;
//! * `web`: the page and its assets, compiled in;
//! * `error`: JSON errors with their HTTP status.
//!
//! The handlers parse, call the library and shape the answer; search,
//! filtering and browsing live in [`crate::search`].

mod api;
mod error;
mod images;
mod params;
mod state;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::{AppState, QdrantSource, ServeOptions, Snapshot};

/// Multipart framing on top of the image itself.
const MULTIPART_OVERHEAD: usize = 64 << 10;

/// The application's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.options.max_upload_bytes + MULTIPART_OVERHEAD;
    let timeout = state.options.request_timeout;
    Router::new()
        .route("/", get(web::index_html))
        .route("/assets/{file}", get(web::assets))
        .route("/images/{id}", get(images::image))
        .route("/api/health", get(api::health))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/search", post(api::search_by_image))
        .route("/api/facets", get(api::facets))
        .route("/api/products", get(api::products))
        .route("/api/products/{id}", get(api::product))
        .route("/api/products/{id}/similar", get(api::similar))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves on `addr` until Ctrl-C or SIGTERM, then lets in-flight requests
/// finish. Picks up new index generations by polling the manifest and on
/// SIGHUP.
pub async fn serve(options: ServeOptions, addr: SocketAddr) -> crate::Result<()> {
    let started = Instant::now();
    let dir = options.index_dir.clone();
    let state = Arc::new(
        tokio::task::spawn_blocking(move || AppState::open(options))
            .await
            .map_err(|e| crate::Error::CorruptIndex {
                path: dir.clone(),
                reason: format!("opening it failed: {e}"),
            })??,
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::Listen { addr, source: e })?;
    let local = listener
        .local_addr()
        .map_err(|e| crate::Error::Listen { addr, source: e })?;
    {
        let snap = state.snapshot();
        let from = match &state.options.qdrant {
            Some(q) => format!(
                "Qdrant collection `{}`, kit {}",
                q.collection,
                q.kit.display()
            ),
            None => format!("index {}", dir.display()),
        };
        let count = snap.clone();
        let products = tokio::task::spawn_blocking(move || count.store.product_count())
            .await
            .map_err(|e| crate::Error::InvalidArgument(format!("counting products: {e}")))??;
        tracing::info!(
            "serving {products} products ({from}, generation {}) on http://{local} ({:.0} ms to start)",
            snap.model().manifest().generation,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    warm_up(&state);
    tokio::spawn(watch_index(state.clone()));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| crate::Error::Listen { addr, source: e })?;
    tracing::info!("stopped");
    Ok(())
}

/// Loads the model in the background so that the first upload is fast.
fn warm_up(state: &Arc<AppState>) {
    let snap = state.snapshot();
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        match snap.embedder() {
            Ok(_) => tracing::debug!("model loaded in {:.0} ms", t.elapsed().as_secs_f64() * 1e3),
            Err(e) => tracing::error!("cannot load the model: {e}; searching by image will fail"),
        }
    });
}

/// Swaps in new index generations: a poll of the manifest, and SIGHUP.
async fn watch_index(state: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(state.options.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        let force = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        if force {
            tracing::info!("SIGHUP: reopening the index");
        }
        let st = state.clone();
        match tokio::task::spawn_blocking(move || st.reload(force)).await {
            Ok(Ok(Some(generation))) => {
                last_error.clear();
                tracing::info!("index reloaded: generation {generation}");
                warm_up(&state);
            }
            Ok(Ok(None)) => last_error.clear(),
            Ok(Err(e)) => {
                // Once per distinct failure, not every second.
                let msg = e.to_string();
                if msg != last_error {
                    tracing::warn!("index reload failed, still serving the previous one: {msg}");
                    last_error = msg;
                }
            }
            Err(e) => tracing::error!("index reload task failed: {e}"),
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
