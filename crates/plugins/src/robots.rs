//! Robots: serves the route's `/robots.txt` itself (before access checks,
//! so crawlers read it on protected routes too) and tags responses with
//! `X-Robots-Tag`. Otoroshi's `meta_enabled` rewrites HTML bodies; komainu
//! has no body step yet, so it is off by default and refused when set.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, ResponseCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.Robots",
    name: "Robots",
    description: "Answers GET /robots.txt with `robot_txt_content` and sets `X-Robots-Tag: header_content` on responses.",
    steps: &[Step::PreRoute, Step::TransformResponse],
    build,
    default_config: config::defaults::<RobotsConfig>,
    config_schema: config::schema::<RobotsConfig>,
};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct RobotsConfig {
    pub robot_txt_enabled: bool,
    pub robot_txt_content: String,
    /// Not supported yet (needs a response body step); must stay false.
    pub meta_enabled: bool,
    pub meta_content: String,
    pub header_enabled: bool,
    pub header_content: String,
}

impl Default for RobotsConfig {
    fn default() -> Self {
        // Otoroshi's defaults, but `meta_enabled` (true there).
        Self {
            robot_txt_enabled: true,
            robot_txt_content: "User-agent: *\nDisallow: /\n".into(),
            meta_enabled: false,
            meta_content: "noindex,nofollow,noarchive".into(),
            header_enabled: true,
            header_content: "noindex, nofollow, noarchive".into(),
        }
    }
}

struct Robots {
    robots_txt: Option<Bytes>,
    header: Option<HeaderValue>,
}

const X_ROBOTS_TAG: HeaderName = HeaderName::from_static("x-robots-tag");

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: RobotsConfig = config::parse(value)?;
    let mut errors = Vec::new();
    if config.meta_enabled {
        errors.push(ConfigError::new(
            "meta_enabled",
            "rewriting HTML bodies is not supported by komainu yet; set meta_enabled to false (header_enabled sets X-Robots-Tag instead)",
        ));
    }
    let header = if config.header_enabled {
        match HeaderValue::from_str(config.header_content.trim()) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                errors.push(ConfigError::new(
                    "header_content",
                    "must be a non-empty header value (visible ASCII and spaces)",
                ));
                None
            }
        }
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let robots_txt = config
        .robot_txt_enabled
        .then(|| Bytes::from(config.robot_txt_content));
    Ok(Arc::new(Robots { robots_txt, header }))
}

impl Plugin for Robots {
    fn pre_route(&self, request: &mut RequestCtx<'_>) -> Flow {
        let Some(content) = &self.robots_txt else {
            return Flow::Continue;
        };
        let read = *request.method == Method::GET || *request.method == Method::HEAD;
        if !read || request.path != "/robots.txt" {
            return Flow::Continue;
        }
        let mut response = Response::new(content.clone());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Flow::Answer(response)
    }

    fn reads_request(&self) -> bool {
        false
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        if let Some(value) = &self.header {
            response.headers.insert(X_ROBOTS_TAG, value.clone());
        }
    }
}
