//! JSON Patch amplification (issue 12 item 7): a few hundred bytes of
//! `copy` operations must not grow a stored entity, or the node's memory,
//! beyond the admin body limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Node, route};
use reqwest::Method;
use serde_json::{Value, json};

async fn stored(node: &Node) -> Value {
    let (status, body) = node.get_json("/api/routes/amp").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn copying_the_root_is_refused_before_memory_grows() {
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route("amp", "amp.test")).await;
    let before = stored(&node).await;
    let rss_before = node.rss_kib();

    // The 782-byte attack: each copy of the root doubles the document.
    let ops: Vec<Value> = (0..18)
        .map(|n| json!({"op": "copy", "from": "", "path": format!("/a{n}")}))
        .collect();
    let (status, body) = node
        .send_json(Method::PATCH, "/api/routes/amp", &Value::Array(ops))
        .await;

    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "payload_too_large", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("admin.maxBodySize"), "{description}");
    assert_eq!(
        stored(&node).await,
        before,
        "a refused patch changed nothing"
    );
    let grown_mib = node.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 100, "RSS grew by {grown_mib} MiB");
}

#[tokio::test]
async fn operation_count_and_nesting_depth_are_bounded() {
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route("amp", "amp.test")).await;
    let before = stored(&node).await;

    // Many cheap operations: the count alone is bounded.
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "test", "path": "/id", "value": "amp"}))
        .collect();
    let (status, body) = node
        .send_json(Method::PATCH, "/api/routes/amp", &Value::Array(many))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("1000"),
        "{body}"
    );

    // Copying a nested value under itself deepens the document without
    // growing it much; stored, it could no longer be read back.
    let mut nested = json!("leaf");
    for _ in 0..40 {
        nested = json!({ "a": nested });
    }
    let deep_path = format!("/d{}", "/a".repeat(39));
    let deepen = json!([
        {"op": "add", "path": "/d", "value": nested},
        {"op": "copy", "from": "/d", "path": deep_path},
    ]);
    let (status, body) = node
        .send_json(Method::PATCH, "/api/routes/amp", &deepen)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("nesting depth"),
        "{body}"
    );
    assert_eq!(
        stored(&node).await,
        before,
        "refused patches changed nothing"
    );

    // Up to the limits, a JSON Patch still applies.
    let mut fine: Vec<Value> = (0..999)
        .map(|_| json!({"op": "test", "path": "/id", "value": "amp"}))
        .collect();
    fine.push(json!({"op": "replace", "path": "/name", "value": "patched"}));
    let (status, body) = node
        .send_json(Method::PATCH, "/api/routes/amp", &Value::Array(fine))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(&node).await["name"], "patched");
}
