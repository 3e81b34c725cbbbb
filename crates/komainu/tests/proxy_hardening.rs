//! Attacks on the request path, each written as the client would send it
//! (raw bytes, so that no client library tidies the path first): path
//! confusion around a protected route, hosts that smuggle another name,
//! forwarding headers from untrusted clients, loops through the node itself,
//! and malformed request bodies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::upstream::{self, Upstream};
use common::{Node, route_to};
use reqwest::Method;
use serde_json::{Value, json};

const APIKEY_PLUGIN: &str = "cp:otoroshi.next.plugins.ApikeyCalls";

/// One raw HTTP/1.1 request; the status and the body of the answer.
async fn raw(node: &Node, head: &str, body: &[u8]) -> (u16, String) {
    let request = [head.as_bytes(), body].concat();
    let text = common::raw::exchange(node.port, &request, Duration::from_secs(10)).await;
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (common::raw::status_of(&text), body)
}

async fn get(node: &Node, host: &str, target: &str) -> (u16, String) {
    let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    raw(node, &head, b"").await
}

/// A public route on bp.test and a protected one on bp.test/admin.
async fn two_routes() -> (Node, tempfile::TempDir, Upstream, Upstream) {
    let public = upstream::start("public").await;
    let private = upstream::start("private").await;
    let (node, dir) = Node::start(&[]);
    node.create_route(&route_to("public", "bp.test", &[public.port]))
        .await;
    let mut admin = route_to("admin", "bp.test/admin", &[private.port]);
    admin["frontend"]["strip_path"] = json!(false);
    admin["plugins"] = json!([{"plugin": APIKEY_PLUGIN}]);
    node.create_route(&admin).await;
    (node, dir, public, private)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_confusion_never_reaches_a_protected_path_without_a_key() {
    let (node, _dir, public, private) = two_routes().await;
    // (request target, expected status): 401 = matched by the protected
    // route (which wants a key), 400 = refused as ambiguous.
    let cases = [
        ("/admin", 401),
        ("//admin", 401),
        ("///admin/", 401),
        ("/%61dmin/", 401),
        ("/%61%64%6D%69%6E", 401),
        ("/ADMIN", 401),
        ("/Admin/x", 401),
        ("/%2fadmin/", 400),
        ("/%2Fadmin", 400),
        ("/;x/admin", 400),
        ("/x;y/admin", 400),
        ("/..;/admin", 400),
        ("/admin/..;", 400),
        ("/public/%2e%2e/admin", 400),
        ("/public/%2E/admin", 400),
        ("/public/../admin", 400),
        ("/public\\..\\admin", 400),
        ("/%5cadmin", 400),
    ];
    for (target, expected) in cases {
        let (status, body) = get(&node, "bp.test", target).await;
        assert_eq!(status, expected, "{target}: {body}");
    }
    assert_eq!(private.hits(), 0, "the protected backend was reached");
    assert_eq!(
        public.hits(),
        0,
        "the public backend served a protected path"
    );

    // What is forwarded is the form that was matched.
    for (target, forwarded) in [
        ("//public//a", "/public/a"),
        ("/%7euser/%41b", "/~user/Ab"),
        ("/a/b;v=1", "/a/b;v=1"),
        ("/caf%C3%A9", "/caf%C3%A9"),
    ] {
        let (status, body) = get(&node, "bp.test", target).await;
        assert_eq!(status, 200, "{target}: {body}");
        let seen: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(seen["path"], forwarded, "{target}");
    }

    // With a key the protected route serves its path as matched.
    node.send_json(
        Method::POST,
        "/api/apikeys",
        &json!({"clientId": "k", "clientSecret": "s", "authorizedEntities": ["route_admin"]}),
    )
    .await;
    let head = "GET //%61dmin HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\
                Otoroshi-Client-Id: k\r\nOtoroshi-Client-Secret: s\r\n\r\n";
    let (status, body) = raw(&node, head, b"").await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["path"], "/admin");
    assert_eq!(seen["name"], "private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_must_be_a_name_and_a_port() {
    let (node, _dir, public, _private) = two_routes().await;
    for host in [
        "bp.test:@evil.example",
        "bp.test@evil.example",
        "bp.test:80:81",
        "bp.test:8x",
        "bp.test/x",
        "bp.test evil",
        "[::1",
        "bp.test:123456",
    ] {
        let (status, body) = get(&node, host, "/").await;
        assert_eq!(status, 400, "{host}: {body}");
    }
    assert_eq!(public.hits(), 0);
    for host in ["bp.test", "BP.test:8080", "bp.test."] {
        let (status, body) = get(&node, host, "/").await;
        assert_eq!(status, 200, "{host}: {body}");
        let seen: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(seen["headers"]["host"], host);
        assert_eq!(seen["headers"]["x-forwarded-host"], host);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_untrusted_clients_are_replaced() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("r", "fw.test", &[up.port]))
        .await;
    let head = "GET / HTTP/1.1\r\nHost: fw.test\r\nConnection: close\r\n\
                X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
                X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6;host=evil.example\r\n\
                X-Real-IP: 6.6.6.6\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n\r\n";
    let (status, body) = raw(&node, head, b"").await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{headers}");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "fw.test");
    assert_eq!(headers["x-real-ip"], "127.0.0.1");
    for gone in ["forwarded", "x-original-url", "x-rewrite-url"] {
        assert!(headers.get(gone).is_none(), "{gone} reached the backend");
    }

    // Behind a trusted proxy, its chain is kept and the client is the
    // first address that is not a trusted proxy.
    let (trusting, _dir2) = Node::start(&["-Dproxy.trustedProxies.0=127.0.0.0/8"]);
    trusting
        .create_route(&route_to("r", "fw.test", &[up.port]))
        .await;
    let head = "GET / HTTP/1.1\r\nHost: fw.test\r\nConnection: close\r\n\
                X-Forwarded-For: 6.6.6.6, 10.1.2.3\r\nX-Forwarded-Proto: https\r\n\
                X-Forwarded-Host: public.example\r\nX-Original-URL: /admin\r\n\r\n";
    let (status, body) = raw(&trusting, head, b"").await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-forwarded-for"], "6.6.6.6, 10.1.2.3, 127.0.0.1",
        "{headers}"
    );
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["x-forwarded-host"], "public.example");
    assert_eq!(headers["x-real-ip"], "10.1.2.3");
    assert!(headers.get("x-original-url").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_to_the_node_itself_is_cut_by_the_hop_limit() {
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("loop", "loop.test", &[node.port]))
        .await;
    let (status, body) = get(&node, "loop.test", "/").await;
    assert_eq!(status, 508, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "loop_detected", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_body_is_the_clients_fault() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let mut route = route_to("r", "chunk.test", &[up.port]);
    // Two targets: a body error must not mark one down and retry the other.
    route["backend"]["targets"] = json!([
        {"hostname": "127.0.0.1", "port": up.port},
        {"hostname": "127.0.0.1", "port": up.port},
    ]);
    node.create_route(&route).await;
    let head = "POST /upload HTTP/1.1\r\nHost: chunk.test\r\nConnection: close\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let (status, body) = raw(&node, head, b"5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n").await;
    assert_eq!(status, 400, "{body}");
    // Not counted against the backend: no upstream error in the metrics.
    let metrics = node.get_text("/metrics").await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("komainu_upstream_errors") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // And the backend still serves.
    assert_eq!(node.status_of("chunk.test", "/").await, 200);
}
