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

const PREFIX: &str = plugins::registry::ID_PREFIX;

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
        "plugins": plugins.0,
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

/// The route's plugin list, built in `fromServiceDescriptor`'s order.
struct Plugins(Vec<Value>);

impl Plugins {
    fn of(sd: &ServiceDescriptor, refusals: &mut Vec<String>, notes: &mut Vec<String>) -> Self {
        let mut p = Plugins(Vec::new());
        if sd.force_https {
            p.add("ForceHttpsTraffic", None);
        }
        if sd.override_host {
            p.add("OverrideHost", None);
        }
        if !sd.headers_verification.is_empty() {
            p.add(
                "HeadersValidation",
                Some(json!({"headers": sd.headers_verification})),
            );
        }
        if sd.maintenance_mode {
            p.add("MaintenanceMode", None);
        }
        if sd.build_mode {
            p.add("BuildMode", None);
        }
        if sd.read_only {
            p.add("ReadOnlyCalls", None);
        }
        p.add("OtoroshiHeadersIn", None);
        if !sd.ip_filtering.blacklist.is_empty() {
            p.add(
                "IpAddressBlockList",
                Some(json!({"addresses": sd.ip_filtering.blacklist})),
            );
        }
        if !sd.ip_filtering.whitelist.is_empty() {
            p.add(
                "IpAddressAllowedList",
                Some(json!({"addresses": sd.ip_filtering.whitelist})),
            );
        }
        if sd.redirection.enabled {
            let to = if sd.redirection.to.trim().is_empty() {
                "https://www.otoroshi.io"
            } else {
                &sd.redirection.to
            };
            p.add(
                "Redirection",
                Some(json!({"code": sd.redirection.code, "to": to})),
            );
        }
        for (name, headers) in [
            ("AdditionalHeadersIn", &sd.additional_headers),
            ("AdditionalHeadersOut", &sd.additional_headers_out),
            ("MissingHeadersIn", &sd.missing_only_headers_in),
            ("MissingHeadersOut", &sd.missing_only_headers_out),
        ] {
            if !headers.is_empty() {
                p.add(name, Some(json!({"headers": headers})));
            }
        }
        for (name, names) in [
            ("RemoveHeadersIn", &sd.remove_headers_in),
            ("RemoveHeadersOut", &sd.remove_headers_out),
        ] {
            if !names.is_empty() {
                p.add(name, Some(json!({"header_names": names})));
            }
        }
        if sd.send_otoroshi_headers_back {
            p.add("SendOtoroshiHeadersBack", None);
        }
        if sd.x_forwarded_headers {
            p.add("XForwardedHeaders", None);
        }
        refuse_guards(sd, refusals);
        if sd.enforce_secure_communication && sd.send_state_challenge {
            let config = json!({
                "version": sd.sec_com_version.clone().unwrap_or(json!("V1")),
                "ttl": sd.sec_com_ttl.unwrap_or(30_000) / 1000,
            });
            p.disabled(
                "OtoroshiChallenge",
                &sd.sec_com_excluded_patterns,
                config,
                "enforceSecureCommunication: Otoroshi's challenge to the backend is not sent by komainu; kept as a disabled OtoroshiChallenge plugin",
                notes,
            );
        }
        if let Some(cors) = sd.cors.as_ref().filter(|c| c["enabled"] == true) {
            let config = cors_config(cors);
            let exclude = config["excluded_patterns"].clone();
            p.0.push(instance("Cors", true, exclude, config));
        }
        api_key(sd, &mut p, refusals, notes);
        if sd.gzip.enabled {
            let mut config = json!({
                "allowed_list": sd.gzip.white_list,
                "blocked_list": sd.gzip.black_list,
                "excluded_patterns": sd.gzip.excluded_patterns,
            });
            if let Some(level) = sd.gzip.compression_level {
                config["compression_level"] = json!(level);
            }
            p.0.push(instance(
                "GzipResponseCompressor",
                true,
                json!(sd.gzip.excluded_patterns),
                config,
            ));
        }
        if sd.canary.enabled {
            p.disabled(
                "CanaryMode",
                &[],
                json!({}),
                "canary: komainu sends no share of traffic to canary targets; kept as a disabled CanaryMode plugin",
                notes,
            );
        }
        if sd.chaos_config.enabled {
            p.disabled(
                "SnowMonkeyChaos",
                &[],
                json!({}),
                "chaosConfig: komainu injects no faults; kept as a disabled SnowMonkeyChaos plugin",
                notes,
            );
        }
        if sd.send_info_token {
            p.disabled(
                "OtoroshiInfos",
                &[],
                json!({"version": "Legacy", "ttl": sd.sec_com_ttl.unwrap_or(30_000) / 1000}),
                "sendInfoToken: Otoroshi's info token to the backend is not sent by komainu; kept as a disabled OtoroshiInfos plugin",
                notes,
            );
        }
        p
    }

