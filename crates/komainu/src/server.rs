//! The HTTP listener: accepts HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on
//! one port, sends requests for the admin host to the admin API and answers
//! the rest (the data plane comes with the proxy), and drains in-flight
//! requests on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Routes one request by its host.
#[derive(Clone)]
pub struct Dispatch {
    pub admin_host: Arc<str>,
    pub admin: Router,
}

impl Dispatch {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let for_admin = request_host(&request)
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.admin_host))
            || request.uri().path() == admin::HEALTH_PATH;
        if for_admin {
            match self.admin.clone().oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        } else {
            no_route(&request)
        }
    }
}

/// The host a request is for, without port: the URI authority (HTTP/2,
/// absolute-form) or the Host header.
fn request_host<B>(request: &Request<B>) -> Option<&str> {
    let raw = match request.uri().authority() {
        Some(authority) => authority.host(),
        None => request.headers().get(header::HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(v6, _)| v6.trim_start_matches('['));
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn no_route<B>(request: &Request<B>) -> Response<Body> {
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("no route for host '{}'", request_host(request).unwrap_or("")),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves until `shutdown` resolves, then stops accepting and gives
/// in-flight requests up to `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    dispatch: Dispatch,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let dispatch = dispatch.clone();
                    let service = service_fn(move |request| {
                        let dispatch = dispatch.clone();
                        async move { Ok::<_, Infallible>(dispatch.handle(request).await) }
                    });
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over, closing remaining connections"),
    }
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
