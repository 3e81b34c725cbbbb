//! Redirection: every call is answered with a redirect to one fixed URL,
//! before routing goes any further.

use std::sync::Arc;

use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, Response, StatusCode, Uri};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.Redirection",
    name: "Redirection",
    description: "Redirects every call to `to` with the redirect status `code` (303 by default).",
    steps: &[Step::PreRoute],
    build,
    default_config: config::defaults::<RedirectionConfig>,
    config_schema: config::schema::<RedirectionConfig>,
};

/// Otoroshi's redirect statuses (`RedirectionSettings.validRedirectionCodes`).
const CODES: [u16; 5] = [301, 302, 303, 307, 308];

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct RedirectionConfig {
    pub code: u16,
    pub to: String,
}

impl Default for RedirectionConfig {
    fn default() -> Self {
        // Otoroshi's defaults.
        Self {
            code: 303,
            to: "https://www.otoroshi.io".into(),
        }
    }
}

struct Redirection {
    status: StatusCode,
    location: HeaderValue,
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: RedirectionConfig = config::parse(value)?;
    let mut errors = Vec::new();
    let status = match StatusCode::from_u16(config.code) {
        Ok(status) if CODES.contains(&config.code) => Some(status),
        _ => {
            errors.push(ConfigError::new(
                "code",
                "must be a redirect status: 301, 302, 303, 307 or 308",
            ));
            None
        }
    };
    let location = location(&config.to).map_err(|why| errors.push(ConfigError::new("to", why)));
    match (status, location) {
        (Some(status), Ok(location)) if errors.is_empty() => {
            Ok(Arc::new(Redirection { status, location }))
        }
        _ => Err(errors),
    }
}

/// `to` as a Location value: an absolute http(s) URL, checked once.
fn location(to: &str) -> Result<HeaderValue, &'static str> {
    if to.contains("${") {
        return Err("${...} expressions are not supported by komainu yet");
    }
    let uri: Uri = to
        .parse()
        .map_err(|_| "must be an absolute http:// or https:// URL")?;
    let http = matches!(uri.scheme_str(), Some("http" | "https"));
    let host = uri.host().is_some_and(|h| !h.is_empty());
    if !(http && host) {
        return Err("must be an absolute http:// or https:// URL");
    }
    HeaderValue::from_str(to).map_err(|_| "must be an absolute http:// or https:// URL")
}

impl Plugin for Redirection {
    fn pre_route(&self, _request: &mut RequestCtx<'_>) -> Flow {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(LOCATION, self.location.clone());
        Flow::Answer(response)
    }
}

#[cfg(test)]
mod tests {
    use super::location;

    #[test]
    fn locations() {
        assert!(location("https://a.test/x?y=1").is_ok());
        assert!(location("http://a.test:8080").is_ok());
        assert!(location("/relative").is_err());
        assert!(location("ftp://a.test/").is_err());
        assert!(location("https://a.test/${req.path}").is_err());
        assert!(location("").is_err());
    }
}
