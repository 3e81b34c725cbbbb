//! Sets headers on the request sent upstream only where the request has none
//! of that name (the client's own value wins).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::header_list::{self, HeaderList, HeadersConfig, Values};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.MissingHeadersIn",
    name: "Missing headers in",
    description: "Sets headers on the request sent to the backend where the request has none of that name.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<HeadersConfig>,
    config_schema: config::schema::<HeadersConfig>,
};

struct MissingHeadersIn(HeaderList);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeadersConfig = config::parse(value)?;
    Ok(Arc::new(MissingHeadersIn(header_list::pairs(
        &config.headers,
        Values::Expressions,
    )?)))
}

impl Plugin for MissingHeadersIn {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        self.0.set_on_request(request, true);
        Flow::Continue
    }
}
