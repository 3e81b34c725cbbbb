//! One proxied request, start to end: match a route in the current
//! snapshot, check the API key and its quotas, pick a target, forward, relay
//! the answer (or the upgraded connection), and record metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::header::{HOST, SET_COOKIE};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use model::apikey::ApiKey;
use model::{State, StateHandle, plugins};

use crate::apikey;
use crate::balancer::{PickContext, set_sticky_cookie};
use crate::body::{ProxyBody, boxed, empty};
use crate::error::ProxyError;
use crate::headers::{
    self, DAILY_REMAINING, MONTHLY_REMAINING, PROXY_LATENCY, REQUEST_ID, UPSTREAM_LATENCY,
};
use crate::metrics::{Metrics, UpstreamErrorKind};
use crate::quota::{QuotaTracker, Remaining};
use crate::runtime::{RouteRuntime, Runtimes};
use crate::upstream::{CallError, Upstream};

/// Defaults that routes may override.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub idle_timeout: Duration,
    pub access_log: bool,
}

pub struct Proxy {
    state: Arc<StateHandle>,
    upstream: Upstream,
    runtimes: Runtimes,
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
        Self {
            state,
            upstream: Upstream::new(settings.idle_timeout),
            runtimes: Runtimes::new(metrics.clone()),
            metrics,
            quotas,
            settings,
            request_ids: RequestIds::new(),
        }
    }

    /// Forgets per-route runtime of deleted routes; call after each publish.
    pub fn prune(&self) {
        self.runtimes.prune(&self.state.load());
    }

    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let request_id = self.request_ids.next();
        let state = self.state.load();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let host = crate::host::request_host(&request)
            .unwrap_or_default()
            .to_string();
        let outcome = self
            .proxy(request, peer, &state, &host, &request_id, started)
            .await;
        let (mut response, route_id) = match outcome {
            Ok(done) => done,
            Err((error, runtime)) => {
                if let ProxyError::NoRoute { .. } = error {
                    self.metrics.unmatched.inc();
                }
                let response = error.into_response(&request_id);
                if let Some(runtime) = &runtime {
                    runtime.0.metrics.record(
                        response.status().as_u16(),
                        started.elapsed().as_secs_f64(),
                        None,
                    );
                }
                (response, runtime.map(|r| r.1))
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        if self.settings.access_log {
            access_log(
                &request_id,
                peer,
                &method,
                &host,
                &path,
                route_id.as_deref(),
                response.status(),
                started.elapsed(),
            );
        }
        response
    }

    async fn proxy(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        state: &State,
        host: &str,
        request_id: &str,
        started: Instant,
    ) -> Result<
        (Response<ProxyBody>, Option<String>),
        (ProxyError, Option<(Arc<RouteRuntime>, String)>),
    > {
        if !state.loaded {
            return Err((ProxyError::NoState, None));
        }
        let headers = request.headers();
        let found = state.router.find(
            host,
            request.uri().path(),
            request.method().as_str(),
            request.uri().query(),
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
        );
        let Some(found) = found else {
            return Err((
                ProxyError::NoRoute {
                    host: host.to_string(),
                    path: request.uri().path().to_string(),
                },
                None,
            ));
        };
        let route = found.route.clone();
        let upstream_path = found.upstream_path(request.uri().path());
        let runtime = self.runtimes.get(&route, state.revision);
        let fail = |error: ProxyError| (error, Some((runtime.clone(), route.id.clone())));

        let mut remaining: Option<Remaining> = None;
        if route.uses_plugin(plugins::APIKEY_CALLS) {
            let now = now_ms();
            let key: Arc<ApiKey> =
                apikey::check(request.headers(), request.uri().query(), state, &route, now)
                    .map_err(|e| fail(e.into()))?;
            remaining = Some(self.quotas.admit(&key, now).map_err(|e| fail(e.into()))?);
            apikey::strip_credentials(request.headers_mut());
        }

        let upgrade = headers::wants_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        // HTTP/2 clients send the authority in the URI, not a Host header.
        let original_host = match parts.headers.get(HOST).and_then(|v| v.to_str().ok()) {
            Some(header) => header.to_string(),
            None => parts
                .uri
                .authority()
                .map_or_else(|| host.to_string(), |a| a.as_str().to_string()),
        };
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        headers::set_forwarded(&mut parts.headers, peer.ip(), "http", &original_host);
        if let Ok(value) = HeaderValue::from_str(request_id) {
            parts.headers.insert(REQUEST_ID.clone(), value);
        }
        // An API key given as `?apikey=` must not reach the upstream either.
        let path_and_query = match parts.uri.query().map(apikey::strip_query_credentials) {
            Some(query) if !query.is_empty() => format!("{upstream_path}?{query}"),
            _ => upstream_path,
        };
        let path_and_query = PathAndQuery::try_from(path_and_query)
            .map_err(|e| fail(ProxyError::BadRequest(e.to_string())))?;
        parts.version = http::Version::HTTP_11;
        let override_host = route.uses_plugin(plugins::OVERRIDE_HOST);

        // Only a body-less request can be replayed on another target.
        let mut body = Some(body);
        let replayable = body.as_ref().is_some_and(|b| b.is_end_stream());
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
        let mut tried: Vec<usize> = Vec::new();
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
            let authority = runtime
                .authorities
                .get(pick.index)
                .cloned()
                .flatten()
                .ok_or_else(|| {
                    fail(ProxyError::UpstreamUnreachable {
                        target: target.id.clone(),
                        reason: "invalid host:port".into(),
                    })
                })?;
            let mut upstream_parts = parts.clone();
            upstream_parts.uri = Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(authority.clone())
                .path_and_query(path_and_query.clone())
                .build()
                .map_err(|e| fail(ProxyError::BadRequest(e.to_string())))?;
            let host_header = if override_host {
                authority.as_str()
            } else {
                original_host.as_str()
            };
            headers::set_host(&mut upstream_parts.headers, host_header);
            let upstream_body = match body.take() {
                Some(incoming) if !replayable => boxed(incoming),
                _ => empty(),
            };
            let in_flight = runtime.balancer.start(pick.index);
            let called = Instant::now();
            let result = self
                .upstream
                .call(
                    Request::from_parts(upstream_parts, upstream_body),
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
                        relay_upgrade(client_upgrade, hyper::upgrade::on(&mut response), in_flight);
                    } else {
                        drop(in_flight);
                    }
                    let (mut head, incoming) = response.into_parts();
                    let keep_upgrade = head.status == StatusCode::SWITCHING_PROTOCOLS;
                    headers::remove_hop_by_hop(&mut head.headers, keep_upgrade);
                    let total = started.elapsed();
                    let out = &mut head.headers;
                    out.insert(
                        PROXY_LATENCY.clone(),
                        HeaderValue::from(
                            ((total.as_secs_f64() - upstream_secs).max(0.0) * 1000.0) as u64,
                        ),
                    );
                    out.insert(
                        UPSTREAM_LATENCY.clone(),
                        HeaderValue::from((upstream_secs * 1000.0) as u64),
                    );
                    if let Some(remaining) = &remaining {
                        out.insert(DAILY_REMAINING.clone(), HeaderValue::from(remaining.daily));
                        out.insert(
                            MONTHLY_REMAINING.clone(),
                            HeaderValue::from(remaining.monthly),
                        );
                    }
                    if let Some(value) = pick
                        .set_sticky
                        .as_deref()
                        .and_then(|v| HeaderValue::from_str(&set_sticky_cookie(v)).ok())
                    {
                        out.append(SET_COOKIE, value);
                    }
                    runtime.metrics.record(
                        head.status.as_u16(),
                        total.as_secs_f64(),
                        Some(upstream_secs),
                    );
                    return Ok((
                        Response::from_parts(head, boxed(incoming)),
                        Some(route.id.clone()),
                    ));
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

/// Copies bytes both ways between the upgraded client and upstream
/// connections until either side closes.
fn relay_upgrade(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    in_flight: impl Send + 'static,
) {
    tokio::spawn(async move {
        let _in_flight = in_flight;
        match tokio::try_join!(client, upstream) {
            Ok((client, upstream)) => {
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(error = %e, "upgraded connection ended with an error");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
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

    fn next(&self) -> String {
        format!(
            "{:08x}{:012x}",
            self.prefix,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
