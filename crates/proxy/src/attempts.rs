//! The upstream call of one request, with its retries: pick a target, send
//! the request head (and the client's body, streamed), and on a refused
//! connection try the next target when the request can be replayed (it has
//! no body). A switched protocol (WebSocket) is relayed from here.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http::header::HOST;
use http::request::Parts;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use live::body::{Counted, Direction};
use model::tls_index::TlsIndex;
use smallvec::SmallVec;

use crate::balancer::PickContext;
use crate::body::{ClientBodyError, ProxyBody, boxed, empty, limited};
use crate::error::ProxyError;
use crate::metrics::UpstreamErrorKind;
use crate::runtime::RouteRuntime;
use crate::service::Proxy;
use crate::upstream::{CallError, TlsTarget, UpstreamBody};

/// A request ready to go upstream.
pub(crate) struct Outbound<'a> {
    pub runtime: &'a RouteRuntime,
    pub certificates: &'a Arc<TlsIndex>,
    /// The caller as the node believes it (the client a trusted proxy
    /// names), which `IpAddressHash` hashes.
    pub client_ip: IpAddr,
    /// The request head as the plugins left it (hop-by-hop headers gone).
    pub head: Parts,
    pub body: Incoming,
    pub path_and_query: PathAndQuery,
    /// The Host the route was chosen by, sent unless `override_host`.
    pub host: Option<HeaderValue>,
    /// Send the target's `host:port` instead (OverrideHost).
    pub override_host: bool,
    /// RequestBodyLengthLimiter's limit on the streamed body.
    pub body_limit: Option<u64>,
    /// The client's side of a WebSocket upgrade, when it asked for one.
    pub client_upgrade: Option<OnUpgrade>,
}

/// The upstream's answer.
pub(crate) struct Answered {
    pub response: Response<UpstreamBody>,
    /// The sticky-session cookie value to set, when a new target was chosen.
    pub set_sticky: Option<String>,
    pub upstream_secs: f64,
    /// When the answer's head came: the end of the proxy's own latency.
    pub at: Instant,
}

impl Proxy {
    pub(crate) async fn call_upstream(&self, out: Outbound<'_>) -> Result<Answered, ProxyError> {
        let Outbound {
            runtime,
            certificates,
            client_ip,
            head,
            body,
            path_and_query,
            host,
            override_host,
            body_limit,
            client_upgrade,
        } = out;
        let route_id = &runtime.route().id;
        let no_target = || ProxyError::NoTarget(route_id.clone());
        // Only a body-less request can be replayed on another target.
        let replayable = body.is_end_stream();
        let mut body = Some(body);
        // The request head is copied per attempt only when there may be a
        // second attempt.
        let may_retry = replayable && runtime.balancer.targets().len() > 1;
        let sticky = runtime
            .balancer
            .sticky_from_headers(&head.headers)
            .map(str::to_string);
        let connect_timeout = runtime
            .connect_timeout
            .unwrap_or(self.settings.connect_timeout);
        let call_timeout = runtime
            .call_timeout
            .unwrap_or(self.settings.upstream_timeout);
        let mut head = Some(head);
        // Kept inline: a request tries one or two targets.
        let mut tried: SmallVec<[usize; 4]> = SmallVec::new();
        // Set when the client's body passed the RequestBodyLengthLimiter's limit.
        let over_limit = body_limit.map(|_| Arc::new(AtomicBool::new(false)));
        loop {
            let pick = runtime
                .balancer
                .pick(&PickContext {
                    client_ip: Some(client_ip),
                    sticky: sticky.as_deref(),
                    exclude: &tried,
                })
                .ok_or_else(no_target)?;
            tried.push(pick.index);
            let target = runtime
                .balancer
                .targets()
                .get(pick.index)
                .ok_or_else(no_target)?;
            let Some(Some((authority, authority_value))) = runtime.authorities.get(pick.index)
            else {
                return Err(ProxyError::UpstreamUnreachable {
                    target: target.id.clone(),
                    reason: "invalid host:port".into(),
                });
            };
            let mut upstream_head = match (may_retry, head.as_ref()) {
                (true, Some(h)) => h.clone(),
                _ => head.take().ok_or_else(no_target)?,
            };
            let mut uri = http::uri::Parts::default();
            uri.scheme = Some(if target.tls {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            });
            uri.authority = Some(authority.clone());
            uri.path_and_query = Some(path_and_query.clone());
            upstream_head.uri =
                Uri::from_parts(uri).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
            let host_header = if override_host {
                Some(authority_value.clone())
            } else {
                host.clone()
            };
            if let Some(value) = host_header {
                upstream_head.headers.insert(HOST, value);
            }
            let upstream_body: ProxyBody = match body.take() {
                Some(incoming) if !replayable => {
                    let counted = Counted::new(incoming, self.metrics.live.clone(), Direction::In);
                    match (body_limit, &over_limit) {
                        (Some(max), Some(over)) => limited(counted, max, over),
                        _ => boxed(counted.map_err(|e| ClientBodyError(e.into()))),
                    }
                }
                _ => empty(),
            };
            let in_flight = runtime.balancer.start(pick.index);
            let called = Instant::now();
            let result = self
                .upstream
                .call(
                    Request::from_parts(upstream_head, upstream_body),
                    target.tls.then_some(TlsTarget {
                        route: route_id,
                        target,
                        certificates,
                    }),
                    client_upgrade.is_some(),
                    connect_timeout,
                    called,
                    call_timeout,
                )
                .await;
            let answered_at = Instant::now();
            let upstream_secs = answered_at.duration_since(called).as_secs_f64();
            match result {
                Ok(mut response) => {
                    runtime.balancer.mark_up(pick.index);
                    if response.status() == StatusCode::SWITCHING_PROTOCOLS
                        && let Some(client_upgrade) = client_upgrade
                    {
                        crate::upgrade::relay_upgrade(
                            client_upgrade,
                            hyper::upgrade::on(&mut response),
                            in_flight,
                            self.settings.idle_timeout,
                        );
                    } else {
                        drop(in_flight);
                    }
                    return Ok(Answered {
                        response,
                        set_sticky: pick.set_sticky,
                        upstream_secs,
                        at: answered_at,
                    });
                }
                Err(CallError::Connect(reason)) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Connect);
                    runtime.balancer.mark_down(pick.index);
                    let more = tried.len() < runtime.balancer.targets().len();
                    if !(replayable && more) {
                        return Err(ProxyError::UpstreamUnreachable {
                            target: target.id.clone(),
                            reason,
                        });
                    }
                    tracing::debug!(target = %target.id, %reason, "connect failed, trying the next target");
                }
                Err(CallError::Timeout) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Timeout);
                    return Err(ProxyError::UpstreamTimeout {
                        target: target.id.clone(),
                        timeout_ms: call_timeout.as_millis() as u64,
                    });
                }
                Err(CallError::ClientBody(_))
                    if over_limit
                        .as_ref()
                        .is_some_and(|o| o.load(Ordering::Relaxed)) =>
                {
                    return Err(ProxyError::BodyTooLarge(body_limit.unwrap_or_default()));
                }
                Err(CallError::ClientBody(reason)) => {
                    tracing::debug!(target = %target.id, %reason, "the client's request body failed");
                    return Err(ProxyError::BadRequest(
                        "the request body is malformed or was cut short".into(),
                    ));
                }
                Err(CallError::Failed(reason)) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Failed);
                    return Err(ProxyError::UpstreamUnreachable {
                        target: target.id.clone(),
                        reason,
                    });
                }
            }
        }
    }
}
