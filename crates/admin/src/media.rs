//! Media types as admin requests name them: in `Content-Type` and in the
//! ranges of `Accept`.

use axum::http::{HeaderMap, header};

/// A media type without its parameters (`application/json; charset=utf-8`
/// → `application/json`).
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

/// The media ranges of every `Accept` header, in the order sent.
pub fn accept_ranges(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
}
