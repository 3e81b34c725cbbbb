#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Node, json, route};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn data_survives_a_graceful_restart_and_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir.path(), &[]);
    assert_eq!(
        node.send_json(Method::POST, "/api/routes", &route("r1", "a.oto.tools"))
            .await
            .0,
        201
    );
    assert!(node.terminate().success(), "SIGTERM ends the node cleanly");

    let node = Node::start_in(dir.path(), &[]);
    assert!(
        node.stdout
            .iter()
            .any(|l| l.contains("already in the datastore")),
        "{:?}",
        node.stdout
    );
    assert_eq!(node.get_json("/api/routes/r1").await.0, 200);
    // Acknowledged, then killed without any chance to flush.
    assert_eq!(
        node.send_json(Method::POST, "/api/routes", &route("r2", "b.oto.tools"))
            .await
            .0,
        201
    );
    assert_eq!(
        node.send_json(Method::PATCH, "/api/routes/r1", &json!({"name": "renamed"}))
            .await
            .0,
        200
    );
    node.kill_hard();

    let node = Node::start_in(dir.path(), &[]);
    assert_eq!(node.get_json("/api/routes/r2").await.0, 200);
    assert_eq!(node.get_json("/api/routes/r1").await.1["name"], "renamed");
}

#[tokio::test]
async fn inmemory_storage_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir.path(), &["-Dapp.storage=inmemory"]);
    assert_eq!(
        node.send_json(Method::POST, "/api/routes", &route("r1", "a.oto.tools"))
            .await
            .0,
        201
    );
    assert_eq!(node.get_json("/api/infos").await.1["datastore"], "inmemory");
    node.kill_hard();
    let node = Node::start_in(dir.path(), &["-Dapp.storage=inmemory"]);
    assert_eq!(node.get_json("/api/routes/r1").await.0, 404);
}

#[tokio::test]
async fn export_import_round_trip() {
    let (source, _d1) = Node::start(&[]);
    source
        .send_json(
            Method::POST,
            "/api/groups",
            &json!({"id": "team", "name": "Team"}),
        )
        .await;
    source
        .send_json(Method::POST, "/api/routes", &route("r1", "a.oto.tools"))
        .await;
    source
        .send_json(
            Method::POST,
            "/api/apikeys",
            &json!({"clientId": "k1", "authorizedEntities": ["route_r1"]}),
        )
        .await;
    source
        .send_json(
            Method::PATCH,
            "/api/globalconfig",
            &json!({"maintenanceMode": true}),
        )
        .await;
    let (status, export) = source.get_json("/api/otoroshi.json").await;
    assert_eq!(status, 200);
    assert_eq!(export["routes"].as_array().unwrap().len(), 1);
    assert_eq!(export["config"]["maintenanceMode"], true);

    let (target, _d2) = Node::start(&[]);
    target
        .send_json(Method::POST, "/api/routes", &route("stale", "z.oto.tools"))
        .await;
    let mut with_legacy = export.clone();
    with_legacy["serviceDescriptors"] = json!([{"id": "legacy"}]);
    let (status, answer) = target
        .send_json(Method::POST, "/api/otoroshi.json", &with_legacy)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["done"], true);
    assert_eq!(answer["ignored"], json!({"serviceDescriptors": 1}));

    let (_, reexport) = target.get_json("/api/otoroshi.json").await;
    for key in ["routes", "apiKeys", "serviceGroups", "config"] {
        assert_eq!(reexport[key], export[key], "{key}");
    }
    assert_eq!(
        target.get_json("/api/routes/stale").await.0,
        404,
        "an imported kind replaces the old one"
    );
}

#[tokio::test]
async fn a_bad_import_changes_nothing() {
    let (node, _dir) = Node::start(&[]);
    node.send_json(Method::POST, "/api/routes", &route("keep", "a.oto.tools"))
        .await;
    let before = node.get_json("/api/routes").await.1;

    let mut bad_route = route("r9", "b.oto.tools");
    bad_route["backend"]["targets"][0]["port"] = json!(0);
    let doc = json!({"routes": [route("ok", "c.oto.tools"), bad_route]});
    let (status, error) = node
        .send_json(Method::POST, "/api/otoroshi.json", &doc)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        error["fields"][0]["path"],
        "routes[1].backend.targets[0].port"
    );

    let duplicate = json!({"routes": [route("d", "c.oto.tools"), route("d", "d.oto.tools")]});
    assert_eq!(
        node.send_json(Method::POST, "/api/otoroshi.json", &duplicate)
            .await
            .0,
        400
    );

    // An import whose keys include no admin key would lock everyone out.
    let lockout = json!({"apiKeys": [{"clientId": "k"}]});
    let (status, error) = node
        .send_json(Method::POST, "/api/otoroshi.json", &lockout)
        .await;
    assert_eq!(status, 400);
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{error}"
    );

    assert_eq!(node.get_json("/api/routes").await.1, before);
    let (status, _) = json(node.admin(Method::GET, "/api/routes").send().await.unwrap()).await;
    assert_eq!(status, 200, "the admin key still works");
}
