//! Calls to plain HTTP/1 targets on hyper's low-level connections, driven
//! by the request's own task: the exchange polls the connection and the
//! response together, and the response body keeps driving it (see `body`).
//! The legacy pooled client put a task and channels behind every
//! connection and a global lock around its pool; here a request takes a
//! parked connection from its thread's shard (`pool`) or opens one.
//!
//! What the legacy client did for us and is kept: the Host header when the
//! request has none, the origin-form target, TCP_NODELAY, the connect
//! timeout, and a request that a reused connection could not take (closed
//! by the backend while parked) is sent again on another connection.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HOST;
use http::uri::Authority;
use http::{HeaderValue, Method, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::body::{Driver, UpstreamBody};
use super::pool::{Conn, Idle, IdlePool, Target};
use super::{CallError, failure};
use crate::body::ProxyBody;

pub(super) struct PlainClient {
    pool: Arc<IdlePool>,
    builder: http1::Builder,
}

type Exchanged = Result<Response<Incoming>, TrySendError<Request<ProxyBody>>>;

impl PlainClient {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            pool: IdlePool::new(idle_timeout),
            builder: http1::Builder::new(),
        }
    }

    /// Sends `request` (absolute URI, `http`) and waits for the response
    /// head. `upgrade`: the client asked to switch protocols, so the
    /// connection is a fresh one, driven by its own task, which hands it
    /// over on a 101.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        connect_timeout: Duration,
        upgrade: bool,
        now: Instant,
    ) -> Result<Response<UpstreamBody>, CallError> {
        let (authority, mut request) = origin_form(request)?;
        if upgrade {
            return self
                .send_upgrade(&authority, request, connect_timeout)
                .await;
        }
        let target = Target(authority);
        // Parked connections first; one the backend closed meanwhile gives
        // the request back unsent, and the next one is tried.
        while let Some(idle) = self.pool.checkout(&target, now) {
            match exchange(idle, request).await {
                Ok((response, conn)) => return Ok(self.driven(response, conn, target)),
                Err(Unsent(again)) => request = *again,
                Err(Sent(error)) => return Err(error),
            }
        }
        let idle = self.open(&target.0, connect_timeout).await?;
        match exchange(idle, request).await {
            Ok((response, conn)) => Ok(self.driven(response, conn, target)),
            Err(Unsent(_)) => Err(CallError::Failed(
                "the new backend connection closed before the request was sent".into(),
            )),
            Err(Sent(error)) => Err(error),
        }
    }

    fn driven(
        &self,
        response: Response<Incoming>,
        idle: Option<Idle>,
        target: Target,
    ) -> Response<UpstreamBody> {
        response.map(|incoming| match idle {
            Some(idle) => UpstreamBody::driven(
                incoming,
                Driver {
                    idle,
                    target,
                    pool: self.pool.clone(),
                },
            ),
            None => UpstreamBody::detached(incoming),
        })
    }

    async fn send_upgrade(
        &self,
        target: &Authority,
        request: Request<ProxyBody>,
        connect_timeout: Duration,
    ) -> Result<Response<UpstreamBody>, CallError> {
        let Idle { mut sender, conn } = self.open(target, connect_timeout).await?;
        // Never parked: it serves this request and, after a 101, is handed
        // to the relay; otherwise it ends when the sender is dropped.
        tokio::spawn(async move {
            if let Err(error) = (*conn).with_upgrades().await {
                tracing::debug!(%error, "upstream connection of an upgrade ended with an error");
            }
        });
        match sender.send_request(request).await {
            Ok(response) => Ok(response.map(UpstreamBody::detached)),
            Err(error) => Err(failure(&error)),
        }
    }

    /// A new connection to `target`, within `connect_timeout` (name
    /// resolution included): each address in turn.
    async fn open(&self, target: &Authority, connect_timeout: Duration) -> Result<Idle, CallError> {
        let stream = tokio::time::timeout(connect_timeout, connect(target))
            .await
            .map_err(|_| {
                CallError::Connect(format!(
                    "tcp connect error: timed out after {} ms",
                    connect_timeout.as_millis()
                ))
            })??;
        let (sender, conn) = self
            .builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| CallError::Connect(e.to_string()))?;
        Ok(Idle {
            sender,
            conn: Box::new(conn),
        })
    }
}

async fn connect(target: &Authority) -> Result<TcpStream, CallError> {
    let host = target.host();
    // An IPv6 literal is bracketed in an authority, not in an address.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = target.port_u16().unwrap_or(80);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| CallError::Connect(format!("dns error: {e}")))?
        .collect();
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(CallError::Connect(match last {
        Some(e) => format!("tcp connect error: {e}"),
        None => format!("dns error: no address for {host}"),
    }))
}

/// The target's authority, and the request as HTTP/1 sends it to an
/// origin: origin-form target (authority-form for CONNECT) and a Host.
fn origin_form(request: Request<ProxyBody>) -> Result<(Authority, Request<ProxyBody>), CallError> {
    let (mut head, body) = request.into_parts();
    let mut uri = std::mem::take(&mut head.uri).into_parts();
    let target = uri
        .authority
        .take()
        .ok_or_else(|| CallError::Failed("the upstream URI has no authority".into()))?;
    if !head.headers.contains_key(HOST) {
        head.headers.insert(HOST, host_value(&target)?);
    }
    head.uri = if head.method == Method::CONNECT {
        Uri::from(target.clone())
    } else {
        let mut origin = http::uri::Parts::default();
        origin.path_and_query = uri.path_and_query;
        Uri::from_parts(origin).map_err(|e| CallError::Failed(e.to_string()))?
    };
    Ok((target, Request::from_parts(head, body)))
}

/// `host`, or `host:port` when the port is not HTTP's default.
fn host_value(target: &Authority) -> Result<HeaderValue, CallError> {
    let value = match target.port_u16() {
        Some(port) if port != 80 => HeaderValue::from_str(target.as_str()),
        _ => HeaderValue::from_str(target.host()),
    };
    value.map_err(|e| CallError::Failed(e.to_string()))
}

enum NotAnswered {
    /// The connection could not take it: the request comes back.
    Unsent(Box<Request<ProxyBody>>),
    /// It failed after (part of) the request left: not to be repeated.
    Sent(CallError),
}
use NotAnswered::{Sent, Unsent};

/// Sends the request on `idle` and polls the connection until the
/// response head is in. The connection comes back with the response,
/// unless it already closed (`Connection: close`, or a body it ended).
async fn exchange(
    Idle { mut sender, conn }: Idle,
    request: Request<ProxyBody>,
) -> Result<(Response<Incoming>, Option<Idle>), NotAnswered> {
    let mut conn: Option<Box<Conn>> = Some(conn);
    let mut response = pin!(sender.try_send_request(request));
    let answered: Exchanged = poll_fn(|cx| {
        if let Some(driving) = conn.as_mut()
            && Pin::new(driving).poll(cx).is_ready()
        {
            // Ended: its outcome reaches the response future too.
            conn = None;
        }
        response.as_mut().poll(cx)
    })
    .await;
    match answered {
        Ok(response) => Ok((response, conn.map(|conn| Idle { sender, conn }))),
        Err(mut error) => match error.take_message() {
            Some(request) => Err(Unsent(Box::new(request))),
            None => Err(Sent(failure(error.error()))),
        },
    }
}
