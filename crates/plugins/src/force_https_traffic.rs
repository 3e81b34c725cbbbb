//! Plain-HTTP calls are redirected to the same URL over HTTPS with a 303,
//! as Otoroshi does, to this node's HTTPS port.

use std::sync::Arc;

use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.ForceHttpsTraffic",
    name: "Force HTTPS traffic",
    description: "Redirects plain-HTTP calls (303) to the same URL over HTTPS.",
    steps: &[Step::PreRoute],
    build,
    default_config: config::defaults::<NoConfig>,
    config_schema: config::schema::<NoConfig>,
};

struct ForceHttpsTraffic;

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let _: NoConfig = config::parse(value)?;
    Ok(Arc::new(ForceHttpsTraffic))
}

/// `https://host[:port]/path?query`; the port is left out when it is 443.
pub fn location(host: &str, path_and_query: &str, https_port: u16) -> String {
    // An IPv6 literal needs its brackets back in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path_and_query = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    match https_port {
        443 | 0 => format!("https://{host}{path_and_query}"),
        port => format!("https://{host}:{port}{path_and_query}"),
    }
}

impl Plugin for ForceHttpsTraffic {
    fn pre_route(&self, request: &mut RequestCtx<'_>) -> Flow {
        if request.tls {
            return Flow::Continue;
        }
        let target = location(
            request.host,
            request.path_and_query,
            request.services.https_port(),
        );
        let Ok(value) = HeaderValue::from_str(&target) else {
            return Flow::Answer(json_answer(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request cannot be redirected to HTTPS",
            ));
        };
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::SEE_OTHER;
        response.headers_mut().insert(LOCATION, value);
        Flow::Answer(response)
    }
}

#[cfg(test)]
mod tests {
    use super::location;

    #[test]
    fn locations() {
        assert_eq!(location("a.test", "/x?y=1", 443), "https://a.test/x?y=1");
        assert_eq!(location("a.test", "/", 8443), "https://a.test:8443/");
        assert_eq!(location("::1", "/", 8443), "https://[::1]:8443/");
        assert_eq!(location("a.test", "", 443), "https://a.test/");
    }
}
