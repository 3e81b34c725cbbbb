//! Plugins that answer in the backend's place or shape the answer, against
//! a real upstream: Redirection, StaticResponse, SecurityHeadersPlugin,
//! Robots and RequestBodyLengthLimiter, and the config each refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::plugins::{P, plugin, refused, route_with};
use common::upstream;
use common::{Node, json};
use reqwest::Method;
use serde_json::json;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirection_answers_every_call_with_its_location() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "moved",
        up.port,
        json!([plugin(
            "Redirection",
            json!({"code": 301, "to": "https://new.example.com/home"})
        )]),
    )
    .await;
    route_with(
        &node,
        "default",
        up.port,
        json!([plugin(
            "Redirection",
            json!({"to": "http://other.test:8080/"})
        )]),
    )
    .await;
    let client = no_redirects();
    for method in [Method::GET, Method::POST] {
        let response = client
            .request(method, node.url("/any/path?x=1"))
            .header("Host", "moved.test")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301);
        assert_eq!(
            response.headers()["location"],
            "https://new.example.com/home"
        );
    }
    let response = client
        .get(node.url("/"))
        .header("Host", "default.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "http://other.test:8080/");
    assert_eq!(up.hits(), 0, "a redirected call never reaches the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_response_answers_without_the_backend_after_access_checks() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "static",
        up.port,
        json!([
            plugin(
                "StaticResponse",
                json!({"status": 201, "headers": {"content-type": "text/plain", "x-static": "1"}, "body": "héllo"})
            ),
            plugin("AllowHttpMethods", json!({"forbidden": ["DELETE"]})),
        ]),
    )
    .await;
    route_with(
        &node,
        "binary",
        up.port,
        json!([plugin(
            "StaticResponse",
            json!({"body": "Base64(AAEC/w==)"})
        )]),
    )
    .await;

    let response = node
        .through(Method::GET, "static.test", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-static"], "1");
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["content-length"], "6");
    assert_eq!(response.text().await.unwrap(), "héllo");
    // Access plugins run first: a forbidden method never sees the static answer.
    let refused = node
        .through(Method::DELETE, "static.test", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);

    let response = node
        .through(Method::GET, "binary.test", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "4");
    assert_eq!(response.bytes().await.unwrap().as_ref(), [0u8, 1, 2, 255]);
    assert_eq!(up.hits(), 0, "a static answer never calls the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_are_set_on_responses() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let all = json!({
        "frame_options": "DENY",
        "xss_protection": "BLOCK",
        "content_type_options": true,
        "hsts": {"enabled": true, "max_age": 31536000, "include_subdomains": true, "preload": true, "on_http": true},
        "csp": {"mode": "REPORT_ONLY", "csp": "default-src 'self'"},
        "referrer_policy": "no-referrer",
        "permissions_policy": {"enabled": true, "policy": "camera=()"},
    });
    route_with(
        &node,
        "secure",
        up.port,
        json!([plugin("SecurityHeadersPlugin", all)]),
    )
    .await;
    route_with(
        &node,
        "https-only",
        up.port,
        json!([plugin(
            "SecurityHeadersPlugin",
            json!({"frame_options": "sameorigin", "hsts": {"enabled": true}, "csp": {"mode": "ENABLED", "csp": "default-src 'none'"}})
        )]),
    )
    .await;

    let response = node
        .through(Method::GET, "secure.test", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-xss-protection"], "1; mode=block");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["strict-transport-security"],
        "max-age=31536000; includeSubDomains; preload"
    );
    assert_eq!(
        h["content-security-policy-report-only"],
        "default-src 'self'"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["permissions-policy"], "camera=()");

    let response = node
        .through(Method::GET, "https-only.test", "/")
        .send()
        .await
        .unwrap();
    let h = response.headers();
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert_eq!(h["content-security-policy"], "default-src 'none'");
    // HSTS is for HTTPS answers unless on_http says otherwise; DISABLED adds nothing.
    assert!(h.get("strict-transport-security").is_none(), "{h:?}");
    assert!(h.get("x-xss-protection").is_none(), "{h:?}");
    assert!(h.get("referrer-policy").is_none(), "{h:?}");

    // Over HTTPS the same route sends HSTS, Otoroshi's max-age by default.
    let https = std::net::SocketAddr::from(([127, 0, 0, 1], node.https_port.unwrap()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .danger_accept_invalid_certs(true)
        .resolve("https-only.test", https)
        .build()
        .unwrap();
    let response = client
        .get(format!("https://https-only.test:{}/", https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=3600"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_serves_robots_txt_and_tags_responses() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "robots",
        up.port,
        json!([
            plugin(
                "Robots",
                json!({"robot_txt_content": "User-agent: *\nDisallow: /private\n"})
            ),
            plugin("ApikeyCalls", json!({})),
        ]),
    )
    .await;
    route_with(
        &node,
        "headeronly",
        up.port,
        json!([plugin(
            "Robots",
            json!({"robot_txt_enabled": false, "header_content": "noindex"})
        )]),
    )
    .await;

    // Served before access checks: crawlers read it on a protected route.
    let response = node
        .through(Method::GET, "robots.test", "/robots.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        response.headers()["x-robots-tag"],
        "noindex, nofollow, noarchive"
    );
    assert_eq!(
        response.text().await.unwrap(),
        "User-agent: *\nDisallow: /private\n"
    );
    let refused = node
        .through(Method::GET, "robots.test", "/other")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(up.hits(), 0);

    let (status, seen) = json(
        node.through(Method::GET, "headeronly.test", "/robots.txt")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen["path"], "/robots.txt", "the backend answers: {seen}");
    let response = node
        .through(Method::GET, "headeronly.test", "/page")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-robots-tag"], "noindex");
    assert_eq!(up.hits(), 2);
}

/// A body sent chunked, without Content-Length.
fn chunked(chunks: usize, size: usize) -> reqwest::Body {
    let chunk = bytes::Bytes::from(vec![b'x'; size]);
    let stream = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_length_limiter_refuses_bodies_over_the_limit() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "limited",
        up.port,
        json!([plugin(
            "RequestBodyLengthLimiter",
            json!({"max_length": 1000, "fail": true})
        )]),
    )
    .await;
    route_with(
        &node,
        "notfail",
        up.port,
        json!([plugin(
            "RequestBodyLengthLimiter",
            json!({"max_length": 10})
        )]),
    )
    .await;
    let post = |host: &str, body: reqwest::Body| {
        node.through(Method::POST, host, "/upload")
            .body(body)
            .send()
    };

    let (status, error) = json(post("limited.test", vec![b'x'; 1001].into()).await.unwrap()).await;
    assert_eq!(status, 413, "{error}");
    assert_eq!(error["error"], "payload_too_large");
    assert_eq!(
        up.hits(),
        0,
        "refused on its Content-Length, before the backend"
    );
    let (status, seen) = json(post("limited.test", vec![b'x'; 1000].into()).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(seen["body_len"], 1000);

    // Chunked: counted as it streams, the call is cut at the limit.
    let (status, seen) = json(post("limited.test", chunked(4, 250)).await.unwrap()).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["body_len"], 1000);
    let (status, error) = json(post("limited.test", chunked(8, 250)).await.unwrap()).await;
    assert_eq!(status, 413, "{error}");
    assert_eq!(error["error"], "payload_too_large");

    // fail: false does not forward a cut body either.
    let response = post("notfail.test", vec![b'x'; 11].into()).await.unwrap();
    assert_eq!(response.status(), 413);
    let (status, seen) = json(post("notfail.test", vec![b'x'; 10].into()).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(seen["body_len"], 10);
}

#[tokio::test]
async fn answer_plugin_config_errors_name_the_field() {
    let (node, _dir) = Node::start(&[]);
    let cases = [
        (plugin("Redirection", json!({"code": 200})), "config.code"),
        (
            plugin("Redirection", json!({"to": "/relative"})),
            "config.to",
        ),
        (
            plugin("Redirection", json!({"to": "https://a.test/${nope}"})),
            "config.to",
        ),
        (
            plugin(
                "StaticResponse",
                json!({"apply_el": true, "body": "${req.nope}"}),
            ),
            "config.body",
        ),
        (
            plugin("StaticResponse", json!({"status": 99})),
            "config.status",
        ),
        (
            plugin(
                "StaticResponse",
                json!({"headers": {"Content-Length": "3"}}),
            ),
            "config.headers.Content-Length",
        ),
        (
            plugin("StaticResponse", json!({"body": "Base64(***)"})),
            "config.body",
        ),
        (
            plugin("SecurityHeadersPlugin", json!({"frame_options": "ALLOW"})),
            "config.frame_options",
        ),
        (
            plugin("SecurityHeadersPlugin", json!({"csp": {"mode": "ENABLED"}})),
            "config.csp.csp",
        ),
        (
            plugin("SecurityHeadersPlugin", json!({"referrer_policy": "nope"})),
            "config.referrer_policy",
        ),
        (
            plugin("Robots", json!({"meta_enabled": true})),
            "config.meta_enabled",
        ),
        (
            plugin("Robots", json!({"header_content": "a\nb"})),
            "config.header_content",
        ),
        (
            plugin("RequestBodyLengthLimiter", json!({"max_length": -1})),
            "config.max_length",
        ),
    ];
    for (plugin, field) in cases {
        refused(&node, json!([plugin]), &format!("plugins[0].{field}")).await;
    }
    assert_eq!(node.get_json("/api/routes").await.1, json!([]));
    // Every plugin of this file is in the catalog with its defaults.
    let (_, catalog) = node.get_json("/api/plugins").await;
    for name in [
        "Redirection",
        "StaticResponse",
        "SecurityHeadersPlugin",
        "Robots",
        "RequestBodyLengthLimiter",
    ] {
        let id = format!("{P}{name}");
        let found = catalog.as_array().unwrap().iter().find(|p| p["id"] == id);
        assert!(found.is_some(), "{id} missing from /api/plugins");
    }
}
