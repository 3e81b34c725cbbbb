//! Access and header plugins against real upstreams: Cors (preflights
//! answered by the gateway, headers on every response), the IP allowed and
//! block lists, HeadersValidation, MissingHeadersIn/Out, and their config
//! errors at write time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::plugins::{P, plugin, refused, route_with};
use common::upstream;
use common::{Node, json};
use reqwest::Method;
use serde_json::json;

fn preflight(node: &Node, host: &str, origin: &str, method: &str) -> reqwest::RequestBuilder {
    node.through(Method::OPTIONS, host, "/api/x")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_preflights_and_marks_responses() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "cors",
        up.port,
        json!([plugin(
            "Cors",
            json!({"allow_methods": ["GET", "post"], "allow_headers": ["X-Token"],
                   "expose_headers": ["x-upstream"], "max_age": 600})
        )]),
    )
    .await;
    route_with(
        &node,
        "strict",
        up.port,
        json!([
            plugin(
                "Cors",
                json!({"allow_origin": "https://only.test", "allow_credentials": false,
                       "allow_methods": ["GET"], "excluded_patterns": ["/open/.*"]})
            ),
            plugin("IpAddressAllowedList", json!({"addresses": ["10.0.0.0/8"]})),
        ]),
    )
    .await;
    let hits = up.hits();

    // A preflight is answered by the gateway; `*` stays `*` (as Otoroshi),
    // so browsers refuse credentialed reads from any site.
    let ok = preflight(&node, "cors.test", "https://app.test", "POST")
        .header("Access-Control-Request-Headers", "x-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&ok, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&ok, "access-control-allow-methods"),
        Some("GET, post")
    );
    assert_eq!(header(&ok, "access-control-allow-headers"), Some("X-Token"));
    assert_eq!(header(&ok, "access-control-max-age"), Some("600"));
    // A method or a requested header not listed: refused.
    let refused = preflight(&node, "cors.test", "https://app.test", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (_, body) = json(refused).await;
    assert_eq!(body["error"], "cors_refused");
    let refused = preflight(&node, "cors.test", "https://app.test", "GET")
        .header("Access-Control-Request-Headers", "x-token, x-other")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(up.hits(), hits, "preflights do not reach the backend");

    // Real calls go through and get the headers; a plain OPTIONS is no preflight.
    let call = node
        .through(Method::GET, "cors.test", "/api/x")
        .header("Origin", "https://app.test")
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert_eq!(header(&call, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&call, "access-control-expose-headers"),
        Some("x-upstream")
    );
    let plain = node
        .through(Method::GET, "cors.test", "/api/x")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&plain, "access-control-allow-origin"), Some("*"));
    let options = send_status(&node, Method::OPTIONS, "cors.test", "/api/x").await;
    assert_eq!(options, 200);
    assert_eq!(up.hits(), hits + 3);

    // One allowed origin: others are refused; excluded paths are left alone.
    let evil = preflight(&node, "strict.test", "https://evil.test", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    let good = preflight(&node, "strict.test", "https://ONLY.test", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 204);
    assert_eq!(
        header(&good, "access-control-allow-origin"),
        Some("https://only.test")
    );
    assert_eq!(header(&good, "access-control-allow-credentials"), None);
    // Another plugin's refusal still carries the CORS headers (the browser
    // can then read it); an excluded path gets none.
    let denied = node
        .through(Method::GET, "strict.test", "/api/x")
        .header("Origin", "https://only.test")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(
        header(&denied, "access-control-allow-origin"),
        Some("https://only.test")
    );
    let excluded = node
        .through(Method::GET, "strict.test", "/open/x")
        .header("Origin", "https://only.test")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&excluded, "access-control-allow-origin"), None);
}

