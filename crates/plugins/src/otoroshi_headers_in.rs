//! OtoroshiHeadersIn: the backend gets the request's id, the host the client
//! asked for and when the request arrived, replacing what the client sent
//! under those names.

use std::sync::Arc;

use http::HeaderName;
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::headers::remove_all;
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.OtoroshiHeadersIn",
    name: "Otoroshi headers in",
    description: "Sends the backend Otoroshi-Request-Id, Otoroshi-Proxied-Host and Otoroshi-Request-Timestamp.",
    steps: &[Step::TransformRequest],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("otoroshi-request-id");
static PROXIED_HOST: HeaderName = HeaderName::from_static("otoroshi-proxied-host");
pub static REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("otoroshi-request-timestamp");
/// Otoroshi removes it too: a client must not pose as a parent request.
static PARENT_REQUEST: HeaderName = HeaderName::from_static("otoroshi-parent-request");

struct OtoroshiHeadersIn;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(OtoroshiHeadersIn))
}

impl Plugin for OtoroshiHeadersIn {
    fn transform_request(&self, request: &mut RequestCtx<'_>) -> Flow {
        let call = request.services.call();
        let headers = &mut *request.headers;
        remove_all(headers, &[&PARENT_REQUEST]);
        match call.proxied_host() {
            Some(host) => headers.insert(PROXIED_HOST.clone(), host),
            None => headers.remove(&PROXIED_HOST),
        };
        headers.insert(REQUEST_ID.clone(), call.request_id_value());
        headers.insert(REQUEST_TIMESTAMP.clone(), call.request_timestamp());
        Flow::Continue
    }
}
