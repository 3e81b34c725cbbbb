//! Real HTTP backends for proxy tests: each answers with a JSON description
//! of the request it got (its own name, method, path, query, headers, body
//! size), counted without buffering; `/slow/<ms>` answers late and
//! `/bytes/<n>` streams n bytes. `ws_echo` is a real WebSocket echo server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

pub struct Upstream {
    pub name: String,
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub async fn start(name: &str) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let (task_name, task_hits) = (name.to_string(), hits.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let (name, hits) = (task_name.clone(), task_hits.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (name, hits) = (name.clone(), hits.clone());
                    async move { Ok::<_, Infallible>(answer(request, &name, &hits, peer).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        name: name.to_string(),
        port,
        hits,
        task,
    }
}

async fn answer(
    request: Request<Incoming>,
    name: &str,
    hits: &AtomicUsize,
    peer: SocketAddr,
) -> Response<Body> {
    hits.fetch_add(1, Ordering::SeqCst);
    let path = request.uri().path().to_string();
    if let Some(ms) = path
        .strip_prefix("/slow/")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return stream_bytes(n);
    }
    if let Some(n) = path
        .strip_prefix("/body/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return shaped_body(n, request.uri().query().unwrap_or_default());
    }
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_string);
    let mut body = request.into_body();
    let mut body_len = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map(|f| f.into_data()) {
            body_len += data.map(|d| d.len()).unwrap_or(0);
        } else {
            break;
        }
    }
    let description = json!({
        "name": name, "method": method, "path": path, "query": query,
        "headers": headers, "body_len": body_len, "peer": peer.to_string(),
    });
    Response::builder()
        .header("content-type", "application/json")
        .header("x-upstream", name)
        .body(Full::new(Bytes::from(description.to_string())).boxed())
        .unwrap()
}

fn stream_bytes(total: usize) -> Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = (0..total.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(total - i * CHUNK);
        Ok::<_, Infallible>(Frame::data(chunk.slice(0..len)))
    });
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    Response::builder()
        .header("content-length", total)
        .body(BodyExt::boxed(body))
        .unwrap()
}

/// The `n` bytes `/body/<n>` answers with: deterministic, compressible text.
pub fn body_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("{{\"i\":{i},\"name\":\"komainu\"}},").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// `/body/<n>?type=json|text|png&chunked&encoding=E&etag=T`: [`body_bytes`]
/// as that content type (JSON by default), with a Content-Length or
/// streamed in 1000-byte chunks without one, optionally with a
/// Content-Encoding (the bytes are not encoded) and a strong ETag.
fn shaped_body(n: usize, query: &str) -> Response<Body> {
    let param = |name: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    };
    let content_type = match param("type") {
        Some("text") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/json",
    };
    let mut builder = Response::builder().header("content-type", content_type);
    if let Some(encoding) = param("encoding") {
        builder = builder.header("content-encoding", encoding);
    }
    if let Some(etag) = param("etag") {
        builder = builder.header("etag", format!("\"{etag}\""));
    }
    let bytes = Bytes::from(body_bytes(n));
    if param("chunked").is_some() {
        let chunks: Vec<_> = (0..n.div_ceil(1000))
            .map(|i| {
                Ok::<_, Infallible>(Frame::data(bytes.slice(i * 1000..n.min(i * 1000 + 1000))))
            })
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        builder.body(BodyExt::boxed(body)).unwrap()
    } else {
        builder
            .header("content-length", n)
            .body(Full::new(bytes).boxed())
            .unwrap()
    }
}

/// A WebSocket server that sends back every message it gets, prefixed with "echo: ".
pub async fn ws_echo() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() {
                        let text = format!("echo: {}", message.into_text().unwrap());
                        if ws.send(text.into()).await.is_err() {
                            break;
                        }
                    } else if message.is_close() {
                        break;
                    }
                }
            });
        }
    });
    (port, task)
}

/// A port on which nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
