//! Removes headers from the response sent back to the client.

use std::sync::Arc;

use http::HeaderName;
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Plugin, ResponseCtx};
use crate::header_list::{self, HeaderNamesConfig};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.RemoveHeadersOut",
    name: "Remove headers out",
    description: "Removes headers from the response sent to the client.",
    steps: &[Step::TransformResponse],
    build,
    default_config: config::defaults::<HeaderNamesConfig>,
    config_schema: config::schema::<HeaderNamesConfig>,
};

struct RemoveHeadersOut(Box<[HeaderName]>);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeaderNamesConfig = config::parse(value)?;
    Ok(Arc::new(RemoveHeadersOut(header_list::names(
        &config.header_names,
    )?)))
}

impl Plugin for RemoveHeadersOut {
    fn reads_request(&self) -> bool {
        false
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        for name in self.0.iter() {
            response.headers.remove(name);
        }
    }
}
