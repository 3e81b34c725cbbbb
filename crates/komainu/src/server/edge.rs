//! Requests the listener answers or refuses itself, before choosing between
//! the admin API, the UI and the proxy, and the one place where its
//! refusals become responses.
//! - An absolute-form target (`GET http://a/ HTTP/1.1`) or HTTP/2
//!   `:authority` names the host; a Host header that says otherwise is
//!   refused (RFC 9112 §3.2.2, RFC 9113 §8.3.1) rather than letting the
//!   target pick the admin API while the Host names a proxied site.
//! - `OPTIONS *` asks about the server, not a resource: answered here,
//!   never forwarded (a backend would see `OPTIONS /*`). `*` with another
//!   method is refused.
//! - A method longer than `MAX_METHOD_LEN` is refused: no real method comes
//!   close, and a backend should not have to parse kilobytes of one.

use http::header::{ALLOW, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use proxy::body::{ProxyBody, empty, full};
use thiserror::Error;

/// The longest standard methods (`BASELINE-CONTROL`, `UPDATEREDIRECTREF`)
/// have 16 and 17 bytes.
pub const MAX_METHOD_LEN: usize = 32;

/// What `OPTIONS *` answers: the methods the node passes on.
const ALLOWED: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

#[derive(Debug, Error)]
pub enum Refusal {
    #[error("the Host header does not match the request target")]
    HostMismatch,
    #[error("the request method is longer than {MAX_METHOD_LEN} bytes")]
    MethodTooLong,
    #[error("the request target * is only valid with OPTIONS")]
    AsteriskWithoutOptions,
    #[error(
        "the cluster endpoints require a client certificate signed by https.clientCAPath (mutual TLS)"
    )]
    ClientCertificateRequired,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::ClientCertificateRequired => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::ClientCertificateRequired => "client_certificate_required",
            _ => "bad_request",
        }
    }

    pub fn into_response(self) -> Response<ProxyBody> {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = Response::new(full(body.to_string()));
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// `Ok(Some(answer))`: answered here; `Ok(None)`: dispatch as usual.
pub fn check<B>(request: &Request<B>) -> Result<Option<Response<ProxyBody>>, Refusal> {
    if request.method().as_str().len() > MAX_METHOD_LEN {
        return Err(Refusal::MethodTooLong);
    }
    if let (Some(authority), Some(host)) = (request.uri().authority(), request.headers().get(HOST))
        && !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
    {
        return Err(Refusal::HostMismatch);
    }
    if is_asterisk(request.uri()) {
        if request.method() != Method::OPTIONS {
            return Err(Refusal::AsteriskWithoutOptions);
        }
        let mut answer = Response::new(empty());
        answer
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(ALLOWED));
        return Ok(Some(answer));
    }
    Ok(None)
}

/// The asterisk-form target: `*` alone, no scheme or authority.
fn is_asterisk(uri: &http::Uri) -> bool {
    uri.scheme().is_none() && uri.authority().is_none() && uri.path() == "*"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(target);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn options_asterisk_is_answered_with_allow() {
        let answer = check(&request("OPTIONS", "*", Some("a.test")))
            .unwrap()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[ALLOW], ALLOWED);
        assert!(matches!(
            check(&request("GET", "*", Some("a.test"))),
            Err(Refusal::AsteriskWithoutOptions)
        ));
        // An ordinary path that happens to hold a star is not asterisk-form.
        assert!(
            check(&request("OPTIONS", "/*", Some("a.test")))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn absolute_form_must_agree_with_host() {
        assert!(matches!(
            check(&request("GET", "http://admin.test/api", Some("other.test"))),
            Err(Refusal::HostMismatch)
        ));
        assert!(
            check(&request("GET", "http://ADMIN.test/api", Some("admin.TEST")))
                .unwrap()
                .is_none()
        );
        assert!(
            check(&request("GET", "http://admin.test/api", None))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn long_methods_are_refused() {
        let long = "A".repeat(MAX_METHOD_LEN + 1);
        assert!(matches!(
            check(&request(&long, "/", Some("a.test"))),
            Err(Refusal::MethodTooLong)
        ));
        let longest = "A".repeat(MAX_METHOD_LEN);
        assert!(
            check(&request(&longest, "/", Some("a.test")))
                .unwrap()
                .is_none()
        );
    }
}
