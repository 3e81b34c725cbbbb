//! `_bulk` (NDJSON writes, all or nothing), `_schema` (generated JSON
//! schemas) and NDJSON lists, against a real node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ADMIN_ID, ADMIN_SECRET, Node, route};
use reqwest::Method;
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";

/// An answer: status, content type, and its JSON lines (one value for a
/// JSON answer).
struct Answer {
    status: u16,
    content_type: String,
    lines: Vec<Value>,
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    Answer {
        status,
        content_type,
        lines,
    }
}

fn ndjson_body(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn bulk(node: &Node, method: Method, path: &str, lines: &[Value]) -> Answer {
    let request = node
        .admin(method, path)
        .header("Content-Type", NDJSON)
        .body(ndjson_body(lines));
    read(request.send().await.unwrap()).await
}

async fn count(node: &Node, path: &str) -> u64 {
    let (status, body) = node.get_json(&format!("{path}/_count")).await;
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

fn statuses(answer: &Answer) -> Vec<u64> {
    answer
        .lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn each_method_writes_every_line_on_generic_and_legacy_paths() {
    let (node, _dir) = Node::start(&[]);
    let generic = "/apis/proxy.otoroshi.io/v1/routes";

    let created = bulk(
        &node,
        Method::POST,
        &format!("{generic}/_bulk"),
        &[route("b1", "b1.oto.tools"), route("b2", "b2.oto.tools")],
    )
    .await;
    assert_eq!(created.status, 200, "{:?}", created.lines);
    assert!(created.content_type.starts_with(NDJSON));
    assert_eq!(
        created.lines,
        vec![
            json!({"status": 201, "created": true, "id": "b1", "id_field": "id"}),
            json!({"status": 201, "created": true, "id": "b2", "id_field": "id"}),
        ]
    );
    // Published before the answer: the proxy routes the new host at once
    // (to a closed port: not 404, which is "no route").
    assert_ne!(node.status_of("b1.oto.tools", "/").await, 404);

    let replaced = bulk(
        &node,
        Method::PUT,
        "/api/routes/_bulk",
        &[route("b1", "c1.oto.tools"), route("b2", "c2.oto.tools")],
    )
    .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.lines);
    assert_eq!(
        replaced.lines[1],
        json!({"status": 200, "updated": true, "id": "b2", "id_field": "id"})
    );
    assert_eq!(
        node.get_json("/api/routes/b2").await.1["frontend"]["domains"],
        json!(["c2.oto.tools"])
    );

    let patched = bulk(
        &node,
        Method::PATCH,
        "/apis/any/v1/routes/_bulk",
        &[
            json!({"id": "b1", "patch": [{"op": "replace", "path": "/name", "value": "json patch"}]}),
            json!({"id": "b2", "patch": {"name": "merge patch"}}),
        ],
    )
    .await;
    assert_eq!(statuses(&patched), vec![200, 200], "{:?}", patched.lines);
    assert_eq!(
        node.get_json("/api/routes/b1").await.1["name"],
        "json patch"
    );
    assert_eq!(
        node.get_json("/api/routes/b2").await.1["name"],
        "merge patch"
    );

    let deleted = bulk(
        &node,
        Method::DELETE,
        "/api/routes/_bulk",
        &[json!({"id": "b1"}), json!({"id": "b2"})],
    )
    .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.lines);
    assert_eq!(
        deleted.lines[0],
        json!({"status": 200, "deleted": true, "id": "b1", "id_field": "id"})
    );
    assert_eq!(count(&node, generic).await, 0);
    assert_eq!(node.status_of("c1.oto.tools", "/").await, 404);

    // API keys answer with their id field, clientId, which lines may use.
    let keys = bulk(
        &node,
        Method::POST,
        "/api/apikeys/_bulk",
        &[json!({"clientId": "k1", "clientName": "one", "authorizedEntities": ["group_default"]})],
    )
    .await;
    assert_eq!(keys.lines[0]["id_field"], "clientId", "{:?}", keys.lines);
    let gone = bulk(
        &node,
        Method::DELETE,
        "/apis/apim.otoroshi.io/v1/apikeys/_bulk",
        &[json!({"clientId": "k1"})],
    )
    .await;
    assert_eq!(statuses(&gone), vec![200], "{:?}", gone.lines);
}

#[tokio::test]
async fn one_bad_line_writes_nothing_and_every_line_says_why() {
    let (node, _dir) = Node::start(&[]);
    let body = [
        ndjson_body(&[route("m1", "m1.oto.tools")]),
        "{not json\n".to_string(),
        ndjson_body(&[
            json!({"id": "m2", "frontend": {"domains": ["m2.oto.tools"]}}),
            route("m3", "m3.oto.tools"),
            // The first line creates m1: this one finds it there.
            route("m1", "again.oto.tools"),
        ]),
    ]
    .concat();
    let answer = read(
        node.admin(Method::POST, "/api/routes/_bulk")
            .header("Content-Type", NDJSON)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.content_type.starts_with(NDJSON));
    assert_eq!(
        statuses(&answer),
        vec![424, 400, 400, 424, 409],
        "{:?}",
        answer.lines
    );
    assert_eq!(answer.lines[0]["error"], "not_written");
    assert!(
        answer.lines[0]["error_description"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{:?}",
        answer.lines[0]
    );
    assert_eq!(answer.lines[1]["error"], "bad_request");
    // Validated as a single write: the field is named.
    assert_eq!(answer.lines[2]["error"], "validation_failed");
    assert_eq!(answer.lines[2]["id"], "m2");
    let why = answer.lines[2]["fields"][0]["message"].as_str().unwrap();
    assert!(why.contains("backend"), "{why}");
    assert_eq!(answer.lines[4]["error"], "conflict");
    assert_eq!(count(&node, "/api/routes").await, 0);

    // Lines see the lines before them; a missing id is a 404 line.
    node.send_json(Method::POST, "/api/routes", &route("p1", "p1.oto.tools"))
        .await;
    let patched = bulk(
        &node,
        Method::PATCH,
        "/api/routes/_bulk",
        &[
            json!({"id": "p1", "patch": {"name": "first"}}),
            json!({"id": "nope", "patch": {"name": "x"}}),
            json!({"id": "p1", "patch": [{"op": "add", "path": "/frontend/domains/-", "value": "x.oto.tools"}]}),
            json!({"id": "p1"}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&patched),
        vec![424, 404, 424, 400],
        "{:?}",
        patched.lines
    );
    assert_eq!(node.get_json("/api/routes/p1").await.1["name"], "route p1");
    let deleted = bulk(
        &node,
        Method::DELETE,
        "/api/routes/_bulk",
        &[json!({"id": "p1"}), json!({"id": "p1"})],
    )
    .await;
    assert_eq!(statuses(&deleted), vec![424, 404], "{:?}", deleted.lines);
    assert_eq!(node.get_json("/api/routes/p1").await.0, 200);
}

#[tokio::test]
async fn a_bulk_must_be_ndjson() {
    let (node, _dir) = Node::start(&[]);
    let answer = read(
        node.admin(Method::POST, "/api/routes/_bulk")
            .json(&route("j1", "j1.oto.tools"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.lines[0]["error"], "bad_content_type",
        "{:?}",
        answer.lines
    );
    assert_eq!(count(&node, "/api/routes").await, 0);

    // DELETE may name the type in X-Content-Type, as Otoroshi allows.
    node.send_json(Method::POST, "/api/routes", &route("j2", "j2.oto.tools"))
        .await;
    let answer = read(
        node.admin(Method::DELETE, "/api/routes/_bulk")
            .header("X-Content-Type", NDJSON)
            .body("{\"id\": \"j2\"}\n")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(statuses(&answer), vec![200], "{:?}", answer.lines);
}

#[tokio::test]
async fn over_the_bounds_nothing_is_written() {
    let (node, _dir) = Node::start(&[]);
    let post = |body: String| {
        node.admin(Method::POST, "/api/groups/_bulk")
            .header("Content-Type", NDJSON)
            .body(body)
    };
    // 1001 lines: the limit is 1000.
    let many: String = (0..1001)
        .map(|i| format!("{{\"id\": \"g{i}\", \"name\": \"g{i}\"}}\n"))
        .collect();
    let answer = read(post(many).send().await.unwrap()).await;
    assert_eq!(answer.status, 413, "{:?}", answer.lines);
    assert_eq!(answer.lines[0]["error"], "payload_too_large");
    assert!(
        answer.lines[0]["error_description"]
            .as_str()
            .unwrap()
            .contains("1000"),
        "{:?}",
        answer.lines
    );
    // A line over 1 MiB, after a valid one.
    let long = format!(
        "{{\"id\": \"ok\", \"name\": \"ok\"}}\n{{\"id\": \"big\", \"name\": \"{}\"}}\n",
        "x".repeat(1 << 20)
    );
    let answer = read(post(long).send().await.unwrap()).await;
    assert_eq!(answer.status, 413, "{:?}", answer.lines);
    // A body over admin.maxBodySize (small here, so that the refused body
    // fits the socket buffers and the answer is read back reliably).
    let (small, _small_dir) = Node::start(&["-Dadmin.maxBodySize=65536"]);
    let huge: String = (0..8)
        .map(|i| {
            format!(
                "{{\"id\": \"h{i}\", \"name\": \"{}\"}}\n",
                "y".repeat(10_000)
            )
        })
        .collect();
    let answer = read(
        small
            .admin(Method::POST, "/api/groups/_bulk")
            .header("Content-Type", NDJSON)
            // The node answers before reading the body and closes the
            // connection: keep it out of the client's pool.
            .header("Connection", "close")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 413, "{:?}", answer.lines);
    assert_eq!(small.get_json("/api/groups/h0").await.0, 404);
    for id in ["g0", "ok"] {
        assert_eq!(node.get_json(&format!("/api/groups/{id}")).await.0, 404);
    }
    // Exactly at the line limit is fine.
    let enough: String = (0..1000)
        .map(|i| format!("{{\"id\": \"g{i}\", \"name\": \"g{i}\"}}\n"))
        .collect();
    let answer = read(post(enough).send().await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.lines.len(), 1000);
    assert_eq!(node.get_json("/api/groups/g999").await.0, 200);
}

#[tokio::test]
async fn read_only_keys_and_the_last_admin_key() {
    let (node, _dir) = Node::start(&[]);
    let reader = json!({"clientId": "ro", "clientSecret": "ro-secret", "readOnly": true,
        "authorizedEntities": ["group_admin-api-group"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &reader)
            .await
            .0,
        201
    );
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let answer = read(
            node.anonymous(method.clone(), "/api/routes/_bulk")
                .basic_auth("ro", Some("ro-secret"))
                .header("Content-Type", NDJSON)
                .body(ndjson_body(&[route("ro1", "ro1.oto.tools")]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 403, "{method}: {:?}", answer.lines);
    }
    assert_eq!(count(&node, "/api/routes").await, 0);

    // Disabling the only read-write admin key is refused, whole.
    let answer = bulk(
        &node,
        Method::PATCH,
        "/api/apikeys/_bulk",
        &[
            json!({"id": "ro", "patch": {"clientName": "reader"}}),
            json!({"id": ADMIN_ID, "patch": {"enabled": false}}),
        ],
    )
    .await;
    assert_eq!(statuses(&answer), vec![424, 409], "{:?}", answer.lines);
    assert_eq!(node.get_json("/api/apikeys/ro").await.1["clientName"], "ro");
    // Once another admin key exists, the first may go.
    let second = json!({"clientId": "admin2", "clientSecret": "admin2-secret",
        "authorizedEntities": ["group_admin-api-group"]});
    let answer = bulk(&node, Method::POST, "/api/apikeys/_bulk", &[second]).await;
    assert_eq!(statuses(&answer), vec![201]);
    let answer = read(
        node.anonymous(Method::DELETE, "/api/apikeys/_bulk")
            .basic_auth("admin2", Some("admin2-secret"))
            .header("Content-Type", NDJSON)
            .body(ndjson_body(&[json!({"id": ADMIN_ID})]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(statuses(&answer), vec![200], "{:?}", answer.lines);
    let old = node
        .anonymous(Method::GET, "/api/routes")
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
}

/// Compiles `schema` (checking it against its meta-schema) and validates
/// `instance` with it.
fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:komainu:schema", schema.clone())
        .map_err(|e| e.to_string())?;
    let index = compiler
        .compile("urn:komainu:schema", &mut schemas)
        .unwrap_or_else(|e| panic!("not a valid JSON schema: {e}: {schema}"));
    schemas.validate(instance, index).map_err(|e| e.to_string())
}

#[tokio::test]
async fn each_kind_has_a_generated_schema_that_accepts_what_the_api_returns() {
    let (node, _dir) = Node::start(&[]);
    node.send_json(Method::POST, "/api/routes", &route("s1", "s1.oto.tools"))
        .await;
    let (status, cert) = node
        .send_json(
            Method::POST,
            "/api/pki/certs",
            &json!({"id": "c1", "hosts": ["c1.oto.tools"]}),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    let kinds = [
        ("proxy.otoroshi.io", "routes", "/api/routes/s1", "Route"),
        (
            "apim.otoroshi.io",
            "apikeys",
            &format!("/api/apikeys/{ADMIN_ID}"),
            "Apikey",
        ),
        (
            "organize.otoroshi.io",
            "service-groups",
            "/api/groups/default",
            "ServiceGroup",
        ),
        (
            "config.otoroshi.io",
            "global-configs",
            "/api/globalconfig",
            "GlobalConfig",
        ),
        (
            "pki.otoroshi.io",
            "certificates",
            "/api/certificates/c1",
            "Certificate",
        ),
    ];
    for (group, plural, entity_path, title) in kinds {
        for group in [group, "any"] {
            let (status, schema) = node
                .get_json(&format!("/apis/{group}/v1/{plural}/_schema"))
                .await;
            assert_eq!(status, 200, "{plural}: {schema}");
            assert_eq!(schema["title"], title);
            let (status, entity) = node.get_json(entity_path).await;
            assert_eq!(status, 200, "{entity}");
            validate(&schema, &entity).unwrap_or_else(|e| panic!("{plural}: {e}\n{entity}"));
            assert!(validate(&schema, &json!([])).is_err());
        }
    }

    // The route schema names its required fields, and agrees with the API.
    let (_, schema) = node
        .get_json("/apis/proxy.otoroshi.io/v1/routes/_schema")
        .await;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"frontend") && required.contains(&"backend"),
        "{schema}"
    );
    let mut partial = route("s2", "s2.oto.tools");
    partial.as_object_mut().unwrap().remove("backend");
    assert!(validate(&schema, &partial).is_err());
    let (status, refused) = node.send_json(Method::POST, "/api/routes", &partial).await;
    assert_eq!(status, 400, "{refused}");
    let wrong_type = json!({"frontend": {"domains": "one"}, "backend": {"targets": []}});
    assert!(validate(&schema, &wrong_type).is_err());
    assert_eq!(
        node.send_json(Method::POST, "/api/routes", &wrong_type)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn lists_answer_ndjson_when_asked() {
    let (node, _dir) = Node::start(&[]);
    for i in 0..3 {
        let group = json!({"id": format!("n{i}"), "name": format!("ndjson {i}")});
        node.send_json(Method::POST, "/api/groups", &group).await;
    }
    for path in [
        "/api/groups?filtered=name:ndjson&pageSize=2&sorted=name",
        "/apis/organize.otoroshi.io/v1/service-groups?filtered=name:ndjson&pageSize=2&sorted=name",
    ] {
        let response = node
            .admin(Method::GET, path)
            .header("Accept", NDJSON)
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let answer = read(response).await;
        assert_eq!(answer.status, 200);
        assert!(
            answer.content_type.starts_with(NDJSON),
            "{}",
            answer.content_type
        );
        let ids: Vec<&str> = answer
            .lines
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["n0", "n1"]);
        assert_eq!(headers["x-count"], "3");
        assert_eq!(headers["x-pages"], "2");
    }
    // JSON first in Accept keeps JSON.
    let response = node
        .admin(Method::GET, "/api/groups")
        .header("Accept", "application/json, application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // Every list does, the admin users' too.
    let answer = read(
        node.admin(Method::GET, "/api/admins/simple")
            .header("Accept", NDJSON)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with(NDJSON),
        "{}",
        answer.content_type
    );

    // A read-only key's NDJSON list hides secrets as its JSON list does.
    let reader = json!({"clientId": "ro", "clientSecret": "ro-secret", "readOnly": true,
        "authorizedEntities": ["group_admin-api-group"]});
    node.send_json(Method::POST, "/api/apikeys", &reader).await;
    let answer = read(
        node.anonymous(Method::GET, "/api/apikeys")
            .basic_auth("ro", Some("ro-secret"))
            .header("Accept", NDJSON)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with(NDJSON));
    assert_eq!(answer.lines.len(), 2);
    for key in &answer.lines {
        assert_ne!(key["clientSecret"], ADMIN_SECRET);
        assert_ne!(key["clientSecret"], "ro-secret");
    }
}
