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
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::render::render;
use crate::step::Step;
use crate::template::Template;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.Redirection",
    name: "Redirection",
    description: "Redirects every call to `to` with the redirect status `code` (303 by default); `to` may hold `${...}` expressions after its scheme.",
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
    location: Location,
}

/// Where to: fixed, checked once, or rendered per call.
enum Location {
    Fixed(HeaderValue),
    Rendered(Template),
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

const NOT_A_URL: &str = "must be an absolute http:// or https:// URL";

/// `to` as a Location: without expressions an absolute http(s) URL checked
/// once; with some, its text before the first one must start with
/// `http://` or `https://` (the URL is checked again once rendered).
fn location(to: &str) -> Result<Location, String> {
    let template = Template::parse(to)?;
    match template.constant() {
        Some(to) => fixed_location(&to)
            .map(Location::Fixed)
            .map_err(str::to_string),
        None => {
            let prefix = template.literal_prefix().to_ascii_lowercase();
            if !(prefix.starts_with("http://") || prefix.starts_with("https://")) {
                return Err(format!(
                    "{NOT_A_URL}; with expressions, it must start with http:// or https:// before the first one"
                ));
            }
            if template
                .literals()
                .any(|text| HeaderValue::from_str(text).is_err())
            {
                return Err(NOT_A_URL.to_string());
            }
            Ok(Location::Rendered(template))
        }
    }
}

fn fixed_location(to: &str) -> Result<HeaderValue, &'static str> {
    let uri: Uri = to.parse().map_err(|_| NOT_A_URL)?;
    let http = matches!(uri.scheme_str(), Some("http" | "https"));
    let host = uri.host().is_some_and(|h| !h.is_empty());
    if !(http && host) {
        return Err(NOT_A_URL);
    }
    HeaderValue::from_str(to).map_err(|_| NOT_A_URL)
}

impl Plugin for Redirection {
    fn pre_route(&self, request: &mut RequestCtx<'_>) -> Flow {
        let location = match &self.location {
            Location::Fixed(value) => value.clone(),
            Location::Rendered(template) => {
                let mut to = String::new();
                render(template, &request.lookup(), &mut to);
                match fixed_location(&to) {
                    Ok(value) => value,
                    // What the request brought (a header with spaces, say)
                    // made the URL invalid: no redirect to a broken place.
                    Err(_) => {
                        return Flow::Answer(json_answer(
                            StatusCode::BAD_REQUEST,
                            "bad_request",
                            "the redirect location built from this request is not a valid URL",
                        ));
                    }
                }
            }
        };
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = self.status;
        response.headers_mut().insert(LOCATION, location);
        Flow::Answer(response)
    }
}

#[cfg(test)]
mod tests {
    use super::{Location, location};

    #[test]
    fn locations() {
        assert!(matches!(
            location("https://a.test/x?y=1"),
            Ok(Location::Fixed(_))
        ));
        assert!(location("http://a.test:8080").is_ok());
        assert!(location("/relative").is_err());
        assert!(location("ftp://a.test/").is_err());
        assert!(location("").is_err());
        assert!(matches!(
            location("https://a.test${req.path}"),
            Ok(Location::Rendered(_))
        ));
        assert!(location("HTTPS://${req.host}/x").is_ok());
        // The scheme must be written, not taken from the request.
        assert!(location("${req.headers.to}").is_err());
        assert!(location("/x${req.path}").is_err());
        assert!(location("https://a.test/${nope}").is_err());
        assert!(location("https://a.test/${req.path").is_err());
    }
}
