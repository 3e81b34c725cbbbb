//! The legacy API key rule of a descriptor (public/private patterns and
//! `apiKeyConstraints`) as an ApikeyCalls plugin.

use serde_json::{Value, json};

use super::descriptor::ServiceDescriptor;
use super::legacy_plugins::{Plugins, instance};

/// The legacy API key rule — a key is required on every path that a
/// private pattern matches or no public pattern matches — as one
/// ApikeyCalls instance, where include/exclude can say it.
pub fn api_key(
    sd: &ServiceDescriptor,
    p: &mut Plugins,
    refusals: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let all_public = sd.public_patterns.iter().any(|p| p == "/.*");
    let (include, exclude) = match (
        sd.public_patterns.is_empty(),
        sd.private_patterns.is_empty(),
    ) {
        (true, _) => (vec![], vec![]),
        (false, true) if all_public => {
            notes.push("publicPatterns '/.*': every path is public, no API key asked".into());
            return;
        }
        (false, true) => (vec![], sd.public_patterns.clone()),
        (false, false) if all_public => (sd.private_patterns.clone(), vec![]),
        (false, false) => {
            refusals.push(
                "publicPatterns with privatePatterns: a key required where a private pattern matches even inside a public one cannot be expressed by komainu's include/exclude".into(),
            );
            return;
        }
    };
    let Some(config) = apikey_config(sd.api_key_constraints.as_ref(), refusals) else {
        return;
    };
    let mut plugin = instance("ApikeyCalls", true, json!(exclude), config);
    plugin["include"] = json!(include);
    p.push(plugin);
}

/// `NgApikeyCallsConfig.fromLegacy(apiKeyConstraints)`; custom credential
/// names and key-based routing are refused (komainu cannot honour them,
/// and ignoring them would accept keys the author did not mean).
fn apikey_config(constraints: Option<&Value>, refusals: &mut Vec<String>) -> Option<Value> {
    let empty = json!({});
    let c = constraints.unwrap_or(&empty);
    let before = refusals.len();
    let mut extractor = |legacy: &str, names: &[&str]| {
        let source = &c[legacy];
        for name in names {
            if source[*name].as_str().is_some_and(|v| !v.trim().is_empty()) {
                refusals.push(format!(
                    "apiKeyConstraints.{legacy}.{name}: custom credential names are not supported by komainu"
                ));
            }
        }
        json!({"enabled": source["enabled"].as_bool().unwrap_or(true)})
    };
    let extractors = json!({
        "basic": extractor("basicAuth", &["headerName", "queryName"]),
        "custom_headers": extractor("customHeadersAuth", &["clientIdHeaderName", "clientSecretHeaderName"]),
        "client_id": extractor("clientIdAuth", &["headerName", "queryName"]),
        "jwt": extractor("jwtAuth", &["headerName", "queryName", "cookieName"]),
        "oto_bearer": extractor("otoBearerAuth", &["headerName", "queryName", "cookieName"]),
    });
    let constrained = |v: &Value| match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    };
    if let Some(routing) = c["routing"].as_object()
        && routing.values().any(constrained)
    {
        refusals.push(
            "apiKeyConstraints.routing: key-based routing constraints are not run by komainu"
                .into(),
        );
    }
    (refusals.len() == before).then(|| {
        json!({
            "extractors": extractors,
            "routing": {"enabled": false},
            "validate": true,
            "mandatory": true,
            "pass_with_user": false,
            "wipe_backend_request": true,
            "update_quotas": true,
        })
    })
}
