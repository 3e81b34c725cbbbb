//! The plugins a descriptor's legacy features become, in the order
//! `NgRoute.fromServiceDescriptor` adds them; the guards komainu cannot run,
//! which refuse the descriptor.

use serde_json::{Value, json};

use super::descriptor::ServiceDescriptor;
use super::legacy_apikey::api_key;

const PREFIX: &str = plugins::registry::ID_PREFIX;

/// The route's plugin list, built in `fromServiceDescriptor`'s order.
pub struct Plugins(Vec<Value>);

impl Plugins {
    pub fn of(sd: &ServiceDescriptor, refusals: &mut Vec<String>, notes: &mut Vec<String>) -> Self {
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

    pub fn into_values(self) -> Vec<Value> {
        self.0
    }

    pub fn push(&mut self, plugin: Value) {
        self.0.push(plugin);
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

pub fn instance(name: &str, enabled: bool, exclude: Value, config: Value) -> Value {
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
