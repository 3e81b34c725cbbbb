use http::Request;
use http::header::HOST;
use model::router::strip_port;

/// The host a request is for, without port: the URI authority (HTTP/2,
/// absolute-form) or the Host header.
pub fn request_host<B>(request: &Request<B>) -> Option<&str> {
    let raw = match request.uri().authority() {
        Some(authority) => authority.host(),
        None => request.headers().get(HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}
