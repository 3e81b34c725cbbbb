//! StaticResponse: the route answers with a fixed status, headers and body,
//! and no backend is called. It answers at TransformRequest, the last
//! request step, so that access plugins (API keys, methods) still run first,
//! as with Otoroshi's CallBackend step.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::header_list;
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.StaticResponse",
    name: "Static response",
    description: "Answers with `status`, `headers` and `body` without calling a backend; a body written `Base64(...)` is sent decoded.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<StaticResponseConfig>,
    config_schema: config::schema::<StaticResponseConfig>,
};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct StaticResponseConfig {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub apply_el: bool,
}

impl Default for StaticResponseConfig {
    fn default() -> Self {
        Self {
            status: 200,
            headers: BTreeMap::new(),
            body: String::new(),
            apply_el: false,
        }
    }
}

/// Headers the server writes from the body itself: set by hand they could
/// contradict it and make the response invalid.
const FRAMING: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

struct StaticResponse {
    status: StatusCode,
    headers: Box<[(HeaderName, HeaderValue)]>,
    body: Bytes,
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: StaticResponseConfig = config::parse(value)?;
    let mut errors = Vec::new();
    if config.apply_el {
        errors.push(ConfigError::new(
            "apply_el",
            "${...} expressions are not supported by komainu yet; set apply_el to false",
        ));
    }
    let status = match StatusCode::from_u16(config.status) {
        Ok(status) if (200..=599).contains(&config.status) => Some(status),
        _ => {
            errors.push(ConfigError::new(
                "status",
                "must be a final HTTP status, 200 to 599",
            ));
            None
        }
    };
    let body = body(&config.body).map_err(|why| errors.push(ConfigError::new("body", why)));
    if let (Some(status), Ok(body)) = (status, &body)
        && !body.is_empty()
        && (status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
    {
        errors.push(ConfigError::new(
            "body",
            format!("a {status} response has no body; leave body empty"),
        ));
    }
    for name in config.headers.keys() {
        if FRAMING.contains(&name.to_ascii_lowercase().as_str()) {
            errors.push(ConfigError::new(
                format!("headers.{name}"),
                "is set by komainu from the body; remove it",
            ));
        }
    }
    let headers = header_list::pairs(&config.headers).map_err(|e| errors.extend(e));
    match (status, body, headers) {
        (Some(status), Ok(body), Ok(headers)) if errors.is_empty() => {
            Ok(Arc::new(StaticResponse {
                status,
                headers,
                body,
            }))
        }
        _ => Err(errors),
    }
}

/// The body as sent: `Base64(...)` decoded (Otoroshi's convention for
/// binary bodies), anything else as written.
fn body(text: &str) -> Result<Bytes, &'static str> {
    match text
        .strip_prefix("Base64(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(Bytes::from)
            .map_err(|_| "Base64(...) does not hold valid base64"),
        None => Ok(Bytes::copy_from_slice(text.as_bytes())),
    }
}

impl Plugin for StaticResponse {
    fn transform_request(&self, _request: &mut RequestCtx<'_>) -> Flow {
        // The body is shared, not copied; the server sets Content-Length
        // from its exact size.
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        Flow::Answer(response)
    }
}

#[cfg(test)]
mod tests {
    use super::body;

    #[test]
    fn bodies() {
        assert_eq!(body("hello").unwrap(), "hello");
        assert_eq!(body("Base64(aGk=)").unwrap(), "hi");
        assert!(body("Base64(!!)").is_err());
        assert_eq!(body("Base64(x").unwrap(), "Base64(x");
    }
}
