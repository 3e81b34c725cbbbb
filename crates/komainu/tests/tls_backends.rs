//! TLS to backends (`tls: true` targets): verified against the system roots
//! plus `tls_config.trusted_certs`, or not at all with `trust_all`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::pki::{TestCa, self_signed};
use common::{Node, tls_upstream};
use reqwest::Method;
use serde_json::{Value, json};

/// A route from `domain` to `localhost:port` over TLS with `tls_config`.
fn tls_route(id: &str, domain: &str, port: u16, tls_config: Value) -> Value {
    json!({
        "id": id,
        "name": id,
        "frontend": {"domains": [domain]},
        "backend": {"targets": [{
            "hostname": "localhost", "port": port, "tls": true, "tls_config": tls_config,
        }]},
    })
}

async fn import(node: &Node, entity: Value) {
    let (status, body) = node
        .send_json(Method::POST, "/api/certificates", &entity)
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_backend_signed_by_a_trusted_certificate_entity_is_reached_over_tls() {
    let ca = TestCa::new("backend CA");
    let backend = tls_upstream::start("secure", &ca.server(&["localhost"])).await;
    let (node, _dir) = Node::start(&[]);
    import(&node, ca.as_leaf().entity("backend-ca")).await;
    let trusted = json!({"enabled": true, "trusted_certs": ["backend-ca"], "loose": false,
        "trust_all": false, "certs": [], "comment": "kept"});
    node.create_route(&tls_route(
        "trusted",
        "trusted.oto.tools",
        backend.port,
        trusted.clone(),
    ))
    .await;
    let response = node
        .through(Method::GET, "trusted.oto.tools", "/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream"], "secure");
    // SNI is the target's hostname; Host stays the one the client sent.
    assert_eq!(response.headers()["x-sni"], "localhost");
    assert_eq!(response.text().await.unwrap(), "trusted.oto.tools");
    // Pooled: further calls reuse the connection, no handshake each time.
    for _ in 0..5 {
        assert_eq!(node.status_of("trusted.oto.tools", "/again").await, 200);
    }
    assert_eq!(backend.handshakes(), 1);
    // The tls_config comes back as it was sent, unknown fields included.
    let (_, route) = node.get_json("/api/routes/trusted").await;
    assert_eq!(route["backend"]["targets"][0]["tls_config"], trusted);
}

#[tokio::test]
async fn an_unknown_ca_or_an_expired_certificate_is_refused_with_502() {
    let ca = TestCa::new("backend CA");
    let unknown = tls_upstream::start("unknown", &ca.server(&["localhost"])).await;
    let expired = tls_upstream::start("expired", &ca.expired_server(&["localhost"])).await;
    let (node, _dir) = Node::start(&[]);
    import(&node, ca.as_leaf().entity("backend-ca")).await;
    // Default: the system roots only, which do not hold the test CA.
    node.create_route(&tls_route(
        "plain-trust",
        "unknown.oto.tools",
        unknown.port,
        json!(null),
    ))
    .await;
    // The reason (certificate not trusted) goes to the log, not to the client.
    assert_eq!(node.status_of("unknown.oto.tools", "/").await, 502);
    // A disabled tls_config does not apply (Otoroshi's rule): still verified.
    node.create_route(&tls_route(
        "disabled",
        "disabled.oto.tools",
        unknown.port,
        json!({"enabled": false, "trust_all": true}),
    ))
    .await;
    assert_eq!(node.status_of("disabled.oto.tools", "/").await, 502);
    node.create_route(&tls_route(
        "expired",
        "expired.oto.tools",
        expired.port,
        json!({"enabled": true, "trusted_certs": ["backend-ca"]}),
    ))
    .await;
    assert_eq!(node.status_of("expired.oto.tools", "/").await, 502);
    assert_eq!(unknown.handshakes() + expired.handshakes(), 0);
}

#[tokio::test]
async fn trust_all_accepts_any_certificate_and_is_logged() {
    let backend = tls_upstream::start("self-signed", &self_signed(&["localhost"])).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut command = common::command();
    command
        .args([
            "-Dhttp.address=127.0.0.1",
            "-Dhttp.port=0",
            "-Dhttps.port=0",
            &format!("-Dapp.filedb.path={}", dir.path().display()),
            &format!("-Dadmin.clientId={}", common::ADMIN_ID),
            &format!("-Dadmin.clientSecret={}", common::ADMIN_SECRET),
        ])
        .stderr(std::fs::File::create(&log).unwrap());
    let node = Node::spawn(&mut command, dir.path());
    node.create_route(&tls_route(
        "lenient",
        "lenient.oto.tools",
        backend.port,
        json!({"enabled": true, "trust_all": true}),
    ))
    .await;
    // Said when the state bringing the route is published, before any call.
    let said_early = common::eventually(std::time::Duration::from_secs(5), || async {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("NOT verified")
    })
    .await;
    assert!(said_early.is_some(), "trust_all logged at publish time");
    for _ in 0..3 {
        assert_eq!(node.status_of("lenient.oto.tools", "/").await, 200);
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    let warnings = logged.matches("NOT verified").count();
    assert_eq!(warnings, 1, "{logged}");
    assert!(logged.contains("lenient"), "{logged}");
}

#[tokio::test]
async fn a_certificate_imported_after_the_route_is_trusted_from_then_on() {
    let ca = TestCa::new("late CA");
    let backend = tls_upstream::start("late", &ca.server(&["localhost"])).await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&tls_route(
        "late",
        "late.oto.tools",
        backend.port,
        json!({"enabled": true, "trusted_certs": ["late-ca"]}),
    ))
    .await;
    assert_eq!(node.status_of("late.oto.tools", "/").await, 502);
    import(&node, ca.as_leaf().entity("late-ca")).await;
    let reached = common::eventually(Duration::from_secs(5), || async {
        node.status_of("late.oto.tools", "/").await == 200
    })
    .await;
    assert!(reached.is_some(), "the imported CA was never trusted");
}

#[tokio::test]
async fn unsupported_tls_settings_are_refused_not_ignored() {
    let (node, _dir) = Node::start(&[]);
    for (config, field) in [
        (json!({"enabled": true, "certs": ["client"]}), "certs"),
        (json!({"enabled": true, "loose": true}), "loose"),
    ] {
        let route = tls_route("refused", "refused.oto.tools", 443, config);
        let (status, body) = node.send_json(Method::POST, "/api/routes", &route).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains(field), "{body}");
    }
}
