//! Connection caps (issue 12, item 2): `proxy.maxConnectionsPerClient` and
//! `proxy.maxConnections` refuse connections over them at once, count the
//! refusals and log them (rate-limited), free a place when a connection
//! closes, and leave other clients (the admin's health checks) served.
//! Loopback has a whole /8: 127.0.0.2 is "another client".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::raw;
use common::{ADMIN_ID, ADMIN_SECRET, Node};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const HEALTH: &[u8] =
    b"GET /.well-known/otoroshi/monitoring/health HTTP/1.1\r\nHost: x.test\r\n\r\n";

/// A node with the given -D arguments and its stderr in a file.
fn node_logging(extra: &[&str]) -> (Node, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut args = vec![
        "-Dhttp.address=127.0.0.1".to_string(),
        "-Dhttp.port=0".to_string(),
        "-Dhttps.port=0".to_string(),
        "-Dmetrics.port=0".to_string(),
        format!("-Dapp.filedb.path={}", dir.path().display()),
        format!("-Dadmin.clientId={ADMIN_ID}"),
        format!("-Dadmin.clientSecret={ADMIN_SECRET}"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut command = common::command();
    command
        .args(&args)
        .stderr(std::fs::File::create(&log).unwrap());
    let node = Node::spawn(&mut command, dir.path());
    (node, dir, log)
}

/// The metrics port the node printed.
fn metrics_url(node: &Node) -> String {
    node.stdout
        .iter()
        .find_map(|l| l.strip_prefix("komainu metrics on "))
        .expect("metrics port line")
        .to_string()
}

async fn refused(node: &Node, limit: &str) -> u64 {
    let text = reqwest::get(metrics_url(node))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("komainu_refused_connections_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// A served keep-alive connection (one health request answered).
async fn served(stream: &mut TcpStream) -> bool {
    stream.write_all(HEALTH).await.is_ok() && raw::read_response(stream).await == 200
}

/// A connection the node closes without answering.
async fn closed_at_once(mut stream: TcpStream) -> bool {
    let _ = stream.write_all(HEALTH).await;
    let (got, closed) = raw::read_until_closed(&mut stream, Duration::from_secs(2)).await;
    got.is_empty() && closed.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_cap_refuses_the_next_connection_and_others_are_served() {
    let (node, _dir, log) = node_logging(&["-Dproxy.maxConnectionsPerClient=3"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = raw::connect(node.port).await;
        assert!(served(&mut stream).await);
        held.push(stream);
    }
    // Five more from the same client: each closed at once.
    for _ in 0..5 {
        assert!(closed_at_once(raw::connect(node.port).await).await);
    }
    // Another client (the admin checking health) is served meanwhile.
    let mut other = raw::connect_from([127, 0, 0, 2], node.port).await;
    assert!(served(&mut other).await);
    assert_eq!(refused(&node, "client").await, 5);
    assert_eq!(refused(&node, "node").await, 0);
    // One warning for the burst, naming the key.
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings = text.matches("proxy.maxConnectionsPerClient (3)").count();
    assert_eq!(warnings, 1, "{text}");
    // Closing one frees its place.
    drop(held.pop());
    let freed = common::eventually(Duration::from_secs(3), || async {
        let mut stream = raw::connect(node.port).await;
        served(&mut stream).await
    })
    .await;
    assert!(freed.is_some(), "a freed place is not given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_cap_refuses_every_client_over_it() {
    let (node, _dir, log) = node_logging(&[
        "-Dproxy.maxConnections=2",
        "-Dproxy.maxConnectionsPerClient=0",
    ]);
    let mut first = raw::connect(node.port).await;
    let mut second = raw::connect_from([127, 0, 0, 2], node.port).await;
    assert!(served(&mut first).await && served(&mut second).await);
    assert!(closed_at_once(raw::connect_from([127, 0, 0, 3], node.port).await).await);
    assert_eq!(refused(&node, "node").await, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("proxy.maxConnections (2)"), "{text}");
    drop(first);
    let freed = common::eventually(Duration::from_secs(3), || async {
        let mut stream = raw::connect_from([127, 0, 0, 3], node.port).await;
        served(&mut stream).await
    })
    .await;
    assert!(freed.is_some(), "a freed place is not given back");
}
