//! API keys on a route: which credential sources count, whether a key is
//! required, and what is done with it. The checks themselves (secrets,
//! signatures, authorizations, quotas) are the node's, asked through
//! [`Services::check_apikey`](crate::Services::check_apikey).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.ApikeyCalls",
    name: "Apikeys",
    description: "Requires an API key authorized on the route (client id alone, Otoroshi-Client-Id/-Secret headers, a JWT bearer, Basic auth) and counts its quotas.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<ApikeyCallsConfig>,
    config_schema: config::schema::<ApikeyCallsConfig>,
};

/// Otoroshi's ApikeyCalls config, with its defaults.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ApikeyCallsConfig {
    pub extractors: Extractors,
    /// Check the key (secret, enabled, expiry, authorization); Otoroshi's
    /// `false` lets any presented key through, which komainu refuses.
    pub validate: bool,
    /// Without a key, refuse (true) or let the call through (false).
    pub mandatory: bool,
    pub pass_with_user: bool,
    /// Remove the credentials before the request goes upstream.
    pub wipe_backend_request: bool,
    /// Count the call against the key's quotas (and refuse over them).
    pub update_quotas: bool,
    /// Otoroshi's key-based routing; kept as written, not used.
    #[schemars(with = "Option<Value>")]
    pub routing: Option<Value>,
}

impl Default for ApikeyCallsConfig {
    fn default() -> Self {
        Self {
            extractors: Extractors::default(),
            validate: true,
            mandatory: true,
            pass_with_user: false,
            wipe_backend_request: true,
            update_quotas: true,
            routing: None,
        }
    }
}

/// Which credential sources count.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Extractors {
    /// `Authorization: Basic`.
    pub basic: Extractor,
    /// `Otoroshi-Client-Id` + `Otoroshi-Client-Secret`.
    pub custom_headers: Extractor,
    /// The client id alone (`x-api-key`, `?apikey=`), for keys that allow it.
    pub client_id: Extractor,
    /// `Authorization: Bearer` JWT signed with the key's secret.
    pub jwt: Extractor,
    /// Otoroshi's own bearer tokens; not issued by komainu.
    pub oto_bearer: Extractor,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Extractor {
    pub enabled: bool,
    /// Custom header, query or cookie names are not supported yet: set,
    /// they are refused rather than ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
}

impl Default for Extractor {
    fn default() -> Self {
        Self {
            enabled: true,
            header_name: None,
            query_name: None,
            cookie_name: None,
        }
    }
}

struct ApikeyCalls(ApikeyCallsConfig);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: ApikeyCallsConfig = config::parse(value)?;
    let mut errors = Vec::new();
    if !config.validate {
        errors.push(ConfigError::new(
            "validate",
            "komainu always checks API keys: validate must be true",
        ));
    }
    let extractors = [
        ("basic", &config.extractors.basic),
        ("custom_headers", &config.extractors.custom_headers),
        ("client_id", &config.extractors.client_id),
        ("jwt", &config.extractors.jwt),
        ("oto_bearer", &config.extractors.oto_bearer),
    ];
    for (name, extractor) in extractors {
        for (field, value) in [
            ("header_name", &extractor.header_name),
            ("query_name", &extractor.query_name),
            ("cookie_name", &extractor.cookie_name),
        ] {
            if value.as_deref().is_some_and(|v| !v.is_empty()) {
                errors.push(ConfigError::new(
                    format!("extractors.{name}.{field}"),
                    "custom credential names are not supported by komainu yet",
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Arc::new(ApikeyCalls(config)))
}

impl Plugin for ApikeyCalls {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        let services = request.services;
        match services.check_apikey(&self.0, request) {
            Ok(()) => Flow::Continue,
            Err(refusal) => Flow::Answer(*refusal),
        }
    }
}
