//! One proxied request, start to end: match a route in the current
//! snapshot, check the API key and its quotas, pick a target, forward, relay
//! the answer (or the upgraded connection), and record metrics.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::header::ACCEPT_ENCODING;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use model::route::Route;
use model::{State, StateHandle};
use plugins::RequestCtx;
use transport::conn::ConnInfo;

use crate::apikey;
use crate::attempts::Outbound;
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::forwarding::{self, TrustedProxies};
use crate::headers::{self, REQUEST_ID};
use crate::metrics::Metrics;
use crate::pipeline::{self, NodeServices};
use crate::quota::QuotaTracker;
use crate::respond::Reply;
use crate::runtime::{CompiledRoutes, RouteCompiler, RouteRuntime};
use crate::upstream::Upstream;

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
    pub(crate) upstream: Upstream,
    pub metrics: Arc<Metrics>,
    pub quotas: Arc<QuotaTracker>,
    pub(crate) settings: ProxySettings,
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
        // For Otoroshi-Request-Timestamp; read here, with `started`, not
        // derived from it later at the cost of a third clock read.
        let arrived_ms = now_ms();
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
            .proxy(
                request,
                peer,
                &state,
                request_id.as_str(),
                started,
                arrived_ms,
            )
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
        arrived_ms: u64,
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
            arrived_ms,
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
            request_id_value: Default::default(),
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
                    Reply {
                        runtime: &runtime,
                        started,
                        tls: conn.tls,
                        services: &services,
                        facts: facts.as_ref(),
                        request: Some((&parts.method, &path)),
                        accept_encoding: None,
                    },
                );
                return Ok((answer, Some(route)));
            }
            override_host = ctx.override_host;
            body_limit = ctx.body_limit;
        }
        // What the response steps need once the request head has gone.
        let response_steps = runtime
            .chain
            .response_reads_request
            .then(|| (parts.method.clone(), path.to_string()));
        // Only a route with a body step (compression) looks at it.
        let accept_encoding = (!runtime.chain.transform_response_body.is_empty())
            .then(|| parts.headers.get(ACCEPT_ENCODING).cloned())
            .flatten();

        let path_and_query =
            upstream_path_and_query(&found.upstream_path_cow(&path), &parts.uri).map_err(fail)?;

        forwarding::count_hop(&mut parts.headers, hops);
        parts.version = http::Version::HTTP_11;

        let answered = self
            .call_upstream(Outbound {
                runtime: &runtime,
                certificates: &state.tls,
                client_ip,
                head: parts,
                body,
                path_and_query,
                host: original_host.clone(),
                override_host,
                body_limit,
                client_upgrade,
            })
            .await
            .map_err(fail)?;

        let response = self.respond(
            answered,
            Reply {
                runtime: &runtime,
                started,
                tls: conn.tls,
                services: &services,
                facts: facts.as_ref(),
                request: response_steps.as_ref().map(|(m, p)| (m, p.as_str())),
                accept_encoding: accept_encoding.as_ref(),
            },
        );
        Ok((response, Some(route)))
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

/// The path and query sent upstream: the request's own when nothing changes
/// (the common case), so that no new string is built. An API key given as
/// `?apikey=` never reaches the upstream.
fn upstream_path_and_query(upstream_path: &str, uri: &Uri) -> Result<PathAndQuery, ProxyError> {
    let query = uri.query().map(apikey::strip_query_credentials);
    let unchanged = upstream_path == uri.path()
        && !matches!(query, Some(Cow::Owned(_)))
        && !matches!(query.as_deref(), Some(""));
    match uri.path_and_query() {
        Some(original) if unchanged => Ok(original.clone()),
        _ => {
            let text = match query.as_deref() {
                Some(query) if !query.is_empty() => format!("{upstream_path}?{query}"),
                _ => upstream_path.to_string(),
            };
            PathAndQuery::try_from(text).map_err(|e| ProxyError::BadRequest(e.to_string()))
        }
    }
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
