//! The HTTP side of every call to a leader: one pooled client, the headers
//! every call carries (Host, Basic auth, the worker's identity and the state
//! it runs), a per-attempt timeout that covers the whole body, and the
//! round-robin choice of leader URL shared by the state and quota loops.
//! `https://` leaders are verified against `cluster.mtls.*` roots (see
//! `tls`); there is no fallback to plain HTTP nor to skipping verification.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::WorkerSettings;
use crate::wire;

/// Largest body taken from a leader (compressed or not): a bound on memory
/// if a leader, or something posing as one, sends without end.
pub(crate) const MAX_BODY: usize = 512 * 1024 * 1024;

/// Why an attempt failed before a status could be judged.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    #[error("no leader URL configured (cluster.leader.urls)")]
    NoLeader,
    #[error("bad leader URL {0}")]
    BadUrl(String),
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url}: no complete answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// A leader's complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Index in `leader_urls` of the leader that answered.
    pub leader: usize,
    pub url: String,
}

/// The state this worker runs, for the identity headers.
pub(crate) struct Running {
    pub digest: Option<String>,
    pub revision: Option<u64>,
}

pub(crate) struct LeaderClient {
    /// For `http://` leaders.
    plain: Client<HttpConnector, Full<Bytes>>,
    /// For `https://` leaders; none without a TLS config, and those URLs
    /// are then refused before dialing.
    tls: Option<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
    urls: Vec<String>,
    current: AtomicUsize,
    last_used: Mutex<Option<String>>,
    /// Host, Authorization, identity: the same on every call.
    fixed: HeaderMap,
}

impl LeaderClient {
    pub fn new(settings: &WorkerSettings) -> LeaderClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.state_timeout.max(settings.quota_timeout)));
        let plain = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(http.clone());
        let tls = settings.leader_tls.as_ref().map(|config| {
            http.enforce_http(false);
            // https_only: this client is used for https:// URLs alone.
            let connector = HttpsConnectorBuilder::new()
                .with_tls_config((**config).clone())
                .https_only()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(connector)
        });
        let urls = settings
            .leader_urls
            .iter()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        LeaderClient {
            plain,
            tls,
            urls,
            current: AtomicUsize::new(0),
            last_used: Mutex::new(None),
            fixed: fixed_headers(settings),
        }
    }

    /// The URL last called, for the health view.
    pub fn last_used(&self) -> Option<String> {
        self.last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Moves to the next leader after a failed attempt on `leader`. Only the
    /// loop that saw the current leader fail moves it, so two loops failing
    /// at once do not skip a leader.
    pub fn failed(&self, leader: usize) {
        let n = self.urls.len().max(1);
        let _ = self.current.compare_exchange(
            leader,
            (leader + 1) % n,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// One attempt on the current leader: sends the request and reads the
    /// whole answer within `timeout`. Any status is an `Ok`; the caller
    /// judges it.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        extra: HeaderMap,
        body: Bytes,
        running: &Running,
        timeout: Duration,
    ) -> Result<Answer, (usize, CallError)> {
        if self.urls.is_empty() {
            return Err((0, CallError::NoLeader));
        }
        let leader = self.current.load(Ordering::Acquire) % self.urls.len();
        let url = format!("{}{path_and_query}", self.urls[leader]);
        *self
            .last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.urls[leader].clone());
        let request = self
            .request(method, &url, extra, body, running)
            .map_err(|e| (leader, e))?;
        let exchange = async {
            let sent = match (request.uri().scheme_str(), &self.tls) {
                (Some("https"), Some(tls)) => tls.request(request).await,
                (Some("https"), None) => {
                    return Err(CallError::Failed {
                        url: url.clone(),
                        reason: "https:// leader but no TLS client configured".to_string(),
                    });
                }
                _ => self.plain.request(request).await,
            };
            let response = sent.map_err(|e| failed(&url, &e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| CallError::Failed {
                    url: url.clone(),
                    reason: format!("reading the answer: {e}"),
                })?
                .to_bytes();
            Ok::<_, CallError>((parts, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((parts, body))) => Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
                leader,
                url,
            }),
            Ok(Err(e)) => Err((leader, e)),
            Err(_) => Err((leader, CallError::Timeout { url, timeout })),
        }
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        extra: HeaderMap,
        body: Bytes,
        running: &Running,
    ) -> Result<Request<Full<Bytes>>, CallError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| CallError::BadUrl(format!("{url}: {e}")))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| CallError::BadUrl(format!("{url}: {e}")))?;
        let headers = request.headers_mut();
        headers.extend(self.fixed.clone());
        if let Some(digest) = running.digest.as_deref().and_then(value) {
            headers.insert(header(wire::HEADER_WORKER_STATE_DIGEST), digest);
        }
        if let Some(revision) = running.revision {
            headers.insert(
                header(wire::HEADER_WORKER_STATE_REVISION),
                HeaderValue::from(revision),
            );
        }
        headers.extend(extra);
        Ok(request)
    }
}

