//! The listeners: HTTP (HTTP/1.1 and h2c prior knowledge) and HTTPS (ALPN h2
//! or http/1.1) share one connection-serving path, so both apply the same
//! limits, the same host dispatch (admin API or proxy) and the same graceful
//! shutdown. Only what precedes it differs: an HTTPS connection first does
//! its TLS handshake, in its own task, so that a stalled or garbage
//! handshake never holds up the accept loop or other connections.
//! Connection caps (`conn_caps`) apply at accept, the connection deadlines
//! (`lifecycle`) while it is served, and the listener's own answers and
//! refusals (`edge`) before dispatch.

mod client_io;
mod conn_caps;
mod edge;
mod lifecycle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use proxy::body::{ProxyBody, boxed};
use proxy::{Proxy, host};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;
use transport::conn::ConnInfo;

use self::client_io::{ClientIo, Protocol};
use self::conn_caps::{ConnCaps, Slot};
use self::lifecycle::{Activity, Deadlines};
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
        match edge::check(&request) {
            Ok(None) => {}
            Ok(Some(answer)) => return answer,
            Err(refusal) => return refusal.into_response(),
        }
        let host = host::request_host(&request);
        let for_admin = host.is_some_and(|h| h.eq_ignore_ascii_case(&self.admin_host))
            || [admin::HEALTH_PATH, admin::METRICS_PATH].contains(&request.uri().path());
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
                return edge::Refusal::ClientCertificateRequired.into_response();
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

/// Limits applied to every client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The request head must arrive within this (slowloris).
    pub header_read_timeout: Duration,
    /// A larger request head is answered 431.
    pub max_header_size: usize,
    /// Connections without a request in flight (or upgraded ones without
    /// traffic) are closed after this.
    pub idle_timeout: Duration,
    /// Client connections open at once, node-wide and per client address
    /// (0: no per-client cap).
    pub max_connections: usize,
    pub max_connections_per_client: usize,
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
    let (closing, closing_seen) = watch::channel(false);
    let connections = Connections {
        builders: Arc::new(Builders::new(&limits)),
        dispatch: Arc::new(dispatch),
        deadlines: Deadlines {
            header_read: limits.header_read_timeout,
            idle: limits.idle_timeout,
        },
        closing: closing_seen,
    };
    let caps = ConnCaps::new(
        limits.max_connections,
        limits.max_connections_per_client,
        connections.dispatch.proxy.metrics.clone(),
    );
    let Listeners { http, https, tls } = listeners;
    // Each connection task holds a sender: once all are gone, recv() ends.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = http.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over a cap: dropped here, closed at once.
                    if let Ok(slot) = caps.admit(peer.ip()) {
                        let _ = stream.set_nodelay(true);
                        let connections = connections.clone();
                        let alive = alive.clone();
                        tokio::spawn(async move {
                            connections.serve(stream, peer, ConnInfo::PLAIN, None, slot).await;
                            drop(alive);
                        });
                    }
                }
                Err(e) => accept_failed(e).await,
            },
            accepted = https.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Ok(slot) = caps.admit(peer.ip()) {
                        let connections = connections.clone();
                        let (tls, alive) = (tls.clone(), alive.clone());
                        tokio::spawn(async move {
                            connections.serve_tls(tls, stream, peer, slot).await;
                            drop(alive);
                        });
                    }
                }
                Err(e) => accept_failed(e).await,
            },
            _ = &mut shutdown => break,
        }
    }
    drop((http, https, alive));
    // Handshakes in progress give up; served connections shut down gracefully.
    let _ = closing.send(true);
    tokio::select! {
        _ = all_closed.recv() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over, closing remaining connections"),
    }
}

/// hyper's servers, one per protocol: a connection's first bytes (or its
/// ALPN) choose one, and it serves the connection directly.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new(limits: &Limits) -> Self {
        let mut http1 = http1::Builder::new();
        // The head deadline is the connection supervisor's (`lifecycle`):
        // hyper's would set and clear a timer on every request.
        http1
            .header_read_timeout(None)
            .max_buf_size(limits.max_header_size);
        // Pings find HTTP/2 clients that vanished with a stream open; an idle
        // connection is closed by the lifecycle whether it answers them or not.
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(limits.idle_timeout)
            .keep_alive_timeout(limits.header_read_timeout)
            .max_header_list_size(limits.max_header_size as u32);
        Self { http1, http2 }
    }
}

