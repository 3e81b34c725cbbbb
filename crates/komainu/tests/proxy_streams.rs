#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::upstream;
use common::{Node, json, route_to};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_are_proxied_both_ways() {
    let (ws_port, _server) = upstream::ws_echo().await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("ws", "ws.oto.tools", &[ws_port]))
        .await;

    let mut request = format!("ws://127.0.0.1:{}/chat", node.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Host", "ws.oto.tools".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    for i in 0..3 {
        socket.send(format!("hello {i}").into()).await.unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(
            reply.into_text().unwrap().as_str(),
            format!("echo: hello {i}")
        );
    }
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_are_proxied_to_http1_upstreams() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("h2", "h2.oto.tools", &[up.port]))
        .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("h2.oto.tools", ([127, 0, 0, 1], node.port).into())
        .build()
        .unwrap();
    let response = client
        .get(format!("http://h2.oto.tools:{}/over/h2", node.port))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let (status, seen) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(seen["path"], "/over/h2");
    assert_eq!(
        seen["headers"]["host"],
        format!("h2.oto.tools:{}", node.port)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_through_in_flat_memory() {
    const SIZE: usize = 512 * 1024 * 1024;
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("big", "big.oto.tools", &[up.port]))
        .await;
    let before = node.rss_kib();

    // Upload: the upstream counts what arrives.
    let chunk = bytes::Bytes::from(vec![b'u'; 1024 * 1024]);
    let stream = futures_util::stream::iter(
        (0..SIZE / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let response = node
        .through(Method::POST, "big.oto.tools", "/upload")
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(seen["body_len"], SIZE);

    // Download: count without keeping.
    let mut response = node
        .through(Method::GET, "big.oto.tools", &format!("/bytes/{SIZE}"))
        .send()
        .await
        .unwrap();
    let mut received = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
    }
    assert_eq!(received, SIZE);
    let grown_mib = node.rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "komainu grew by {grown_mib} MiB while 1 GiB passed through"
    );
}
