//! A route's plugins as an Otoroshi export carries them survive an import
//! and an export unchanged, to the byte: same keys, same order, the fields
//! komainu does not read (`debug`, `bound_listeners`, `plugin_index`, config
//! keys it ignores) included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Node;
use reqwest::Method;
use serde_json::{Value, json};

/// The `plugins` array of a route as Otoroshi writes it, as text: parsed
/// with key order kept (serde_json's `preserve_order`, on in the workspace).
const PLUGINS: &str = r#"[
  {"enabled":true,"debug":false,"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","include":[],"exclude":["/public/.*"],
   "config":{"extractors":{"basic":{"enabled":true,"header_name":null,"query_name":null},
     "custom_headers":{"enabled":true,"client_id_header_name":null,"client_secret_header_name":null},
     "client_id":{"enabled":false,"header_name":null,"query_name":null},
     "jwt":{"enabled":true,"secret_signed":true,"keypair_signed":true,"include_request_attrs":false,"max_jwt_lifespan_sec":null,"header_name":null,"query_name":null,"cookie_name":null},
     "oto_bearer":{"enabled":true,"header_name":null,"query_name":null,"cookie_name":null}},
     "routing":{"enabled":false},"validate":true,"mandatory":true,"pass_with_user":false,"wipe_backend_request":true,"update_quotas":true},
   "bound_listeners":[],"plugin_index":{"validate_access":0}},
  {"enabled":true,"debug":true,"plugin":"cp:otoroshi.next.plugins.Cors","include":[],"exclude":[],
   "config":{"allow_origin":"https://app.oto.tools","expose_headers":["X-Total"],"allow_headers":["Authorization"],"allow_methods":["GET","POST"],"excluded_patterns":[],"max_age":600,"allow_credentials":true},
   "bound_listeners":[],"plugin_index":{"pre_route":0,"transform_response":1}},
  {"enabled":true,"debug":false,"plugin":"cp:otoroshi.next.plugins.AdditionalHeadersIn","include":[],"exclude":[],
   "config":{"headers":{"X-From":"otoroshi","X-Route":"imported"}},
   "bound_listeners":[],"plugin_index":{"transform_request":2}},
  {"enabled":true,"debug":false,"plugin":"cp:otoroshi.next.plugins.IpAddressAllowedList","include":["/admin/.*","/ops"],"exclude":["/admin/health"],
   "config":{"addresses":["10.0.0.0/8","192.168.1.*","127.0.0.1"]},
   "bound_listeners":[],"plugin_index":{"validate_access":1}},
  {"enabled":false,"debug":false,"plugin":"cp:otoroshi.next.plugins.JwtVerification","include":[],"exclude":[],
   "config":{"verifiers":["jwt_verifier_1"],"fail_if_absent":true},
   "bound_listeners":[],"plugin_index":{"validate_access":2}}
]"#;

/// A route in the shape an Otoroshi export holds it, with `plugins`.
fn exported_route(plugins: Value) -> Value {
    json!({
        "_loc": {"tenant": "default", "teams": ["default"]},
        "id": "route_imported",
        "name": "imported",
        "description": "from an Otoroshi export",
        "tags": [],
        "metadata": {},
        "enabled": true,
        "debug_flow": false,
        "export_reporting": false,
        "capture": false,
        "groups": ["default"],
        "bound_listeners": [],
        "frontend": {"domains": ["imported.oto.tools"], "strip_path": true, "exact": false, "headers": {}, "query": {}, "methods": []},
        "backend": {"targets": [{"id": "target_1", "hostname": "127.0.0.1", "port": 8081, "tls": false, "weight": 1, "backup": false}],
                    "root": "/", "rewrite": false, "load_balancing": {"type": "RoundRobin"}},
        "backend_ref": null,
        "plugins": plugins,
    })
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

async fn import(node: &Node, routes: Value) -> (u16, Value) {
    let doc = json!({"label": "Otoroshi export", "dateRaw": 0, "routes": routes});
    node.send_json(Method::POST, "/api/otoroshi.json", &doc)
        .await
}

#[tokio::test]
async fn plugins_round_trip_byte_for_byte_through_import_and_export() {
    let (node, _dir) = Node::start(&[]);
    let plugins: Value = serde_json::from_str(PLUGINS).unwrap();
    let sent = compact(&plugins);
    // The fixture is what the test claims: Otoroshi's key order.
    assert!(
        sent.starts_with(r#"[{"enabled":true,"debug":false,"plugin":"#),
        "{sent}"
    );

    let (status, answer) = import(&node, json!([exported_route(plugins)])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["imported"]["routes"], 1, "{answer}");

    let (status, export) = node.get_json("/api/otoroshi.json").await;
    assert_eq!(status, 200);
    let routes = export["routes"].as_array().unwrap();
    let route = routes
        .iter()
        .find(|r| r["id"] == "route_imported")
        .unwrap_or_else(|| panic!("{export}"));
    assert_eq!(compact(&route["plugins"]), sent);

    // The single-route read says the same.
    let (_, read) = node.get_json("/api/routes/route_imported").await;
    assert_eq!(compact(&read["plugins"]), sent);

    // And the export imported again is still the same.
    let (status, answer) = import(&node, export["routes"].clone()).await;
    assert_eq!(status, 200, "{answer}");
    let (_, again) = node.get_json("/api/routes/route_imported").await;
    assert_eq!(compact(&again["plugins"]), sent);
}

#[tokio::test]
async fn an_enabled_unknown_plugin_is_refused_by_name_and_imports_nothing() {
    let (node, _dir) = Node::start(&[]);
    let mut plugins: Value = serde_json::from_str(PLUGINS).unwrap();
    plugins[4]["enabled"] = json!(true);

    let (status, error) = import(&node, json!([exported_route(plugins)])).await;
    assert_eq!(status, 400, "{error}");
    let fields = error["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{error}");
    assert_eq!(fields[0]["path"], "routes[0].plugins[4].plugin", "{error}");
    let message = fields[0]["message"].as_str().unwrap();
    assert!(
        message.contains("cp:otoroshi.next.plugins.JwtVerification"),
        "{message}"
    );
    let (status, _) = node.get_json("/api/routes/route_imported").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_disabled_unknown_plugin_is_kept_as_written() {
    // What the code does: a disabled plugin is never run, so komainu keeps
    // it (for the round trip) without knowing it.
    let (node, _dir) = Node::start(&[]);
    let plugins: Value = serde_json::from_str(PLUGINS).unwrap();
    let unknown = plugins[4].clone();
    assert_eq!(unknown["enabled"], false);

    let (status, answer) = import(&node, json!([exported_route(json!([unknown]))])).await;
    assert_eq!(status, 200, "{answer}");
    let (_, read) = node.get_json("/api/routes/route_imported").await;
    assert_eq!(compact(&read["plugins"][0]), compact(&unknown));
}
