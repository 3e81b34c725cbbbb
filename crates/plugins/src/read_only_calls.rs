//! Only reads pass: GET, HEAD and OPTIONS; anything else is answered 405.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.ReadOnlyCalls",
    name: "Read only calls",
    description: "Lets only GET, HEAD and OPTIONS through; other methods get 405.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

struct ReadOnlyCalls;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(ReadOnlyCalls))
}

impl Plugin for ReadOnlyCalls {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        if matches!(
            *request.method,
            Method::GET | Method::HEAD | Method::OPTIONS
        ) {
            Flow::Continue
        } else {
            Flow::Answer(json_answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route is read-only: only GET, HEAD and OPTIONS are allowed",
            ))
        }
    }
}
