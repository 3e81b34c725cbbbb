#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Node, route};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn routes_crud_through_legacy_and_generic_paths() {
    let (node, _dir) = Node::start(&[]);
    let generic = "/apis/proxy.otoroshi.io/v1/routes";

    let (status, created) = node
        .send_json(
            Method::POST,
            "/api/routes",
            &route("r1", "api.oto.tools/users"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["backend"]["load_balancing"]["type"], "RoundRobin");

    // Visible through both path styles.
    let (status, got) = node.get_json(&format!("{generic}/r1")).await;
    assert_eq!(status, 200);
    assert_eq!(got, created);
    let (_, list) = node.get_json("/api/routes").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // PUT replaces.
    let mut updated = route("r1", "api.oto.tools/people");
    updated["name"] = json!("people");
    let (status, put) = node
        .send_json(Method::PUT, &format!("{generic}/r1"), &updated)
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        node.get_json("/api/routes/r1").await.1["frontend"]["domains"],
        json!(["api.oto.tools/people"])
    );

    // Create through the generic path with a generated id.
    let mut anonymous = route("x", "b.oto.tools");
    anonymous.as_object_mut().unwrap().remove("id");
    let (status, second) = node.send_json(Method::POST, generic, &anonymous).await;
    assert_eq!(status, 201);
    let second_id = second["id"].as_str().unwrap().to_string();
    assert!(second_id.starts_with("route_"), "{second_id}");

    // Delete, then it is gone.
    let (status, deleted) = json_of(
        node.admin(Method::DELETE, "/api/routes/r1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, deleted), (200, json!({"deleted": true})));
    assert_eq!(node.get_json("/api/routes/r1").await.0, 404);
    let (_, list) = node.get_json(generic).await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(second_id)]
    );
}

async fn json_of(response: reqwest::Response) -> (u16, serde_json::Value) {
    common::json(response).await
}

