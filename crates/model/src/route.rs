//! A route in Otoroshi's `NgRoute` shape. Fields komainu does not know are
//! kept in `extra` and returned as they came (round trip), so that tools
//! written for Otoroshi can send their full documents; fields that would
//! change security when ignored are refused instead (see `validate`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ValidationErrors;
use crate::validate;

pub const LOAD_BALANCING_TYPES: [&str; 12] = [
    "RoundRobin",
    "Random",
    "Sticky",
    "IpAddressHash",
    "BestResponseTime",
    "WeightedBestResponseTime",
    "NaiveFailover",
    "PowerOfTwoRandomChoices",
    "LeastConnections",
    "HeaderHash",
    "CookieHash",
    "QueryHash",
];

fn yes() -> bool {
    true
}

fn default_groups() -> Vec<String> {
    vec!["default".to_string()]
}

fn default_root() -> String {
    "/".to_string()
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_groups")]
    pub groups: Vec<String>,
    pub frontend: Frontend,
    pub backend: Backend,
    #[serde(default)]
    pub plugins: Vec<PluginInstance>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Frontend {
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default = "yes")]
    pub strip_path: bool,
    #[serde(default)]
    pub exact: bool,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Backend {
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default = "default_root")]
    pub root: String,
    #[serde(default)]
    pub rewrite: bool,
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    #[serde(default)]
    pub id: String,
    pub hostname: String,
    pub port: u16,
    #[serde(default)]
    pub tls: bool,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub backup: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadBalancing {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for LoadBalancing {
    fn default() -> Self {
        Self {
            kind: "RoundRobin".to_string(),
            extra: Map::new(),
        }
    }
}

/// One plugin on a route. Fields komainu does not read (`debug`,
/// `bound_listeners`, `plugin_index`...) stay in `extra`; it is written back
/// in Otoroshi's key order (see the `Serialize` impl) so that an export
/// re-imported into Otoroshi, or diffed against its source, is unchanged.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct PluginInstance {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub plugin: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub config: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The keys Otoroshi writes before `plugin` (`NgPluginInstance.json`):
/// `enabled`, then `debug`. The rest of `extra` follows `config`, in the
/// order it came.
const KEYS_BEFORE_PLUGIN: [&str; 1] = ["debug"];

impl Serialize for PluginInstance {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5 + self.extra.len()))?;
        map.serialize_entry("enabled", &self.enabled)?;
        for key in KEYS_BEFORE_PLUGIN {
            if let Some(value) = self.extra.get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("plugin", &self.plugin)?;
        map.serialize_entry("include", &self.include)?;
        map.serialize_entry("exclude", &self.exclude)?;
        map.serialize_entry("config", &self.config)?;
        for (key, value) in &self.extra {
            if !KEYS_BEFORE_PLUGIN.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Route {
    /// Fills what a client may leave out: target ids from host and port.
    pub fn fill_defaults(&mut self) {
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        for target in &mut self.backend.targets {
            if target.id.is_empty() {
                target.id = format!("{}:{}", target.hostname, target.port);
            }
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validate::id(&mut errors, "id", &self.id);
        validate::non_empty(&mut errors, "name", &self.name);
        for (i, group) in self.groups.iter().enumerate() {
            validate::id(&mut errors, &format!("groups[{i}]"), group);
        }
        self.frontend.validate(&mut errors);
        self.backend.validate(&mut errors);
        if self.extra.get("backend_ref").is_some_and(|v| !v.is_null()) {
            errors.push(
                "backend_ref",
                "stored backends are not supported: give the backend inline",
            );
        }
        // A plugin komainu does not implement is refused when enabled:
        // silently ignoring, say, an authentication plugin would open a
        // route its author meant to protect.
        if let Err(problems) = self.plugin_chain() {
            for problem in problems {
                errors.push(
                    format!("plugins[{}].{}", problem.index, problem.path),
                    problem.message,
                );
            }
        }
        errors.into_result()
    }

    /// The route's plugins compiled for the request path.
    pub fn plugin_chain(&self) -> Result<plugins::Chain, Vec<plugins::chain::ChainError>> {
        plugins::Chain::compile(self.plugins.iter().map(|p| plugins::Declared {
            plugin: &p.plugin,
            enabled: p.enabled,
            include: &p.include,
            exclude: &p.exclude,
            config: &p.config,
        }))
    }
}

impl Frontend {
    fn validate(&self, errors: &mut ValidationErrors) {
        if self.domains.is_empty() {
            errors.push(
                "frontend.domains",
                "at least one domain is required, as host or host/path",
            );
        }
        for (i, domain) in self.domains.iter().enumerate() {
            if let Some(message) = domain_problem(domain) {
                errors.push(format!("frontend.domains[{i}]"), message);
            }
        }
        for (i, method) in self.methods.iter().enumerate() {
            if !validate::is_method(method) {
                errors.push(
                    format!("frontend.methods[{i}]"),
                    format!("'{method}' is not an upper-case HTTP method"),
                );
            }
        }
        for name in self.headers.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                errors.push(
                    format!("frontend.headers.{name}"),
                    "not a valid header name",
                );
            }
        }
    }
}

/// A domain is `host[/path-prefix]`; the host may start with `*.`.
fn domain_problem(domain: &str) -> Option<String> {
    if domain.contains("://") {
        return Some(format!(
            "'{domain}' must not contain a scheme: write host or host/path"
        ));
    }
    let (host, path) = match domain.find('/') {
        Some(slash) => domain.split_at(slash),
        None => (domain, ""),
    };
    let bare = host.strip_prefix("*.").unwrap_or(host);
    if !validate::is_hostname(bare) || bare.contains('*') {
        return Some(format!("'{domain}' has an invalid host '{host}'"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#')
    {
        return Some(format!("'{domain}' has an invalid path '{path}'"));
    }
    None
}

impl Backend {
    fn validate(&self, errors: &mut ValidationErrors) {
        if self.targets.is_empty() {
            errors.push("backend.targets", "at least one target is required");
        }
        for (i, target) in self.targets.iter().enumerate() {
            target.validate(errors, i);
        }
        if !self.root.starts_with('/') {
            errors.push(
                "backend.root",
                format!("'{}' must start with '/'", self.root),
            );
        }
        if !LOAD_BALANCING_TYPES.contains(&self.load_balancing.kind.as_str()) {
            errors.push(
                "backend.load_balancing.type",
                format!(
                    "'{}' is not one of {}",
                    self.load_balancing.kind,
                    LOAD_BALANCING_TYPES.join(", ")
                ),
            );
        }
    }
}

impl Target {
    fn validate(&self, errors: &mut ValidationErrors, i: usize) {
        let at = |field: &str| format!("backend.targets[{i}].{field}");
        if !validate::is_hostname(&self.hostname) {
            errors.push(
                at("hostname"),
                format!("'{}' is not a host name or IP address", self.hostname),
            );
        }
        if self.port == 0 {
            errors.push(at("port"), "must be from 1 to 65535");
        }
        if self.weight == 0 {
            errors.push(at("weight"), "must be at least 1");
        }
        if let Err((field, message)) = self.tls_config() {
            errors.push(at(&format!("tls_config{field}")), message);
        }
    }

    /// Otoroshi's `tls_config` of this target, checked. Its settings apply
    /// only with `tls: true` and `tls_config.enabled: true` (Otoroshi's
    /// rule); a disabled one means default verification, never less.
    /// The error names the field (`""`, `.certs`…) and the problem.
    pub fn tls_config(&self) -> Result<TargetTls, (String, String)> {
        let config = match self.extra.get("tls_config") {
            None | Some(Value::Null) => return Ok(TargetTls::default()),
            Some(Value::Object(config)) => config,
            Some(_) => return Err((String::new(), "must be an object".to_string())),
        };
        let flag = |name: &str| match config.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err((format!(".{name}"), "must be true or false".to_string())),
        };
        let ids = |name: &str| match config.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    (
                        format!(".{name}"),
                        "must be a list of certificate ids".to_string(),
                    )
                }),
            Some(_) => Err((
                format!(".{name}"),
                "must be a list of certificate ids".to_string(),
            )),
        };
        let tls = TargetTls {
            enabled: flag("enabled")?,
            trust_all: flag("trust_all")?,
            loose: flag("loose")?,
            trusted_certs: ids("trusted_certs")?,
            certs: ids("certs")?,
        };
        // Ignoring these would weaken or break the connection without a
        // word: refused until komainu implements them.
        if tls.enabled && !tls.certs.is_empty() {
            return Err((
                ".certs".to_string(),
                "client certificates to backends are not supported by komainu yet".to_string(),
            ));
        }
        if tls.enabled && tls.loose {
            return Err((
                ".loose".to_string(),
                "loose hostname checks are not supported by komainu: trust the backend's CA with trusted_certs, or set trust_all".to_string(),
            ));
        }
        Ok(tls)
    }
}

/// What komainu reads of a target's Otoroshi `tls_config` (the object
/// itself stays in `extra`, unknown fields included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetTls {
    pub enabled: bool,
    /// Opt-out of certificate verification (logged at WARN).
    pub trust_all: bool,
    pub loose: bool,
    /// Certificate entity ids whose chains are trusted as roots, on top of
    /// the system roots.
    pub trusted_certs: Vec<String>,
    /// Client certificates to present (refused for now).
    pub certs: Vec<String>,
}
