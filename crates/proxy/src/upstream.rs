//! The keep-alive clients to backends. A plain `http` target is called on
//! hyper's low-level HTTP/1 connections, driven by the request's own task
//! and parked per thread between requests (`plain`); `tls: true` targets go
//! through `tls`, hyper-util's pooled client (one per trust profile).

/// The response body, which drives its plain connection.
mod body;
/// Plain HTTP/1 calls on connections driven by the request's task.
mod plain;
/// Idle plain connections, sharded by thread.
mod pool;
/// TLS clients to backends, by trust profile.
mod tls;

use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;

use crate::body::ProxyBody;

pub use self::body::UpstreamBody;
pub use self::tls::TlsTarget;

pub struct Upstream {
    plain: plain::PlainClient,
    tls: tls::TlsClients,
}

/// Why a call failed, as the caller must react to it: a connect failure is
/// safe to retry elsewhere, anything after the request left is not.
#[derive(Debug)]
pub enum CallError {
    Connect(String),
    Timeout,
    Failed(String),
    /// The client's request body failed on the way (bad chunk, cut
    /// upload): the client's fault, not the backend's.
    ClientBody(String),
}

impl Upstream {
    /// Logs the routes of `state` whose backend certificates are not
    /// verified (`tls_config.trust_all`), once per route.
    pub fn report_unverified(&self, state: &model::State) {
        self.tls.report_unverified(&state.routes);
    }

    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            plain: plain::PlainClient::new(idle_timeout),
            tls: tls::TlsClients::new(idle_timeout),
        }
    }

    /// Sends the request and waits for the response head, at most `timeout`
    /// after `called` (the caller's clock reading, which the pool and the
    /// deadline reuse rather than reading the clock again).
    /// `tls` is given for a `tls: true` target (whose URI is `https`);
    /// `upgrade` when the client asked to switch protocols.
    pub async fn call(
        &self,
        request: Request<ProxyBody>,
        tls: Option<TlsTarget<'_>>,
        upgrade: bool,
        connect_timeout: Duration,
        called: Instant,
        timeout: Duration,
    ) -> Result<Response<UpstreamBody>, CallError> {
        // A deadline past what the clock can hold (a route's `call_timeout`
        // may be any number of ms) is no deadline.
        let deadline = tokio::time::Instant::from_std(called).checked_add(timeout);
        match tls {
            None => {
                within(
                    deadline,
                    self.plain.send(request, connect_timeout, upgrade, called),
                )
                .await
            }
            Some(target) => {
                let client = self
                    .tls
                    .client(&target, connect_timeout)
                    .map_err(CallError::Failed)?;
                let response = within(deadline, send(&client, request)).await?;
                Ok(response.map(UpstreamBody::detached))
            }
        }
    }
}

/// `call`, given up at `deadline` (if any) as a timeout.
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or(Err(CallError::Timeout)),
        None => call.await,
    }
}

async fn send<C>(
    client: &Client<C, ProxyBody>,
    request: Request<ProxyBody>,
) -> Result<Response<Incoming>, CallError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    match client.request(request).await {
        Ok(response) => Ok(response),
        Err(e) if e.is_connect() => Err(CallError::Connect(error_chain(&e))),
        Err(e) => Err(failure(&e)),
    }
}

/// A call that failed once the request was (being) sent: the client's
/// body, or the backend.
fn failure(error: &(dyn std::error::Error + 'static)) -> CallError {
    if caused_by_client_body(error) {
        CallError::ClientBody(error_chain(error))
    } else {
        CallError::Failed(error_chain(error))
    }
}

fn caused_by_client_body(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause.is::<crate::body::ClientBodyError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(reason) = transport::tls_client::refused_certificate(error) {
        return format!("the backend's TLS certificate was not trusted ({reason})");
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
