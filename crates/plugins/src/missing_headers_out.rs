//! Sets headers on the response sent back only where the response has none
//! of that name (the backend's own value wins).

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Plugin, ResponseCtx};
use crate::header_list::{self, HeadersConfig};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.MissingHeadersOut",
    name: "Missing headers out",
    description: "Sets headers on the response sent to the client where the response has none of that name.",
    steps: &[Step::TransformResponse],
    build,
    default_config: config::defaults::<HeadersConfig>,
    config_schema: config::schema::<HeadersConfig>,
};

struct MissingHeadersOut(Box<[(HeaderName, HeaderValue)]>);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeadersConfig = config::parse(value)?;
    Ok(Arc::new(MissingHeadersOut(header_list::pairs(
        &config.headers,
    )?)))
}

impl Plugin for MissingHeadersOut {
    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        for (name, value) in self.0.iter() {
            if !response.headers.contains_key(name) {
                response.headers.insert(name.clone(), value.clone());
            }
        }
    }
}