#[tokio::test]
async fn merge_patch_and_json_patch() {
    let (node, _dir) = Node::start(&[]);
    node.send_json(Method::POST, "/api/routes", &route("r1", "a.oto.tools"))
        .await;

    let (status, merged) = node
        .send_json(
            Method::PATCH,
            "/api/routes/r1",
            &json!({"name": "merged", "frontend": {"strip_path": false}}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["name"], "merged");
    assert_eq!(merged["frontend"]["strip_path"], false);
    assert_eq!(
        merged["frontend"]["domains"],
        json!(["a.oto.tools"]),
        "merge keeps untouched fields"
    );

    let patch = json!([
        {"op": "replace", "path": "/name", "value": "patched"},
        {"op": "add", "path": "/frontend/domains/-", "value": "b.oto.tools"}
    ]);
    let (status, patched) = node
        .send_json(
            Method::PATCH,
            "/apis/proxy.otoroshi.io/v1/routes/r1",
            &patch,
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "patched");
    assert_eq!(
        patched["frontend"]["domains"],
        json!(["a.oto.tools", "b.oto.tools"])
    );

    // A patch that makes the entity invalid is refused and changes nothing.
    let (status, error) = node
        .send_json(
            Method::PATCH,
            "/api/routes/r1",
            &json!([{"op": "replace", "path": "/backend/targets/0/port", "value": 0}]),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["fields"][0]["path"], "backend.targets[0].port");
    assert_eq!(node.get_json("/api/routes/r1").await.1, patched);

    // A JSON Patch whose test fails is a 400.
    let (status, _) = node
        .send_json(
            Method::PATCH,
            "/api/routes/r1",
            &json!([{"op": "test", "path": "/name", "value": "nope"}]),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn apikeys_groups_and_global_config() {
    let (node, _dir) = Node::start(&[]);
    let (status, group) = node
        .send_json(
            Method::POST,
            "/api/groups",
            &json!({"id": "team-a", "name": "Team A"}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let (status, group) = node
        .get_json("/apis/organize.otoroshi.io/v1/service-groups/team-a")
        .await;
    assert_eq!((status, group["name"].clone()), (200, json!("Team A")));

    let key = json!({"clientId": "k1", "clientName": "first", "authorizedEntities": ["group_team-a"], "dailyQuota": 10});
    let (status, created) = node
        .send_json(Method::POST, "/apis/apim.otoroshi.io/v1/apikeys", &key)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["clientSecret"].as_str().unwrap().len(),
        64,
        "a secret is generated"
    );
    assert_eq!(node.get_json("/api/apikeys/k1").await.1["dailyQuota"], 10);

    // Filters and paging.
    for i in 0..5 {
        node.send_json(
            Method::POST,
            "/api/apikeys",
            &json!({"clientId": format!("p{i}"), "tags": ["paged"]}),
        )
        .await;
    }
    let (_, tagged) = node.get_json("/api/apikeys?filter.tags=paged").await;
    assert_eq!(tagged.as_array().unwrap().len(), 5);
    let (_, page2) = node
        .get_json("/api/apikeys?filter.tags=paged&page=2&pageSize=2")
        .await;
    let ids: Vec<_> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["p2", "p3"]);
    let (_, named) = node.get_json("/api/apikeys?filter.clientName=first").await;
    assert_eq!(named.as_array().unwrap().len(), 1);

    // The global config singleton: default, PATCH, visible on the generic path.
    let (status, config) = node.get_json("/api/globalconfig").await;
    assert_eq!(
        (status, config["maintenanceMode"].clone()),
        (200, json!(false))
    );
    let (status, config) = node
        .send_json(
            Method::PATCH,
            "/api/globalconfig",
            &json!({"maintenanceMode": true, "custom": 1}),
        )
        .await;
    assert_eq!(status, 200, "{config}");
    let (_, listed) = node
        .get_json("/apis/config.otoroshi.io/v1/global-configs")
        .await;
    assert_eq!(listed[0]["maintenanceMode"], true);
    assert_eq!(listed[0]["custom"], 1, "unknown fields round-trip");
}

#[tokio::test]
async fn templates_entities_version_infos_and_health() {
    let (node, _dir) = Node::start(&[]);
    for path in [
        "/api/routes/_template",
        "/apis/apim.otoroshi.io/v1/apikeys/_template",
        "/api/groups/_template",
    ] {
        let (status, template) = node.get_json(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(template.is_object());
    }
    let (_, template) = node.get_json("/api/routes/_template").await;
    let (status, created) = node.send_json(Method::POST, "/api/routes", &template).await;
    assert_eq!(status, 201, "a template can be posted as is: {created}");

    let (_, entities) = node.get_json("/apis/entities").await;
    let kinds: Vec<_> = entities["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "Route",
            "Apikey",
            "ServiceGroup",
            "GlobalConfig",
            "Certificate"
        ]
    );
    assert_eq!(entities["resources"][0]["group"], "proxy.otoroshi.io");

    assert_eq!(
        node.get_json("/api/version").await.1["version_raw"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(node.get_json("/api/infos").await.1["datastore"], "embedded");

    // Health answers on any host, without credentials.
    let response = reqwest::get(node.url("/.well-known/otoroshi/monitoring/health"))
        .await
        .unwrap();
    let (status, health) = common::json(response).await;
    assert_eq!(
        (status, health["datastore"].clone()),
        (200, json!("healthy"))
    );
}

#[tokio::test]
async fn other_hosts_get_a_json_404_until_the_proxy_exists() {
    let (node, _dir) = Node::start(&[]);
    let response = reqwest::Client::new()
        .get(node.url("/api/routes"))
        .header("Host", "www.example.com")
        .send()
        .await
        .unwrap();
    let (status, body) = common::json(response).await;
    assert_eq!(status, 404);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("www.example.com"),
        "{body}"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_reaches_the_admin_api() {
    let (node, _dir) = Node::start(&[]);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve(common::ADMIN_HOST, ([127, 0, 0, 1], node.port).into())
        .build()
        .unwrap();
    let response = client
        .get(format!(
            "http://{}:{}/api/routes",
            common::ADMIN_HOST,
            node.port
        ))
        .basic_auth(common::ADMIN_ID, Some(common::ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}
