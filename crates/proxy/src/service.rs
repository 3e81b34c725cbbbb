//! One proxied request, start to end: match a route in the current
//! snapshot, check the API key and its quotas, pick a target, forward, relay
//! the answer (or the upgraded connection), and record metrics.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, HOST, SET_COOKIE};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use live::body::{Counted, Direction};
use model::route::Route;
use model::{State, StateHandle};
use plugins::{Latency, RequestCtx, ResponseCtx};
use transport::conn::ConnInfo;

use crate::apikey;
use crate::balancer::{PickContext, set_sticky_cookie};
use crate::body::{ClientBodyError, ProxyBody, boxed, empty, full, limited};
use crate::error::ProxyError;
use crate::forwarding::{self, TrustedProxies};
use crate::headers::{self, REQUEST_ID};
use crate::metrics::{Metrics, UpstreamErrorKind};
use crate::pipeline::{self, NodeServices};
use crate::quota::QuotaTracker;
use crate::runtime::{CompiledRoutes, RouteCompiler, RouteRuntime};
use crate::upstream::{CallError, TlsTarget, Upstream};

/// Defaults that routes may override.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub idle_timeout: Duration,
    pub access_log: bool,
    /// The HTTPS listener's port, for the ForceHttpsTraffic redirect.
    pub https_port: u16,
    /// Peers whose forwarding headers are believed (`proxy.trustedProxies`).
    pub trusted_proxies: TrustedProxies,
}

pub struct Proxy {
    state: Arc<StateHandle>,
    upstream: Upstream,
    pub metrics: Arc<Metrics>,
    pub quotas: Arc<QuotaTracker>,
    settings: ProxySettings,
    request_ids: RequestIds,
}

impl Proxy {
    pub fn new(
        state: Arc<StateHandle>,
        quotas: Arc<QuotaTracker>,
        metrics: Arc<Metrics>,
        settings: ProxySettings,
    ) -> Self {
        // Every state published from now on carries the route runtimes.
        state.set_compiler(Arc::new(RouteCompiler::new(metrics.clone())));
        Self {
            state,
            upstream: Upstream::new(settings.idle_timeout),
            metrics,
            quotas,
            settings,
            request_ids: RequestIds::new(),
        }
    }

