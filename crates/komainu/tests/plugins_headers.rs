//! The headers komainu always sent, now carried by XForwardedHeaders,
//! OtoroshiHeadersIn and SendOtoroshiHeadersBack: a route listing none of
//! them gets all three (routes made before plugins keep working); a route
//! listing any gets exactly the enabled ones; a client's forwarding headers
//! never pass from an untrusted peer either way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::plugins::{P, plugin, refused, route_with};
use common::{Node, json, upstream};
use reqwest::Method;
use serde_json::{Value, json};

/// Calls `host` with spoofed forwarding headers; the response and what the
/// upstream saw.
async fn call(node: &Node, host: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = node
        .through(Method::GET, host, "/")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .header("otoroshi-request-id", "spoofed")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200, "{seen}");
    (headers, seen["headers"].clone())
}

fn timestamp_like(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 29 && text.ends_with("+00:00") && text.as_bytes()[10] == b'T'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_them_sends_all_three() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(&node, "classic", up.port, json!([])).await;
    let (back, seen) = call(&node, "classic.test").await;
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    let id = seen["otoroshi-request-id"].as_str().unwrap().to_string();
    assert_ne!(id, "spoofed");
    assert!(
        seen["otoroshi-proxied-host"]
            .as_str()
            .unwrap()
            .starts_with("classic.test")
    );
    assert!(
        timestamp_like(&seen["otoroshi-request-timestamp"]),
        "{seen}"
    );
    assert_eq!(back["otoroshi-request-id"], id.as_str());
    assert!(back.contains_key("otoroshi-proxy-latency"));
    assert!(back.contains_key("otoroshi-upstream-latency"));
    assert!(back.contains_key("otoroshi-request-timestamp"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_listing_one_gets_only_the_enabled_ones() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "forwarded",
        up.port,
        json!([plugin("XForwardedHeaders", json!({}))]),
    )
    .await;
    let (back, seen) = call(&node, "forwarded.test").await;
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1", "{seen}");
    // Without OtoroshiHeadersIn the client's header passes as it is, as in
    // Otoroshi; komainu does not set its own.
    assert_eq!(seen["otoroshi-request-id"], "spoofed", "{seen}");
    assert!(seen.get("otoroshi-request-timestamp").is_none(), "{seen}");
    assert!(!back.contains_key("otoroshi-proxy-latency"));
    assert!(!back.contains_key("otoroshi-request-id"));

    // Listed but disabled: none of them, and still nothing from the client.
    route_with(
        &node,
        "bare",
        up.port,
        json!([{"plugin": format!("{P}SendOtoroshiHeadersBack"), "enabled": false}]),
    )
    .await;
    let (back, seen) = call(&node, "bare.test").await;
    for absent in ["x-forwarded-for", "x-real-ip", "otoroshi-proxied-host"] {
        assert!(seen.get(absent).is_none(), "{absent}: {seen}");
    }
    assert!(!back.contains_key("otoroshi-upstream-latency"));
    // Loops are cut whatever the plugins: the hop counter always goes up.
    assert_eq!(seen["komainu-hops"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_back_on_a_plugin_answer_and_in_route_order() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "answered",
        up.port,
        json!([
            plugin("StaticResponse", json!({"status": 200, "body": "hi"})),
            plugin("SendOtoroshiHeadersBack", json!({})),
        ]),
    )
    .await;
    let response = node
        .through(Method::GET, "answered.test", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // No backend was called.
    assert_eq!(response.headers()["otoroshi-upstream-latency"], "-1");
    assert!(response.headers().contains_key("otoroshi-request-id"));

    // A later RemoveHeadersOut sees (and removes) what it added.
    route_with(
        &node,
        "trimmed",
        up.port,
        json!([
            plugin("SendOtoroshiHeadersBack", json!({})),
            plugin(
                "RemoveHeadersOut",
                json!({"header_names": ["otoroshi-proxy-latency"]})
            ),
        ]),
    )
    .await;
    let (back, _) = call(&node, "trimmed.test").await;
    assert!(!back.contains_key("otoroshi-proxy-latency"));
    assert!(back.contains_key("otoroshi-upstream-latency"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_is_not_an_object_is_refused() {
    let (node, _dir) = Node::start(&[]);
    refused(
        &node,
        json!([plugin("OtoroshiHeadersIn", json!([1]))]),
        "plugins[0].config",
    )
    .await;
    let (status, _) = json(
        node.admin(Method::GET, "/api/routes/bad")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}
