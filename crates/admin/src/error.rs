//! The one place where admin failures become HTTP responses: a JSON body
//! `{"error": "...", "error_description": "...", "fields": [...]}` with the
//! status that says whose fault it was.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{FieldError, ValidationErrors};
use serde_json::{Value, json};
use store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("missing or invalid admin API credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A body in a media type this endpoint does not read (`_bulk` wants NDJSON).
    #[error("{0}")]
    BadContentType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A limit other than the body's: what the request would build.
    #[error("{0}")]
    TooLarge(String),
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An admin call sent to a worker, which takes no writes.
    #[error("this node is a cluster worker and serves no admin API; send admin calls to a leader: {}", .0.join(", "))]
    NotLeader(Vec<String>),
    /// Our own fault: data that should be valid is not.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::BadRequest(_)
            | AdminError::BadContentType(_)
            | AdminError::Validation(_) => StatusCode::BAD_REQUEST,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::PayloadTooLarge { .. } | AdminError::TooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            AdminError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Store(StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }) => {
                StatusCode::CONFLICT
            }
            AdminError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            AdminError::Store(StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::NotLeader(_) => StatusCode::FORBIDDEN,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AdminError::Unauthorized => "unauthorized",
            AdminError::Forbidden(_) => "forbidden",
            AdminError::NotFound(_) | AdminError::Store(StoreError::NotFound { .. }) => "not_found",
            AdminError::BadRequest(_) => "bad_request",
            AdminError::BadContentType(_) => "bad_content_type",
            AdminError::Validation(_) => "validation_failed",
            AdminError::PayloadTooLarge { .. } | AdminError::TooLarge(_) => "payload_too_large",
            AdminError::MethodNotAllowed { .. } => "method_not_allowed",
            AdminError::Conflict(_)
            | AdminError::Store(StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }) => {
                "conflict"
            }
            AdminError::Store(StoreError::Unavailable { .. }) => "datastore_unavailable",
            AdminError::Internal(_) => "internal_error",
            AdminError::NotLeader(_) => "not_a_leader",
        }
    }

    /// The JSON body of this error: also each failed line of a `_bulk` answer.
    pub(crate) fn body(&self) -> Value {
        let fields: &[FieldError] = match self {
            AdminError::Validation(errors) => &errors.0,
            _ => &[],
        };
        let mut body = json!({"error": self.code(), "error_description": self.to_string()});
        if !fields.is_empty() {
            body["fields"] = json!(fields);
        }
        if let AdminError::NotLeader(leaders) = self {
            body["leaders"] = json!(leaders);
        }
        body
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AdminError::NotFound(format!("{what} not found"))
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if matches!(self, AdminError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"komainu admin API\""),
            );
        }
        response
    }
}

pub type AdminResult<T> = Result<T, AdminError>;