    /// After each publish (and once at start): reports routes that skip
    /// backend certificate checks.
    pub fn after_publish(&self) {
        let state = self.state.load();
        self.upstream.report_unverified(&state);
    }

    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let request_id = self.request_ids.next();
        let state = self.state.load();
        // What the access log needs, copied only when it is on.
        let logged = self.settings.access_log.then(|| {
            (
                request.method().clone(),
                request.uri().path().to_string(),
                crate::host::request_host(&request)
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        let outcome = self
            .proxy(request, peer, &state, request_id.as_str(), started)
            .await;
        let (response, route_id) = match outcome {
            // The route's plugins decide what it sends back
            // (SendOtoroshiHeadersBack).
            Ok(done) => done,
            Err((error, runtime)) => {
                if let ProxyError::NoRoute { .. } = error {
                    self.metrics.unmatched.inc();
                }
                let mut response = error.into_response(request_id.as_str());
                // The node's own answers always name the request, for support.
                response
                    .headers_mut()
                    .insert(REQUEST_ID.clone(), request_id.header_value());
                let status = response.status().as_u16();
                let elapsed = started.elapsed().as_secs_f64();
                match &runtime {
                    Some(runtime) => self
                        .metrics
                        .record(&runtime.0.metrics, status, elapsed, None),
                    // No route to count it against: the live figures still do.
                    None => self.metrics.live.record(status, elapsed, None),
                }
                // The proxy's own answers are small and whole.
                if let Some(bytes) = response.body().size_hint().exact() {
                    self.metrics.live.add_bytes_out(bytes);
                }
                (response, runtime.map(|r| r.1))
            }
        };
        if let Some((method, path, host)) = logged {
            access_log(
                request_id.as_str(),
                peer,
                &method,
                &host,
                &path,
                route_id.as_ref().map(|r| r.id.as_str()),
                response.status(),
                started.elapsed(),
            );
        }
        response
    }

    async fn proxy(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        state: &State,
        request_id: &str,
        started: Instant,
    ) -> Result<
        (Response<ProxyBody>, Option<Arc<Route>>),
        (ProxyError, Option<(Arc<RouteRuntime>, Arc<Route>)>),
    > {
        if !state.loaded {
            return Err((ProxyError::NoState, None));
        }
        let (mut parts, body) = request.into_parts();
        let bad = |why: &str| (ProxyError::BadRequest(why.into()), None);
        // Matched and forwarded in one canonical form only.
        let path = crate::canonical::path(parts.uri.path()).map_err(bad)?;
        // The host sent upstream is the one the route was chosen by.
        let original_host = crate::host::original_host(&parts.uri, &parts.headers).map_err(bad)?;
        let host = original_host
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(model::router::strip_port)
            .unwrap_or_default();
        let hops = forwarding::hops(&parts.headers)
            .map_err(|hops| (ProxyError::LoopDetected(hops), None))?;
        let compiled = state.compiled.get::<CompiledRoutes>();
        let trusted = &self.settings.trusted_proxies;
        let peer_trusted = trusted.trusts(peer.ip());
        // The caller as the node believes it: the peer, or the client a
        // trusted proxy names.
        let client_ip = if peer_trusted {
            trusted.client(&parts.headers, peer.ip())
        } else {
            peer.ip()
        };
        if let Some(gate) = compiled.map(|c| &c.gate).filter(|g| !g.is_open())
            && let Some(answer) = gate.check(client_ip, &parts.headers)
        {
            return Err((ProxyError::Gate(Box::new(answer)), None));
        }
        let found = state.router.find(
            host,
            &path,
            parts.method.as_str(),
            parts.uri.query(),
            |name| parts.headers.get(name).and_then(|v| v.to_str().ok()),
        );
        let Some(found) = found else {
            return Err((
                ProxyError::NoRoute {
                    host: host.to_string(),
                    path: path.into_owned(),
                },
                None,
            ));
        };
        let route = found.route.clone();
        let runtime = match compiled.and_then(|c| c.get(found.index)) {
            Some(runtime) => runtime.clone(),
            // Only a state published without this proxy's compiler (none
            // in a running node): build it for this request.
            None => Arc::new(RouteRuntime::new(&route, &self.metrics, None)),
        };
        let fail = |error: ProxyError| (error, Some((runtime.clone(), route.clone())));
        let conn = parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_default();

        // The route's plugins, step by step; a route without any skips this.
        let upgrade = headers::wants_upgrade(&parts.headers);
        let client_upgrade = if upgrade {
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        } else {
            None
        };
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        // Before any plugin: what a client must never set is gone.
        forwarding::sanitize(&mut parts.headers, peer_trusted);
        let services = NodeServices {
            state,
            route: &route,
            quotas: &self.quotas,
            request_id,
            arrived_ms: now_ms().saturating_sub(started.elapsed().as_millis() as u64),
            https_port: self.settings.https_port,
            origin: forwarding::Origin {
                peer: peer.ip(),
                peer_trusted,
                client: client_ip,
                scheme: conn.scheme(),
                host: original_host.as_ref(),
            },
            remaining: Default::default(),
            key: Default::default(),
        };
        let mut override_host = false;
        let mut body_limit = None;
        // What the response expressions read of the request, if any.
        let mut facts = None;
        if !runtime.chain.is_empty() {
            let mut ctx = RequestCtx {
                method: &parts.method,
                path: &path,
                query: parts.uri.query(),
                host,
                path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                tls: conn.tls,
                client_ip,
                headers: &mut parts.headers,
                override_host: false,
                body_limit: None,
                services: &services,
            };
            let answer = pipeline::request_steps(&runtime.chain, &mut ctx).await;
            facts = runtime.chain.capture(&ctx);
            if let Some(answer) = answer {
                let answer = self.plugin_answer(
                    answer,
                    &runtime,
                    ResponseCtx {
                        status: http::StatusCode::OK,
                        headers: &mut HeaderMap::new(),
                        method: &parts.method,
                        path: &path,
                        tls: conn.tls,
                        latency: Latency::default(),
                        call: &services,
                        request: facts.as_ref(),
                    },
                    started,
                );
                return Ok((answer, Some(route)));
            }
            override_host = ctx.override_host;
            body_limit = ctx.body_limit;
        }
        // What the response steps need once the request head has gone.
        let body_steps = !runtime.chain.transform_response_body.is_empty();
        let response_steps = (!runtime.chain.transform_response.is_empty() || body_steps)
            .then(|| (parts.method.clone(), path.to_string()));
        // Only a route with a body step (compression) looks at it.
        let accept_encoding = body_steps
            .then(|| parts.headers.get(ACCEPT_ENCODING).cloned())
            .flatten();

        // The path and query sent upstream; the request's own when nothing
        // changes (the common case), so that no new string is built.
        let path_and_query = {
            let uri = &parts.uri;
            let upstream_path = found.upstream_path_cow(&path);
            let query = uri.query().map(apikey::strip_query_credentials);
            let unchanged = upstream_path == uri.path()
                && !matches!(query, Some(Cow::Owned(_)))
                && !matches!(query.as_deref(), Some(""));
            match uri.path_and_query() {
                Some(original) if unchanged => original.clone(),
                _ => {
                    // An API key given as `?apikey=` must not reach the upstream either.
                    let text = match query.as_deref() {
                        Some(query) if !query.is_empty() => format!("{upstream_path}?{query}"),
                        _ => upstream_path.into_owned(),
                    };
                    PathAndQuery::try_from(text)
                        .map_err(|e| fail(ProxyError::BadRequest(e.to_string())))?
                }
            }
        };

        forwarding::count_hop(&mut parts.headers, hops);
        parts.version = http::Version::HTTP_11;

        // Only a body-less request can be replayed on another target.
        let mut body = Some(body);
        let replayable = body.as_ref().is_some_and(|b| b.is_end_stream());
        // The request head is copied per attempt only when there may be a
        // second attempt.
        let may_retry = replayable && runtime.balancer.targets().len() > 1;
        let sticky = runtime
            .balancer
            .sticky_from_headers(&parts.headers)
            .map(str::to_string);
        let connect_timeout = runtime
            .connect_timeout
            .unwrap_or(self.settings.connect_timeout);
        let call_timeout = runtime
            .call_timeout
            .unwrap_or(self.settings.upstream_timeout);
        let mut parts = Some(parts);
        let mut tried: Vec<usize> = Vec::new();
        // Set when the client's body passed the RequestBodyLengthLimiter's limit.
        let over_limit = body_limit.map(|_| Arc::new(AtomicBool::new(false)));
        loop {
            let pick = runtime
                .balancer
                .pick(&PickContext {
                    client_ip: Some(peer.ip()),
                    sticky: sticky.as_deref(),
                    exclude: &tried,
                })
                .ok_or_else(|| fail(ProxyError::NoTarget(route.id.clone())))?;
            tried.push(pick.index);
            let target = runtime
                .balancer
                .targets()
                .get(pick.index)
                .ok_or_else(|| fail(ProxyError::NoTarget(route.id.clone())))?;
            let Some(Some((authority, authority_value))) = runtime.authorities.get(pick.index)
            else {
                return Err(fail(ProxyError::UpstreamUnreachable {
                    target: target.id.clone(),
                    reason: "invalid host:port".into(),
                }));
            };
            let mut upstream_parts = match (may_retry, parts.as_ref()) {
                (true, Some(p)) => p.clone(),
                _ => parts
                    .take()
                    .ok_or_else(|| fail(ProxyError::NoTarget(route.id.clone())))?,
            };
            let mut uri = http::uri::Parts::default();
            uri.scheme = Some(if target.tls {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            });
            uri.authority = Some(authority.clone());
            uri.path_and_query = Some(path_and_query.clone());
            upstream_parts.uri =
                Uri::from_parts(uri).map_err(|e| fail(ProxyError::BadRequest(e.to_string())))?;
            let host_header = if override_host {
                Some(authority_value.clone())
            } else {
                original_host.clone()
            };
            if let Some(value) = host_header {
                upstream_parts.headers.insert(HOST, value);
            }
            let upstream_body = match body.take() {
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
                    Request::from_parts(upstream_parts, upstream_body),
                    target.tls.then_some(TlsTarget {
                        route: &route.id,
                        target,
                        certificates: &state.tls,
                    }),
                    connect_timeout,
                    call_timeout,
                )
                .await;
            let upstream_secs = called.elapsed().as_secs_f64();
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
                    let (mut head, incoming) = response.into_parts();
                    let keep_upgrade = head.status == StatusCode::SWITCHING_PROTOCOLS;
                    headers::remove_hop_by_hop(&mut head.headers, keep_upgrade);
                    let total = started.elapsed();
                    if let Some(value) = pick
                        .set_sticky
                        .as_deref()
                        .and_then(|v| HeaderValue::from_str(&set_sticky_cookie(v)).ok())
                    {
                        head.headers.append(SET_COOKIE, value);
                    }
                    // Last, so that plugins see (and may change) every header.
                    if let Some((method, path)) = &response_steps {
                        pipeline::response_steps(
                            &runtime.chain,
                            &mut ResponseCtx {
                                status: head.status,
                                headers: &mut head.headers,
                                method,
                                path,
                                tls: conn.tls,
                                latency: Latency {
                                    proxy_ms: ((total.as_secs_f64() - upstream_secs).max(0.0)
                                        * 1000.0)
                                        as u64,
                                    upstream_ms: Some((upstream_secs * 1000.0) as u64),
                                },
                                call: &services,
                                request: facts.as_ref(),
                            },
                        );
                    }
                    // The body steps may change the status (a limiter's 413);
                    // the bytes counted out are those the client gets.
                    let body = match &response_steps {
                        Some((method, path)) if body_steps => {
                            let body = pipeline::response_body_steps(
                                &runtime.chain,
                                &mut head,
                                method,
                                path,
                                accept_encoding.as_ref(),
                                boxed(incoming),
                            );
                            boxed(Counted::new(
                                body,
                                self.metrics.live.clone(),
                                Direction::Out,
                            ))
                        }
                        _ => boxed(Counted::new(
                            incoming,
                            self.metrics.live.clone(),
                            Direction::Out,
                        )),
                    };
                    self.metrics.record(
                        &runtime.metrics,
                        head.status.as_u16(),
                        total.as_secs_f64(),
                        Some(upstream_secs),
                    );
                    return Ok((Response::from_parts(head, body), Some(route)));
                }
                Err(CallError::Connect(reason)) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Connect);
                    runtime.balancer.mark_down(pick.index);
                    let more = tried.len() < runtime.balancer.targets().len();
                    if !(replayable && more) {
                        return Err(fail(ProxyError::UpstreamUnreachable {
                            target: target.id.clone(),
                            reason,
                        }));
                    }
                    tracing::debug!(target = %target.id, %reason, "connect failed, trying the next target");
                }
                Err(CallError::Timeout) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Timeout);
                    return Err(fail(ProxyError::UpstreamTimeout {
                        target: target.id.clone(),
                        timeout_ms: call_timeout.as_millis() as u64,
                    }));
                }
                Err(CallError::ClientBody(_))
                    if over_limit
                        .as_ref()
                        .is_some_and(|o| o.load(Ordering::Relaxed)) =>
                {
                    return Err(fail(ProxyError::BodyTooLarge(
                        body_limit.unwrap_or_default(),
                    )));
                }
                Err(CallError::ClientBody(reason)) => {
                    tracing::debug!(target = %target.id, %reason, "the client's request body failed");
                    return Err(fail(ProxyError::BadRequest(
                        "the request body is malformed or was cut short".into(),
                    )));
                }
                Err(CallError::Failed(reason)) => {
                    runtime.metrics.upstream_error(UpstreamErrorKind::Failed);
                    return Err(fail(ProxyError::UpstreamUnreachable {
                        target: target.id.clone(),
                        reason,
                    }));
                }
            }
        }
    }
}

