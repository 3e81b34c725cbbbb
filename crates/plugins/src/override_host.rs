//! The Host sent upstream is the target's `host:port`, not the client's.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.OverrideHost",
    name: "Override host header",
    description: "Sends the target's host:port as the Host header instead of the client's.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

struct OverrideHost;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(OverrideHost))
}

impl Plugin for OverrideHost {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        request.override_host = true;
        Flow::Continue
    }
}
