//! Sets headers on the response sent back only where the response has none
//! of that name (the backend's own value wins).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Plugin, ResponseCtx};
use crate::header_list::{self, HeaderList, HeadersConfig, Values};
use crate::registry::Descriptor;
use crate::step::Step;
use crate::template::Reads;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.MissingHeadersOut",
    name: "Missing headers out",
    description: "Sets headers on the response sent to the client where the response has none of that name.",
    steps: &[Step::TransformResponse],
    build,
    default_config: config::defaults::<HeadersConfig>,
    config_schema: config::schema::<HeadersConfig>,
};

struct MissingHeadersOut(HeaderList);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeadersConfig = config::parse(value)?;
    Ok(Arc::new(MissingHeadersOut(header_list::pairs(
        &config.headers,
        Values::Expressions,
    )?)))
}

impl Plugin for MissingHeadersOut {
    fn reads_request(&self) -> bool {
        false
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        self.0.set_on_response(response, true);
    }

    fn response_reads(&self, reads: &mut Reads) {
        self.0.reads(reads);
    }
}