    /// A plugin komainu runs, with its config or its defaults.
    fn add(&mut self, name: &str, config: Option<Value>) {
        let id = format!("{PREFIX}{name}");
        let config = config
            .or_else(|| plugins::registry::find(&id).map(|d| (d.default_config)()))
            .unwrap_or_else(|| json!({}));
        self.0.push(instance(name, true, json!([]), config));
    }

    /// A plugin komainu does not run, kept disabled so that it is visible
    /// and exported back.
    fn disabled(
        &mut self,
        name: &str,
        exclude: &[String],
        config: Value,
        note: &str,
        notes: &mut Vec<String>,
    ) {
        self.0.push(instance(name, false, json!(exclude), config));
        notes.push(note.to_string());
    }
}

fn instance(name: &str, enabled: bool, exclude: Value, config: Value) -> Value {
    json!({
        "enabled": enabled,
        "debug": false,
        "plugin": format!("{PREFIX}{name}"),
        "include": [],
        "exclude": exclude,
        "config": config,
    })
}

/// Access guards komainu cannot run: the descriptor is refused rather than
/// served open.
fn refuse_guards(sd: &ServiceDescriptor, refusals: &mut Vec<String>) {
    let mut refuse = |what: &str| refusals.push(what.to_string());
    if sd.jwt_verifier.enabled {
        refuse("jwtVerifier: JWT verification is not run by komainu");
    }
    if sd.restrictions.enabled {
        refuse("restrictions: routing restrictions are not run by komainu");
    }
    if sd.private_app {
        refuse(&format!(
            "privateApp: authentication modules (authConfigRef '{}') are not run by komainu",
            sd.auth_config_ref.as_deref().unwrap_or("")
        ));
    }
    if sd
        .client_validator_ref
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        refuse("clientValidatorRef: client certificate validators are not run by komainu");
    }
    if sd.tcp_udp_tunneling {
        refuse("tcpUdpTunneling: TCP/UDP tunnels are not run by komainu");
    }
    if sd.plugins.in_use() || sd.access_validator.in_use() || sd.pre_routing.in_use() {
        refuse("plugins/accessValidator/preRouting: custom scripts are not run by komainu");
    }
    if !sd.transformer_refs.is_empty() {
        refuse("transformerRefs: custom request transformers are not run by komainu");
    }
}

/// `NgCorsSettings.fromLegacy`; Otoroshi reads either spelling.
fn cors_config(cors: &Value) -> Value {
    let pick = |camel: &str, snake: &str| {
        cors.get(camel)
            .or_else(|| cors.get(snake))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let list = |camel: &str, snake: &str| match pick(camel, snake) {
        Value::Null => json!([]),
        other => other,
    };
    let origin = match pick("allowOrigin", "allow_origin") {
        Value::Null => json!("*"),
        other => other,
    };
    let credentials = match pick("allowCredentials", "allow_credentials") {
        Value::Null => json!(true),
        other => other,
    };
    json!({
        "allow_origin": origin,
        "expose_headers": list("exposeHeaders", "expose_headers"),
        "allow_headers": list("allowHeaders", "allow_headers"),
        "allow_methods": list("allowMethods", "allow_methods"),
        "excluded_patterns": list("excludedPatterns", "excluded_patterns"),
        "max_age": pick("maxAge", "max_age"),
        "allow_credentials": credentials,
    })
}

/// The legacy API key rule — a key is required on every path that a
/// private pattern matches or no public pattern matches — as one
/// ApikeyCalls instance, where include/exclude can say it.
fn api_key(
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
    p.0.push(plugin);
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
