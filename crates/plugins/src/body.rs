//! The response body step: a plugin gets the body as a boxed stream and
//! gives one back (wrapped, or a whole new answer), with the response head
//! to keep in step with it. Bodies stay streamed; nothing here buffers.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of the proxy's answers (the same type as its `ProxyBody`).
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// An upstream response on its way back, for the body step. A plugin that
/// changes the body's length or encoding fixes the head here too.
pub struct BodyCtx<'a> {
    pub status: &'a mut StatusCode,
    pub headers: &'a mut HeaderMap,
    /// The request's method (a HEAD answer has no body).
    pub method: &'a Method,
    /// The canonical request path.
    pub path: &'a str,
    /// The client's `Accept-Encoding`, captured at request time only for
    /// routes with a body step.
    pub accept_encoding: Option<&'a HeaderValue>,
}

impl BodyCtx<'_> {
    /// A response that carries no body whatever its head says.
    pub fn bodiless(&self) -> bool {
        *self.method == Method::HEAD
            || self.status.is_informational()
            || *self.status == StatusCode::NO_CONTENT
            || *self.status == StatusCode::NOT_MODIFIED
    }

    /// The Content-Length the head announces, when it is one number.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(http::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// A whole body in the step's type.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
