//! StaticResponse: the route answers with a fixed status, headers and body,
//! and no backend is called. It answers at TransformRequest, the last
//! request step, so that access plugins (API keys, methods) still run first,
//! as with Otoroshi's CallBackend step.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::header_list::{self, HeaderList, Values};
use crate::registry::Descriptor;
use crate::render::render;
use crate::step::Step;
use crate::template::Template;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.StaticResponse",
    name: "Static response",
    description: "Answers with `status`, `headers` and `body` without calling a backend; a body written `Base64(...)` is sent decoded; with `apply_el`, `${...}` expressions in the body and header values are rendered per call.",
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
    headers: HeaderList,
    body: Body,
}

/// The body: fixed, or rendered per call (`apply_el` with expressions).
enum Body {
    Fixed(Bytes),
    Rendered(Template),
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: StaticResponseConfig = config::parse(value)?;
    let mut errors = Vec::new();
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
    let body = body(&config.body, config.apply_el)
        .map_err(|why| errors.push(ConfigError::new("body", why)));
    if let (Some(status), Ok(body)) = (status, &body)
        && !matches!(body, Body::Fixed(bytes) if bytes.is_empty())
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
    // As Otoroshi: header values are expressions only with `apply_el`,
    // sent as written otherwise.
    let values = if config.apply_el {
        Values::Expressions
    } else {
        Values::Literal
    };
    let headers = header_list::pairs(&config.headers, values).map_err(|e| errors.extend(e));
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
/// binary bodies, never read for expressions), with `apply_el` the text's
/// `${...}` expressions rendered per call, anything else as written.
fn body(text: &str, apply_el: bool) -> Result<Body, String> {
    if let Some(encoded) = text
        .strip_prefix("Base64(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(|bytes| Body::Fixed(Bytes::from(bytes)))
            .map_err(|_| "Base64(...) does not hold valid base64".to_string());
    }
    if apply_el {
        let template = Template::parse(text)?;
        return Ok(match template.constant() {
            Some(constant) => Body::Fixed(Bytes::from(constant)),
            None => Body::Rendered(template),
        });
    }
    Ok(Body::Fixed(Bytes::copy_from_slice(text.as_bytes())))
}

impl Plugin for StaticResponse {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        // A fixed body is shared, not copied; the server sets
        // Content-Length from its exact size.
        let body = match &self.body {
            Body::Fixed(bytes) => bytes.clone(),
            Body::Rendered(template) => {
                let mut out = String::new();
                render(template, &request.lookup(), &mut out);
                Bytes::from(out)
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        self.headers
            .set_on(response.headers_mut(), false, || request.lookup());
        Flow::Answer(response)
    }
}

#[cfg(test)]
mod tests {
    use super::{Body, body};

    fn fixed(text: &str, apply_el: bool) -> Vec<u8> {
        match body(text, apply_el).unwrap() {
            Body::Fixed(bytes) => bytes.to_vec(),
            Body::Rendered(_) => panic!("{text} should be fixed"),
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(fixed("hello", false), b"hello");
        assert_eq!(fixed("Base64(aGk=)", false), b"hi");
        assert!(body("Base64(!!)", false).is_err());
        assert_eq!(fixed("Base64(x", false), b"Base64(x");
        // Expressions only with apply_el; Base64 bodies are never read for them.
        assert_eq!(fixed("${req.path}", false), b"${req.path}");
        assert!(matches!(
            body("at ${req.path}", true),
            Ok(Body::Rendered(_))
        ));
        assert_eq!(fixed("no expression", true), b"no expression");
        assert_eq!(fixed("Base64(JHt9)", true), b"${}");
        assert!(body("${nope}", true).is_err());
    }
}
