//! The global config on the proxy path: `ipFiltering` (whitelist, blacklist)
//! and `maintenanceMode` stop calls before any route is matched; bad entries
//! are refused at write time and change nothing; behind a trusted proxy the
//! caller is the client the proxy names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::plugins::route_with;
use common::{Node, eventually, upstream};
use reqwest::Method;
use serde_json::{Value, json};

async fn status_of(node: &Node, forwarded_for: Option<&str>) -> u16 {
    let mut request = node.through(Method::GET, "gated.test", "/");
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn set_global(node: &Node, patch: Value) -> (u16, Value) {
    node.send_json(Method::PATCH, "/api/globalconfig", &patch)
        .await
}

/// Waits until calls get `status` (a write is published asynchronously).
async fn expect(node: &Node, forwarded_for: Option<&str>, status: u16) {
    eventually(Duration::from_secs(5), || async {
        status_of(node, forwarded_for).await == status
    })
    .await;
    assert_eq!(status_of(node, forwarded_for).await, status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_filtering_and_maintenance_stop_calls_before_routing() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(&node, "gated", up.port, json!([])).await;
    assert_eq!(status_of(&node, None).await, 200);

    let (status, body) = set_global(
        &node,
        json!({"ipFiltering": {"whitelist": [], "blacklist": ["127.0.0.1"]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    expect(&node, None, 403).await;
    // The admin API is not behind the gate.
    let (status, _) = node.get_json("/api/globalconfig").await;
    assert_eq!(status, 200);

    set_global(
        &node,
        json!({"ipFiltering": {"whitelist": ["10.0.0.0/8"], "blacklist": []}}),
    )
    .await;
    expect(&node, None, 403).await;
    set_global(
        &node,
        json!({"ipFiltering": {"whitelist": ["127.*.*.*"], "blacklist": []}}),
    )
    .await;
    expect(&node, None, 200).await;

    // A bad entry: 400 naming it, and the filtering in force is kept.
    let (status, body) = set_global(
        &node,
        json!({"ipFiltering": {"whitelist": ["10.0.0.1", "nope"], "blacklist": []}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("ipFiltering.whitelist[1]"),
        "{body}"
    );
    let (_, config) = node.get_json("/api/globalconfig").await;
    assert_eq!(config["ipFiltering"]["whitelist"], json!(["127.*.*.*"]));

    set_global(&node, json!({"maintenanceMode": true})).await;
    expect(&node, None, 503).await;
    set_global(&node, json!({"maintenanceMode": false})).await;
    expect(&node, None, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_named_client_is_filtered() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&["-Dproxy.trustedProxies.0=127.0.0.0/8"]);
    route_with(&node, "gated", up.port, json!([])).await;
    set_global(
        &node,
        json!({"ipFiltering": {"whitelist": [], "blacklist": ["203.0.113.7"]}}),
    )
    .await;
    expect(&node, Some("203.0.113.7"), 403).await;
    assert_eq!(status_of(&node, Some("198.51.100.1")).await, 200);
    assert_eq!(status_of(&node, None).await, 200);

    // An untrusted peer cannot pose as a whitelisted client.
    let (plain, _dir2) = Node::start(&[]);
    route_with(&plain, "gated", up.port, json!([])).await;
    set_global(
        &plain,
        json!({"ipFiltering": {"whitelist": ["198.51.100.1"], "blacklist": []}}),
    )
    .await;
    expect(&plain, Some("198.51.100.1"), 403).await;
}
