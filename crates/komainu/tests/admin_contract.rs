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

const MANIFEST: &str = "\
apiVersion: proxy.otoroshi.io/v1
kind: Route
metadata:
  name: users-api
spec:
  id: users
  frontend:
    domains:
      - users.oto.tools
  backend:
    targets:
      - hostname: 127.0.0.1
        port: 8081
";

fn yaml(node: &Node, method: Method, path: &str, body: &str) -> reqwest::RequestBuilder {
    node.admin(method, path)
        .header("Content-Type", "application/yaml")
        .body(body.to_string())
}

/// How a CLI applies a manifest: upsert it as YAML, read it back as YAML,
/// list it, delete it.
#[tokio::test]
async fn a_yaml_manifest_is_applied_read_listed_and_deleted() {
    let (node, _dir) = Node::start(&[]);
    let path = "/apis/proxy.otoroshi.io/v1/routes/users";

    let (status, created) = common::json(
        yaml(&node, Method::POST, path, MANIFEST)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "users-api", "metadata.name fills the name");
    assert_eq!(created["frontend"]["domains"], json!(["users.oto.tools"]));
    // Applying the same manifest again replaces.
    let response = yaml(&node, Method::POST, path, MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Read back as YAML when Accept asks for it; the text is YAML, not JSON.
    let response = node
        .admin(Method::GET, path)
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/yaml"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("name: users-api"), "{text}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );

    // Errors too answer in YAML when asked.
    let response = node
        .admin(Method::GET, "/api/routes/missing")
        .header("Accept", "text/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("error: not_found"));

    // Listed, as JSON by default.
    let (_, list) = node.get_json("/apis/any/v1/routes").await;
    assert_eq!(list[0]["id"], "users", "{list}");

    // x-yaml and text/yaml are read too; a plain YAML entity works.
    let response = node
        .admin(Method::POST, "/api/groups")
        .header("Content-Type", "text/yaml; charset=utf-8")
        .body("id: g1\nname: group one\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = node
        .admin(Method::PUT, "/api/groups/g1")
        .header("Content-Type", "application/x-yaml")
        .body("kind: ServiceGroup\nmetadata: {name: renamed}\nspec: {description: d}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(node.get_json("/api/groups/g1").await.1["name"], "renamed");

    // A resource of another kind on this path is refused, naming `kind`.
    let (status, body) = common::json(
        yaml(&node, Method::POST, "/api/groups/g2", MANIFEST)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["path"], "kind", "{body}");

    let response = node.admin(Method::DELETE, path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(node.get_json(path).await.0, 404);
}

#[tokio::test]
async fn yaml_bombs_get_a_bounded_4xx_and_change_nothing() {
    let (node, _dir) = Node::start(&[]);

    // Billion laughs: 9 levels of 9 aliases each, about 400 bytes written
    // and 9^9 strings once expanded.
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let previous = format!("*a{}", i - 1);
        laughs.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [previous.as_str(); 9].join(", ")
        ));
    }
    laughs.push_str("id: bomb\nname: bomb\n");
    let response = yaml(&node, Method::POST, "/api/groups", &laughs)
        .send()
        .await
        .unwrap();
    let (status, body) = common::json(response).await;
    assert!(status == 413 || status == 400, "{status} {body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("YAML"),
        "{body}"
    );

    // Deep nesting.
    let deep = format!("id: deep\nname: {}1{}\n", "[".repeat(200), "]".repeat(200));
    let (status, body) = common::json(
        yaml(&node, Method::POST, "/api/groups", &deep)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Malformed YAML and several documents.
    for bad in [
        "id: [1, 2\n",
        "id: a\n---\nid: b\n",
        "? [a, b]\n: x\n",
        "id: .nan\n",
    ] {
        let (status, body) = common::json(
            yaml(&node, Method::POST, "/api/groups", bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }

    let (_, groups) = node.get_json("/api/groups").await;
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["id"] != "bomb" && g["id"] != "deep"),
        "{groups}"
    );
}

#[tokio::test]
async fn count_list_parameters_and_paging_headers() {
    let (node, _dir) = Node::start(&[]);
    for (id, name, description) in [
        ("kt1", "Alpha", "first"),
        ("kt2", "beta", "second"),
        ("kt3", "Gamma", "third"),
        ("kt4", "alphabet", "fourth"),
    ] {
        let (status, _) = node
            .send_json(
                Method::POST,
                "/api/groups",
                &json!({"id": id, "name": name, "description": description}),
            )
            .await;
        assert_eq!(status, 201);
    }

    // The node's own groups (the default one) are counted too.
    let (_, all) = node.get_json("/api/groups").await;
    let total = all.as_array().unwrap().len();
    assert!(total >= 4, "{all}");
    for path in [
        "/api/groups/_count",
        "/apis/organize.otoroshi.io/v1/service-groups/_count",
        "/apis/any/v1/service-groups/_count",
    ] {
        let (status, count) = node.get_json(path).await;
        assert_eq!(
            (status, count.clone()),
            (200, json!({"count": total})),
            "{path}"
        );
    }
    let (_, count) = node
        .get_json("/api/groups/_count?filtered=name:ALPHA")
        .await;
    assert_eq!(count, json!({"count": 2}));

    // filtered (case-insensitive contains, | alternatives), sorted
    // (true: descending), fields (projection), paging headers.
    let response = node
        .admin(
            Method::GET,
            "/api/groups?filtered=name:alp|gam&sorted=name:true&fields=id,name&page=1&pageSize=2",
        )
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let (status, page) = common::json(response).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page,
        json!([{"id": "kt3", "name": "Gamma"}, {"id": "kt4", "name": "alphabet"}])
    );
    let header = |name: &str| headers[name].to_str().unwrap().to_string();
    assert_eq!(header("x-count"), "3");
    assert_eq!(header("x-offset"), "0");
    assert_eq!(header("x-page"), "1");
    assert_eq!(header("x-page-size"), "2");
    assert_eq!(header("x-pages"), "2");

    let response = node
        .admin(
            Method::GET,
            "/apis/any/v1/service-groups?filtered=id:kt&sorted=name&fields=name&page=2&pageSize=3",
        )
        .send()
        .await
        .unwrap();
    let pages = response.headers()["x-pages"].to_str().unwrap().to_string();
    let offset = response.headers()["x-offset"].to_str().unwrap().to_string();
    let (_, page) = common::json(response).await;
    assert_eq!(page, json!([{"name": "Gamma"}]));
    assert_eq!((pages.as_str(), offset.as_str()), ("2", "3"));

    // Bounded: bad or oversized parameters are 400s naming them.
    for query in [
        "filtered=nocolon".to_string(),
        "sorted=name:sideways".to_string(),
        format!("fields={}", "a,".repeat(40)),
        format!("fields={}", "a.".repeat(20) + "a"),
        format!("filtered=name:{}", "x".repeat(3000)),
    ] {
        let (status, body) = node.get_json(&format!("/api/groups?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let name = query.split('=').next().unwrap();
        assert!(
            body["error_description"].as_str().unwrap().contains(name),
            "{body}"
        );
    }

    // All of it is documented.
    let (_, doc) = node.get_json("/api/openapi.json").await;
    let list = &doc["paths"]["/apis/any/v1/service-groups"]["get"];
    for name in ["filtered", "sorted", "fields", "page", "pageSize"] {
        assert!(
            list["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == name),
            "{name}"
        );
    }
    assert!(list["responses"]["200"]["headers"]["X-Pages"].is_object());
    assert!(doc["paths"]["/api/groups/_count"]["get"].is_object());
    let upsert = &doc["paths"]["/apis/any/v1/routes/{id}"]["post"];
    assert!(upsert["responses"]["201"].is_object() && upsert["responses"]["200"].is_object());
    assert!(upsert["requestBody"]["content"]["application/yaml"].is_object());
}

#[tokio::test]
async fn the_api_key_kind_is_apikey_and_both_spellings_are_read() {
    let (node, _dir) = Node::start(&[]);
    let (_, entities) = node.get_json("/apis/entities").await;
    let kinds: Vec<_> = entities["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"Apikey".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"ApiKey".to_string()), "{kinds:?}");

    for (id, kind) in [("k1", "Apikey"), ("k2", "ApiKey")] {
        let manifest = format!(
            "apiVersion: apim.otoroshi.io/v1\nkind: {kind}\nmetadata:\n  name: key {id}\nspec:\n  clientSecret: secret-{id}\n  authorizedEntities: [group_default]\n"
        );
        let path = format!("/apis/any/v1/apikeys/{id}");
        let (status, created) = common::json(
            yaml(&node, Method::POST, &path, &manifest)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201, "{kind}: {created}");
        assert_eq!(created["clientId"], id);
        assert_eq!(created["clientName"], format!("key {id}"));
    }
}
