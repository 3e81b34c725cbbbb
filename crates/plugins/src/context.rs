//! What a plugin works on. A request step sees the request head as it will
//! go upstream (its headers may be changed) and may answer in the proxy's
//! place; a response step sees the response head on its way back.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::apikey_calls::ApikeyCallsConfig;
use crate::body::{BodyCtx, ResponseBody};
use crate::facts::{KeyFacts, RequestFacts};
use crate::template::Reads;

/// What a request step decides.
pub enum Flow {
    /// On to the next plugin, then the next step.
    Continue,
    /// Answer the client with this; later plugins and the backend are skipped.
    Answer(Response<Bytes>),
    /// The decision needs work off the request path (a bcrypt check): the
    /// pipeline awaits this and goes on with the flow it yields. Only the
    /// plugins that need it box a future, and only on the calls that need it.
    Await(Pending),
}

/// A decision being made; it owns what it needs (it cannot borrow the request).
pub type Pending = Pin<Box<dyn Future<Output = Flow> + Send>>;

/// What plugins ask of the node they run in. `Sync` because a request
/// context lives across an awaited [`Flow::Await`] on a multi-threaded runtime.
pub trait Services: Send + Sync {
    /// Checks the request's API key against the route, as `config` says
    /// (sources, mandatory, quotas, credentials wiped); `Err` is the
    /// refusal to answer.
    fn check_apikey(
        &self,
        config: &ApikeyCallsConfig,
        request: &mut RequestCtx<'_>,
    ) -> Result<(), Box<Response<Bytes>>>;

    /// The HTTPS port clients reach this node on.
    fn https_port(&self) -> u16;

    /// The API key `check_apikey` accepted for this call, if any.
    fn apikey(&self) -> Option<KeyFacts<'_>>;

    /// The route the call matched.
    fn route_id(&self) -> &str;
    fn route_name(&self) -> &str;

    /// The id komainu gave this call (sent as Otoroshi-Request-Id).
    fn request_id(&self) -> &str;

    /// Sets X-Forwarded-For/-Proto/-Host and X-Real-IP on the upstream
    /// request, believing a trusted proxy's own (XForwardedHeaders).
    fn add_forwarded(&self, headers: &mut HeaderMap);

    /// What OtoroshiHeadersIn and SendOtoroshiHeadersBack report.
    fn call(&self) -> &dyn CallInfo;
}

/// What the node knows of the call, formatted only when a plugin asks.
pub trait CallInfo {
    /// `Otoroshi-Request-Id`.
    fn request_id_value(&self) -> HeaderValue;
    /// When the request arrived, as Otoroshi writes it
    /// (`2026-12-07T06:30:00.123+00:00`).
    fn request_timestamp(&self) -> HeaderValue;
    /// The Host the client asked for, as it sent it.
    fn proxied_host(&self) -> Option<HeaderValue>;
    /// The API key's calls left today and this month, once ApikeyCalls
    /// counted the call.
    fn remaining(&self) -> Option<(u64, u64)>;
}

/// How long the call took, known once the response is back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// The gateway's own time, in milliseconds.
    pub proxy_ms: u64,
    /// The backend's time, in milliseconds; `None` when no backend was
    /// called (a plugin answered).
    pub upstream_ms: Option<u64>,
}

/// A request on its way upstream.
pub struct RequestCtx<'a> {
    pub method: &'a Method,
    /// The canonical path the route was matched on.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The host the route was chosen by, without port.
    pub host: &'a str,
    /// The path and query as the client sent them, for redirects.
    pub path_and_query: &'a str,
    pub tls: bool,
    /// The caller: the TCP peer, or, when the peer is a trusted proxy
    /// (`proxy.trustedProxies`), the client its X-Forwarded-For names.
    pub client_ip: IpAddr,
    /// The headers that go upstream.
    pub headers: &'a mut HeaderMap,
    /// Send the target's `host:port` as Host (OverrideHost).
    pub override_host: bool,
    /// The most request body bytes sent upstream; over it the call is cut
    /// and answered 413 (RequestBodyLengthLimiter).
    pub body_limit: Option<u64>,
    pub services: &'a dyn Services,
}

/// A response on its way back to the client.
pub struct ResponseCtx<'a> {
    pub status: StatusCode,
    pub headers: &'a mut HeaderMap,
    /// The request's method and canonical path; `GET` and empty for a
    /// route none of whose response plugins reads them
    /// ([`Plugin::reads_request`]).
    pub method: &'a Method,
    pub path: &'a str,
    /// The client called over HTTPS.
    pub tls: bool,
    pub latency: Latency,
    pub call: &'a dyn CallInfo,
    /// What the route's response expressions read of the request; `None`
    /// when they read nothing (see [`crate::Chain::capture`]).
    pub request: Option<&'a RequestFacts>,
}

/// One plugin, its config compiled. Each step method is called only when
/// the plugin declared that step in the registry.
pub trait Plugin: Send + Sync {
    fn pre_route(&self, _request: &mut RequestCtx<'_>) -> Flow {
        Flow::Continue
    }

    fn validate_access(&self, _request: &mut RequestCtx<'_>) -> Flow {
        Flow::Continue
    }

    fn transform_request(&self, _request: &mut RequestCtx<'_>) -> Flow {
        Flow::Continue
    }

    fn transform_response(&self, _response: &mut ResponseCtx<'_>) {}

    /// Whether the response step reads `ResponseCtx::method` or `path`;
    /// plugins that only set response headers say no, so that the proxy
    /// keeps no copy of them per request.
    fn reads_request(&self) -> bool {
        true
    }

    /// Adds what this plugin's response step reads of the request, decided
    /// when it was built; request facts are kept only when one reads them.
    fn response_reads(&self, _reads: &mut Reads) {}

    /// Wraps the response body as it streams back (and may change the head
    /// to match: Content-Length, Content-Encoding). The default passes the
    /// body through untouched.
    fn transform_response_body(
        &self,
        _response: &mut BodyCtx<'_>,
        body: ResponseBody,
    ) -> ResponseBody {
        body
    }
}

/// A small JSON answer in the proxy's error shape.
pub fn json_answer(status: StatusCode, error: &str, description: &str) -> Response<Bytes> {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
