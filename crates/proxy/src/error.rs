//! The one place where data-plane failures become responses: a JSON body
//! with the request id, and the status that tells whose fault it was
//! (4xx: the client's; 502/504: the upstream's; 503: ours, for now).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use thiserror::Error;

use crate::apikey::KeyError;
use crate::body::{ProxyBody, full};
use crate::quota::QuotaExceeded;

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("no route for {host}{path}")]
    NoRoute { host: String, path: String },
    #[error("{0}")]
    ApiKey(#[from] KeyError),
    #[error("{which} quota exceeded for this API key")]
    Quota {
        which: &'static str,
        retry_after_secs: u64,
    },
    #[error("upstream {target} unreachable: {reason}")]
    UpstreamUnreachable { target: String, reason: String },
    #[error("upstream {target} did not answer within {timeout_ms} ms")]
    UpstreamTimeout { target: String, timeout_ms: u64 },
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// A RequestBodyLengthLimiter's limit, passed by a streamed body.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("route '{0}' has no usable target")]
    NoTarget(String),
    /// A worker that has neither synced with a leader nor loaded a snapshot.
    #[error("no state yet: this node has not synced with a leader")]
    NoState,
    /// The request already went through this many komainu nodes: a route
    /// leads back to a node on its way.
    #[error("the request went through {0} gateway nodes: a route loops")]
    LoopDetected(u32),
    /// Stopped by the global config (maintenance mode, IP filtering),
    /// answered as the gate says.
    #[error("stopped by the global config ({})", .0.status())]
    Gate(Box<Response<Bytes>>),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ProxyError::ApiKey(KeyError::NotAuthorized) => StatusCode::FORBIDDEN,
            ProxyError::ApiKey(_) => StatusCode::UNAUTHORIZED,
            ProxyError::Quota { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::UpstreamUnreachable { .. } | ProxyError::NoTarget(_) => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::NoState => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::LoopDetected(_) => StatusCode::LOOP_DETECTED,
            ProxyError::Gate(answer) => answer.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ProxyError::NoRoute { .. } => "not_found",
            ProxyError::ApiKey(KeyError::NotAuthorized) => "forbidden",
            ProxyError::ApiKey(_) => "unauthorized",
            ProxyError::Quota { .. } => "too_many_requests",
            ProxyError::UpstreamUnreachable { .. } | ProxyError::NoTarget(_) => "bad_gateway",
            ProxyError::UpstreamTimeout { .. } => "gateway_timeout",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::BodyTooLarge(_) => "payload_too_large",
            ProxyError::NoState => "no_state",
            ProxyError::LoopDetected(_) => "loop_detected",
            ProxyError::Gate(_) => "forbidden",
        }
    }

    /// What the client may read: upstream failures stay vague (no internal
    /// host, port or OS error); the details go to the debug log and metrics.
    fn public_description(&self) -> String {
        match self {
            ProxyError::UpstreamUnreachable { .. } | ProxyError::NoTarget(_) => {
                "the upstream service is unreachable".to_string()
            }
            ProxyError::UpstreamTimeout { .. } => {
                "the upstream service did not answer in time".to_string()
            }
            other => other.to_string(),
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<ProxyBody> {
        self.answer(request_id).map(full)
    }

    /// The answer, with its body whole (plugins answer with these).
    pub fn answer(self, request_id: &str) -> Response<Bytes> {
        if let ProxyError::Gate(answer) = self {
            return *answer;
        }
        if self.status().is_server_error() {
            tracing::debug!(request_id, error = %self, "proxy error");
        }
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.public_description(),
            "request_id": request_id,
        });
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let ProxyError::Quota {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
        }
        response
    }
}

impl From<QuotaExceeded> for ProxyError {
    fn from(exceeded: QuotaExceeded) -> Self {
        ProxyError::Quota {
            which: exceeded.which.name(),
            retry_after_secs: exceeded.retry_after_secs,
        }
    }
}
