//! Otoroshi's admin API contract as its clients use it: upsert by POST,
//! the `any` group, YAML and Kubernetes-style bodies, list parameters and
//! headers, `_count`, the `Apikey` kind name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Node, route};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn post_on_an_item_path_creates_then_replaces() {
    let (node, _dir) = Node::start(&[]);
    let path = "/apis/proxy.otoroshi.io/v1/routes/up1";

    let (status, created) = node
        .send_json(Method::POST, path, &route("up1", "a.oto.tools"))
        .await;
    assert_eq!(status, 201, "{created}");

    let mut changed = route("up1", "b.oto.tools");
    changed.as_object_mut().unwrap().remove("id");
    let (status, replaced) = node.send_json(Method::POST, path, &changed).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], "up1");
    assert_eq!(
        node.get_json("/api/routes/up1").await.1["frontend"]["domains"],
        json!(["b.oto.tools"])
    );

    // A body naming another id than the path's is refused and changes nothing.
    let (status, body) = node
        .send_json(Method::POST, path, &route("other", "c.oto.tools"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(node.get_json("/api/routes/other").await.0, 404);

    // Legacy item paths upsert too; an invalid body is a 400 naming the field.
    let (status, _) = node
        .send_json(Method::POST, "/api/groups/g1", &json!({"name": "one"}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = node
        .send_json(Method::POST, "/api/groups/g1", &json!({"name": 12}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(node.get_json("/api/groups/g1").await.1["name"], "one");
}

#[tokio::test]
async fn the_group_any_serves_every_generic_path() {
    let (node, _dir) = Node::start(&[]);
    let (status, _) = node
        .send_json(
            Method::POST,
            "/apis/any/v1/routes",
            &route("r1", "a.oto.tools"),
        )
        .await;
    assert_eq!(status, 201);
    let (status, list) = node.get_json("/apis/any/v1/routes").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(node.get_json("/apis/any/v1/routes/r1").await.0, 200);
    assert_eq!(node.get_json("/apis/any/v1/routes/_template").await.0, 200);
    let (status, _) = node
        .send_json(
            Method::POST,
            "/apis/any/v1/service-groups/g1",
            &json!({"name": "g"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, deleted) = common::json(
        node.admin(Method::DELETE, "/apis/any/v1/routes/r1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, deleted), (200, json!({"deleted": true})));

    // An unknown plural under `any` is still named as an unknown kind.
    let (status, body) = node.get_json("/apis/any/v1/nopes").await;
    assert_eq!(status, 404);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown kind"),
        "{body}"
    );
}
