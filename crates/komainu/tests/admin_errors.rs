#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::{ADMIN_ID, ADMIN_SECRET, Node, json, route};
use reqwest::Method;
use serde_json::{Value, json};

async fn route_count(node: &Node) -> usize {
    node.get_json("/api/routes")
        .await
        .1
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let (node, _dir) = Node::start(&[]);
    let ok = |r: reqwest::Response| r.status().as_u16();

    // Missing, wrong secret, unknown id: the same 401, no hint which part was wrong.
    let missing = json(
        node.anonymous(Method::GET, "/api/routes")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let wrong = json(
        node.anonymous(Method::GET, "/api/routes")
            .basic_auth(ADMIN_ID, Some("nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let unknown = json(
        node.anonymous(Method::GET, "/api/routes")
            .basic_auth("who", Some(ADMIN_SECRET))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(missing.0, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, missing);
    assert_eq!(wrong.1["error"], "unauthorized");

    // Otoroshi headers, and Basic without base64 padding.
    let headers = node
        .anonymous(Method::GET, "/api/routes")
        .header("Otoroshi-Client-Id", ADMIN_ID)
        .header("Otoroshi-Client-Secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(headers), 200);
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(format!("{ADMIN_ID}:{ADMIN_SECRET}"));
    assert!(!unpadded.ends_with('='));
    let response = node
        .anonymous(Method::GET, "/api/routes")
        .header("Authorization", format!("Basic {unpadded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(response), 200);
    let garbage = node
        .anonymous(Method::GET, "/api/routes")
        .header("Authorization", "Basic %%%")
        .send()
        .await
        .unwrap();
    assert_eq!(ok(garbage), 401);

    // A key that is not an admin key may not use the admin API.
    node.send_json(Method::POST, "/api/apikeys", &json!({"clientId": "plain", "clientSecret": "s3cret", "authorizedEntities": ["group_default"]})).await;
    let plain = node
        .anonymous(Method::GET, "/api/routes")
        .basic_auth("plain", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(plain), 401);

    // A read-only admin key reads but may not write.
    let ro = json!({"clientId": "ro", "clientSecret": "ro-secret", "readOnly": true, "authorizedEntities": ["group_admin-api-group"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &ro).await.0,
        201
    );
    let read = node
        .anonymous(Method::GET, "/api/routes")
        .basic_auth("ro", Some("ro-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(read), 200);
    let write = node
        .anonymous(Method::POST, "/api/routes")
        .basic_auth("ro", Some("ro-secret"))
        .json(&route("r", "a.oto.tools"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(write).await.0, 403);
    assert_eq!(route_count(&node).await, 0);
}

#[tokio::test]
async fn bad_bodies_are_clear_4xx_and_change_nothing() {
    let (node, _dir) = Node::start(&["-Dadmin.maxBodySize=2048"]);
    node.send_json(Method::POST, "/api/routes", &route("r1", "a.oto.tools"))
        .await;
    let before = node.get_json("/api/otoroshi.json").await.1;

    let send_raw = |method: Method, path: &str, body: String| {
        node.admin(method, path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };

    let (status, error) = json(
        send_raw(Method::POST, "/api/routes", "{\"id\": ".into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{error}"
    );

    let (status, error) = json(
        send_raw(Method::POST, "/api/routes", String::new())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error["error"].clone()),
        (400, json!("bad_request"))
    );

    let mut wrong_type = route("r2", "b.oto.tools");
    wrong_type["frontend"]["domains"] = json!("not-a-list");
    let (status, error) = node
        .send_json(Method::POST, "/api/routes", &wrong_type)
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["fields"][0]["path"], "frontend.domains");

    let mut invalid = route("r2", "b.oto.tools");
    invalid["backend"]["targets"] = json!([{"hostname": "", "port": 70000}]);
    let (status, error) = node.send_json(Method::POST, "/api/routes", &invalid).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["fields"][0]["path"], "backend.targets[0].port",
        "{error}"
    );

    let mut two_problems = route("r2", "b.oto.tools");
    two_problems["backend"]["targets"] = json!([{"hostname": "", "port": 0}]);
    two_problems["name"] = json!("  ");
    let (_, error) = node
        .send_json(Method::POST, "/api/routes", &two_problems)
        .await;
    let paths: Vec<&str> = error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "name",
            "backend.targets[0].hostname",
            "backend.targets[0].port"
        ]
    );

    let mut unknown_plugin = route("r2", "b.oto.tools");
    unknown_plugin["plugins"] =
        json!([{"plugin": "cp:otoroshi.next.plugins.AuthModule", "config": {}}]);
    let (status, error) = node
        .send_json(Method::POST, "/api/routes", &unknown_plugin)
        .await;
    assert_eq!(status, 400);
    assert!(
        error["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("AuthModule")
    );

    let too_big = json!({"id": "big", "description": "x".repeat(4096)});
    let (status, error) = node.send_json(Method::POST, "/api/groups", &too_big).await;
    assert_eq!(
        (status, error["error"].clone()),
        (413, json!("payload_too_large"))
    );

    let (status, _) = node
        .send_json(
            Method::POST,
            "/api/routes",
            &route("bad id!", "b.oto.tools"),
        )
        .await;
    assert_eq!(status, 400);

    let (status, error) = node
        .send_json(Method::POST, "/api/routes", &route("r1", "c.oto.tools"))
        .await;
    assert_eq!((status, error["error"].clone()), (409, json!("conflict")));

    let (status, _) = node
        .send_json(
            Method::PUT,
            "/api/routes/missing",
            &route("missing", "c.oto.tools"),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = node
        .send_json(Method::PATCH, "/api/routes/missing", &json!({"name": "x"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = json(
        node.admin(Method::DELETE, "/api/routes/missing")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let (status, error) = node
        .send_json(
            Method::PUT,
            "/api/routes/r1",
            &route("other", "c.oto.tools"),
        )
        .await;
    assert_eq!(
        (status, error["fields"][0]["path"].clone()),
        (400, json!("id"))
    );

    let (status, error) = node.get_json("/apis/proxy.otoroshi.io/v1/widgets").await;
    assert_eq!(status, 404);
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown kind"),
        "{error}"
    );
    let (status, error) = json(
        node.admin(Method::DELETE, "/api/routes")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error["error"].clone()),
        (405, json!("method_not_allowed"))
    );

    let mut after = node.get_json("/api/otoroshi.json").await.1;
    after["dateRaw"] = before["dateRaw"].clone();
    assert_eq!(after, before, "no rejected write changed the store");
}

#[tokio::test]
async fn the_last_admin_key_cannot_be_removed_or_disabled() {
    let (node, _dir) = Node::start(&[]);
    let path = format!("/api/apikeys/{ADMIN_ID}");
    let (status, error) = json(node.admin(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(status, 409, "{error}");
    let (status, _) = node
        .send_json(Method::PATCH, &path, &json!({"enabled": false}))
        .await;
    assert_eq!(status, 409);
    // With a second admin key, the first may go.
    let second = json!({"clientId": "admin2", "clientSecret": "x", "authorizedEntities": ["group_admin-api-group"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &second)
            .await
            .0,
        201
    );
    let (status, _) = json(node.admin(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let gone: Value = json(node.admin(Method::GET, "/api/routes").send().await.unwrap())
        .await
        .1;
    assert_eq!(
        gone["error"], "unauthorized",
        "the deleted key no longer works"
    );
}
