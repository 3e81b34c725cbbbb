//! The pooled keep-alive client to backends. One client per distinct
//! connect timeout (routes may override it; most share the default), each
//! with its own pool.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ProxyBody;

type HttpClient = Client<HttpConnector, ProxyBody>;

pub struct Upstream {
    idle_timeout: Duration,
    clients: RwLock<HashMap<Duration, Arc<HttpClient>>>,
}

/// Why a call failed, as the caller must react to it: a connect failure is
/// safe to retry elsewhere, anything after the request left is not.
#[derive(Debug)]
pub enum CallError {
    Connect(String),
    Timeout,
    Failed(String),
}

impl Upstream {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            clients: RwLock::new(HashMap::new()),
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
    pub async fn call(
        &self,
        request: Request<ProxyBody>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Response<Incoming>, CallError> {
        let client = self.client(connect_timeout);
        match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) if e.is_connect() => Err(CallError::Connect(error_chain(&e))),
            Ok(Err(e)) => Err(CallError::Failed(error_chain(&e))),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
