//! Route plugins against real upstreams: each step's plugins, run order,
//! include/exclude, config errors at write time, the registry served at
//! `GET /api/plugins`, and a worker running plugins set on its leader.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::plugins::{P, plugin, refused, route_with};
use common::upstream;
use common::{Node, eventually, json, leader, route_to, worker};
use reqwest::Method;
use serde_json::{Value, json};

async fn send(node: &Node, method: Method, host: &str, path: &str) -> reqwest::Response {
    node.through(method, host, path).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_plugins_change_requests_and_responses() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "headers",
        up.port,
        json!([
            plugin(
                "AdditionalHeadersIn",
                json!({"headers": {"x-added": "yes"}})
            ),
            plugin("RemoveHeadersIn", json!({"header_names": ["x-drop"]})),
            plugin("AdditionalHeadersOut", json!({"headers": {"x-out": "1"}})),
            plugin(
                "RemoveHeadersOut",
                json!({"header_names": ["otoroshi-upstream-latency"]})
            ),
        ]),
    )
    .await;
    let response = node
        .through(Method::GET, "headers.test", "/")
        .header("x-drop", "secret")
        .header("x-added", "from-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-out"], "1");
    assert!(
        response
            .headers()
            .get("otoroshi-upstream-latency")
            .is_none()
    );
    let (status, seen) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(seen["headers"]["x-added"], "yes");
    assert!(seen["headers"].get("x-drop").is_none(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_order_is_run_order() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let add = plugin("AdditionalHeadersIn", json!({"headers": {"x-a": "1"}}));
    let remove = plugin("RemoveHeadersIn", json!({"header_names": ["x-a"]}));
    route_with(&node, "addfirst", up.port, json!([add, remove])).await;
    route_with(&node, "removefirst", up.port, json!([remove, add])).await;
    let seen = json(send(&node, Method::GET, "addfirst.test", "/").await)
        .await
        .1;
    assert!(seen["headers"].get("x-a").is_none(), "{seen}");
    let seen = json(send(&node, Method::GET, "removefirst.test", "/").await)
        .await
        .1;
    assert_eq!(seen["headers"]["x-a"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_plugins_refuse_where_include_and_exclude_say() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let mut read_only = plugin("ReadOnlyCalls", Value::Null);
    read_only["include"] = json!(["/api/.*"]);
    read_only["exclude"] = json!(["/api/open/.*"]);
    route_with(&node, "ro", up.port, json!([read_only])).await;
    route_with(
        &node,
        "methods",
        up.port,
        json!([plugin(
            "AllowHttpMethods",
            json!({"allowed": ["GET", "post"], "forbidden": ["POST"]})
        )]),
    )
    .await;
    route_with(
        &node,
        "closed",
        up.port,
        json!([plugin("MaintenanceMode", json!({}))]),
    )
    .await;

    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(send(&node, Method::POST, "ro.test", "/api/x").await),
        405
    );
    assert_eq!(
        status(send(&node, Method::GET, "ro.test", "/api/x").await),
        200
    );
    assert_eq!(
        status(send(&node, Method::POST, "ro.test", "/api/open/x").await),
        200
    );
    assert_eq!(
        status(send(&node, Method::POST, "ro.test", "/other").await),
        200
    );

    assert_eq!(
        status(send(&node, Method::GET, "methods.test", "/").await),
        200
    );
    assert_eq!(
        status(send(&node, Method::POST, "methods.test", "/").await),
        405
    );
    assert_eq!(
        status(send(&node, Method::DELETE, "methods.test", "/").await),
        405
    );

    let hits = up.hits();
    let (code, body) = json(send(&node, Method::GET, "closed.test", "/").await).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("service_in_maintenance"))
    );
    let page = node
        .through(Method::GET, "closed.test", "/")
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("maintenance"));
    assert_eq!(up.hits(), hits, "the backend was not called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apikey_calls_config_is_honoured() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "optional",
        up.port,
        json!([plugin(
            "ApikeyCalls",
            json!({"mandatory": false, "wipe_backend_request": false})
        )]),
    )
    .await;
    route_with(
        &node,
        "nobasic",
        up.port,
        json!([plugin(
            "ApikeyCalls",
            json!({"extractors": {"basic": {"enabled": false}}})
        )]),
    )
    .await;
    let key = json!({"clientId": "k", "clientSecret": "s", "authorizedEntities": ["route_optional", "route_nobasic"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &key).await.0,
        201
    );

    // No key: let through. A wrong key: refused. A right one: kept upstream.
    assert_eq!(node.status_of("optional.test", "/").await, 200);
    let wrong = node
        .through(Method::GET, "optional.test", "/")
        .header("Otoroshi-Client-Id", "k")
        .header("Otoroshi-Client-Secret", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = node
        .through(Method::GET, "optional.test", "/")
        .header("Otoroshi-Client-Id", "k")
        .header("Otoroshi-Client-Secret", "s")
        .send()
        .await
        .unwrap();
    let (status, seen) = json(right).await;
    assert_eq!(status, 200);
    assert_eq!(seen["headers"]["otoroshi-client-id"], "k", "not wiped");

    // Basic switched off: the same credentials as Basic count for nothing.
    let basic = node
        .through(Method::GET, "nobasic.test", "/")
        .basic_auth("k", Some("s"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let headers = node
        .through(Method::GET, "nobasic.test", "/")
        .header("Otoroshi-Client-Id", "k")
        .header("Otoroshi-Client-Secret", "s")
        .send()
        .await
        .unwrap();
    assert_eq!(headers.status(), 200);
}

#[tokio::test]
async fn plugin_config_errors_name_the_field_and_change_nothing() {
    let (node, _dir) = Node::start(&[]);
    let cases = [
        (
            json!([
                plugin("ReadOnlyCalls", Value::Null),
                plugin("AdditionalHeadersIn", json!({"headers": {"bad name": "x"}}))
            ]),
            "plugins[1].config.headers.bad name",
        ),
        (
            json!([plugin("AllowHttpMethods", json!({"allowed": "GET"}))]),
            "plugins[0].config.allowed",
        ),
        (
            json!([plugin("AllowHttpMethods", json!({"allowed": ["G T"]}))]),
            "plugins[0].config.allowed[0]",
        ),
        (
            json!([{"plugin": format!("{P}ReadOnlyCalls"), "include": ["("]}]),
            "plugins[0].include[0]",
        ),
        (
            json!([plugin("JwtVerification", json!({}))]),
            "plugins[0].plugin",
        ),
        (
            json!([plugin(
                "AdditionalHeadersOut",
                json!({"headers": {"x": "${req.nope}"}})
            )]),
            "plugins[0].config.headers.x",
        ),
    ];
    for (plugins, field) in cases {
        refused(&node, plugins, field).await;
    }
    assert_eq!(node.get_json("/api/routes").await.1, json!([]));
    // A disabled plugin komainu does not know is kept as written.
    let mut route = route_to("kept", "kept.test", &[1]);
    route["plugins"] = json!([{"plugin": format!("{P}JwtVerification"), "enabled": false, "config": {"verifiers": ["v"]}}]);
    node.create_route(&route).await;
    let (_, stored) = node.get_json("/api/routes/kept").await;
    assert_eq!(stored["plugins"][0]["config"]["verifiers"][0], "v");
}

#[tokio::test]
async fn the_registry_is_served() {
    let (node, _dir) = Node::start(&[]);
    let (status, list) = node.get_json("/api/plugins").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    let apikeys = list
        .iter()
        .find(|p| p["id"] == format!("{P}ApikeyCalls"))
        .unwrap();
    assert_eq!(apikeys["steps"], json!(["ValidateAccess"]));
    assert_eq!(apikeys["default_config"]["mandatory"], true);
    assert!(apikeys["config_schema"]["properties"]["extractors"].is_object());
    for id in [
        "OverrideHost",
        "ForceHttpsTraffic",
        "AdditionalHeadersIn",
        "MaintenanceMode",
    ] {
        assert!(list.iter().any(|p| p["id"] == format!("{P}{id}")), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_the_plugins_set_on_its_leader() {
    let up = upstream::start("up").await;
    let (leader, _dir) = leader(&[]);
    let w = worker(&[leader.base_url()], &[]);
    route_with(
        &leader,
        "synced",
        up.port,
        json!([plugin(
            "AdditionalHeadersOut",
            json!({"headers": {"x-from-leader": "yes"}})
        )]),
    )
    .await;
    let seen = eventually(Duration::from_secs(10), || async {
        w.through(Method::GET, "synced.test", "/")
            .send()
            .await
            .is_ok_and(|r| r.headers().get("x-from-leader").is_some_and(|v| v == "yes"))
    })
    .await;
    assert!(seen.is_some(), "the worker did not run the leader's plugin");
}