fn failed(url: &str, e: &hyper_util::client::legacy::Error) -> CallError {
    use std::error::Error;
    if let Some(why) = transport::tls_client::refused_certificate(e) {
        return CallError::Failed {
            url: url.to_string(),
            reason: format!(
                "the leader's TLS certificate was not trusted ({why}): check cluster.mtls.trustedCAPath"
            ),
        };
    }
    // The legacy client's own message is terse ("client error (Connect)");
    // the cause says what happened.
    if let Some(alert) = transport::tls_client::alert_received(e) {
        return CallError::Failed {
            url: url.to_string(),
            reason: format!(
                "the leader ended the TLS handshake ({alert}): if it wants a client certificate, check cluster.mtls.certPath/keyPath"
            ),
        };
    }
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    CallError::Failed {
        url: url.to_string(),
        reason,
    }
}

/// A header name as wire.rs writes it (`http` lower-cases it).
pub(crate) fn header(name: &'static str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes())
        .unwrap_or_else(|_| HeaderName::from_static("x-komainu-bad-header-name"))
}

/// A header value from configured text; `None` (header left out, logged
/// once at start) if it cannot be one.
fn value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

fn fixed_headers(settings: &WorkerSettings) -> HeaderMap {
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", settings.client_id, settings.client_secret));
    let mut headers = HeaderMap::new();
    let mut put = |name: HeaderName, text: &str, what: &str| match value(text) {
        Some(v) => {
            headers.insert(name, v);
        }
        None => tracing::warn!(
            "{what} cannot be sent as an HTTP header value; calls to the leaders go without it"
        ),
    };
    put(HOST, &settings.leader_host, "cluster.leader.host");
    put(
        AUTHORIZATION,
        &format!("Basic {credentials}"),
        "cluster.leader.clientId/clientSecret",
    );
    put(ACCEPT_ENCODING, "gzip", "Accept-Encoding");
    put(header(wire::HEADER_FORMAT), wire::FORMAT, "format");
    let identity = [
        (wire::HEADER_WORKER_ID, settings.id.clone(), "the worker id"),
        (
            wire::HEADER_WORKER_NAME,
            settings.name.clone(),
            "cluster.worker.name",
        ),
        (
            wire::HEADER_WORKER_VERSION,
            settings.version.to_string(),
            "the version",
        ),
        (
            wire::HEADER_WORKER_LOCATION,
            settings.location.clone(),
            "the location",
        ),
        (
            wire::HEADER_WORKER_HTTP_PORT,
            settings.http_port.to_string(),
            "http.port",
        ),
        (
            wire::HEADER_WORKER_HTTPS_PORT,
            settings.https_port.to_string(),
            "https.port",
        ),
    ];
    for (name, text, what) in identity {
        put(header(name), &text, what);
    }
    headers
}
