#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pki::{TestCa, self_signed};
use common::{ADMIN_HOST, Node};
use reqwest::Method;
use serde_json::{Value, json};

/// A line of the PEM key's base64 body: proof the key itself is in a document.
fn key_line(key_pem: &str) -> String {
    key_pem.lines().nth(1).unwrap().to_string()
}

fn messages(body: &Value, path: &str) -> Vec<String> {
    body["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter(|f| f["path"] == path)
        .map(|f| f["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn imported_certificates_describe_themselves_and_hide_their_key() {
    let (node, _dir) = common::leader(&[]);
    let ca = TestCa::new("komainu test CA");
    let leaf = ca.server(&["api.example.com", "*.apps.example.com", "127.0.0.1"]);

    let (status, created) = node
        .send_json(Method::POST, "/api/certificates", &leaf.entity("c1"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("privateKey").is_none(), "{created}");

    for path in [
        "/api/certificates/c1",
        "/apis/pki.otoroshi.io/v1/certificates/c1",
    ] {
        let (status, got) = node.get_json(path).await;
        assert_eq!(status, 200, "{got}");
        assert!(got.get("privateKey").is_none(), "{got}");
        assert_eq!(
            got["sans"],
            json!(["api.example.com", "*.apps.example.com", "127.0.0.1"])
        );
        assert_eq!(got["subject"], "CN=api.example.com");
        assert_eq!(got["issuer"], "CN=komainu test CA");
        assert!(got["to"].as_u64().unwrap() > got["from"].as_u64().unwrap());
    }
    for path in ["/api/certificates", "/apis/pki.otoroshi.io/v1/certificates"] {
        let (_, list) = node.get_json(path).await;
        let c1 = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "c1")
            .unwrap();
        assert!(c1.get("privateKey").is_none(), "{c1}");
    }

    // GET → edit → PUT keeps the stored key.
    let (_, mut edited) = node.get_json("/api/certificates/c1").await;
    edited["description"] = json!("edited");
    let (status, put) = node
        .send_json(Method::PUT, "/api/certificates/c1", &edited)
        .await;
    assert_eq!(status, 200, "{put}");
    assert!(put.get("privateKey").is_none(), "{put}");

    // The key stays in the full export and the cluster state.
    let line = key_line(&leaf.key_pem);
    let (_, export) = node.get_json("/api/otoroshi.json").await;
    let exported = export["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "c1")
        .unwrap();
    assert!(
        exported["privateKey"].as_str().unwrap().contains(&line),
        "{exported}"
    );
    assert_eq!(exported["description"], "edited");
    let state = node.get_text("/api/cluster/state").await;
    assert!(state.contains(&line), "cluster state lacks the private key");
}

#[tokio::test]
async fn bad_chains_and_mismatched_keys_are_refused_by_field() {
    let (node, _dir) = Node::start(&[]);
    let leaf = self_signed(&["a.example.com"]);
    let other = self_signed(&["b.example.com"]);

    let mut garbage = leaf.entity("bad-chain");
    garbage["chain"] = json!("not a certificate");
    let (status, body) = node
        .send_json(Method::POST, "/api/certificates", &garbage)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        messages(&body, "chain")
            .iter()
            .any(|m| m.contains("is not a PEM certificate")),
        "{body}"
    );

    let mut mismatched = leaf.entity("mismatch");
    mismatched["privateKey"] = json!(other.key_pem);
    let (status, body) = node
        .send_json(Method::POST, "/api/certificates", &mismatched)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        messages(&body, "privateKey")
            .iter()
            .any(|m| m.contains("does not match")),
        "{body}"
    );
    assert!(
        !body.to_string().contains(&key_line(&other.key_pem)),
        "errors never echo a key"
    );
}

#[tokio::test]
async fn pki_endpoints_generate_cas_and_certificates_signed_by_them() {
    let (node, _dir) = Node::start(&[]);
    let (status, ca) = node
        .send_json(
            Method::POST,
            "/api/pki/cas",
            &json!({"id": "my-ca", "subject": "CN=My CA, O=komainu"}),
        )
        .await;
    assert_eq!(status, 201, "{ca}");
    assert_eq!(ca["ca"], true);
    assert!(ca.get("privateKey").is_none(), "{ca}");

    let (status, signed) = node
        .send_json(
            Method::POST,
            "/api/pki/certs",
            &json!({"id": "signed", "hosts": ["a.example.com", "*.b.example.com", "127.0.0.1"], "caRef": "my-ca", "days": 30}),
        )
        .await;
    assert_eq!(status, 201, "{signed}");
    assert_eq!(signed["issuer"], ca["subject"]);
    assert_eq!(signed["selfSigned"], false);
    assert_eq!(
        signed["sans"],
        json!(["a.example.com", "*.b.example.com", "127.0.0.1"])
    );
    let days = (signed["to"].as_u64().unwrap() - signed["from"].as_u64().unwrap()) / 86_400_000;
    assert_eq!(days, 30);
    assert!(signed.get("privateKey").is_none(), "{signed}");

    let (status, own) = node
        .send_json(
            Method::POST,
            "/api/pki/certs",
            &json!({"hosts": ["self.example.com"]}),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    assert_eq!(own["issuer"], own["subject"]);
    assert_eq!(own["selfSigned"], true);

    for bad_ref in ["missing", "signed"] {
        let (status, body) = node
            .send_json(
                Method::POST,
                "/api/pki/certs",
                &json!({"hosts": ["x.example.com"], "caRef": bad_ref}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(!messages(&body, "caRef").is_empty(), "{body}");
    }
}

#[tokio::test]
async fn first_start_makes_an_admin_host_certificate() {
    let (node, _dir) = Node::start(&[]);
    let (status, cert) = node
        .get_json("/api/certificates/komainu-admin-certificate")
        .await;
    assert_eq!(status, 200, "{cert}");
    assert_eq!(cert["sans"], json!([ADMIN_HOST]));
    assert!(cert.get("privateKey").is_none(), "{cert}");
}

#[tokio::test]
async fn health_lists_expired_certificates_without_failing() {
    let (node, _dir) = Node::start(&[]);
    let ca = TestCa::new("expiry CA");
    let (status, body) = node
        .send_json(
            Method::POST,
            "/api/certificates",
            &ca.expired_server(&["old.example.com"]).entity("old"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, health) = node.health().await;
    assert_eq!(status, 200, "{health}");
    let certificates = &health["certificates"];
    // The admin host's and the UI host's self-signed ones, and the expired one.
    assert_eq!(certificates["count"], 3, "{health}");
    let expired = certificates["expired"].as_array().unwrap();
    assert_eq!(expired.len(), 1, "{health}");
    // The API listing flags it too, computed at read time.
    let (_, old) = node.get_json("/api/certificates/old").await;
    assert_eq!(old["expired"], true, "{old}");
    let (_, admin_cert) = node
        .get_json("/api/certificates/komainu-admin-certificate")
        .await;
    assert_eq!(admin_cert["expired"], false, "{admin_cert}");
    assert_eq!(expired[0]["id"], "old");
    assert_eq!(expired[0]["to"], body["to"]);
}
