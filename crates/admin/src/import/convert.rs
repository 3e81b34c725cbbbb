//! A legacy service descriptor as a route, the way Otoroshi converts it
//! (`NgRoute.fromServiceDescriptor`): same id, hosts and paths as domains,
//! targets, strip path, and each legacy feature as the plugin Otoroshi puts
//! in its place, in Otoroshi's order.
//!
//! What komainu cannot honour is handled by what leaving it out would do:
//! a feature that guards access (auth module, JWT verifier, routing
//! restrictions, custom scripts, key-based routing, API key rules it cannot
//! express) refuses the descriptor, because the route would be open where
//! its author closed it; a feature that only adds to what the backend gets
//! (Otoroshi's challenge and info token, canary, chaos) stays on the route
//! as a disabled plugin, noted, so that it survives an export and nothing
//! runs that komainu does not implement.

use serde_json::{Map, Value, json};

use super::descriptor::{LegacyTarget, ServiceDescriptor};
use super::legacy_plugins::Plugins;

/// What became of one descriptor.
pub enum Conversion {
    /// The route to validate and store, with what the caller should know.
    Route { route: Value, notes: Vec<String> },
    /// Why it is not run.
    Refused(Vec<String>),
}

pub fn convert(sd: &ServiceDescriptor) -> Conversion {
    let mut refusals = Vec::new();
    let mut notes = Vec::new();
    let targets: Vec<Value> = sd
        .targets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match target(t) {
            Ok(value) => Some(value),
            Err(problem) => {
                refusals.push(format!("targets[{i}]: {problem}"));
                None
            }
        })
        .collect();
    let plugins = Plugins::of(sd, &mut refusals, &mut notes);
    if !refusals.is_empty() {
        return Conversion::Refused(refusals);
    }
    if sd.health_check.enabled {
        notes.push("healthCheck: komainu runs no active health checks; dropped".into());
    }
    let mut tags = sd.tags.clone();
    tags.push(format!("env:{}", sd.env));
    let route = json!({
        "_loc": sd.location.clone().unwrap_or_else(|| json!({"tenant": "default", "teams": ["default"]})),
        "id": sd.id,
        "name": sd.name,
        "description": sd.description,
        "tags": tags,
        "metadata": metadata(sd),
        "enabled": sd.enabled,
        "debug_flow": false,
        "export_reporting": sd.metadata.get("otoroshi-core-export-reporting").is_some_and(|v| v == "true"),
        "capture": sd.metadata.get("otoroshi-core-capture").is_some_and(|v| v == "true"),
        "groups": sd.groups,
        "bound_listeners": [],
        "frontend": {
            "domains": domains(sd),
            "strip_path": sd.strip_path,
            "exact": false,
            "headers": sd.matching_headers,
            "query": {},
            "methods": [],
        },
        "backend": {
            "targets": targets,
            "root": sd.root,
            "rewrite": false,
            "load_balancing": sd.targets_load_balancing.clone().unwrap_or_else(|| json!({"type": "RoundRobin"})),
        },
        "backend_ref": null,
        "plugins": plugins.into_values(),
    });
    Conversion::Route { route, notes }
}

/// `host/path` for every host and path the descriptor answers on.
fn domains(sd: &ServiceDescriptor) -> Vec<String> {
    let mut hosts = sd.hosts.clone();
    let mut paths = sd.paths.clone();
    if sd.handle_legacy_domain {
        hosts.push(sd.legacy_host());
        paths.extend(sd.matching_root.clone());
    }
    let mut domains: Vec<String> = if paths.is_empty() {
        let root = sd.matching_root.as_deref().unwrap_or("/");
        hosts.iter().map(|h| format!("{h}{root}")).collect()
    } else {
        paths
            .iter()
            .flat_map(|p| hosts.iter().map(move |h| format!("{h}{p}")))
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    domains.retain(|d| seen.insert(d.clone()));
    domains
}

fn metadata(sd: &ServiceDescriptor) -> Map<String, Value> {
    let mut meta: Map<String, Value> = sd
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    meta.insert("otoroshi-core-legacy".into(), json!("true"));
    meta.insert("otoroshi-core-env".into(), json!(sd.env));
    if sd.lets_encrypt {
        meta.insert(
            "otoroshi-core-issue-lets-encrypt-certificate".into(),
            json!("true"),
        );
    }
    if sd.issue_cert {
        meta.insert("otoroshi-core-issue-certificate".into(), json!("true"));
        meta.insert(
            "otoroshi-core-issue-certificate-ca".into(),
            json!(sd.issue_cert_ca.clone().unwrap_or_default()),
        );
    }
    if sd.user_facing {
        meta.insert("otoroshi-core-user-facing".into(), json!("true"));
    }
    if sd.api.expose_api {
        meta.insert(
            "otoroshi-core-openapi-url".into(),
            json!(sd.api.open_api_descriptor_url.clone().unwrap_or_default()),
        );
    }
    meta
}

/// `NgTarget.fromTarget`: the port is the one in `host`, else the scheme's.
fn target(t: &LegacyTarget) -> Result<Value, String> {
    let scheme = t.scheme.to_ascii_lowercase();
    let (hostname, port) = match t.host.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.parse::<u16>()
                .map_err(|_| format!("'{}' has an invalid port", t.host))?,
        ),
        None => (t.host.clone(), if scheme == "https" { 443 } else { 80 }),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "scheme '{}' is not proxied by komainu (http and https are)",
            t.scheme
        ));
    }
    let mut value = json!({
        "id": t.tags.first().cloned().unwrap_or_else(|| t.host.clone()),
        "hostname": hostname,
        "port": port,
        "tls": scheme == "https",
        "weight": t.weight,
        "backup": t.backup,
    });
    if let Some(ip) = t.ip_address.as_ref().filter(|ip| !ip.trim().is_empty()) {
        return Err(format!(
            "ipAddress '{ip}' (connect to an address other than the host) is not supported by komainu"
        ));
    }
    if let Some(tls) = t.mtls_config.as_ref().and_then(legacy_tls) {
        value["tls_config"] = tls;
    }
    Ok(value)
}

/// `NgTlsConfig.fromLegacy`, only when the legacy config is on.
fn legacy_tls(mtls: &Value) -> Option<Value> {
    if !mtls["mtls"].as_bool().unwrap_or(false) {
        return None;
    }
    Some(json!({
        "enabled": true,
        "certs": mtls.get("certs").cloned().unwrap_or(json!([])),
        "trusted_certs": mtls.get("trustedCerts").cloned().unwrap_or(json!([])),
        "loose": mtls["loose"].as_bool().unwrap_or(false),
        "trust_all": mtls["trustAll"].as_bool().unwrap_or(false),
    }))
}
