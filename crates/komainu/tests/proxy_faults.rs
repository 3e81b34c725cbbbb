#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::upstream;
use common::{Node, json, route_to};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstreams_get_a_504_with_per_route_timeouts() {
    let up = upstream::start("slow").await;
    let (node, _dir) = Node::start(&["-Dproxy.timeouts.upstream=3000"]);
    let mut quick = route_to("quick", "quick.oto.tools", &[up.port]);
    quick["backend"]["client"] = json!({"call_timeout": 200});
    node.create_route(&quick).await;
    node.create_route(&route_to("patient", "patient.oto.tools", &[up.port]))
        .await;

    let started = Instant::now();
    let (status, body) = json(
        node.through(Method::GET, "quick.oto.tools", "/slow/1500")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "gateway_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the route's 200 ms applies, not the default"
    );

    let (status, _) = json(
        node.through(Method::GET, "patient.oto.tools", "/slow/300")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "the node default (3 s) leaves room");
}

fn raw_exchange(port: u16, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_slow_and_oversized_requests() {
    let (node, _dir) = Node::start(&[
        "-Dproxy.timeouts.headerRead=300",
        "-Dproxy.maxHeaderSize=8192",
    ]);
    let port = node.port;
    tokio::task::spawn_blocking(move || {
        let answer = raw_exchange(port, b"THIS IS NOT HTTP\r\n\r\n", Duration::from_secs(5));
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");

        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(20_000)
        );
        let answer = raw_exchange(port, big.as_bytes(), Duration::from_secs(5));
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

        // Slowloris: half a request head, then silence. The node closes the connection.
        let started = Instant::now();
        let _ = raw_exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(5),
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "closed after the header read timeout, not the client's"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_header_contradicting_the_request_target_is_refused() {
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to(
        "public",
        "public.oto.tools",
        &[upstream::dead_port()],
    ))
    .await;
    let port = node.port;
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            port,
            b"GET http://public.oto.tools/secret HTTP/1.1\r\nHost: private.oto.tools\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("does not match"), "{answer:?}");
}

/// `/public/../admin` must not reach an upstream that would normalise it to
/// `/admin` through the route that matched `/public`: dot segments, raw or
/// percent-encoded, are refused before routing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_are_refused_before_routing() {
    let up = upstream::start("open").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("open", "dots.oto.tools/public", &[up.port]))
        .await;
    let port = node.port;
    let hits_before = up.hits();
    let answers = tokio::task::spawn_blocking(move || {
        [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/.%2E/admin",
            "/public%2f..%2fadmin",
            "/public/./x",
        ]
        .map(|path| {
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: dots.oto.tools\r\nConnection: close\r\n\r\n");
            (
                path,
                raw_exchange(port, request.as_bytes(), Duration::from_secs(5)),
            )
        })
    })
    .await
    .unwrap();
    for (path, answer) in answers {
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer:?}");
        assert!(
            answer.contains("dot segment") || answer.contains("encoded dot"),
            "{path}: {answer:?}"
        );
    }
    assert_eq!(up.hits(), hits_before, "nothing reached the upstream");
    assert_eq!(
        node.status_of("dots.oto.tools", "/public/file.v2.txt")
            .await,
        200
    );
}
