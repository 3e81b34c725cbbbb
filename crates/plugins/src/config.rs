//! A plugin's `config` object decoded into its typed struct. Missing keys
//! take Otoroshi's defaults (`#[serde(default)]` on every config); keys a
//! plugin does not know are kept out of the way (real exports carry extra
//! ones); a wrong type or value names the field.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One problem in a plugin's config: `path` is relative to the config
/// (`max_age`, `headers.X-Foo`), empty for the config as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Decodes a config; `null` (no config given) is the defaults.
pub fn parse<C: DeserializeOwned>(value: &Value) -> Result<C, Vec<ConfigError>> {
    let empty = Value::Object(Default::default());
    let value = if value.is_null() { &empty } else { value };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![ConfigError::new(path, e.into_inner().to_string())]
    })
}

/// The defaults of a config, as JSON.
pub fn defaults<C: Default + Serialize>() -> Value {
    serde_json::to_value(C::default()).unwrap_or(Value::Null)
}

/// The JSON schema of a config, generated from its type.
pub fn schema<C: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(C)).unwrap_or(Value::Null)
}

/// The config of plugins that take none: any object is accepted.
#[derive(Debug, Default, Clone, serde::Deserialize, Serialize, JsonSchema)]
pub struct NoConfig {}
