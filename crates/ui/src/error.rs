//! The one place where UI failures become answers: an HTML page for a
//! browser's navigation, a redirect to the login page when the session is
//! missing, JSON for the pages' API calls.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use store::StoreError;
use thiserror::Error;

use crate::pages::layout;

#[derive(Debug, Error)]
pub enum UiError {
    /// No valid session: pages redirect to the login, API calls get 401.
    #[error("sign in first")]
    SignInFirst { next: String },
    #[error("sign in first")]
    SignInFirstApi,
    /// A write without the session's CSRF token, or from another site.
    #[error("this request did not come from a komainu page (missing or wrong CSRF token)")]
    Csrf,
    #[error("too many failed sign-in attempts for this name; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            UiError::SignInFirst { .. } => StatusCode::SEE_OTHER,
            UiError::SignInFirstApi => StatusCode::UNAUTHORIZED,
            UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Store(StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Store(_) | UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            UiError::SignInFirst { .. } | UiError::SignInFirstApi => "unauthorized",
            UiError::Csrf => "csrf_token_invalid",
            UiError::TooManyAttempts { .. } => "too_many_attempts",
            UiError::NotFound(_) => "not_found",
            UiError::BadRequest(_) => "bad_request",
            UiError::Store(StoreError::Unavailable { .. }) => "datastore_unavailable",
            UiError::Store(_) | UiError::Internal(_) => "internal_error",
        }
    }

    /// What a page may say: the details of our own failures go to the log,
    /// not to whoever asked.
    fn public_message(&self) -> String {
        match self {
            UiError::Store(StoreError::Unavailable { .. }) => {
                "The datastore is unavailable; try again in a moment.".to_string()
            }
            UiError::Store(_) | UiError::Internal(_) => {
                "Something went wrong on this node; its log says what.".to_string()
            }
            other => other.to_string(),
        }
    }

    /// The JSON answer the admin API would give (for the pages' scripts).
    pub fn json(self) -> Response {
        let status = self.status();
        let body = json!({"error": self.code(), "error_description": self.public_message()});
        (status, Json(body)).into_response()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "UI request failed");
        }
        match self {
            UiError::SignInFirst { next } => {
                Redirect::to(&format!("/login?next={}", utf8_percent_encode(&next, NEXT)))
                    .into_response()
            }
            UiError::SignInFirstApi | UiError::Csrf => self.json(),
            other => {
                let page = layout::bare(
                    "Error",
                    maud::html! {
                        main.narrow {
                            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                            p.error-text role="alert" { (other.public_message()) }
                            p { a href="/" { "Back to the home page" } }
                        }
                    },
                );
                let mut response = (status, page).into_response();
                if let UiError::TooManyAttempts { retry_after_secs } = other {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                }
                response
            }
        }
    }
}

/// For the admin API endpoints this crate serves (admin users): the admin
/// API's own error shape.
impl From<UiError> for admin::AdminError {
    fn from(error: UiError) -> Self {
        match error {
            UiError::Store(e) => admin::AdminError::Store(e),
            UiError::NotFound(message) => admin::AdminError::NotFound(message),
            UiError::BadRequest(message) => admin::AdminError::BadRequest(message),
            other => admin::AdminError::Internal(other.to_string()),
        }
    }
}

pub(crate) async fn not_found(uri: Uri) -> UiError {
    UiError::NotFound(format!("there is no page at {}", uri.path()))
}

/// Everything but unreserved characters and `/` is encoded in `next=`.
const NEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
