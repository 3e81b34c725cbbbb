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

/// The document describes the node that serves it, and agrees with the
/// handlers where the fuzzer (`.ci/fuzz-admin`) first found it did not.
#[tokio::test]
async fn the_document_matches_a_standalone_node() {
    let (node, _dir) = Node::start(&[]);
    let (status, doc) = node.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();

    // Cluster endpoints exist on leaders only.
    for path in paths.keys() {
        assert!(
            !path.starts_with("/api/cluster/"),
            "{path} on a standalone node"
        );
    }
    let (status, _) = node.get_json("/api/cluster/members").await;
    assert_eq!(status, 404);

    // Every path template declares its parameters.
    for (path, item) in paths {
        for name in path.split('{').skip(1).filter_map(|p| p.split('}').next()) {
            let declared = item["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{path} does not declare {{{name}}}");
        }
    }

    // Creates answer 201, documented as such.
    let created = &paths["/api/groups"]["post"]["responses"];
    assert!(
        created.get("201").is_some() && created.get("200").is_none(),
        "{created}"
    );
    let (status, _) = node
        .send_json(
            Method::POST,
            "/api/groups",
            &serde_json::json!({"id": "g1", "name": "g1"}),
        )
        .await;
    assert_eq!(status, 201);

    // The admin users list is an array, documented as one.
    let (_, users) = node.get_json("/api/admins/simple").await;
    assert!(users.is_array(), "{users}");
    let listed = &paths["/api/admins/simple"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(listed["type"], "array", "{listed}");

    // A certificate template carries no privateKey (write-only).
    let (_, template) = node.get_json("/api/certificates/_template").await;
    assert!(template.get("privateKey").is_none(), "{template}");

    // Paging bounds are documented and enforced.
    let page_size = paths["/api/routes"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pageSize")
        .unwrap()["schema"]["maximum"]
        .as_u64()
        .unwrap();
    let (status, _) = node
        .get_json(&format!("/api/routes?pageSize={page_size}"))
        .await;
    assert_eq!(status, 200);
    let (status, body) = node
        .get_json(&format!("/api/routes?pageSize={}", page_size + 1))
        .await;
    assert_eq!(status, 400, "{body}");

    // A JSON Patch operation is described: `[{}]` is not a valid patch.
    let patch = &doc["components"]["schemas"]["JsonPatch"];
    assert!(
        patch["items"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .all(|op| { op["required"].as_array().unwrap().iter().any(|r| r == "op") })
    );
    let (status, _) = node
        .send_json(Method::PATCH, "/api/groups/g1", &serde_json::json!([{}]))
        .await;
    assert_eq!(status, 400);
}
