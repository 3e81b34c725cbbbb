//! The listeners: HTTP (HTTP/1.1 and h2c prior knowledge) and HTTPS (ALPN h2
//! or http/1.1) share one connection-serving path, so both apply the same
//! limits, the same host dispatch (admin API or proxy) and the same graceful
//! shutdown. Only what precedes it differs: an HTTPS connection first does
//! its TLS handshake, in its own task, so that a stalled or garbage
//! handshake never holds up the accept loop or other connections.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use proxy::body::{ProxyBody, boxed, full};
use proxy::conn::ConnInfo;
use proxy::{Proxy, host};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::tls::Tls;

/// Routes one request by its host.
#[derive(Clone)]
pub struct Dispatch {
    pub admin_host: Arc<str>,
    pub admin: Router,
    /// The UI host and its router, on nodes that serve the UI.
    pub ui: Option<(Arc<str>, Router)>,
    pub proxy: Arc<Proxy>,
    /// `https.clientAuth` is `want` or `need`: the cluster endpoints then
    /// answer only clients that presented a verified certificate (workers
    /// must use mutual TLS), on either listener; the rest of the admin API
    /// and the proxy are unaffected.
    pub cluster_requires_client_certificate: bool,
}

/// The leader endpoints workers call.
const CLUSTER_PREFIX: &str = "/api/cluster/";

impl Dispatch {
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        let host = host::request_host(&request);
        let for_admin = host.is_some_and(|h| h.eq_ignore_ascii_case(&self.admin_host))
            || request.uri().path() == admin::HEALTH_PATH;
        let ui = self
            .ui
            .as_ref()
            .filter(|(ui_host, _)| host.is_some_and(|h| h.eq_ignore_ascii_case(ui_host)));
        if let (Some((_, ui)), false) = (ui, for_admin) {
            let mut request = request.map(Body::new);
            // The sign-in throttle counts attempts per client address.
            request.extensions_mut().insert(::ui::ClientAddr(peer.ip()));
            return answer_with(ui, request).await;
        }
        if for_admin {
            if self.cluster_requires_client_certificate
                && request.uri().path().starts_with(CLUSTER_PREFIX)
                && !ConnInfo::of(&request).client_certificate
            {
                return client_certificate_required();
            }
            answer_with(&self.admin, request.map(Body::new)).await
        } else {
            self.proxy.handle(request, peer).await
        }
    }
}

/// One request through an axum router (the admin API's or the UI's).
async fn answer_with(router: &Router, request: Request<Body>) -> Response<ProxyBody> {
    match router.clone().oneshot(request).await {
        Ok(response) => response.map(boxed),
        Err(never) => match never {},
    }
}

fn client_certificate_required() -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": "client_certificate_required",
        "error_description": "the cluster endpoints require a client certificate signed by https.clientCAPath (mutual TLS)",
    });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Limits applied to every client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The request head must arrive within this (slowloris).
    pub header_read_timeout: Duration,
    /// A larger request head is answered 431.
    pub max_header_size: usize,
}

/// The bound sockets of a node.
pub struct Listeners {
    pub http: TcpListener,
    pub https: TcpListener,
    pub tls: Tls,
}

/// Serves both listeners until `shutdown` resolves, then stops accepting and
/// gives in-flight requests up to `grace` to finish.
pub async fn serve(
    listeners: Listeners,
    dispatch: Dispatch,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let connections = Connections {
        builder: Arc::new(http_builder(&limits)),
        dispatch,
    };
    let Listeners { http, https, tls } = listeners;
    let graceful = GracefulShutdown::new();
    // Tells handshakes still in progress to give up: a half-open TLS client
    // must not hold shutdown for the whole handshake timeout.
    let (closing, closing_seen) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = http.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connections = connections.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        connections.serve(stream, peer, ConnInfo::PLAIN, watcher).await;
                    });
                }
                Err(e) => accept_failed(e).await,
            },
            accepted = https.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connections = connections.clone();
                    let watcher = graceful.watcher();
                    let (tls, closing) = (tls.clone(), closing_seen.clone());
                    tokio::spawn(connections.serve_tls(tls, stream, peer, watcher, closing));
                }
                Err(e) => accept_failed(e).await,
            },
            _ = &mut shutdown => break,
        }
    }
    drop((http, https));
    let _ = closing.send(true);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over, closing remaining connections"),
    }
}

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
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
    builder
}

/// Out of file descriptors and the like: back off instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// What serving one connection needs, cloned into its task.
#[derive(Clone)]
struct Connections {
    builder: Arc<auto::Builder<TokioExecutor>>,
    dispatch: Dispatch,
}

impl Connections {
    /// The TLS handshake, then the same serving as plain HTTP. A failed
    /// handshake (garbage, timeout, no certificate for the name, a refused
    /// client certificate) is the client's problem: debug log and a counter.
    async fn serve_tls(
        self,
        tls: Tls,
        stream: TcpStream,
        peer: SocketAddr,
        watcher: Watcher,
        mut closing: watch::Receiver<bool>,
    ) {
        let _ = stream.set_nodelay(true);
        let handshake = tokio::select! {
            done = tls.handshake(stream) => done,
            _ = closing.wait_for(|closing| *closing) => return,
        };
        match handshake {
            Ok((stream, info)) => self.serve(stream, peer, info, watcher).await,
            Err(reason) => {
                self.dispatch.proxy.metrics.tls_handshake_failures.inc();
                tracing::debug!(%peer, %reason, "TLS handshake failed");
            }
        }
    }

    /// Serves HTTP/1.1 or HTTP/2 (told apart by the preface) on `stream`;
    /// every request carries `info` as an extension.
    async fn serve<S>(self, stream: S, peer: SocketAddr, info: ConnInfo, watcher: Watcher)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let dispatch = self.dispatch.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(info);
            let dispatch = dispatch.clone();
            async move { Ok::<_, Infallible>(dispatch.handle(request, peer).await) }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let open = &self.dispatch.proxy.metrics.open_connections;
        open.inc();
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        open.dec();
    }
}
