//! `GET /images/{id}`: a product's catalogue image.
//!
//! The id is looked up in the index (or the Qdrant collection) and the
//! file path comes from the product's record, so nothing from the request ever reaches the file system:
//! `/images/..%2F..%2Fetc%2Fpasswd` is just an unknown id.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::product_id;
use super::error::ApiError;
use super::state::AppState;

/// The largest image file served (a catalogue image is far smaller).
const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// `p` if it is relative and made of plain names only (no `..`, no root).
fn safe_relative(p: &std::path::Path) -> Option<&std::path::Path> {
    use std::path::Component;
    let plain = p
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    (plain && p.components().next().is_some()).then_some(p)
}

/// Browsers may reuse an image for an hour, then revalidate by ETag.
const CACHE: &str = "public, max-age=3600";

/// The MIME type of image bytes, from their content.
fn mime(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::WebP) => "image/webp",
        Ok(image::ImageFormat::Gif) => "image/gif",
        Ok(image::ImageFormat::Bmp) => "image/bmp",
        Ok(image::ImageFormat::Tiff) => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// `GET /images/{id}`
pub async fn image(
    State(st): State<Arc<AppState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = product_id(id)?;
    let snap = st.snapshot();
    let catalog = st.catalog_dir(&snap);
    let local = matches!(snap.store, crate::store::Store::Local(_));
    let lookup = id.clone();
    let record = tokio::task::spawn_blocking(move || snap.store.product(&lookup))
        .await
        .map_err(|e| ApiError::internal("reading a product", e))??
        .ok_or_else(|| ApiError::not_found(format!("unknown product id `{id}`")))?;
    // The content hash of the indexed image is a strong validator.
    let etag = format!("\"{}\"", record.hash);
    let etag_value = HeaderValue::from_str(&etag)
        .map_err(|e| ApiError::internal("building the ETag header", e))?;
    let matches = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    if matches {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (ETAG, etag_value),
                (CACHE_CONTROL, HeaderValue::from_static(CACHE)),
            ],
        )
            .into_response());
    }
    // Records hold paths relative to the catalogue. A record from a remote
    // collection is not trusted: only plain relative paths are served,
    // never `..`, an absolute path or anything but a file of sane size.
    let path = match safe_relative(&record.image) {
        Some(rel) => catalog.join(rel),
        None if record.image.is_absolute() && local => {
            // Older local indexes hold absolute paths (see Index::image_path).
            record.image.clone()
        }
        None => {
            tracing::warn!(
                "refused the image path of `{id}`: {}",
                record.image.display()
            );
            return Err(ApiError::not_found(format!(
                "the image of product `{id}` is not under the catalogue folder"
            )));
        }
    };
    match tokio::fs::metadata(&path).await {
        Ok(m) if !m.is_file() || m.len() > MAX_IMAGE_BYTES => {
            return Err(ApiError::not_found(format!(
                "the image of product `{id}` is not a catalogue image file"
            )))
        }
        _ => {}
    }
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("image of `{id}` is missing: {}", path.display());
            return Err(ApiError::not_found(format!(
                "the image of product `{id}` is no longer in the catalogue"
            )));
        }
        Err(e) => {
            return Err(ApiError::internal(
                "reading an image",
                format!("{}: {e}", path.display()),
            ))
        }
    };
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(mime(&bytes))),
            (CACHE_CONTROL, HeaderValue::from_static(CACHE)),
            (ETAG, etag_value),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;
    use std::path::Path;

    #[test]
    fn only_plain_relative_paths_are_served() {
        for ok in ["images/1.jpg", "1.jpg", "./a/b.png"] {
            assert!(safe_relative(Path::new(ok)).is_some(), "{ok}");
        }
        for bad in ["/etc/passwd", "../secret.jpg", "images/../../x", ""] {
            assert!(safe_relative(Path::new(bad)).is_none(), "{bad}");
        }
    }
}
