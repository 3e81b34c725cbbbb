//! Header names and values from a plugin's config, checked once at write
//! time and kept ready to insert: a value without expressions as a
//! `HeaderValue`, one with `${...}` expressions parsed, to be rendered.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::context::{RequestCtx, ResponseCtx};
use crate::facts::Lookup;
use crate::render::HeaderText;
use crate::template::{Needs, Reads};

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

/// Header names with their values, fixed or rendered per request.
pub struct HeaderList {
    pairs: Box<[(HeaderName, HeaderText)]>,
    needs: Needs,
}

impl HeaderList {
    /// Adds what the values read of the request to `reads`.
    pub fn reads(&self, reads: &mut Reads) {
        if self.needs.is_empty() {
            return;
        }
        for template in self.pairs.iter().filter_map(|(_, text)| text.template()) {
            reads.add(template);
        }
    }

    /// Sets the headers on the request going upstream; `only_missing`
    /// leaves a header the request already has. A rendered value that
    /// would be invalid is skipped.
    pub fn set_on_request(&self, request: &mut RequestCtx<'_>, only_missing: bool) {
        for (name, text) in self.pairs.iter() {
            if only_missing && request.headers.contains_key(name) {
                continue;
            }
            if let Some(value) = text.value(|| request.lookup()) {
                request.headers.insert(name.clone(), value);
            }
        }
    }

    /// Sets the headers on the response, read against the request facts
    /// the route kept for its response step.
    pub fn set_on_response(&self, response: &mut ResponseCtx<'_>, only_missing: bool) {
        let request = response.request;
        self.set_on(response.headers, only_missing, || match request {
            Some(facts) => facts.lookup(),
            None => Lookup::empty(),
        });
    }

    /// Sets the headers on a map the lookup does not borrow.
    pub fn set_on<'a>(
        &self,
        headers: &mut HeaderMap,
        only_missing: bool,
        lookup: impl Fn() -> Lookup<'a>,
    ) {
        for (name, text) in self.pairs.iter() {
            if only_missing && headers.contains_key(name) {
                continue;
            }
            if let Some(value) = text.value(&lookup) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

/// How the values of a header list are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// `${...}` expressions are parsed (unknown ones refused).
    Expressions,
    /// Sent as written, `${` included.
    Literal,
}

pub fn pairs(
    headers: &BTreeMap<String, String>,
    values: Values,
) -> Result<HeaderList, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(headers.len());
    let mut needs = Needs::NONE;
    for (name, value) in headers {
        let path = format!("headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            errors.push(ConfigError::new(path, "not a valid header name"));
            continue;
        };
        let text = match values {
            Values::Expressions => HeaderText::parse(value),
            Values::Literal => HeaderText::literal(value),
        };
        match text {
            Ok(text) => {
                needs |= text.needs();
                out.push((header, text));
            }
            Err(message) => errors.push(ConfigError::new(path, message)),
        }
    }
    if errors.is_empty() {
        Ok(HeaderList {
            pairs: out.into_boxed_slice(),
            needs,
        })
    } else {
        Err(errors)
    }
}

/// Values compared as written (HeadersValidation): an expression there is
/// refused rather than compared as text.
pub fn fixed_pairs(
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
                "${...} expressions are not supported by komainu in this plugin",
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
