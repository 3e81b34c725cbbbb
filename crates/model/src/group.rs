use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ValidationErrors;
use crate::validate;

/// A service group: a name routes and API keys refer to (`group_<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceGroup {
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
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServiceGroup {
    pub fn fill_defaults(&mut self) {
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validate::id(&mut errors, "id", &self.id);
        validate::non_empty(&mut errors, "name", &self.name);
        errors.into_result()
    }
}
