use model::Kind;
use model::normalize::{normalize, template};
use serde_json::json;

fn route(targets: serde_json::Value) -> serde_json::Value {
    json!({"id": "r1", "name": "users", "frontend": {"domains": ["api.oto.tools/users"]}, "backend": {"targets": targets}})
}

fn paths(err: model::ValidationErrors) -> Vec<String> {
    err.0.into_iter().map(|e| e.path).collect()
}

#[test]
fn route_defaults_are_filled_and_unknown_fields_kept() {
    let mut body = route(json!([{"hostname": "users.internal", "port": 8080}]));
    body["debug_flow"] = json!(true);
    body["backend"]["client"] = json!({"retries": 2});
    let n = normalize(Kind::Route, body, None).unwrap();
    assert_eq!(n.id, "r1");
    assert_eq!(n.value["enabled"], json!(true));
    assert_eq!(n.value["groups"], json!(["default"]));
    assert_eq!(n.value["frontend"]["strip_path"], json!(true));
    assert_eq!(n.value["backend"]["root"], json!("/"));
    assert_eq!(
        n.value["backend"]["load_balancing"]["type"],
        json!("RoundRobin")
    );
    assert_eq!(
        n.value["backend"]["targets"][0]["id"],
        json!("users.internal:8080")
    );
    assert_eq!(n.value["debug_flow"], json!(true));
    assert_eq!(n.value["backend"]["client"], json!({"retries": 2}));
}

#[test]
fn type_errors_name_the_field_path() {
    let err = normalize(
        Kind::Route,
        route(json!([{"hostname": "h", "port": "eighty"}])),
        None,
    )
    .unwrap_err();
    assert_eq!(paths(err), vec!["backend.targets[0].port"]);
}

#[test]
fn every_semantic_error_is_reported() {
    let mut body = route(json!([{"hostname": "bad host", "port": 0, "weight": 0}]));
    body["frontend"]["domains"] = json!(["http://x.oto.tools"]);
    body["backend"]["root"] = json!("nope");
    body["backend"]["load_balancing"] = json!({"type": "Magic"});
    let err = normalize(Kind::Route, body, None).unwrap_err();
    assert_eq!(
        paths(err),
        vec![
            "frontend.domains[0]",
            "backend.targets[0].hostname",
            "backend.targets[0].port",
            "backend.targets[0].weight",
            "backend.root",
            "backend.load_balancing.type",
        ]
    );
}

#[test]
fn unknown_enabled_plugin_is_refused_but_disabled_is_kept() {
    let mut body = route(json!([{"hostname": "h", "port": 80}]));
    body["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.JwtVerification"}]);
    let err = normalize(Kind::Route, body.clone(), None).unwrap_err();
    assert_eq!(err.0[0].path, "plugins[0].plugin");
    assert!(err.0[0].message.contains("JwtVerification"));
    body["plugins"][0]["enabled"] = json!(false);
    assert!(normalize(Kind::Route, body, None).is_ok());
}

#[test]
fn plugin_instances_are_written_in_otoroshis_key_order() {
    // As Otoroshi's NgPluginInstance writes it: enabled, debug, plugin,
    // include, exclude, config, bound_listeners, plugin_index.
    let text = r#"{"enabled":true,"debug":false,"plugin":"cp:otoroshi.next.plugins.Cors","include":[],"exclude":["/x"],"config":{"max_age":null,"allow_origin":"*"},"bound_listeners":[],"plugin_index":{"pre_route":0}}"#;
    let mut body = route(json!([{"hostname": "h", "port": 80}]));
    body["plugins"] = json!([serde_json::from_str::<serde_json::Value>(text).unwrap()]);
    let n = normalize(Kind::Route, body, None).unwrap();
    assert_eq!(serde_json::to_string(&n.value["plugins"][0]).unwrap(), text);
    // Keys sent in another order come back in Otoroshi's.
    let mut body = route(json!([{"hostname": "h", "port": 80}]));
    body["plugins"] = json!([{"plugin_index": {}, "config": {}, "plugin": "cp:otoroshi.next.plugins.Cors", "debug": true}]);
    let n = normalize(Kind::Route, body, None).unwrap();
    assert_eq!(
        serde_json::to_string(&n.value["plugins"][0]).unwrap(),
        r#"{"enabled":true,"debug":true,"plugin":"cp:otoroshi.next.plugins.Cors","include":[],"exclude":[],"config":{},"plugin_index":{}}"#
    );
}

