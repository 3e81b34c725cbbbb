//! A full Otoroshi 16–17 export (`tests/fixtures/otoroshi-export.json`,
//! written by hand from Otoroshi's formats) imported into a real node:
//! service descriptors become routes that proxy real traffic with their
//! API key, headers, CORS, IP lists and maintenance mode; the sections
//! komainu does not run come back unchanged in the export; the export
//! round-trips; malformed sections are refused with their reasons.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ADMIN_ID, ADMIN_SECRET, Node, upstream};
use reqwest::Method;
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/otoroshi-export.json");

/// Sections the fixture carries that komainu keeps without running.
const KEPT: [&str; 15] = [
    "admins",
    "simpleAdmins",
    "errorTemplates",
    "jwtVerifiers",
    "authConfigs",
    "clientValidators",
    "scripts",
    "tcpServices",
    "dataExporters",
    "tenants",
    "teams",
    "routeCompositions",
    "backends",
    "wasmPlugins",
    "drafts",
];

/// The fixture, with the admin key the test node knows and the given
/// descriptors' http targets pointed at real upstreams.
fn fixture(upstreams: &[(&str, &[u16])]) -> Value {
    let mut doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let admin = &mut doc["apiKeys"][0];
    assert_eq!(admin["authorizedEntities"][0], "group_admin-api-group");
    admin["clientId"] = json!(ADMIN_ID);
    admin["clientSecret"] = json!(ADMIN_SECRET);
    for (id, ports) in upstreams {
        let descriptor = doc["serviceDescriptors"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|d| d["id"] == *id)
            .unwrap();
        let mut ports = ports.iter();
        for target in descriptor["targets"].as_array_mut().unwrap() {
            if target["scheme"] == "http" {
                target["host"] = json!(format!("127.0.0.1:{}", ports.next().unwrap()));
            }
        }
    }
    doc
}