async fn send_status(node: &Node, method: Method, host: &str, path: &str) -> u16 {
    node.through(method, host, path)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_lists_refuse_by_client_address() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let lists = [
        (
            "allowexact",
            "IpAddressAllowedList",
            json!(["127.0.0.1"]),
            200,
        ),
        (
            "allowwild",
            "IpAddressAllowedList",
            json!(["127.*.*.1"]),
            200,
        ),
        (
            "allowother",
            "IpAddressAllowedList",
            json!(["10.0.0.0/8", "192.168.*.*", "::1"]),
            403,
        ),
        ("allowempty", "IpAddressAllowedList", json!([]), 403),
        (
            "blockcidr",
            "IpAddressBlockList",
            json!(["127.0.0.0/8"]),
            403,
        ),
        ("blockwild", "IpAddressBlockList", json!(["127.0.*.*"]), 403),
        (
            "blockother",
            "IpAddressBlockList",
            json!(["10.0.0.1", "fd00::/8"]),
            200,
        ),
    ];
    for (id, name, addresses, _) in &lists {
        route_with(
            &node,
            id,
            up.port,
            json!([plugin(name, json!({ "addresses": addresses }))]),
        )
        .await;
    }
    for (id, _, addresses, expected) in &lists {
        let hits = up.hits();
        let response = node
            .through(Method::GET, &format!("{id}.test"), "/")
            .send()
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, *expected, "{id} {addresses}: {body}");
        if status == 403 {
            assert_eq!(body["error"], "ip_address_not_allowed", "{id}");
            assert_eq!(up.hits(), hits, "{id}: the backend was not called");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_validation_wants_each_header_with_its_value() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "checked",
        up.port,
        json!([plugin(
            "HeadersValidation",
            json!({"headers": {"x-tenant": "acme", "X-Env": "prod"}})
        )]),
    )
    .await;
    let call = |tenant: Option<&str>, env: Option<&str>| {
        let mut request = node.through(Method::GET, "checked.test", "/");
        if let Some(tenant) = tenant {
            request = request.header("x-tenant", tenant);
        }
        if let Some(env) = env {
            request = request.header("x-env", env);
        }
        async move { json(request.send().await.unwrap()).await }
    };
    assert_eq!(call(Some("acme"), Some("prod")).await.0, 200);
    let hits = up.hits();
    let (status, body) = call(Some("acme"), None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("x-env")
    );
    assert_eq!(call(Some("Acme"), Some("prod")).await.0, 400);
    assert_eq!(call(Some("acme"), Some("production")).await.0, 400);
    assert_eq!(up.hits(), hits, "refused calls do not reach the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_headers_are_set_only_when_absent() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "missing",
        up.port,
        json!([
            plugin(
                "MissingHeadersIn",
                json!({"headers": {"x-default": "d", "x-keep": "plugin"}})
            ),
            plugin(
                "MissingHeadersOut",
                json!({"headers": {"x-upstream": "plugin", "x-filled": "1"}})
            ),
        ]),
    )
    .await;
    let response = node
        .through(Method::GET, "missing.test", "/")
        .header("x-keep", "client")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "x-upstream"),
        Some("up"),
        "backend's kept"
    );
    assert_eq!(header(&response, "x-filled"), Some("1"));
    let (status, seen) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(seen["headers"]["x-keep"], "client");
    assert_eq!(seen["headers"]["x-default"], "d");
}

#[tokio::test]
async fn access_plugin_config_errors_name_the_field() {
    let (node, _dir) = Node::start(&[]);
    let cases = [
        (
            plugin(
                "IpAddressAllowedList",
                json!({"addresses": ["10.0.0.1", "10.0.0.0/40"]}),
            ),
            "plugins[0].config.addresses[1]",
        ),
        (
            plugin("IpAddressBlockList", json!({"addresses": ["10.*.1"]})),
            "plugins[0].config.addresses[0]",
        ),
        (
            plugin("IpAddressBlockList", json!({"addresses": "10.0.0.1"})),
            "plugins[0].config.addresses",
        ),
        (
            plugin("Cors", json!({"allow_methods": ["GET", "G T"]})),
            "plugins[0].config.allow_methods[1]",
        ),
        (
            plugin("Cors", json!({"allow_origin": "${req.host}"})),
            "plugins[0].config.allow_origin",
        ),
        (
            plugin("Cors", json!({"excluded_patterns": ["("]})),
            "plugins[0].config.excluded_patterns[0]",
        ),
        (
            plugin("Cors", json!({"max_age": -1})),
            "plugins[0].config.max_age",
        ),
        (
            plugin(
                "HeadersValidation",
                json!({"headers": {"x-a": "Regex(a.*)"}}),
            ),
            "plugins[0].config.headers.x-a",
        ),
        (
            plugin("MissingHeadersIn", json!({"headers": {"bad name": "x"}})),
            "plugins[0].config.headers.bad name",
        ),
        (
            plugin("MissingHeadersOut", json!({"headers": {"x": "a\nb"}})),
            "plugins[0].config.headers.x",
        ),
    ];
    for (plugin, field) in cases {
        refused(&node, json!([plugin]), field).await;
    }
    assert_eq!(node.get_json("/api/routes").await.1, json!([]));

    let (_, list) = node.get_json("/api/plugins").await;
    let list = list.as_array().unwrap();
    for id in [
        "Cors",
        "IpAddressAllowedList",
        "IpAddressBlockList",
        "HeadersValidation",
        "MissingHeadersIn",
        "MissingHeadersOut",
    ] {
        assert!(list.iter().any(|p| p["id"] == format!("{P}{id}")), "{id}");
    }
    let cors = list.iter().find(|p| p["id"] == format!("{P}Cors")).unwrap();
    assert_eq!(cors["steps"], json!(["PreRoute", "TransformResponse"]));
    assert_eq!(cors["default_config"]["allow_origin"], "*");
    assert_eq!(cors["default_config"]["allow_credentials"], true);
}
