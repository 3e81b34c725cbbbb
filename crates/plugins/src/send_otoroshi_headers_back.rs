//! SendOtoroshiHeadersBack: the client learns the request's id, when it
//! arrived, how long the gateway and the backend took, and, when an API key
//! was counted, the calls it has left today and this month. The backend's
//! own headers under those names are replaced.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Plugin, ResponseCtx};
use crate::headers::remove_all;
use crate::numbers;
use crate::otoroshi_headers_in::{REQUEST_ID, REQUEST_TIMESTAMP};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.SendOtoroshiHeadersBack",
    name: "Send Otoroshi headers back",
    description: "Adds Otoroshi-Request-Id, Otoroshi-Request-Timestamp, Otoroshi-Proxy-Latency, Otoroshi-Upstream-Latency (-1 when no backend was called) and, with an API key, Otoroshi-Daily-Calls-Remaining and Otoroshi-Monthly-Calls-Remaining to the response.",
    steps: &[Step::TransformResponse],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

pub static PROXY_LATENCY: HeaderName = HeaderName::from_static("otoroshi-proxy-latency");
pub static UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("otoroshi-upstream-latency");
pub static DAILY_REMAINING: HeaderName = HeaderName::from_static("otoroshi-daily-calls-remaining");
pub static MONTHLY_REMAINING: HeaderName =
    HeaderName::from_static("otoroshi-monthly-calls-remaining");

struct SendOtoroshiHeadersBack;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(SendOtoroshiHeadersBack))
}

impl Plugin for SendOtoroshiHeadersBack {
    fn reads_request(&self) -> bool {
        false
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        let call = response.call;
        let latency = response.latency;
        let headers = &mut *response.headers;
        headers.insert(REQUEST_ID.clone(), call.request_id_value());
        headers.insert(REQUEST_TIMESTAMP.clone(), call.request_timestamp());
        headers.insert(
            PROXY_LATENCY.clone(),
            numbers::header_value(latency.proxy_ms),
        );
        headers.insert(
            UPSTREAM_LATENCY.clone(),
            match latency.upstream_ms {
                Some(ms) => numbers::header_value(ms),
                None => HeaderValue::from_static("-1"),
            },
        );
        match call.remaining() {
            Some((daily, monthly)) => {
                headers.insert(DAILY_REMAINING.clone(), numbers::header_value(daily));
                headers.insert(MONTHLY_REMAINING.clone(), numbers::header_value(monthly));
            }
            // Usually absent: a pass over the names present costs less
            // than hashing these two long names.
            None => remove_all(headers, &[&DAILY_REMAINING, &MONTHLY_REMAINING]),
        }
    }
}
