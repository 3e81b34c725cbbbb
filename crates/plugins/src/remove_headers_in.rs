//! Removes headers from the request sent upstream.

use std::sync::Arc;

use http::HeaderName;
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::header_list::{self, HeaderNamesConfig};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.RemoveHeadersIn",
    name: "Remove headers in",
    description: "Removes headers from the request sent to the backend.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<HeaderNamesConfig>,
    config_schema: config::schema::<HeaderNamesConfig>,
};

struct RemoveHeadersIn(Box<[HeaderName]>);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeaderNamesConfig = config::parse(value)?;
    Ok(Arc::new(RemoveHeadersIn(header_list::names(
        &config.header_names,
    )?)))
}

impl Plugin for RemoveHeadersIn {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        for name in self.0.iter() {
            request.headers.remove(name);
        }
        Flow::Continue
    }
}
