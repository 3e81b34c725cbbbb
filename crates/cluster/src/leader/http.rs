//! Small HTTP helpers shared by the leader's handlers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// A numeric query parameter (`?wait=5000`); absent or not a number: `None`.
/// Only digits are expected, so no percent-decoding is needed.
pub(crate) fn query_u64(query: Option<&str>, name: &str) -> Option<u64> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// An entity tag without its quotes or weak marker, so that `"abc"`,
/// `W/"abc"` and a bare `abc` (a worker echoing the digest) compare equal.
pub(crate) fn bare_tag(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

/// The tags of `If-None-Match` (all header lines, comma lists), bare.
/// `None` when the request has none.
pub(crate) fn if_none_match(headers: &HeaderMap) -> Option<Vec<String>> {
    let tags: Vec<String> = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| bare_tag(t).to_string())
        .filter(|t| !t.is_empty())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

/// Whether a tag list names `etag` (`*` names any).
pub(crate) fn tags_match(tags: &[String], etag: &str) -> bool {
    tags.iter().any(|t| t == "*" || t == etag)
}

/// Whether the client takes gzip. No `Accept-Encoding` at all means any
/// coding is fine (RFC 9110 §12.5.3), so a worker whose HTTP client sets no
/// header still gets the compressed body; only a client that lists codings
/// without gzip (e.g. `identity`, or `gzip;q=0`) gets it plain.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    values.iter().flat_map(|v| v.split(',')).any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// Whether a request body says it is gzip.
pub(crate) fn is_gzip_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

/// Sets a header, skipping a value that cannot be one (a leader name with a
/// control character must not fail the answer). `from_bytes` lower-cases
/// the names, which wire.rs spells the way Otoroshi shows them.
pub(crate) fn put(headers: &mut HeaderMap, name: &str, value: impl ToString) {
    let name = HeaderName::from_bytes(name.as_bytes());
    let value = HeaderValue::from_str(&value.to_string());
    if let (Ok(name), Ok(value)) = (name, value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_compare_bare() {
        assert_eq!(bare_tag("W/\"abc\""), "abc");
        assert_eq!(bare_tag(" \"abc\" "), "abc");
        assert_eq!(bare_tag("abc"), "abc");
    }

    #[test]
    fn query_numbers() {
        assert_eq!(query_u64(Some("a=1&wait=250"), "wait"), Some(250));
        assert_eq!(query_u64(Some("wait=x"), "wait"), None);
        assert_eq!(query_u64(None, "wait"), None);
    }

    #[test]
    fn gzip_acceptance() {
        let mut h = HeaderMap::new();
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, GZIP"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
    }
}
