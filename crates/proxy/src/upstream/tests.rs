//! The plain HTTP/1 client against a real TCP backend that counts its
//! connections: reuse, connections the backend closed, bodies left unread,
//! idle expiry, refused connects, and the request as the backend sees it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use super::{CallError, Upstream, UpstreamBody};
use crate::body::empty;

const SECOND: Duration = Duration::from_secs(1);

#[derive(Clone, Copy)]
enum Answer {
    /// `ok`, keep-alive.
    Small,
    /// `ok`, then the socket closes without a `Connection: close`.
    SmallThenClose,
    /// 4 MiB, chunked.
    Large,
}

/// A backend on an ephemeral port: connections accepted, and the last
/// request head received.
struct Backend {
    port: u16,
    accepted: Arc<AtomicUsize>,
    last_head: Arc<Mutex<String>>,
}

async fn backend(answer: Answer) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let last_head = Arc::new(Mutex::new(String::new()));
    let (count, head) = (accepted.clone(), last_head.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, answer, head.clone()));
        }
    });
    Backend {
        port,
        accepted,
        last_head,
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, last_head: Arc<Mutex<String>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        *last_head.lock().await = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + 4);
        let written = match answer {
            Answer::Small | Answer::SmallThenClose => {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
            }
            Answer::Large => large(&mut stream).await,
        };
        if written.is_err() || matches!(answer, Answer::SmallThenClose) {
            return;
        }
    }
}

async fn large(stream: &mut TcpStream) -> std::io::Result<()> {
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .await?;
    let piece = vec![b'x'; 64 * 1024];
    for _ in 0..64 {
        stream.write_all(b"10000\r\n").await?;
        stream.write_all(&piece).await?;
        stream.write_all(b"\r\n").await?;
    }
    stream.write_all(b"0\r\n\r\n").await
}

async fn get(
    upstream: &Upstream,
    port: u16,
    path: &str,
) -> Result<http::Response<UpstreamBody>, CallError> {
    let request = Request::get(format!("http://127.0.0.1:{port}{path}"))
        .body(empty())
        .unwrap();
    send(upstream, request, SECOND).await
}

/// A plain call (no TLS, no upgrade) with a 1 s connect timeout.
async fn send(
    upstream: &Upstream,
    request: Request<crate::body::ProxyBody>,
    timeout: Duration,
) -> Result<http::Response<UpstreamBody>, CallError> {
    let now = std::time::Instant::now();
    upstream
        .call(request, None, false, SECOND, now, timeout)
        .await
}

async fn get_ok(upstream: &Upstream, port: u16) -> String {
    let response = get(upstream, port, "/").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let backend = backend(Answer::Small).await;
    let upstream = Upstream::new(Duration::from_secs(60));
    for _ in 0..5 {
        assert_eq!(get_ok(&upstream, backend.port).await, "ok");
    }
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 1);
}

/// A route may set any `call_timeout` in ms: a deadline past what the
/// clock can hold means no deadline, not a panic on the request path.
#[tokio::test]
async fn a_timeout_too_long_for_the_clock_is_no_deadline() {
    let backend = backend(Answer::Small).await;
    let upstream = Upstream::new(Duration::from_secs(60));
    let url = format!("http://127.0.0.1:{}/", backend.port);
    for timeout in [Duration::MAX, Duration::from_millis(u64::MAX)] {
        let request = Request::get(url.as_str()).body(empty()).unwrap();
        let response = send(&upstream, request, timeout).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body().collect().await.unwrap();
    }
}

#[tokio::test]
async fn the_backend_sees_an_origin_form_target_and_a_host() {
    let backend = backend(Answer::Small).await;
    let upstream = Upstream::new(Duration::from_secs(60));
    let response = get(&upstream, backend.port, "/a/b?c=d").await.unwrap();
    response.into_body().collect().await.unwrap();
    let head = backend.last_head.lock().await.to_ascii_lowercase();
    assert!(head.starts_with("get /a/b?c=d http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{}", backend.port)),
        "{head}"
    );
}

#[tokio::test]
async fn a_connection_the_backend_closed_is_not_reused() {
    let backend = backend(Answer::SmallThenClose).await;
    let upstream = Upstream::new(Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(get_ok(&upstream, backend.port).await, "ok");
        // The backend's close reaches us, as it does between real requests.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_body_left_unread_closes_its_connection() {
    let backend = backend(Answer::Large).await;
    let upstream = Upstream::new(Duration::from_secs(60));
    let mut body = get(&upstream, backend.port, "/").await.unwrap().into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);
    // Read to the end, the next one is parked and serves a third.
    let whole = get(&upstream, backend.port, "/").await.unwrap();
    let bytes = whole.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 64 * 64 * 1024);
    get(&upstream, backend.port, "/")
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_expire() {
    let backend = backend(Answer::Small).await;
    let upstream = Upstream::new(Duration::from_millis(100));
    get_ok(&upstream, backend.port).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    get_ok(&upstream, backend.port).await;
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_connect_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let upstream = Upstream::new(Duration::from_secs(60));
    match get(&upstream, port, "/").await {
        Err(CallError::Connect(reason)) => assert!(reason.contains("tcp connect"), "{reason}"),
        other => panic!(
            "expected a connect error, got {:?}",
            other.map(|r| r.status())
        ),
    }
}

/// A backend that answers before it reads the request body (as nginx's
/// `return` does), then reads the whole body: the upload must still reach
/// it after the client has read the answer, as it did when the legacy
/// client's task drove every connection.
#[tokio::test]
async fn an_upload_answered_early_is_still_sent_whole() {
    const SIZE: usize = 32 * 1024 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the head");
            buffer.extend_from_slice(&chunk[..n]);
        };
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = buffer.len() - (end + 4);
        while got < SIZE {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        count.store(got, Ordering::SeqCst);
    });
    let upstream = Upstream::new(Duration::from_secs(60));
    let request = Request::post(format!("http://127.0.0.1:{port}/upload"))
        .header("content-length", SIZE)
        .body(crate::body::full(vec![b'u'; SIZE]))
        .unwrap();
    let response = send(&upstream, request, 5 * SECOND).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
    for _ in 0..100 {
        if received.load(Ordering::SeqCst) != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received.load(Ordering::SeqCst), SIZE, "the upload was cut");
}
