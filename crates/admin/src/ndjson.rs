//! Newline-delimited JSON (`application/x-ndjson`): what `_bulk` reads and
//! answers, and how lists answer when `Accept` asks for it.
//!
//! Lists are turned into lines by a middleware on the finished answer, after
//! the read-only redaction: an NDJSON list hides exactly the secrets its JSON
//! form hides, and keeps its paging headers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::media::{accept_ranges, essence};

/// The media type of NDJSON bodies and answers.
pub const MEDIA_TYPE: &str = "application/x-ndjson";

/// Whether a `Content-Type` value names NDJSON (parameters ignored).
pub fn is_ndjson(media_type: &str) -> bool {
    essence(media_type).eq_ignore_ascii_case(MEDIA_TYPE)
}

/// Whether the client asks for NDJSON: `Accept` names it before any JSON,
/// YAML or wildcard range (as Otoroshi: NDJSON only when JSON is not
/// acceptable first).
pub fn wants_ndjson(headers: &HeaderMap) -> bool {
    accept_ranges(headers)
        .find_map(|range| {
            let range = essence(range);
            if is_ndjson(range) {
                Some(true)
            } else if range.eq_ignore_ascii_case("application/json")
                || range == "*/*"
                || crate::yaml::is_yaml(range)
            {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
}

/// One JSON document per line, each ended by a newline.
pub fn lines<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    values
        .into_iter()
        .map(|value| format!("{value}\n"))
        .collect()
}

/// An NDJSON answer.
pub fn answer(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}

/// Middleware: a successful `GET` answered with a JSON array (a list)
/// becomes one entity per line when `Accept` asks for NDJSON. Other answers
/// (single entities, errors) stay JSON.
pub async fn answer_lists_in_ndjson(request: Request, next: Next) -> Response {
    let wanted = request.method() == Method::GET && wants_ndjson(request.headers());
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| essence(v).eq_ignore_ascii_case("application/json"));
    if !wanted || response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Our own answer, already built in memory: no limit to apply.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(lines(&items)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        headers
    }

    #[test]
    fn ndjson_only_when_named_before_json() {
        assert!(wants_ndjson(&accept("application/x-ndjson")));
        assert!(wants_ndjson(&accept(
            "text/html, application/x-ndjson; q=0.9"
        )));
        assert!(!wants_ndjson(&accept(
            "application/json, application/x-ndjson"
        )));
        assert!(!wants_ndjson(&accept("*/*")));
        assert!(!wants_ndjson(&HeaderMap::new()));
        assert!(is_ndjson("application/x-ndjson; charset=utf-8"));
        assert!(!is_ndjson("application/json"));
    }
}
