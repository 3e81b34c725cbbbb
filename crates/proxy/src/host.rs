//! The host a request is for. Only `name[:port]` and `[ipv6][:port]` are
//! hosts: anything else (`bp.test:@evil.example`, a path, spaces, a second
//! port) would route by one name and reach the backend, as Host and
//! X-Forwarded-Host, as another, so it is refused before routing.

use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, Uri};
use model::router::strip_port;

/// Longest accepted authority: a 253-byte DNS name, a colon, five digits.
const MAX_AUTHORITY: usize = 260;

/// The authority a request names: the URI's (HTTP/2, absolute-form) or the
/// Host header. `Ok(None)` when there is none (HTTP/1.0); `Err` when it is
/// not a well-formed host.
pub fn request_authority<B>(request: &Request<B>) -> Result<Option<&str>, &'static str> {
    authority(request.uri(), request.headers())
}

/// The Host value to send upstream, checked well-formed: the URI authority
/// when there is one (HTTP/2, absolute-form), else the Host header. A Host
/// header that contradicts the authority never gets here: the listener
/// answers it 400 (`server::edge`).
pub fn original_host(uri: &Uri, headers: &HeaderMap) -> Result<Option<HeaderValue>, &'static str> {
    match (authority(uri, headers)?, uri.authority()) {
        (None, _) => Ok(None),
        (Some(_), None) => Ok(headers.get(HOST).cloned()),
        (Some(raw), Some(_)) => HeaderValue::from_str(raw).map(Some).map_err(|_| INVALID),
    }
}

fn authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<Option<&'a str>, &'static str> {
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => match headers.get(HOST) {
            Some(value) => value.to_str().map_err(|_| INVALID)?,
            None => return Ok(None),
        },
    };
    if is_authority(raw) {
        Ok(Some(raw))
    } else {
        Err(INVALID)
    }
}

const INVALID: &str = "the host must be name[:port] or [ipv6][:port]";

/// The host a request is for, without port, when it names a well-formed one.
pub fn request_host<B>(request: &Request<B>) -> Option<&str> {
    request_authority(request).ok().flatten().map(strip_port)
}

/// `name[:digits]` or `[ipv6][:digits]`, the port at most 65535.
pub fn is_authority(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > MAX_AUTHORITY {
        return false;
    }
    let (host_ok, port) = match raw.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((v6, rest)) => (
                !v6.is_empty()
                    && v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
                rest,
            ),
            None => return false,
        },
        None => {
            let (name, port) = match raw.find(':') {
                Some(colon) => raw.split_at(colon),
                None => (raw, ""),
            };
            (
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
                port,
            )
        }
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => {
            !digits.is_empty()
                && digits.len() <= 5
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u32>().is_ok_and(|p| p <= 65535)
        }
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::is_authority;

    #[test]
    fn names_and_ports_pass() {
        for raw in [
            "bp.test",
            "BP.test:8080",
            "bp.test.",
            "a_b-c.example:1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::1]:443",
            "localhost:65535",
        ] {
            assert!(is_authority(raw), "{raw}");
        }
    }

    #[test]
    fn smuggled_names_are_refused() {
        for raw in [
            "",
            "bp.test:@evil.example",
            "user@bp.test",
            "bp.test:80:81",
            "bp.test:8x",
            "bp.test:",
            "bp.test:65536",
            "bp.test:123456",
            "bp.test/x",
            "bp.test evil",
            "[::1",
            "[::1]x",
            "[]:80",
            "[::1]:",
            ":80",
            "::1",
        ] {
            assert!(!is_authority(raw), "{raw}");
        }
    }
}
