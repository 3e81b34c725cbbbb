//! The descriptor → route conversion, case by case.

#![allow(clippy::unwrap_used, clippy::panic)]

use model::normalize::decode_value;
use serde_json::{Value, json};

use super::convert::{Conversion, convert};

fn descriptor(extra: Value) -> Conversion {
    let mut sd = json!({
        "id": "svc", "name": "svc", "env": "prod", "domain": "oto.tools", "subdomain": "api",
        "targets": [{"host": "backend.oto.tools:8080", "scheme": "http"}],
        "forceHttps": false, "enforceSecureCommunication": false, "sendInfoToken": false,
        "sendOtoroshiHeadersBack": false, "overrideHost": false,
    });
    for (key, value) in extra.as_object().unwrap() {
        sd[key] = value.clone();
    }
    convert(&decode_value(sd).unwrap())
}

fn route(extra: Value) -> Value {
    match descriptor(extra) {
        Conversion::Route { route, .. } => route,
        Conversion::Refused(reasons) => panic!("refused: {reasons:?}"),
    }
}

fn refused(extra: Value) -> String {
    match descriptor(extra) {
        Conversion::Refused(reasons) => reasons.join("; "),
        Conversion::Route { route, .. } => panic!("converted: {route}"),
    }
}

/// The `ApikeyCalls` instance of a route, if any.
fn apikey(route: &Value) -> Option<Value> {
    route["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plugin"] == "cp:otoroshi.next.plugins.ApikeyCalls")
        .cloned()
}

#[test]
fn domains_follow_otoroshis_legacy_host_and_paths() {
    let domains = |extra| route(extra)["frontend"]["domains"].clone();
    assert_eq!(domains(json!({})), json!(["api.oto.tools/"]));
    assert_eq!(
        domains(json!({"env": "dev"})),
        json!(["api.dev.oto.tools/"])
    );
    assert_eq!(
        domains(json!({"subdomain": "", "env": "prod"})),
        json!(["prod.oto.tools/"])
    );
    assert_eq!(
        domains(json!({"matchingRoot": "/v2"})),
        json!(["api.oto.tools/v2"])
    );
    assert_eq!(
        domains(
            json!({"hosts": ["a.oto.tools", "b.oto.tools"], "paths": ["/x"], "handleLegacyDomain": false})
        ),
        json!(["a.oto.tools/x", "b.oto.tools/x"])
    );
}

#[test]
fn targets_take_the_port_from_the_host_or_the_scheme() {
    let r = route(json!({"targets": [
        {"host": "a.oto.tools", "scheme": "https"},
        {"host": "b.oto.tools:9000", "scheme": "http", "weight": 3, "backup": true}
    ]}));
    let targets = &r["backend"]["targets"];
    assert_eq!(
        (targets[0]["port"].clone(), targets[0]["tls"].clone()),
        (json!(443), json!(true))
    );
    assert_eq!(
        (
            targets[1]["port"].clone(),
            targets[1]["weight"].clone(),
            targets[1]["backup"].clone()
        ),
        (json!(9000), json!(3), json!(true))
    );
    assert!(refused(json!({"targets": [{"host": "a:http"}]})).contains("targets[0]"));
    assert!(refused(json!({"targets": [{"host": "a:1", "scheme": "tcp"}]})).contains("scheme"));
}

#[test]
fn api_key_patterns_become_include_and_exclude() {
    let all_private = apikey(&route(json!({}))).unwrap();
    assert_eq!(
        (
            all_private["include"].clone(),
            all_private["exclude"].clone()
        ),
        (json!([]), json!([]))
    );
    assert!(apikey(&route(json!({"publicPatterns": ["/.*"]}))).is_none());
    let some_public = apikey(&route(json!({"publicPatterns": ["/docs/.*"]}))).unwrap();
    assert_eq!(some_public["exclude"], json!(["/docs/.*"]));
    let some_private = apikey(&route(
        json!({"publicPatterns": ["/.*"], "privatePatterns": ["/admin/.*"]}),
    ))
    .unwrap();
    assert_eq!(
        (
            some_private["include"].clone(),
            some_private["exclude"].clone()
        ),
        (json!(["/admin/.*"]), json!([]))
    );
    assert!(
        refused(json!({"publicPatterns": ["/docs/.*"], "privatePatterns": ["/docs/admin/.*"]}))
            .contains("privatePatterns")
    );
}

#[test]
fn api_key_constraints_map_or_refuse() {
    let config = apikey(&route(json!({"apiKeyConstraints": {
        "basicAuth": {"enabled": false}, "clientIdAuth": {"enabled": true}
    }})))
    .unwrap()["config"]
        .clone();
    assert_eq!(config["extractors"]["basic"]["enabled"], false);
    assert_eq!(config["extractors"]["client_id"]["enabled"], true);
    assert_eq!(config["extractors"]["jwt"]["enabled"], true);
    assert!(
        refused(
            json!({"apiKeyConstraints": {"customHeadersAuth": {"clientIdHeaderName": "X-Id"}}})
        )
        .contains("clientIdHeaderName")
    );
    assert!(
        refused(json!({"apiKeyConstraints": {"routing": {"oneTagIn": ["gold"]}}}))
            .contains("routing")
    );
}

#[test]
fn guards_komainu_cannot_run_refuse_the_descriptor() {
    for (extra, word) in [
        (
            json!({"privateApp": true, "authConfigRef": "auth"}),
            "privateApp",
        ),
        (
            json!({"jwtVerifier": {"type": "ref", "enabled": true, "ids": ["v"]}}),
            "jwtVerifier",
        ),
        (json!({"restrictions": {"enabled": true}}), "restrictions"),
        (
            json!({"clientValidatorRef": "validator"}),
            "clientValidatorRef",
        ),
        (json!({"tcpUdpTunneling": true}), "tcpUdpTunneling"),
        (
            json!({"plugins": {"enabled": true, "refs": ["cp:x"]}}),
            "scripts",
        ),
        (json!({"transformerRefs": ["cp:x"]}), "transformerRefs"),
    ] {
        assert!(refused(extra.clone()).contains(word), "{extra}");
    }
}

#[test]
fn backend_facing_features_stay_as_disabled_plugins_with_a_note() {
    let Conversion::Route { route, notes } = descriptor(json!({
        "enforceSecureCommunication": true, "sendStateChallenge": true, "sendInfoToken": true,
        "canary": {"enabled": true}, "publicPatterns": ["/.*"],
    })) else {
        panic!("refused")
    };
    let disabled: Vec<&str> = route["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == false)
        .map(|p| p["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(
        disabled,
        [
            "cp:otoroshi.next.plugins.OtoroshiChallenge",
            "cp:otoroshi.next.plugins.CanaryMode",
            "cp:otoroshi.next.plugins.OtoroshiInfos"
        ]
    );
    assert_eq!(
        notes.len(),
        4,
        "three plugins and the public paths: {notes:?}"
    );
}
