//! Otoroshi's `ForceHttpsTraffic` plugin: a plain-HTTP request to the route
//! is answered `301` to the same host, path and query over HTTPS, before any
//! other check (it is a pre-route plugin in Otoroshi, so an API key is never
//! asked for, nor sent, over plain HTTP).

use http::header::LOCATION;
use http::{HeaderValue, Response, StatusCode};

use crate::body::{ProxyBody, empty};

/// `https://host[:port]/path?query`, the port left out when it is 443.
pub fn location(host: &str, path_and_query: &str, https_port: u16) -> String {
    // `host` comes without its port, and IPv6 literals without brackets.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path_and_query = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    if https_port == 443 {
        format!("https://{host}{path_and_query}")
    } else {
        format!("https://{host}:{https_port}{path_and_query}")
    }
}

/// The 301 answer; `None` when the host makes no valid header value.
pub fn redirect(host: &str, path_and_query: &str, https_port: u16) -> Option<Response<ProxyBody>> {
    let value = HeaderValue::from_str(&location(host, path_and_query, https_port)).ok()?;
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    response.headers_mut().insert(LOCATION, value);
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_left_out_only_when_it_is_443() {
        assert_eq!(
            location("api.oto.tools", "/a?b=1", 443),
            "https://api.oto.tools/a?b=1"
        );
        assert_eq!(
            location("api.oto.tools", "/a", 8443),
            "https://api.oto.tools:8443/a"
        );
        assert_eq!(location("::1", "", 8443), "https://[::1]:8443/");
    }

    #[test]
    fn a_host_that_is_no_header_value_gives_no_redirect() {
        assert!(redirect("bad\nhost", "/", 443).is_none());
        let response = redirect("x.test", "/p", 443).unwrap();
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(response.headers()[LOCATION], "https://x.test/p");
    }
}
