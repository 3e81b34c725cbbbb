//! MaintenanceMode and BuildMode: every call is answered 503 without
//! reaching the backend, as JSON, or as a small page for browsers.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const MAINTENANCE: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.MaintenanceMode",
    name: "Maintenance mode",
    description: "Answers every call with 503: the service is in maintenance.",
    steps: &[Step::PreRoute],
    build: build_maintenance,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

pub const BUILD: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.BuildMode",
    name: "Build mode",
    description: "Answers every call with 503: the service is under construction.",
    steps: &[Step::PreRoute],
    build: build_build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

struct Closed {
    error: &'static str,
    message: &'static str,
}

fn build_maintenance(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(Closed {
        error: "service_in_maintenance",
        message: "The service is in maintenance. Please try again later.",
    }))
}

fn build_build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(Closed {
        error: "service_under_construction",
        message: "The service is under construction. Please try again later.",
    }))
}

impl Plugin for Closed {
    fn pre_route(&self, request: &mut RequestCtx<'_>) -> Flow {
        Flow::Answer(closed(request.headers, self.error, self.message))
    }
}

/// The 503 answer: an HTML page for browsers, JSON for everyone else.
pub(crate) fn closed(
    headers: &http::HeaderMap,
    error: &'static str,
    message: &'static str,
) -> Response<Bytes> {
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return json_answer(StatusCode::SERVICE_UNAVAILABLE, error, message);
    }
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{message}</title></head><body><h1>{message}</h1></body></html>"
    );
    let mut response = Response::new(Bytes::from(page));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
