//! What a plugin works on. A request step sees the request head as it will
//! go upstream (its headers may be changed) and may answer in the proxy's
//! place; a response step sees the response head on its way back.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};

use crate::apikey_calls::ApikeyCallsConfig;
use crate::body::{BodyCtx, ResponseBody};

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
    pub method: &'a Method,
    pub path: &'a str,
    /// The client called over HTTPS.
    pub tls: bool,
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
