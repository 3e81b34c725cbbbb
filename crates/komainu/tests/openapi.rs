#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Node;
use reqwest::Method;

#[tokio::test]
async fn every_served_path_is_documented_and_every_documented_operation_answers() {
    // A leader serves every documented path, the cluster ones included.
    let (node, _dir) = Node::start(&["-Dcluster.mode=leader"]);
    let (status, doc) = node.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();

    let served = admin::served_paths();
    assert!(served.len() >= 28, "{served:?}");
    for path in &served {
        assert!(
            paths.contains_key(path),
            "served but not documented: {path}"
        );
    }
    for (path, item) in paths {
        let concrete = path.replace("{id}", "doc-probe");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = node
                .admin(method.clone(), &concrete)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert_ne!(status, 405, "{method} {path} is documented but not served");
            if status == 404 {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"], "not_found");
                assert!(
                    !body["error_description"]
                        .as_str()
                        .unwrap()
                        .contains("no admin endpoint"),
                    "{method} {path}: {body}"
                );
            }
        }
    }
}
