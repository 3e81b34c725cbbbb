//! Leader failures as HTTP answers, in the admin API's error shape
//! (`{"error": "...", "error_description": "..."}`) so that a worker or an
//! operator reads them like any other admin error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum LeaderError {
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our own fault (a task that died, a codec that failed on memory).
    #[error("internal error: {0}")]
    Internal(String),
}

impl LeaderError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            LeaderError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            LeaderError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            LeaderError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "datastore_unavailable"),
            LeaderError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for LeaderError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "cluster request failed");
        }
        let body = json!({"error": code, "error_description": self.to_string()});
        (status, Json(body)).into_response()
    }
}
