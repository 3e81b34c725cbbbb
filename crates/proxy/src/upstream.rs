//! The pooled keep-alive client to backends. One client per distinct
//! connect timeout (routes may override it; most share the default), each
//! with its own pool. `tls: true` targets go through `tls` (one client per
//! trust profile); a plain target never touches it.

/// TLS clients to backends, by trust profile.
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ProxyBody;

pub use self::tls::TlsTarget;

type HttpClient = Client<HttpConnector, ProxyBody>;

pub struct Upstream {
    idle_timeout: Duration,
    clients: RwLock<HashMap<Duration, Arc<HttpClient>>>,
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
            idle_timeout,
            clients: RwLock::new(HashMap::new()),
            tls: tls::TlsClients::new(idle_timeout),
        }
    }

    fn client(&self, connect_timeout: Duration) -> Arc<HttpClient> {
        if let Some(client) = self
            .clients
            .read()
            .ok()
            .and_then(|c| c.get(&connect_timeout).cloned())
        {
            return client;
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Arc::new(
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(self.idle_timeout)
                .pool_max_idle_per_host(1024)
                .build(connector),
        );
        if let Ok(mut clients) = self.clients.write() {
            clients
                .entry(connect_timeout)
                .or_insert_with(|| client.clone());
        }
        client
    }

    /// Sends the request and waits for the response head, at most `timeout`.
    /// `tls` is given for a `tls: true` target (whose URI is `https`).
    pub async fn call(
        &self,
        request: Request<ProxyBody>,
        tls: Option<TlsTarget<'_>>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Response<Incoming>, CallError> {
        match tls {
            None => send(&self.client(connect_timeout), request, timeout).await,
            Some(target) => {
                let client = self
                    .tls
                    .client(&target, connect_timeout)
                    .map_err(CallError::Failed)?;
                send(&client, request, timeout).await
            }
        }
    }
}

async fn send<C>(
    client: &Client<C, ProxyBody>,
    request: Request<ProxyBody>,
    timeout: Duration,
) -> Result<Response<Incoming>, CallError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Err(CallError::Timeout),
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) if e.is_connect() => Err(CallError::Connect(error_chain(&e))),
        Ok(Err(e)) if caused_by_client_body(&e) => Err(CallError::ClientBody(error_chain(&e))),
        Ok(Err(e)) => Err(CallError::Failed(error_chain(&e))),
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
