use http::Request;
use http::header::HOST;

/// The host a request is for, without port: the URI authority (HTTP/2,
/// absolute-form) or the Host header.
pub fn request_host<B>(request: &Request<B>) -> Option<&str> {
    let raw = match request.uri().authority() {
        Some(authority) => authority.host(),
        None => request.headers().get(HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}

pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(v6, _)| v6.trim_start_matches('['));
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("api.oto.tools:8080"), "api.oto.tools");
        assert_eq!(strip_port("api.oto.tools"), "api.oto.tools");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("[::1]"), "::1");
    }
}
