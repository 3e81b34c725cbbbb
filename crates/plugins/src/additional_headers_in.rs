//! Sets headers on the request sent upstream (replacing the client's).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::header_list::{self, HeaderList, HeadersConfig, Values};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.AdditionalHeadersIn",
    name: "Additional headers in",
    description: "Sets headers on the request sent to the backend.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<HeadersConfig>,
    config_schema: config::schema::<HeadersConfig>,
};

struct AdditionalHeadersIn(HeaderList);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeadersConfig = config::parse(value)?;
    Ok(Arc::new(AdditionalHeadersIn(header_list::pairs(
        &config.headers,
        Values::Expressions,
    )?)))
}

impl Plugin for AdditionalHeadersIn {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        self.0.set_on_request(request, false);
        Flow::Continue
    }
}
