//! JSON errors with the right HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::imaging::ImageError;
use crate::Error;

/// An error answered as `{"error": {"status": 400, "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: a parameter is malformed or out of range.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such product (or route).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: our fault; the details go to the log, not to the client.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error while {context}; see the server log"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            // The client's to fix.
            Error::BadFilter { .. } | Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Error::UnknownId(_) => StatusCode::NOT_FOUND,
            Error::Image(img) => return image_error(img),
            // Another writer holds the index: try again later.
            Error::Locked(_) => StatusCode::CONFLICT,
            // The vector store behind the server is down or refused: the
            // client may retry.
            Error::QdrantUnreachable(_) | Error::Qdrant { .. } => {
                tracing::error!("searching: {e}");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the vector store is unavailable; try again",
                );
            }
            // Ours (a mixed-up index, a head that does not fit, a failing
            // model): details to the log, not to the client.
            Error::DimensionMismatch { .. }
            | Error::HeadFile { .. }
            | Error::HeadMismatch { .. }
            | Error::CorruptIndex { .. }
            | Error::ModelMismatch { .. }
            | Error::Model(_)
            | Error::ModelSpec { .. }
            | Error::Io { .. }
            | Error::NoIndex(_)
            | Error::NotACatalog { .. }
            | Error::Listen { .. }
            | Error::Interrupted => return ApiError::internal("searching", e),
        };
        ApiError::new(status, e.to_string())
    }
}

/// Maps a refused upload to 413 (too large), 415 (not an image) or 422
/// (an image that cannot be decoded).
fn image_error(e: &ImageError) -> ApiError {
    let status = match e {
        ImageError::Empty | ImageError::NotAnImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ImageError::TooLarge { .. } | ImageError::FileTooLarge { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        ImageError::Corrupt { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ImageError::Io(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, format!("uploaded image: {e}"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "status": self.status.as_u16(), "message": self.message }
        });
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_get_their_status() {
        let s = |e: Error| ApiError::from(e).status;
        assert_eq!(s(Error::UnknownId("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(
            s(Error::InvalidArgument("k".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            s(Error::Image(ImageError::NotAnImage)),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            s(Error::Image(ImageError::TooLarge {
                width: 1,
                height: 1,
                limit: 0
            })),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            s(Error::Model("boom".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(s(Error::Locked("idx".into())), StatusCode::CONFLICT);
        let mismatch = Error::DimensionMismatch {
            what: "query row".into(),
            expected: 3,
            got: 2,
        };
        assert_eq!(s(mismatch), StatusCode::INTERNAL_SERVER_ERROR);
        let head = Error::HeadFile {
            path: "h.safetensors".into(),
            reason: "truncated".into(),
        };
        assert_eq!(s(head), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
