#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::upstream;
use common::{Node, json, route_to};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(node: &Node, host: &str, path: &str) -> (u16, Value) {
    json(node.through(Method::GET, host, path).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_path_and_root_combinations() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let cases = [
        // (domain, strip_path, root, request path, expected upstream path)
        ("a.oto.tools/users", true, "/", "/users/1", "/1"),
        ("b.oto.tools/users", false, "/", "/users/1", "/users/1"),
        ("c.oto.tools/users", true, "/api/", "/users/1", "/api/1"),
        (
            "d.oto.tools/users",
            false,
            "/api",
            "/users/1",
            "/api/users/1",
        ),
        ("e.oto.tools/users", true, "/", "/users", "/"),
        ("f.oto.tools", true, "/v2", "/x/y", "/v2/x/y"),
    ];
    for (i, (domain, strip, root, _, _)) in cases.iter().enumerate() {
        let mut route = route_to(&format!("r{i}"), domain, &[up.port]);
        route["frontend"]["strip_path"] = json!(strip);
        route["backend"]["root"] = json!(root);
        node.create_route(&route).await;
    }
    for (domain, _, _, path, expected) in cases {
        let host = domain.split('/').next().unwrap();
        let (status, seen) = call(&node, host, &format!("{path}?q=1")).await;
        assert_eq!(status, 200, "{domain}");
        assert_eq!(seen["path"], expected, "{domain} {path}");
        assert_eq!(seen["query"], "q=1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_host_beats_wildcard_and_longest_prefix_wins() {
    let (exact, wild, deep) = (
        upstream::start("exact").await,
        upstream::start("wild").await,
        upstream::start("deep").await,
    );
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("wild", "*.oto.tools", &[wild.port]))
        .await;
    node.create_route(&route_to("exact", "api.oto.tools", &[exact.port]))
        .await;
    node.create_route(&route_to("deep", "api.oto.tools/users/admin", &[deep.port]))
        .await;

    assert_eq!(call(&node, "api.oto.tools", "/x").await.1["name"], "exact");
    assert_eq!(
        call(&node, "API.oto.tools:8080", "/x").await.1["name"],
        "exact",
        "host case and port ignored"
    );
    assert_eq!(call(&node, "other.oto.tools", "/x").await.1["name"], "wild");
    assert_eq!(
        call(&node, "api.oto.tools", "/users/admin/1").await.1["name"],
        "deep"
    );

    let (status, body) = call(&node, "nothing.example.com", "/").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    assert!(body["request_id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_to_and_from_the_upstream() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("pass", "pass.oto.tools", &[up.port]))
        .await;
    let mut rewrite = route_to("rewrite", "rewrite.oto.tools", &[up.port]);
    rewrite["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.OverrideHost"}]);
    node.create_route(&rewrite).await;

    let response = node
        .through(Method::GET, "pass.oto.tools", "/")
        .header("X-Forwarded-For", "10.1.2.3")
        .header("Connection", "x-secret")
        .header("x-secret", "hop")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["otoroshi-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(response.headers().contains_key("otoroshi-proxy-latency"));
    assert!(response.headers().contains_key("otoroshi-upstream-latency"));
    let seen = json(response).await.1;
    let headers = &seen["headers"];
    assert_eq!(
        headers["host"], "pass.oto.tools",
        "Host passes through by default"
    );
    assert_eq!(
        headers["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's X-Forwarded-For is replaced"
    );
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "pass.oto.tools");
    assert_eq!(headers["otoroshi-request-id"], request_id.as_str());
    assert!(
        headers.get("x-secret").is_none(),
        "headers named by Connection are hop-by-hop"
    );

    let seen = call(&node, "rewrite.oto.tools", "/").await.1;
    assert_eq!(
        seen["headers"]["host"],
        format!("127.0.0.1:{}", up.port),
        "OverrideHost rewrites Host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_headers_and_query_matchers() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    let (node, _dir) = Node::start(&[]);
    let mut post_only = route_to("post", "m.oto.tools", &[a.port]);
    post_only["frontend"]["methods"] = json!(["POST"]);
    post_only["frontend"]["headers"] = json!({"x-tenant": "t1"});
    node.create_route(&post_only).await;
    node.create_route(&route_to("any", "m.oto.tools", &[b.port]))
        .await;

    let posted = json(
        node.through(Method::POST, "m.oto.tools", "/")
            .header("x-tenant", "t1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(posted.1["name"], "a");
    let wrong_header = json(
        node.through(Method::POST, "m.oto.tools", "/")
            .header("x-tenant", "t2")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong_header.1["name"], "b");
    assert_eq!(call(&node, "m.oto.tools", "/").await.1["name"], "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_change_is_served_at_once() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("r", "live.oto.tools", &[a.port]))
        .await;
    assert_eq!(call(&node, "live.oto.tools", "/").await.1["name"], "a");
    let (status, _) = node
        .send_json(
            Method::PUT,
            "/api/routes/r",
            &route_to("r", "live.oto.tools", &[b.port]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(call(&node, "live.oto.tools", "/").await.1["name"], "b");
    let (status, _) = node
        .send_json(Method::PATCH, "/api/routes/r", &json!({"enabled": false}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(call(&node, "live.oto.tools", "/").await.0, 404);
}
