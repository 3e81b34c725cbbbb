//! The way back to the client: the upstream's answer (hop-by-hop headers
//! removed, the sticky cookie set) or a plugin's own, through the route's
//! response plugins and body plugins, counted in the route's metrics and
//! the live figures.

use std::time::Instant;

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderValue, Method, Response, StatusCode};
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

impl Proxy {
    /// The upstream's answer, through the route's response plugins (last,
    /// so that they see and may change every header) and body plugins.
    pub(crate) fn respond(&self, answered: Answered, reply: Reply<'_>) -> Response<ProxyBody> {
        let Answered {
            response,
            set_sticky,
            upstream_secs,
        } = answered;
        let runtime = reply.runtime;
        let (mut head, incoming) = response.into_parts();
        let keep_upgrade = head.status == StatusCode::SWITCHING_PROTOCOLS;
        headers::remove_hop_by_hop(&mut head.headers, keep_upgrade);
        let total = reply.started.elapsed();
        if let Some(value) = set_sticky
            .as_deref()
            .and_then(|v| HeaderValue::from_str(&set_sticky_cookie(v)).ok())
        {
            head.headers.append(SET_COOKIE, value);
        }
        let live = || self.metrics.live.clone();
        // What no response plugin of the route reads was not kept.
        let (method, path) = reply.request.unwrap_or((&Method::GET, ""));
        if !runtime.chain.transform_response.is_empty() {
            pipeline::response_steps(
                &runtime.chain,
                &mut ResponseCtx {
                    status: head.status,
                    headers: &mut head.headers,
                    method,
                    path,
                    tls: reply.tls,
                    latency: Latency {
                        proxy_ms: ((total.as_secs_f64() - upstream_secs).max(0.0) * 1000.0) as u64,
                        upstream_ms: Some((upstream_secs * 1000.0) as u64),
                    },
                    call: reply.services,
                    request: reply.facts,
                },
            );
        }
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
        let (method, path) = reply.request.unwrap_or((&Method::GET, ""));
        if !runtime.chain.transform_response.is_empty() {
            pipeline::response_steps(
                &runtime.chain,
                &mut ResponseCtx {
                    status,
                    headers: answer.headers_mut(),
                    method,
                    path,
                    tls: reply.tls,
                    latency: Latency {
                        proxy_ms: reply.started.elapsed().as_millis() as u64,
                        upstream_ms: None,
                    },
                    call: reply.services,
                    request: reply.facts,
                },
            );
        }
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
