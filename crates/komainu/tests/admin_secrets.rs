//! Secrets and read-only admins: a reader never receives a private key or an
//! API key secret, and the mask a reader sees can never become a secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ADMIN_ID, ADMIN_SECRET, Node, json};
use reqwest::Method;
use serde_json::json;

const MASK: &str = "********";

async fn add_reader(node: &Node) {
    let ro = json!({"clientId": "ro", "clientSecret": "ro-secret", "readOnly": true,
        "authorizedEntities": ["group_admin-api-group"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &ro).await.0,
        201
    );
}

async fn read_as_reader(node: &Node, path: &str) -> (u16, String) {
    let response = node
        .anonymous(Method::GET, path)
        .basic_auth("ro", Some("ro-secret"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn readers_never_receive_private_keys_or_key_secrets() {
    let (node, _dir) = Node::start(&[]);
    add_reader(&node).await;
    let plain = json!({"clientId": "plain", "clientSecret": "plain-key-secret-value",
        "authorizedEntities": ["group_default"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &plain).await.0,
        201
    );
    // The admin host's own certificate is a stored entity with its key,
    // which a writer's full export carries (it is the backup).
    let (status, export) = node.get_json("/api/otoroshi.json").await;
    assert_eq!(status, 200);
    assert!(export.to_string().contains("PRIVATE KEY"));

    for path in [
        "/api/otoroshi.json",
        "/api/certificates",
        "/api/certificates/komainu-admin-certificate",
        "/apis/pki.otoroshi.io/v1/certificates",
        "/apis/pki.otoroshi.io/v1/certificates/komainu-admin-certificate",
        "/api/apikeys",
        "/api/apikeys/plain",
        "/apis/apim.otoroshi.io/v1/apikeys",
        "/apis/apim.otoroshi.io/v1/apikeys/plain",
        "/api/apikeys/test-admin",
    ] {
        let (status, text) = read_as_reader(&node, path).await;
        assert_eq!(status, 200, "{path}: {text}");
        for secret in [
            "PRIVATE KEY",
            "plain-key-secret-value",
            ADMIN_SECRET,
            "ro-secret",
        ] {
            assert!(!text.contains(secret), "{path} shows {secret} to a reader");
        }
    }
    // What a reader sees says that something is there.
    let (_, text) = read_as_reader(&node, "/api/apikeys/plain").await;
    let key: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(key["clientSecret"], MASK);
    let (_, text) = read_as_reader(&node, "/api/otoroshi.json").await;
    let export: serde_json::Value = serde_json::from_str(&text).unwrap();
    let certificates = export["certificates"].as_array().unwrap();
    assert!(!certificates.is_empty());
    assert!(
        certificates.iter().all(|c| c["privateKey"] == MASK),
        "{text}"
    );
    // Writers still read what they manage.
    let (_, key) = node.get_json("/api/apikeys/plain").await;
    assert_eq!(key["clientSecret"], "plain-key-secret-value");
}

#[tokio::test]
async fn a_masked_secret_sent_back_is_refused_and_changes_nothing() {
    let (node, _dir) = Node::start(&[]);
    add_reader(&node).await;
    let (status, export) = read_as_reader(&node, "/api/otoroshi.json").await;
    assert_eq!(status, 200);
    let export: serde_json::Value = serde_json::from_str(&export).unwrap();

    // The reader's export posted back by a writer: refused as a whole.
    let (status, error) = node
        .send_json(Method::POST, "/api/otoroshi.json", &export)
        .await;
    assert_eq!(status, 400, "{error}");
    let fields = error["fields"].to_string();
    assert!(fields.contains("clientSecret"), "{error}");

    // One key replaced with the mask: refused too.
    let (_, mut admin) = node.get_json(&format!("/api/apikeys/{ADMIN_ID}")).await;
    admin["clientSecret"] = json!(MASK);
    let (status, error) = node
        .send_json(Method::PUT, &format!("/api/apikeys/{ADMIN_ID}"), &admin)
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["fields"][0]["path"], "clientSecret", "{error}");
    let patch = json!([{"op": "replace", "path": "/clientSecret", "value": MASK}]);
    let (status, _) = node
        .send_json(Method::PATCH, &format!("/api/apikeys/{ADMIN_ID}"), &patch)
        .await;
    assert_eq!(status, 400);

    // Nobody gets in with the mask; the real secret still works.
    let masked = node
        .anonymous(Method::GET, "/api/routes")
        .basic_auth(ADMIN_ID, Some(MASK))
        .send()
        .await
        .unwrap();
    assert_eq!(json(masked).await.0, 401);
    assert_eq!(node.get_json("/api/routes").await.0, 200);

    // The mask is no private key either.
    let (_, mut cert) = node
        .get_json("/api/certificates/komainu-admin-certificate")
        .await;
    cert["privateKey"] = json!(MASK);
    let (status, error) = node
        .send_json(
            Method::PUT,
            "/api/certificates/komainu-admin-certificate",
            &cert,
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["fields"][0]["path"], "privateKey", "{error}");
}