impl Proxy {
    /// A plugin's answer, through the route's response steps, counted like
    /// any answer of the route.
    /// `response` describes the request; its status, headers and latency
    /// are replaced by the answer's.
    fn plugin_answer(
        &self,
        mut answer: Response<Bytes>,
        runtime: &RouteRuntime,
        response: ResponseCtx<'_>,
        started: Instant,
    ) -> Response<ProxyBody> {
        let status = answer.status();
        pipeline::response_steps(
            &runtime.chain,
            &mut ResponseCtx {
                status,
                headers: answer.headers_mut(),
                latency: Latency {
                    proxy_ms: started.elapsed().as_millis() as u64,
                    upstream_ms: None,
                },
                ..response
            },
        );
        let bytes = answer.body().len() as u64;
        self.metrics.record(
            &runtime.metrics,
            status.as_u16(),
            started.elapsed().as_secs_f64(),
            None,
        );
        self.metrics.live.add_bytes_out(bytes);
        answer.map(full)
    }
}

#[allow(clippy::too_many_arguments)]
fn access_log(
    request_id: &str,
    peer: SocketAddr,
    method: &http::Method,
    host: &str,
    path: &str,
    route: Option<&str>,
    status: StatusCode,
    duration: Duration,
) {
    let line = serde_json::json!({
        "@timestamp": now_ms(),
        "request_id": request_id,
        "client": peer.ip().to_string(),
        "method": method.as_str(),
        "host": host,
        "path": path,
        "route": route,
        "status": status.as_u16(),
        "duration_ms": duration.as_secs_f64() * 1000.0,
    });
    println!("{line}");
}

