//! XForwardedHeaders: the backend learns who called, over which scheme and
//! for which host (`X-Forwarded-For`, `-Proto`, `-Host`, and `X-Real-IP`).
//! What a client sends in those headers is never believed unless its peer is
//! a trusted proxy (`proxy.trustedProxies`); the node strips it before any
//! plugin runs, whether or not the route carries this plugin.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.XForwardedHeaders",
    name: "X-Forwarded-* headers",
    description: "Sends the backend X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP. A route that lists none of XForwardedHeaders, OtoroshiHeadersIn and SendOtoroshiHeadersBack gets all three.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

struct XForwardedHeaders;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(XForwardedHeaders))
}

impl Plugin for XForwardedHeaders {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        request.services.add_forwarded(request.headers);
        Flow::Continue
    }
}