/// Out of file descriptors and the like: back off instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// What serving one connection needs, cloned into its task.
#[derive(Clone)]
struct Connections {
    builders: Arc<Builders>,
    /// Shared: each request holds it, and one reference count is cheaper
    /// than a `Dispatch` clone's one per router, host and proxy.
    dispatch: Arc<Dispatch>,
    deadlines: Deadlines,
    /// Turns true when the node shuts down.
    closing: watch::Receiver<bool>,
}

impl Connections {
    /// The TLS handshake, then the same serving as plain HTTP. A failed
    /// handshake (garbage, timeout, no certificate for the name, a refused
    /// client certificate) is the client's problem: debug log and a counter.
    async fn serve_tls(self, tls: Tls, stream: TcpStream, peer: SocketAddr, slot: Slot) {
        let _ = stream.set_nodelay(true);
        let mut closing = self.closing.clone();
        // A half-open TLS client must not hold shutdown for the whole
        // handshake timeout.
        let handshake = tokio::select! {
            done = tls.handshake(stream) => done,
            _ = closing.wait_for(|closing| *closing) => return,
        };
        match handshake {
            Ok((stream, info)) => {
                let protocol = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Some(Protocol::Http2),
                    Some(b"http/1.1") => Some(Protocol::Http1),
                    // No ALPN: told by the first bytes, as in clear.
                    _ => None,
                };
                self.serve(stream, peer, info, protocol, slot).await
            }
            Err(reason) => {
                self.dispatch.proxy.metrics.tls_handshake_failures.inc();
                tracing::debug!(%peer, %reason, "TLS handshake failed");
            }
        }
    }

    /// Serves HTTP/1.1 or HTTP/2 on `stream`: `protocol` when ALPN chose
    /// it, otherwise told by the first bytes. Every request carries `info`
    /// as an extension.
    async fn serve<S>(
        self,
        stream: S,
        peer: SocketAddr,
        info: ConnInfo,
        protocol: Option<Protocol>,
        slot: Slot,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let metrics = &self.dispatch.proxy.metrics;
        metrics.open_connections.inc();
        let mut io = ClientIo::new(stream, slot);
        let protocol = match protocol {
            Some(protocol) => Some(protocol),
            None => {
                lifecycle::choose_protocol(&mut io, &self.deadlines, self.closing.clone(), metrics)
                    .await
            }
        };
        let Some(protocol) = protocol else {
            metrics.open_connections.dec();
            return;
        };
        let activity = Activity::new(matches!(protocol, Protocol::Http1));
        let dispatch = self.dispatch.clone();
        let requests = activity.clone();
        let handle = move |mut request: Request<Incoming>| {
            // A request without it came over plain HTTP: a plain
            // connection's requests skip the extension map's allocations.
            if info != ConnInfo::PLAIN {
                request.extensions_mut().insert(info);
            }
            let in_flight = requests.begin();
            let dispatch = dispatch.clone();
            async move {
                let response = dispatch.handle(request, peer).await;
                Ok::<_, Infallible>(response.map(|body| lifecycle::track(body, in_flight)))
            }
        };
        let io = TokioIo::new(io);
        match protocol {
            Protocol::Http1 => {
                let connection = self
                    .builders
                    .http1
                    .serve_connection(io, service_fn(handle))
                    .with_upgrades();
                tokio::pin!(connection);
                lifecycle::supervise(
                    connection.as_mut(),
                    |connection| connection.graceful_shutdown(),
                    &activity,
                    &self.deadlines,
                    self.closing.clone(),
                    metrics,
                )
                .await;
            }
            Protocol::Http2 => {
                // Each stream's future is boxed as it is made: it is
                // kilobytes, and hyper moves it into a task of its own
                // several copies deep (memmove was 12% of the samples
                // under h2load), where a box is a pointer: 0.88 of the CPU
                // per h2 request. HTTP/1 moves it once; boxing there cost
                // more than it saved (1.09 in one run under load).
                let service = service_fn(move |request| Box::pin(handle(request)));
                let connection = self.builders.http2.serve_connection(io, service);
                tokio::pin!(connection);
                lifecycle::supervise(
                    connection.as_mut(),
                    |connection| connection.graceful_shutdown(),
                    &activity,
                    &self.deadlines,
                    self.closing.clone(),
                    metrics,
                )
                .await;
            }
        }
        metrics.open_connections.dec();
    }
}
