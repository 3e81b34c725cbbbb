//! Otoroshi's global config is one large document. komainu types the few
//! fields it acts on and keeps the rest as it came. IP filtering is refused
//! when it lists addresses, since komainu does not enforce it yet.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ValidationErrors;

/// The one id the singleton is stored under.
pub const GLOBAL_ID: &str = "global";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalConfig {
    #[serde(default)]
    pub maintenance_mode: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            maintenance_mode: false,
            extra: Map::new(),
        }
    }
}

impl GlobalConfig {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(filtering) = self.extra.get("ipFiltering") {
            for list in ["whitelist", "blacklist"] {
                if filtering
                    .get(list)
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    errors.push(
                        format!("ipFiltering.{list}"),
                        "IP filtering is not enforced by komainu yet; leave it empty",
                    );
                }
            }
        }
        errors.into_result()
    }
}
