//! The fields of Otoroshi's legacy `ServiceDescriptor` (as its export writes
//! them, `ServiceDescriptor.toJson`) that the conversion to a route reads.
//! Defaults are Otoroshi's own (`case class ServiceDescriptor`), so a
//! descriptor written by an older version, with fields left out, converts
//! as Otoroshi would read it. Fields not listed here are not read: the
//! conversion refuses what it cannot honour by looking at these only.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

fn yes() -> bool {
    true
}

fn default_groups() -> Vec<String> {
    vec!["default".to_string()]
}

fn slash() -> String {
    "/".to_string()
}

fn prod() -> String {
    "prod".to_string()
}

fn https() -> String {
    "https".to_string()
}

fn one() -> u32 {
    1
}

fn redirect_code() -> u16 {
    303
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescriptor {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_groups")]
    pub groups: Vec<String>,
    #[serde(default = "prod")]
    pub env: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub subdomain: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default = "yes")]
    pub handle_legacy_domain: bool,
    pub matching_root: Option<String>,
    #[serde(default)]
    pub matching_headers: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub strip_path: bool,
    #[serde(default = "yes")]
    pub enabled: bool,

    #[serde(default)]
    pub targets: Vec<LegacyTarget>,
    pub targets_load_balancing: Option<Value>,
    #[serde(default = "slash")]
    pub root: String,

    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(rename = "_loc")]
    pub location: Option<Value>,
    #[serde(default)]
    pub user_facing: bool,
    #[serde(default)]
    pub lets_encrypt: bool,
    #[serde(default)]
    pub issue_cert: bool,
    #[serde(rename = "issueCertCA")]
    pub issue_cert_ca: Option<String>,
    #[serde(default)]
    pub api: ApiDescriptor,

    #[serde(default = "yes")]
    pub force_https: bool,
    #[serde(default = "yes")]
    pub override_host: bool,
    #[serde(default)]
    pub maintenance_mode: bool,
    #[serde(default)]
    pub build_mode: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default = "yes")]
    pub send_otoroshi_headers_back: bool,
    #[serde(default)]
    pub x_forwarded_headers: bool,
    #[serde(default)]
    pub tcp_udp_tunneling: bool,
    #[serde(default)]
    pub private_app: bool,
    pub auth_config_ref: Option<String>,
    pub client_validator_ref: Option<String>,

    #[serde(default)]
    pub public_patterns: Vec<String>,
    #[serde(default)]
    pub private_patterns: Vec<String>,
    pub api_key_constraints: Option<Value>,

    #[serde(default)]
    pub additional_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub additional_headers_out: BTreeMap<String, String>,
    #[serde(default)]
    pub missing_only_headers_in: BTreeMap<String, String>,
    #[serde(default)]
    pub missing_only_headers_out: BTreeMap<String, String>,
    #[serde(default)]
    pub remove_headers_in: Vec<String>,
    #[serde(default)]
    pub remove_headers_out: Vec<String>,
    #[serde(default)]
    pub headers_verification: BTreeMap<String, String>,

    #[serde(default)]
    pub ip_filtering: IpFiltering,
    #[serde(default)]
    pub cors: Option<Value>,
    #[serde(default)]
    pub redirection: Redirection,
    #[serde(default)]
    pub gzip: Gzip,

    #[serde(default = "yes")]
    pub enforce_secure_communication: bool,
    #[serde(default = "yes")]
    pub send_state_challenge: bool,
    #[serde(default = "yes")]
    pub send_info_token: bool,
    pub sec_com_version: Option<Value>,
    /// Milliseconds, as Otoroshi writes it.
    pub sec_com_ttl: Option<u64>,
    #[serde(default)]
    pub sec_com_excluded_patterns: Vec<String>,

    #[serde(default)]
    pub jwt_verifier: Toggle,
    #[serde(default)]
    pub restrictions: Toggle,
    #[serde(default)]
    pub health_check: Toggle,
    #[serde(default)]
    pub canary: Toggle,
    #[serde(default)]
    pub chaos_config: Toggle,
    #[serde(default)]
    pub transformer_refs: Vec<String>,
    #[serde(default)]
    pub access_validator: Refs,
    #[serde(default)]
    pub pre_routing: Refs,
    #[serde(default)]
    pub plugins: Refs,
}

/// A legacy target: `host` may carry the port (`host:port`); without one
/// the scheme's default applies (`Target.thePort`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyTarget {
    pub host: String,
    #[serde(default = "https")]
    pub scheme: String,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    pub ip_address: Option<String>,
    pub mtls_config: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiDescriptor {
    #[serde(default)]
    pub expose_api: bool,
    pub open_api_descriptor_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IpFiltering {
    #[serde(default)]
    pub whitelist: Vec<String>,
    #[serde(default)]
    pub blacklist: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Redirection {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "redirect_code")]
    pub code: u16,
    #[serde(default)]
    pub to: String,
}

impl Default for Redirection {
    fn default() -> Self {
        Self {
            enabled: false,
            code: redirect_code(),
            to: String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gzip {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub excluded_patterns: Vec<String>,
    #[serde(default)]
    pub white_list: Vec<String>,
    #[serde(default)]
    pub black_list: Vec<String>,
    pub compression_level: Option<u32>,
}

/// A legacy feature block read only for whether it is on.
#[derive(Debug, Default, Deserialize)]
pub struct Toggle {
    #[serde(default)]
    pub enabled: bool,
}

/// Legacy script references (`plugins`, `accessValidator`, `preRouting`).
#[derive(Debug, Default, Deserialize)]
pub struct Refs {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub refs: Vec<String>,
}

impl Refs {
    pub fn in_use(&self) -> bool {
        self.enabled && !self.refs.is_empty()
    }
}

impl ServiceDescriptor {
    /// The legacy host (`ServiceDescriptor.toHost`): `subdomain.env.domain`,
    /// with `env` left out in `prod` and `subdomain` when empty.
    pub fn legacy_host(&self) -> String {
        match (self.subdomain.is_empty(), self.env == "prod") {
            (true, _) => format!("{}.{}", self.env, self.domain),
            (false, true) => format!("{}.{}", self.subdomain, self.domain),
            (false, false) => format!("{}.{}.{}", self.subdomain, self.env, self.domain),
        }
    }
}