/// Request ids unique across processes without a random draw per request:
/// a random per-process prefix and a counter.
struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> RequestId {
        RequestId::new(self.prefix, self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

/// A request id, `{prefix:08x}{counter:012x}`, formatted on the stack.
struct RequestId {
    text: [u8; 24],
    len: usize,
}

impl RequestId {
    fn new(prefix: u32, counter: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'0'; 24];
        for (i, byte) in text.iter_mut().take(8).enumerate() {
            *byte = HEX[((prefix >> (28 - 4 * i)) & 0xf) as usize];
        }
        // At least 12 digits, more once the counter needs them.
        let digits = (16 - counter.leading_zeros() as usize / 4).max(12);
        for (i, byte) in text.iter_mut().skip(8).take(digits).enumerate() {
            *byte = HEX[((counter >> (4 * (digits - 1 - i))) & 0xf) as usize];
        }
        Self {
            text,
            len: 8 + digits,
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(self.text.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    fn header_value(&self) -> HeaderValue {
        Self::value_of(self.as_str())
    }

    fn value_of(id: &str) -> HeaderValue {
        HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

pub(crate) use model::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn request_ids_are_formatted_as_before() {
        for (prefix, counter) in [
            (0u32, 0u64),
            (0xdead_beef, 1),
            (0x0102_0304, 0xabc_def0_1234),
            (u32::MAX, 1 << 48),
            (7, u64::MAX),
        ] {
            assert_eq!(
                RequestId::new(prefix, counter).as_str(),
                format!("{prefix:08x}{counter:012x}")
            );
        }
    }
}
