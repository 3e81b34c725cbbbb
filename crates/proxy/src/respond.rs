//! The way back to the client: the upstream's answer (hop-by-hop headers
//! removed, the sticky cookie set) or a plugin's own, through the route's
//! response plugins and body plugins, counted in the route's metrics and
//! the live figures.

use std::time::Instant;

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use live::body::{Counted, Direction};
use plugins::{Latency, RequestFacts, ResponseCtx};

use crate::attempts::Answered;
use crate::balancer::set_sticky_cookie;
use crate::body::{ProxyBody, boxed, full};
use crate::headers;
use crate::pipeline::{self, NodeServices};
use crate::runtime::RouteRuntime;
use crate::service::Proxy;

/// What the response side needs of the request.
pub(crate) struct Reply<'a> {
    pub runtime: &'a RouteRuntime,
    pub started: Instant,
    /// The client called over HTTPS.
    pub tls: bool,
    pub services: &'a NodeServices<'a>,
    /// What the response expressions read of the request.
    pub facts: Option<&'a RequestFacts>,
    /// The request's method and canonical path, kept only when a response
    /// or body plugin of the route reads them.
    pub request: Option<(&'a Method, &'a str)>,
    /// Kept only when the route has body plugins (compression).
    pub accept_encoding: Option<&'a HeaderValue>,
}

impl Reply<'_> {
    /// The request's method and path; what no response plugin of the route
    /// reads was not kept.
    fn method_and_path(&self) -> (&Method, &str) {
        self.request.unwrap_or((&Method::GET, ""))
    }

    /// The route's response plugins on an answer's head.
    fn response_steps(&self, status: StatusCode, headers: &mut HeaderMap, latency: Latency) {
        if self.runtime.chain.transform_response.is_empty() {
            return;
        }
        let (method, path) = self.method_and_path();
        pipeline::response_steps(
            &self.runtime.chain,
            &mut ResponseCtx {
                status,
                headers,
                method,
                path,
                tls: self.tls,
                latency,
                call: self.services,
                request: self.facts,
            },
        );
    }
}

impl Proxy {
    /// The upstream's answer, through the route's response plugins (last,
    /// so that they see and may change every header) and body plugins.
    pub(crate) fn respond(&self, answered: Answered, reply: Reply<'_>) -> Response<ProxyBody> {
        let Answered {
            response,
            set_sticky,
            upstream_secs,
            at,
        } = answered;
        let runtime = reply.runtime;
        let (mut head, incoming) = response.into_parts();
        let keep_upgrade = head.status == StatusCode::SWITCHING_PROTOCOLS;
        headers::remove_hop_by_hop(&mut head.headers, keep_upgrade);
        let total = at.duration_since(reply.started);
        if let Some(value) = set_sticky
            .as_deref()
            .and_then(|v| HeaderValue::from_str(&set_sticky_cookie(v)).ok())
        {
            head.headers.append(SET_COOKIE, value);
        }
        let live = || self.metrics.live.clone();
        reply.response_steps(
            head.status,
            &mut head.headers,
            Latency {
                proxy_ms: ((total.as_secs_f64() - upstream_secs).max(0.0) * 1000.0) as u64,
                upstream_ms: Some((upstream_secs * 1000.0) as u64),
            },
        );
        let (method, path) = reply.method_and_path();
        // The body steps may change the status (a limiter's 413); the bytes
        // counted out are those the client gets.
        let body = if runtime.chain.transform_response_body.is_empty() {
            boxed(Counted::new(incoming, live(), Direction::Out))
        } else {
            let body = pipeline::response_body_steps(
                &runtime.chain,
                &mut head,
                method,
                path,
                reply.accept_encoding,
                boxed(incoming),
            );
            boxed(Counted::new(body, live(), Direction::Out))
        };
        self.metrics.record(
            &runtime.metrics,
            head.status.as_u16(),
            total.as_secs_f64(),
            Some(upstream_secs),
        );
        Response::from_parts(head, body)
    }

    /// A plugin's answer, through the route's response plugins, counted
    /// like any answer of the route.
    pub(crate) fn plugin_answer(
        &self,
        mut answer: Response<Bytes>,
        reply: Reply<'_>,
    ) -> Response<ProxyBody> {
        let status = answer.status();
        let runtime = reply.runtime;
        reply.response_steps(
            status,
            answer.headers_mut(),
            Latency {
                proxy_ms: reply.started.elapsed().as_millis() as u64,
                upstream_ms: None,
            },
        );
        let bytes = answer.body().len() as u64;
        self.metrics.record(
            &runtime.metrics,
            status.as_u16(),
            reply.started.elapsed().as_secs_f64(),
            None,
        );
        self.metrics.live.add_bytes_out(bytes);
        answer.map(full)
    }
}
