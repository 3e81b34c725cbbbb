//! `${...}` expressions in plugin values, against a real upstream that
//! echoes the headers it got: request headers rendered from the request,
//! the API key, the route and the node's public environment; response
//! headers rendered from request facts kept for the response step;
//! Redirection and StaticResponse rendered per call; unknown expressions
//! refused at write time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::plugins::{plugin, refused, route_with};
use common::upstream;
use common::{Node, json, route_to};
use reqwest::Method;
use serde_json::json;

async fn key(node: &Node, body: serde_json::Value) {
    let (status, answer) = node.send_json(Method::POST, "/api/apikeys", &body).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_headers_are_rendered_per_call() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start_with_env(&[], &[("KOMAINU_PUBLIC_REGION", "eu-west")]);
    key(
        &node,
        json!({"clientId": "k1", "clientSecret": "s1", "clientName": "Shop key",
               "metadata": {"tier": "gold"}, "authorizedEntities": ["route_shop"]}),
    )
    .await;
    let mut route = route_to("shop", "shop.test", &[up.port]);
    route["name"] = json!("Shop front");
    route["plugins"] = json!([
        plugin("ApikeyCalls", json!({})),
        plugin(
            "AdditionalHeadersIn",
            json!({"headers": {
                "x-ip": "${req.ip}",
                "x-host": "${req.host}",
                "x-path": "${req.path}",
                "x-method": "${req.method}",
                "x-uri": "${req.uri}",
                "x-user": "user=${req.headers.x-user}",
                "x-anon": "${req.headers.x-none:anon}",
                "x-nohdr": "${req.headers.x-none}",
                "x-page": "${req.query.page}",
                "x-session": "${req.cookies.session}",
                "x-first": "${req.headers.x-none || req.query.page :: none}",
                "x-bad": "${req.query.bad}",
                "x-key": "${apikey.clientId}",
                "x-key-name": "${apikey.name}",
                "x-tier": "${apikey.metadata.tier}",
                "x-route": "${route.id}/${route.name}",
                "x-request-id": "${ctx.request_id}",
                "x-region": "${env.KOMAINU_PUBLIC_REGION}",
                "x-date": "${date}",
                "x-price": "$5 {fixed}",
            }}),
        ),
        plugin(
            "MissingHeadersIn",
            json!({"headers": {"x-client": "${req.path}", "x-missing": "m-${req.method}"}}),
        ),
        plugin(
            "AdditionalHeadersOut",
            json!({"headers": {
                "x-out-user": "${req.headers.x-client}",
                "x-out-key": "${apikey.name}",
                "x-out-route": "${route.name}",
                "x-out-id": "${ctx.request_id}",
                "x-out-query": "${req.query.page}",
            }}),
        ),
        plugin(
            "MissingHeadersOut",
            json!({"headers": {"x-upstream": "${req.path}", "x-served": "${req.method} ${req.uri}"}}),
        ),
    ]);
    node.create_route(&route).await;

    let response = node
        .through(Method::PATCH, "shop.test", "/items/7?page=2&bad=a%0Db")
        .header("Otoroshi-Client-Id", "k1")
        .header("Otoroshi-Client-Secret", "s1")
        .header("x-user", "ann")
        .header("x-client", "mine")
        .header("Cookie", "theme=dark; session=abc")
        .send()
        .await
        .unwrap();
    let out = response.headers().clone();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200, "{seen}");
    let h = &seen["headers"];
    assert_eq!(h["x-ip"], "127.0.0.1");
    assert_eq!(h["x-host"], "shop.test");
    assert_eq!(h["x-path"], "/items/7");
    assert_eq!(h["x-method"], "PATCH");
    assert_eq!(h["x-uri"], "/items/7?page=2&bad=a%0Db");
    assert_eq!(h["x-user"], "user=ann");
    assert_eq!(h["x-anon"], "anon");
    assert_eq!(h["x-nohdr"], "no-header-x-none");
    assert_eq!(h["x-page"], "2");
    assert_eq!(h["x-session"], "abc");
    assert_eq!(h["x-first"], "2");
    assert_eq!(h["x-key"], "k1");
    assert_eq!(h["x-key-name"], "Shop key");
    assert_eq!(h["x-tier"], "gold");
    assert_eq!(h["x-route"], "shop/Shop front");
    assert_eq!(h["x-region"], "eu-west");
    assert_eq!(h["x-price"], "$5 {fixed}");
    let date = h["x-date"].as_str().unwrap();
    assert!(
        date.len() == 24 && date.ends_with('Z') && date.starts_with("20"),
        "{date}"
    );
    // A decoded query value with a carriage return would make the header
    // invalid: that header is left out, the call goes on.
    assert!(h.get("x-bad").is_none(), "{h}");
    // The client's own value wins over MissingHeadersIn.
    assert_eq!(h["x-client"], "mine");
    assert_eq!(h["x-missing"], "m-PATCH");
    // Credentials were wiped before the request went up.
    assert!(h.get("otoroshi-client-secret").is_none());
    let request_id = out["otoroshi-request-id"].to_str().unwrap();
    assert_eq!(h["x-request-id"], request_id);

    // Response headers read the request as it went upstream.
    assert_eq!(out["x-out-user"], "mine");
    assert_eq!(out["x-out-key"], "Shop key");
    assert_eq!(out["x-out-route"], "Shop front");
    assert_eq!(out["x-out-id"], request_id);
    assert_eq!(out["x-out-query"], "2");
    assert_eq!(out["x-upstream"], "up", "the backend's own header wins");
    assert_eq!(out["x-served"], "PATCH /items/7?page=2&bad=a%0Db");

    // Another call, other values: nothing was fixed at the first call.
    let response = node
        .through(Method::GET, "shop.test", "/other")
        .basic_auth("k1", Some("s1"))
        .send()
        .await
        .unwrap();
    let out = response.headers().clone();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["headers"]["x-path"], "/other");
    assert_eq!(seen["headers"]["x-page"], "no-query-page");
    assert_eq!(seen["headers"]["x-session"], "no-cookie-session");
    assert_eq!(seen["headers"]["x-client"], "/other");
    assert_eq!(out["x-out-user"], "/other");
    assert_ne!(out["x-out-id"], request_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirection_and_static_response_render_per_call() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "moved",
        up.port,
        json!([plugin(
            "Redirection",
            json!({"code": 302, "to": "https://new.test${req.path}?from=${req.host}"})
        )]),
    )
    .await;
    route_with(
        &node,
        "hello",
        up.port,
        json!([
            plugin(
                "StaticResponse",
                json!({"apply_el": true, "status": 200,
                       "headers": {"content-type": "text/plain", "x-path": "${req.path}"},
                       "body": "hello ${req.query.name:stranger} on ${route.id} $ {x}"})
            ),
            plugin(
                "AdditionalHeadersOut",
                json!({"headers": {"x-out-method": "${req.method}"}})
            ),
        ]),
    )
    .await;
    route_with(
        &node,
        "literal",
        up.port,
        json!([plugin(
            "StaticResponse",
            json!({"headers": {"x-raw": "${req.path}"}, "body": "${req.path}"})
        )]),
    )
    .await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .get(node.url("/a/b?x=1"))
        .header("Host", "moved.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://new.test/a/b?from=moved.test"
    );

    let response = node
        .through(Method::GET, "hello.test", "/greet?name=Ann")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-path"], "/greet");
    assert_eq!(response.headers()["x-out-method"], "GET");
    assert_eq!(response.text().await.unwrap(), "hello Ann on hello $ {x}");
    let response = node
        .through(Method::POST, "hello.test", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-out-method"], "POST");
    assert_eq!(
        response.text().await.unwrap(),
        "hello stranger on hello $ {x}"
    );

    // Without apply_el, the body and headers are sent as written.
    let response = node
        .through(Method::GET, "literal.test", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-raw"], "${req.path}");
    assert_eq!(response.text().await.unwrap(), "${req.path}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn bad_expressions_are_refused_at_write_time_naming_the_field() {
    let (node, _dir) = Node::start(&[]);
    let cases = [
        (
            plugin(
                "AdditionalHeadersIn",
                json!({"headers": {"X-Foo": "${nope}"}}),
            ),
            "config.headers.X-Foo",
            "nope",
        ),
        (
            plugin(
                "MissingHeadersOut",
                json!({"headers": {"x-a": "a ${req.path"}}),
            ),
            "config.headers.x-a",
            "closing",
        ),
        (
            plugin(
                "AdditionalHeadersOut",
                json!({"headers": {"x-a": "${env.PG_URI}"}}),
            ),
            "config.headers.x-a",
            "KOMAINU_PUBLIC_",
        ),
        (
            plugin(
                "AdditionalHeadersIn",
                json!({"headers": {"x-a": "${config.app.secret}"}}),
            ),
            "config.headers.x-a",
            "config",
        ),
        (
            plugin("Redirection", json!({"to": "${req.headers.target}"})),
            "config.to",
            "http",
        ),
        (
            plugin(
                "StaticResponse",
                json!({"apply_el": true, "body": "${apikey.secret}"}),
            ),
            "config.body",
            "apikey.secret",
        ),
    ];
    for (instance, field, says) in cases {
        let error = refused(&node, json!([instance]), &format!("plugins[0].{field}")).await;
        assert!(error.to_string().contains(says), "{error}");
    }
    assert_eq!(node.get_json("/api/routes").await.1, json!([]));

    // A bad update leaves the stored route as it was.
    let mut route = route_to("kept", "kept.test", &[1]);
    route["plugins"] = json!([plugin(
        "AdditionalHeadersIn",
        json!({"headers": {"X-Foo": "${req.path}"}})
    )]);
    node.create_route(&route).await;
    let (_, before) = node.get_json("/api/routes/kept").await;
    route["plugins"][0]["config"]["headers"]["X-Foo"] = json!("${nope}");
    let (status, error) = node
        .send_json(Method::PUT, "/api/routes/kept", &route)
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        error["fields"][0]["path"],
        "plugins[0].config.headers.X-Foo"
    );
    assert_eq!(node.get_json("/api/routes/kept").await.1, before);
}
