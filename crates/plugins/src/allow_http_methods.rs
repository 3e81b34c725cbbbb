//! 405 for methods the route does not allow.

use std::sync::Arc;

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.AllowHttpMethods",
    name: "Allowed HTTP methods",
    description: "Answers 405 to methods not in `allowed` (when it is not empty) or in `forbidden`.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<AllowHttpMethodsConfig>,
    config_schema: config::schema::<AllowHttpMethodsConfig>,
};

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct AllowHttpMethodsConfig {
    pub allowed: Vec<String>,
    pub forbidden: Vec<String>,
}

struct AllowHttpMethods {
    allowed: Box<[Method]>,
    forbidden: Box<[Method]>,
}

fn methods(field: &str, names: &[String], errors: &mut Vec<ConfigError>) -> Box<[Method]> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let upper = name.trim().to_ascii_uppercase();
            match Method::from_bytes(upper.as_bytes()) {
                Ok(method) if !upper.is_empty() => Some(method),
                _ => {
                    errors.push(ConfigError::new(
                        format!("{field}[{i}]"),
                        "not an HTTP method",
                    ));
                    None
                }
            }
        })
        .collect()
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: AllowHttpMethodsConfig = config::parse(value)?;
    let mut errors = Vec::new();
    let allowed = methods("allowed", &config.allowed, &mut errors);
    let forbidden = methods("forbidden", &config.forbidden, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Arc::new(AllowHttpMethods { allowed, forbidden }))
}

impl Plugin for AllowHttpMethods {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        let method = request.method;
        let allowed = (self.allowed.is_empty() || self.allowed.contains(method))
            && !self.forbidden.contains(method);
        if allowed {
            Flow::Continue
        } else {
            Flow::Answer(json_answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!("method {method} is not allowed on this route"),
            ))
        }
    }
}
