//! Connection lifecycle at the listener (issue 12, item 2): connections
//! that send nothing, part of a head, part of the HTTP/2 preface, only the
//! preface, or nothing after their last request are closed by the node;
//! connections in use are not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::{self, H2_PREFACE, SETTINGS};
use common::{Node, route_to, upstream};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HEALTH: &str = "/.well-known/otoroshi/monitoring/health";
/// The acceptance bound of the issue.
const WITHIN: Duration = Duration::from_secs(9);

fn short_deadlines() -> (Node, tempfile::TempDir) {
    Node::start(&[
        "-Dproxy.timeouts.headerRead=2000",
        "-Dproxy.timeouts.idle=4000",
    ])
}

fn health_request() -> Vec<u8> {
    format!("GET {HEALTH} HTTP/1.1\r\nHost: anything.test\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_within_9s() {
    let (node, _dir) = short_deadlines();
    let mut settings = H2_PREFACE.to_vec();
    settings.extend(raw::frame(SETTINGS, 0, 0, &[]));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("silent", vec![]),
        (
            "half-sent HTTP/1 head",
            b"GET / HTTP/1.1\r\nHost: a.test\r\n".to_vec(),
        ),
        ("one byte of the preface", b"P".to_vec()),
        ("partial HTTP/2 preface", H2_PREFACE[..16].to_vec()),
        ("full preface, then silence", H2_PREFACE.to_vec()),
        ("preface and SETTINGS, then silence", settings),
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (name, bytes) in cases {
        let port = node.port;
        tasks.push(tokio::spawn(async move {
            let mut stream = raw::connect(port).await;
            stream.write_all(&bytes).await.unwrap();
            let (_, closed) =
                raw::read_until_closed(&mut stream, WITHIN + Duration::from_secs(1)).await;
            (name, closed)
        }));
    }
    for task in tasks {
        let (name, closed) = task.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("{name}: still open after {WITHIN:?}"));
        assert!(closed <= WITHIN, "{name}: closed after {closed:?}");
        // A deadline, not an immediate refusal.
        assert!(
            closed >= Duration::from_millis(1500),
            "{name}: closed after {closed:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(12));
    // The node still serves.
    assert_eq!(node.health().await.0, 200);
    let metrics = node
        .admin(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    let closed_idle = text
        .lines()
        .find_map(|l| l.strip_prefix("komainu_closed_idle_connections_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    // All six by the listener, the half-sent HTTP/1 head included.
    assert!(closed_idle >= 6, "{text}");
}

/// An HTTP/2 client that answers pings but sends nothing after its request
/// still loses the connection after `proxy.timeouts.idle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2_connection_is_closed_after_idle() {
    let (node, _dir) = short_deadlines();
    let stream = raw::connect(node.port).await;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let ended = tokio::spawn(connection);
    let request = http::Request::get(format!("http://anything.test{HEALTH}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let answered = Instant::now();
    tokio::time::timeout(WITHIN, ended)
        .await
        .expect("the idle h2 connection was not closed within 9 s")
        .unwrap()
        .ok();
    let after = answered.elapsed();
    assert!(
        after >= Duration::from_millis(3500),
        "closed after {after:?}, before idle"
    );
}

/// Requests every second for longer than both deadlines: neither an HTTP/1
/// keep-alive nor an HTTP/2 connection is closed while requests flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_are_not_closed() {
    let (node, _dir) = short_deadlines();
    let mut http1 = raw::connect(node.port).await;
    let stream = raw::connect(node.port).await;
    let (mut h2, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let h2_conn = tokio::spawn(connection);
    for i in 0..10 {
        http1.write_all(&health_request()).await.unwrap();
        assert_eq!(
            raw::read_response(&mut http1).await,
            200,
            "HTTP/1 request {i}"
        );
        let request = http::Request::get(format!("http://anything.test{HEALTH}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = h2.send_request(request).await.expect("h2 request");
        assert_eq!(response.status(), 200, "h2 request {i}");
        response.into_body().collect().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(!h2_conn.is_finished());
}

/// One request on a keep-alive connection, then silence: how long until
/// the node closes it (within 7 s).
async fn keep_alive_closed_after(node: &Node) -> Duration {
    let mut stream = raw::connect(node.port).await;
    stream.write_all(&health_request()).await.unwrap();
    assert_eq!(raw::read_response(&mut stream).await, 200);
    let (_, closed) = raw::read_until_closed(&mut stream, Duration::from_secs(7)).await;
    closed.expect("the idle keep-alive connection is still open")
}

/// A slowloris client trickling its head, a byte at a time, well inside
/// any per-read timeout: the connection goes `headerRead` after it was
/// served, however busy the client looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_http1_head_is_cut_after_header_read() {
    let (node, _dir) = short_deadlines();
    let mut stream = raw::connect(node.port).await;
    // Protocol chosen (not an h2 preface), then the rest trickles.
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let trickle = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = None;
    for byte in trickle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(&[*byte]).await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            // EOF or reset: the node closed it (it never answers a head cut).
            assert!(matches!(read, Ok(0) | Err(_)), "answered: {read:?}");
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("a trickled head kept the connection open for 14 s");
    assert!(
        cut >= Duration::from_millis(1500) && cut < Duration::from_secs(5),
        "cut after {cut:?}"
    );
}

/// After a response, the next HTTP/1 head must come within headerRead when
/// that is shorter than idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http1_keep_alive_is_closed_after_header_read() {
    let (node, _dir) = short_deadlines();
    let closed = keep_alive_closed_after(&node).await;
    // headerRead is 2 s, idle 4 s.
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_millis(3500),
        "closed after {closed:?}"
    );
}

/// The listener's idle deadline cuts an HTTP/1 keep-alive connection when
/// idle is shorter than headerRead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http1_keep_alive_is_closed_after_idle() {
    let (node, _dir) = Node::start(&[
        "-Dproxy.timeouts.headerRead=8000",
        "-Dproxy.timeouts.idle=1500",
    ]);
    let closed = keep_alive_closed_after(&node).await;
    assert!(
        closed >= Duration::from_millis(1000) && closed < Duration::from_secs(5),
        "closed after {closed:?}"
    );
}

/// A WebSocket through the proxy that carries nothing either way for
/// `proxy.timeouts.idle` is closed; one in use is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websocket_is_closed_and_busy_one_is_not() {
    let (ws_port, _server) = upstream::ws_echo().await;
    let (node, _dir) = Node::start(&["-Dproxy.timeouts.idle=1500"]);
    node.create_route(&route_to("ws", "ws.oto.tools", &[ws_port]))
        .await;
    let connect = || async {
        let mut request = format!("ws://127.0.0.1:{}/chat", node.port)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Host", "ws.oto.tools".parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    let mut idle = connect().await;
    let mut busy = connect().await;
    idle.send("once".into()).await.unwrap();
    assert!(idle.next().await.unwrap().unwrap().is_text());
    let quiet_since = Instant::now();
    // The busy one talks every 500 ms for 3 s (twice the idle timeout).
    for i in 0..6 {
        busy.send(format!("m{i}").into()).await.unwrap();
        let reply = busy.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), format!("echo: m{i}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // By now the idle one has been cut: the next read ends.
    let next = tokio::time::timeout(Duration::from_secs(3), idle.next())
        .await
        .expect("the idle WebSocket is still open");
    assert!(
        !matches!(next, Some(Ok(ref m)) if m.is_text()),
        "unexpected message {next:?}"
    );
    assert!(quiet_since.elapsed() >= Duration::from_millis(1500));
}

/// The same deadlines over HTTPS, counted from the end of the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tls_connections_are_closed_within_9s() {
    let (node, _dir) = short_deadlines();
    let port = node.https_port.expect("https port");
    let mut tasks = Vec::new();
    for (name, alpn, bytes) in [
        ("handshake, then silence", None, Vec::new()),
        (
            "ALPN h2 and the preface, then silence",
            Some(b"h2".to_vec()),
            H2_PREFACE.to_vec(),
        ),
    ] {
        tasks.push(tokio::spawn(async move {
            let mut stream = tls::connect(port, alpn).await;
            stream.write_all(&bytes).await.unwrap();
            stream.flush().await.unwrap();
            let started = Instant::now();
            let mut buf = [0u8; 4096];
            loop {
                match tokio::time::timeout(
                    WITHIN,
                    tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
                )
                .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => break (name, Some(started.elapsed())),
                    Ok(Ok(_)) => continue,
                    Err(_) => break (name, None),
                }
            }
        }));
    }
    for task in tasks {
        let (name, closed) = task.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("{name}: still open after {WITHIN:?}"));
        assert!(
            closed >= Duration::from_millis(1500),
            "{name}: closed after {closed:?}"
        );
    }
}

/// A TLS client for the node's self-signed admin certificate.
mod tls {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;

    pub async fn connect(port: u16, alpn: Option<Vec<u8>>) -> TlsStream<TcpStream> {
        let mut config = transport::tls_client::trust_all_config().unwrap();
        config.alpn_protocols = alpn.into_iter().collect();
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::try_from(super::common::ADMIN_HOST).unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap()
    }
}
