//! Otoroshi's global config is one large document. komainu types the few
//! fields it acts on (`maintenanceMode`, `ipFiltering`, enforced on every
//! proxied call before a route is matched) and keeps the rest as it came.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ValidationErrors;

/// The one id the singleton is stored under.
pub const GLOBAL_ID: &str = "global";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlobalConfig {
    #[serde(default)]
    pub maintenance_mode: bool,
    /// Absent stays absent, so that an import exports back as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_filtering: Option<IpFiltering>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            maintenance_mode: false,
            ip_filtering: None,
            extra: Map::new(),
        }
    }
}

/// Otoroshi's `ipFiltering`: client addresses let in (`whitelist`, all
/// when empty) and kept out (`blacklist`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IpFiltering {
    #[serde(default)]
    pub whitelist: Vec<String>,
    #[serde(default)]
    pub blacklist: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GlobalConfig {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Err(problems) = self.gate() {
            for problem in problems {
                errors.push(format!("ipFiltering.{}", problem.path), problem.message);
            }
        }
        errors.into_result()
    }

    /// The maintenance mode and IP lists, compiled for the request path.
    pub fn gate(&self) -> Result<plugins::gate::GlobalGate, Vec<plugins::ConfigError>> {
        let filtering = self.ip_filtering.as_ref();
        plugins::gate::GlobalGate::compile(
            self.maintenance_mode,
            filtering.map_or(&[], |f| &f.whitelist),
            filtering.map_or(&[], |f| &f.blacklist),
        )
    }
}