async fn import(node: &Node, doc: &Value) -> Value {
    let (status, answer) = node
        .send_json(Method::POST, "/api/otoroshi.json", doc)
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn converted_descriptors_proxy_real_traffic_with_their_rules() {
    let (first, second, partner) = (
        upstream::start("payments-1").await,
        upstream::start("payments-2").await,
        upstream::start("partner").await,
    );
    let catalog = upstream::start("catalog").await;
    let orders = upstream::start("orders-v2").await;
    let (node, _dir) = Node::start(&[]);
    let mut doc = fixture(&[
        ("svc_payments", &[first.port, second.port]),
        ("svc_partner", &[partner.port]),
        ("svc_catalog", &[catalog.port]),
    ]);
    let stored_target = &mut doc["backends"][0]["backend"]["targets"][0];
    stored_target["hostname"] = json!("127.0.0.1");
    stored_target["port"] = json!(orders.port);
    let answer = import(&node, &doc).await;

    assert_eq!(
        ids(&answer["converted"], "route"),
        [
            "svc_catalog",
            "svc_legacy_shop",
            "svc_partner",
            "svc_payments"
        ],
        "{answer}"
    );
    assert_eq!(
        ids(&answer["refused"], "id"),
        ["svc_intranet", "svc_jwt_protected"],
        "{answer}"
    );
    let reasons = answer["refused"].to_string();
    assert!(reasons.contains("privateApp"), "{reasons}");
    assert!(reasons.contains("jwtVerifier"), "{reasons}");
    let payments_notes = answer["converted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["route"] == "svc_payments")
        .unwrap()["notes"]
        .to_string();
    assert!(
        payments_notes.contains("OtoroshiChallenge"),
        "{payments_notes}"
    );
    assert!(payments_notes.contains("healthCheck"), "{payments_notes}");
    assert_eq!(answer["imported"]["apiKeys"], 3, "{answer}");
    assert_eq!(
        answer["kept"]["jwtVerifiers"]["ids"],
        json!(["jwt_verifier_partners"])
    );

    // The converted route, as Otoroshi's converter writes it.
    let (_, route) = node.get_json("/api/routes/svc_payments").await;
    assert_eq!(
        route["frontend"]["domains"],
        json!(["payments.oto.tools/payments"])
    );
    assert_eq!(route["backend"]["targets"].as_array().unwrap().len(), 3);
    assert_eq!(route["backend"]["targets"][2]["tls"], true);
    assert_eq!(route["backend"]["targets"][2]["port"], 443);
    assert_eq!(route["metadata"]["otoroshi-core-legacy"], "true");

    // An API key is required; the key authorized on `service_svc_payments`
    // passes, its secret never reaching the backend.
    let payments = "payments.oto.tools";
    assert_eq!(node.status_of(payments, "/payments/orders").await, 401);
    let response = node
        .through(Method::GET, payments, "/payments/orders")
        .basic_auth("payments-client", Some("payments-client-secret-0123456789"))
        .header("X-Debug", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "payments");
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["path"], "/orders", "strip path: {seen}");
    assert_eq!(seen["headers"]["x-api-version"], "v2", "{seen}");
    assert_eq!(seen["headers"]["x-from"], "otoroshi", "{seen}");
    assert!(seen["headers"].get("x-debug").is_none(), "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    // Both primary targets take traffic.
    for _ in 0..4 {
        node.through(Method::GET, payments, "/payments/x")
            .basic_auth("payments-client", Some("payments-client-secret-0123456789"))
            .send()
            .await
            .unwrap();
    }
    assert!(first.hits() > 0 && second.hits() > 0);
    // A key not authorized on the route is refused.
    let status = node
        .through(Method::GET, payments, "/payments/orders")
        .basic_auth("partner-client", Some("partner-client-secret-0123456789"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);

    // CORS preflight answered from the converted Cors plugin.
    let preflight = node
        .through(Method::OPTIONS, payments, "/payments/orders")
        .header("Origin", "https://shop.oto.tools")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.oto.tools"
    );

    // The IP block list keeps 127.0.0.1 out before the backend is called.
    assert_eq!(node.status_of("catalog.oto.tools", "/items").await, 403);
    assert_eq!(catalog.hits(), 0);

    // Maintenance mode answers without a backend (env preprod in the host).
    assert_eq!(node.status_of("shop.preprod.oto.tools", "/").await, 503);

    // Public patterns: no key there, a key elsewhere; read-only.
    let partner_host = "partner.oto.tools";
    assert_eq!(node.status_of(partner_host, "/v1/public/doc").await, 200);
    assert_eq!(node.status_of(partner_host, "/v1/orders").await, 401);
    let with_id_only = node
        .through(Method::GET, partner_host, "/v1/orders")
        .header("Otoroshi-Client-Id", "partner-client")
        .header("Otoroshi-Client-Secret", "partner-client-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(with_id_only.status(), 200);
    let seen: Value = with_id_only.json().await.unwrap();
    assert_eq!(seen["path"], "/v1/orders", "no strip path: {seen}");
    assert_eq!(seen["headers"]["x-partner"], "unknown", "{seen}");
    let post = node
        .through(Method::POST, partner_host, "/v1/public/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405, "read only");

    // A route on a stored backend runs with that backend inline.
    assert_eq!(
        answer["inlined"],
        json!([{"route": "route_orders_v2", "backend": "backend_orders_v2"}])
    );
    assert_eq!(
        node.served_by("orders-v2.oto.tools", "/").await.as_deref(),
        Some("orders-v2")
    );

    // Refused descriptors are not served.
    assert_eq!(node.status_of("intranet.oto.tools", "/").await, 404);
}

#[tokio::test]
async fn kept_sections_come_back_unchanged_and_the_export_round_trips() {
    let (node, _dir) = Node::start(&[]);
    let doc = fixture(&[]);
    import(&node, &doc).await;
    let (status, first) = node.get_json("/api/otoroshi.json").await;
    assert_eq!(status, 200);

    for section in KEPT {
        assert_eq!(
            compact(&first[section]),
            compact(&doc[section]),
            "{section}"
        );
    }
    assert_eq!(first["extensions"], json!({}));
    // The refused descriptors are kept as they came; the converted ones
    // are routes now.
    let kept: Vec<&Value> = doc["serviceDescriptors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == "svc_intranet" || d["id"] == "svc_jwt_protected")
        .collect();
    assert_eq!(compact(&first["serviceDescriptors"]), compact(&json!(kept)));
    let routes = ids(&first["routes"], "id");
    assert!(routes.contains(&"svc_payments".to_string()), "{routes:?}");
    assert!(routes.contains(&"route_orders".to_string()), "{routes:?}");
    // A key authorized on a descriptor is authorized on its route.
    let (_, key) = node.get_json("/api/apikeys/payments-client").await;
    assert_eq!(key["authorizedEntities"], json!(["route_svc_payments"]));
    // The global config keeps its fields.
    assert_eq!(first["config"]["otoroshiId"], doc["config"]["otoroshiId"]);
    assert_eq!(
        first["config"]["ipFiltering"]["blacklist"],
        json!(["203.0.113.66"])
    );

    // Into a fresh node, and out again: the same document.
    let (fresh, _dir2) = Node::start(&[]);
    let answer = import(&fresh, &first).await;
    assert_eq!(answer["converted"], json!([]), "{answer}");
    let (_, second) = fresh.get_json("/api/otoroshi.json").await;
    let without_date = |mut v: Value| {
        v.as_object_mut().unwrap().remove("dateRaw");
        v
    };
    assert_eq!(without_date(second), without_date(first));
}

#[tokio::test]
async fn malformed_sections_are_refused_with_reasons_and_change_nothing() {
    let (node, _dir) = Node::start(&[]);
    let before = node.get_json("/api/otoroshi.json").await.1;
    let refused = |doc: Value| {
        let node = &node;
        async move {
            let (status, error) = node
                .send_json(Method::POST, "/api/otoroshi.json", &doc)
                .await;
            (status, error)
        }
    };

    let (status, error) = refused(json!({"jwtVerifiers": "oops", "authConfigs": [1]})).await;
    assert_eq!(status, 400, "{error}");
    let fields = error["fields"].as_array().unwrap();
    let paths: Vec<&str> = fields.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["jwtVerifiers", "authConfigs[0]"], "{error}");
    assert!(error.to_string().contains("expected an array"), "{error}");

    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let (status, error) = refused(json!({"scripts": [{"id": "s", "code": deep}]})).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("deeper than"), "{error}");

    let (status, error) = refused(json!({"bad name!": []})).await;
    assert_eq!(status, 400, "{error}");

    let many: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("section{i}"), json!([])))
        .collect();
    let (status, error) = refused(Value::Object(many)).await;
    assert_eq!(status, 413, "{error}");

    // A bad native entity refuses the whole document, kept sections and
    // descriptors included.
    let mut doc = fixture(&[]);
    doc["routes"][0]["backend"]["targets"][0]["port"] = json!(0);
    let (status, error) = refused(doc).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        error["fields"][0]["path"],
        "routes[0].backend.targets[0].port"
    );

    let mut after = node.get_json("/api/otoroshi.json").await.1;
    after["dateRaw"] = before["dateRaw"].clone();
    assert_eq!(after, before, "no refused import changed anything");

    // Descriptors are refused one by one, with their reasons, while the
    // rest imports.
    let good = fixture(&[])["serviceDescriptors"][1].clone();
    let mut bad_port = good.clone();
    bad_port["id"] = json!("svc_bad_port");
    bad_port["targets"][0]["host"] = json!("catalog.backend.oto.tools:http");
    let mut both_patterns = good.clone();
    both_patterns["id"] = json!("svc_both_patterns");
    both_patterns["publicPatterns"] = json!(["/docs/.*"]);
    both_patterns["privatePatterns"] = json!(["/docs/admin/.*"]);
    let mut bad_ip = good.clone();
    bad_ip["id"] = json!("svc_bad_ip");
    bad_ip["ipFiltering"]["whitelist"] = json!(["not-an-ip"]);
    let answer = import(
        &node,
        &json!({"serviceDescriptors": [good, bad_port, both_patterns, bad_ip, {"id": "no_name"}]}),
    )
    .await;
    assert_eq!(
        ids(&answer["converted"], "route"),
        ["svc_catalog"],
        "{answer}"
    );
    let refused = answer["refused"].as_array().unwrap();
    let reason = |id: &str| {
        refused
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not refused: {answer}"))["reasons"]
            .to_string()
    };
    assert!(reason("svc_bad_port").contains("targets[0]"), "{answer}");
    assert!(
        reason("svc_both_patterns").contains("privatePatterns"),
        "{answer}"
    );
    assert!(reason("svc_bad_ip").contains("addresses"), "{answer}");
    assert!(reason("no_name").contains("name"), "{answer}");
    assert_eq!(answer["ignored"]["serviceDescriptors"], 4, "{answer}");
}

#[tokio::test]
async fn read_only_admins_never_read_the_secrets_of_kept_sections() {
    let (node, _dir) = Node::start(&[]);
    import(&node, &fixture(&[])).await;
    let reader = json!({"clientId": "ro", "clientSecret": "ro-secret", "clientName": "reader",
        "readOnly": true, "authorizedEntities": ["group_admin-api-group"]});
    let (status, body) = node.send_json(Method::POST, "/api/apikeys", &reader).await;
    assert_eq!(status, 201, "{body}");

    let export = node
        .anonymous(Method::GET, "/api/otoroshi.json")
        .basic_auth("ro", Some("ro-secret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let export: Value = serde_json::from_str(&export).unwrap();
    // An auth module's client secret, a data exporter's password, an
    // admin's password hash.
    assert_eq!(export["authConfigs"][0]["clientSecret"], "********");
    assert_eq!(export["dataExporters"][0]["config"]["password"], "********");
    assert_eq!(export["simpleAdmins"][0]["password"], "********");
    // A writer reads them as they came.
    let (_, full) = node.get_json("/api/otoroshi.json").await;
    assert_eq!(
        full["dataExporters"][0]["config"]["password"],
        "elastic-pw-1234"
    );
}
