//! RequestBodyLengthLimiter: a request body over `max_length` bytes never
//! reaches the backend. A Content-Length over the limit is refused at once
//! (413); a body without one (chunked) is counted as it streams upstream
//! and the call is cut and answered 413 when it passes the limit. Otoroshi
//! forwards a truncated body when `fail` is false; komainu never sends a
//! backend a silently cut body, so `fail` is accepted and both values refuse.

use std::sync::Arc;

use http::StatusCode;
use http::header::CONTENT_LENGTH;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.RequestBodyLengthLimiter",
    name: "Request body length limiter",
    description: "Answers 413 to a request body over `max_length` bytes (4 MiB when unset), by its Content-Length or, for a chunked body, as it streams.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<BodyLengthLimiterConfig>,
    config_schema: config::schema::<BodyLengthLimiterConfig>,
};

/// Otoroshi's limit when `max_length` is not set.
const DEFAULT_MAX: u64 = 4 * 1024 * 1024;

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct BodyLengthLimiterConfig {
    /// Bytes; 4 MiB when unset.
    pub max_length: Option<u64>,
    /// Kept for Otoroshi exports: komainu refuses over the limit either way.
    pub fail: bool,
}

struct RequestBodyLengthLimiter {
    max: u64,
    refusal: String,
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: BodyLengthLimiterConfig = config::parse(value)?;
    let max = config.max_length.unwrap_or(DEFAULT_MAX);
    Ok(Arc::new(RequestBodyLengthLimiter {
        max,
        refusal: format!("the request body is larger than {max} bytes"),
    }))
}

impl RequestBodyLengthLimiter {
    fn too_large(&self) -> Flow {
        Flow::Answer(json_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &self.refusal,
        ))
    }
}

impl Plugin for RequestBodyLengthLimiter {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        // The server has already refused a malformed or repeated
        // Content-Length; one that does not parse here is not under the limit.
        if let Some(length) = request.headers.get(CONTENT_LENGTH) {
            match length
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(length) if length <= self.max => {}
                _ => return self.too_large(),
            }
        }
        // Whatever the head says, the body is counted as it streams; the
        // smallest limit of several instances wins.
        request.body_limit = Some(request.body_limit.map_or(self.max, |l| l.min(self.max)));
        Flow::Continue
    }
}
