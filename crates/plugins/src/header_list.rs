//! Header names and values from a plugin's config, checked once at write
//! time and kept ready to insert. `${...}` expressions are not evaluated yet,
//! so a value holding one is refused rather than sent as written.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `headers: {name: value}`, the config of the set-headers plugins.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct HeadersConfig {
    pub headers: BTreeMap<String, String>,
}

/// `header_names: [..]`, the config of the remove-headers plugins.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct HeaderNamesConfig {
    pub header_names: Vec<String>,
}

pub fn pairs(
    headers: &BTreeMap<String, String>,
) -> Result<Box<[(HeaderName, HeaderValue)]>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let path = format!("headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            errors.push(ConfigError::new(path, "not a valid header name"));
            continue;
        };
        if value.contains("${") {
            errors.push(ConfigError::new(
                path,
                "${...} expressions are not supported by komainu yet",
            ));
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(value) => out.push((header, value)),
            Err(_) => errors.push(ConfigError::new(
                path,
                "not a valid header value (visible ASCII and spaces)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out.into_boxed_slice())
    } else {
        Err(errors)
    }
}

pub fn names(names: &[String]) -> Result<Box<[HeaderName]>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) => out.push(header),
            Err(_) => errors.push(ConfigError::new(
                format!("header_names[{i}]"),
                "not a valid header name",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out.into_boxed_slice())
    } else {
        Err(errors)
    }
}
