//! The HTTP listener: accepts HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on
//! one port, sends requests for the admin host to the admin API and the rest
//! to the proxy, and drains in-flight requests on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use proxy::body::{ProxyBody, boxed};
use proxy::{Proxy, host};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Routes one request by its host.
#[derive(Clone)]
pub struct Dispatch {
    pub admin_host: Arc<str>,
    pub admin: Router,
    pub proxy: Arc<Proxy>,
}

impl Dispatch {
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        let for_admin = host::request_host(&request)
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.admin_host))
            || request.uri().path() == admin::HEALTH_PATH;
        if for_admin {
            match self.admin.clone().oneshot(request.map(Body::new)).await {
                Ok(response) => response.map(boxed),
                Err(never) => match never {},
            }
        } else {
            self.proxy.handle(request, peer).await
        }
    }
}

/// Limits applied to every client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The request head must arrive within this (slowloris).
    pub header_read_timeout: Duration,
    /// A larger request head is answered 431.
    pub max_header_size: usize,
}

/// Serves until `shutdown` resolves, then stops accepting and gives
/// in-flight requests up to `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    dispatch: Dispatch,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_size);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_size as u32);
    let graceful = GracefulShutdown::new();
    let open = dispatch.proxy.metrics.open_connections.clone();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let dispatch = dispatch.clone();
                    let service = service_fn(move |request| {
                        let dispatch = dispatch.clone();
                        async move { Ok::<_, Infallible>(dispatch.handle(request, peer).await) }
                    });
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    let connection = graceful.watch(connection);
                    let open = open.clone();
                    open.inc();
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        open.dec();
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
