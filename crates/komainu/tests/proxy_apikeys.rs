#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::upstream;
use common::{Node, json, route_to};
use reqwest::Method;
use serde_json::{Value, json};

const APIKEY_PLUGIN: &str = "cp:otoroshi.next.plugins.ApikeyCalls";

async fn protected_node(extra: &[&str]) -> (Node, tempfile::TempDir, upstream::Upstream) {
    let up = upstream::start("up").await;
    let (node, dir) = Node::start(extra);
    let mut route = route_to("secure", "secure.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": APIKEY_PLUGIN}]);
    node.create_route(&route).await;
    node.create_route(&route_to("other", "other.oto.tools", &[up.port]))
        .await;
    (node, dir, up)
}

async fn key(node: &Node, body: Value) {
    let (status, answer) = node.send_json(Method::POST, "/api/apikeys", &body).await;
    assert_eq!(status, 201, "{answer}");
}

fn jwt(secret: &str, claims: Value) -> String {
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_source_and_its_failures() {
    let (node, _dir, _up) = protected_node(&[]).await;
    key(
        &node,
        json!({"clientId": "k1", "clientSecret": "s1", "authorizedEntities": ["route_secure"]}),
    )
    .await;
    key(&node, json!({"clientId": "idonly", "clientSecret": "s2", "allowClientIdOnly": true, "authorizedEntities": ["group_default"]})).await;
    key(&node, json!({"clientId": "elsewhere", "clientSecret": "s3", "authorizedEntities": ["route_other"]})).await;
    key(&node, json!({"clientId": "off", "clientSecret": "s4", "enabled": false, "authorizedEntities": ["route_secure"]})).await;
    key(&node, json!({"clientId": "old", "clientSecret": "s5", "validUntil": 1000, "authorizedEntities": ["route_secure"]})).await;
    let get = || node.through(Method::GET, "secure.oto.tools", "/");
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(status(get().send().await.unwrap()), 401, "no key");
    let seen = json(
        get()
            .header("Otoroshi-Client-Id", "k1")
            .header("Otoroshi-Client-Secret", "s1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen.0, 200);
    assert!(
        seen.1["headers"].get("otoroshi-client-secret").is_none(),
        "credentials are stripped"
    );
    assert!(seen.1["headers"].get("otoroshi-client-id").is_none());
    assert_eq!(
        status(get().basic_auth("k1", Some("s1")).send().await.unwrap()),
        200
    );
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode("k1:s1");
    assert_eq!(
        status(
            get()
                .header("Authorization", format!("Basic {unpadded}"))
                .send()
                .await
                .unwrap()
        ),
        200
    );
    let seen = json(
        get()
            .bearer_auth(jwt("s1", json!({"iss": "k1"})))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen.0, 200);
    assert!(seen.1["headers"].get("authorization").is_none());
    assert_eq!(
        status(get().header("x-api-key", "idonly").send().await.unwrap()),
        200
    );

    assert_eq!(
        status(get().basic_auth("k1", Some("wrong")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(
            get()
                .bearer_auth(jwt("wrong", json!({"iss": "k1"})))
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            get()
                .bearer_auth(jwt("s1", json!({"iss": "k1", "exp": 1000})))
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(get().header("x-api-key", "k1").send().await.unwrap()),
        401,
        "k1 does not allow client id only"
    );
    assert_eq!(
        status(get().basic_auth("off", Some("s4")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(get().basic_auth("old", Some("s5")).send().await.unwrap()),
        401
    );
    let (code, body) = json(
        get()
            .basic_auth("elsewhere", Some("s3"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, body["error"].clone()), (403, json!("forbidden")));
    // A route without the plugin needs no key.
    assert_eq!(
        status(
            node.through(Method::GET, "other.oto.tools", "/")
                .send()
                .await
                .unwrap()
        ),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_are_enforced_with_remaining_headers_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = upstream::start("up").await;
    let args = ["-Dproxy.quotas.flushEvery=100"];
    let node = Node::start_in(dir.path(), &args);
    let mut route = route_to("secure", "secure.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": APIKEY_PLUGIN}]);
    node.create_route(&route).await;
    key(&node, json!({"clientId": "q", "clientSecret": "s", "dailyQuota": 5, "monthlyQuota": 100, "authorizedEntities": ["route_secure"]})).await;
    let call = |node: &Node| {
        node.through(Method::GET, "secure.oto.tools", "/")
            .basic_auth("q", Some("s"))
            .send()
    };

    for expected in (2..5).rev() {
        let response = call(&node).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["otoroshi-daily-calls-remaining"],
            expected.to_string().as_str()
        );
        assert_eq!(
            response.headers()["otoroshi-monthly-calls-remaining"],
            (expected + 95).to_string().as_str()
        );
    }
    // Let the flusher add the three calls to the store, then restart.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(node.terminate().success());
    let node = Node::start_in(dir.path(), &args);
    for _ in 0..2 {
        assert_eq!(call(&node).await.unwrap().status(), 200);
    }
    let response = call(&node).await.unwrap();
    assert_eq!(
        response.status(),
        429,
        "the daily quota of 5 held across the restart"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    assert_eq!(json(response).await.1["error"], "too_many_requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_quota_per_window() {
    let (node, _dir, _up) = protected_node(&["-Dproxy.quotas.throttlingWindow=60000"]).await;
    key(&node, json!({"clientId": "t", "clientSecret": "s", "throttlingQuota": 3, "authorizedEntities": ["route_secure"]})).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            node.through(Method::GET, "secure.oto.tools", "/")
                .basic_auth("t", Some("s"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_traffic_on_admin_host_and_separate_port() {
    let up = upstream::start("up").await;
    let metrics_port = upstream::dead_port();
    let (node, _dir) = Node::start(&[&format!("-Dmetrics.port={metrics_port}")]);
    node.create_route(&route_to("counted", "counted.oto.tools", &[up.port]))
        .await;
    for _ in 0..3 {
        node.through(Method::GET, "counted.oto.tools", "/")
            .send()
            .await
            .unwrap();
    }
    node.through(Method::GET, "nowhere.oto.tools", "/")
        .send()
        .await
        .unwrap();

    let text = node.get_text("/metrics").await;
    assert!(
        text.contains(r#"komainu_requests_total{route="counted",class="2xx"} 3"#),
        "{text}"
    );
    assert!(
        text.contains("komainu_request_duration_seconds_bucket{le="),
        "{text}"
    );
    assert!(
        !text.contains("komainu_request_duration_seconds_count{route="),
        "latency histograms are global: {text}"
    );
    assert!(
        text.contains("komainu_upstream_duration_seconds_count 3"),
        "{text}"
    );
    assert!(
        text.contains("komainu_unmatched_requests_total 1"),
        "{text}"
    );
    assert!(text.contains("komainu_open_connections"), "{text}");
    assert_eq!(
        node.anonymous(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let separate = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(separate.contains(r#"komainu_requests_total{route="counted",class="2xx"} 3"#));
}