#[test]
fn ids_follow_the_path_and_are_checked() {
    let body = json!({"name": "g"});
    assert_eq!(
        normalize(Kind::ServiceGroup, body.clone(), Some("g1"))
            .unwrap()
            .id,
        "g1"
    );
    let err = normalize(Kind::ServiceGroup, json!({"id": "g2"}), Some("g1")).unwrap_err();
    assert_eq!(err.0[0].path, "id");
    let err = normalize(Kind::ServiceGroup, json!({"id": "bad id/"}), None).unwrap_err();
    assert_eq!(err.0[0].path, "id");
    let generated = normalize(Kind::ServiceGroup, body, None).unwrap().id;
    assert!(generated.starts_with("group_"), "{generated}");
}

#[test]
fn apikey_restrictions_and_entities_are_checked() {
    let err = normalize(
        Kind::ApiKey,
        json!({"clientId": "k", "authorizedEntities": ["service_x", "route_ok"], "restrictions": {"enabled": true}}),
        None,
    )
    .unwrap_err();
    assert_eq!(
        paths(err),
        vec!["authorizedEntities[0]", "restrictions.enabled"]
    );
    let ok = normalize(Kind::ApiKey, json!({"clientId": "k"}), None).unwrap();
    assert_eq!(ok.value["clientSecret"].as_str().unwrap().len(), 64);
    assert_eq!(ok.value["dailyQuota"], json!(10_000_000));
}

#[test]
fn templates_are_valid_entities() {
    for kind in Kind::ALL {
        let t = template(kind);
        if kind == Kind::Certificate {
            // No certificate is valid without a chain and key, which a
            // template cannot invent: it is the bare shape to fill.
            assert_eq!(t["chain"], "", "{t}");
            continue;
        }
        assert!(normalize(kind, t, None).is_ok(), "{kind:?}");
    }
}

#[test]
fn non_objects_are_refused() {
    let err = normalize(Kind::Route, json!([1, 2]), None).unwrap_err();
    assert_eq!(err.0[0].path, "$");
}

#[test]
fn tls_targets_are_accepted_with_their_tls_config_kept() {
    let config = json!({"enabled": true, "trusted_certs": ["ca-1"], "trust_all": false, "loose": false, "certs": [], "extra_field": 1});
    let n = normalize(
        Kind::Route,
        route(json!([{"hostname": "h", "port": 443, "tls": true, "tls_config": config}])),
        None,
    )
    .unwrap();
    assert_eq!(n.value["backend"]["targets"][0]["tls"], json!(true));
    assert_eq!(n.value["backend"]["targets"][0]["tls_config"], config);
}

#[test]
fn unsupported_or_malformed_tls_configs_are_refused() {
    for (config, path) in [
        (
            json!({"enabled": true, "certs": ["client-1"]}),
            "backend.targets[0].tls_config.certs",
        ),
        (
            json!({"enabled": true, "loose": true}),
            "backend.targets[0].tls_config.loose",
        ),
        (
            json!({"trust_all": "yes"}),
            "backend.targets[0].tls_config.trust_all",
        ),
        (
            json!({"trusted_certs": "ca-1"}),
            "backend.targets[0].tls_config.trusted_certs",
        ),
        (json!([1]), "backend.targets[0].tls_config"),
    ] {
        let err = normalize(
            Kind::Route,
            route(json!([{"hostname": "h", "port": 443, "tls": true, "tls_config": config}])),
            None,
        )
        .unwrap_err();
        assert_eq!(paths(err), vec![path], "{config}");
    }
}
