//! 400 unless the request carries each configured header with exactly the
//! configured value.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::header_list::{self, HeadersConfig};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.HeadersValidation",
    name: "Headers validation",
    description: "Answers 400 unless each configured header is present with exactly the configured value.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<HeadersConfig>,
    config_schema: config::schema::<HeadersConfig>,
};

/// Otoroshi also reads these forms as matchers (`Regex(a.*)`); komainu
/// compares values exactly, so a config using one is refused rather than
/// compared as written (which would refuse every call, or for `Not(..)`
/// forms, let the wrong ones through).
const MATCHER_FORMS: &[&str] = &[
    "Regex(",
    "RegexNot(",
    "Wildcard(",
    "WildcardNot(",
    "Contains(",
    "ContainsNot(",
    "Not(",
    "ContainedIn(",
    "NotContainedIn(",
];

struct HeadersValidation(Box<[(HeaderName, HeaderValue)]>);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: HeadersConfig = config::parse(value)?;
    let errors: Vec<ConfigError> = config
        .headers
        .iter()
        .filter(|(_, value)| {
            let value = value.trim();
            value.ends_with(')') && MATCHER_FORMS.iter().any(|f| value.starts_with(f))
        })
        .map(|(name, _)| {
            ConfigError::new(
                format!("headers.{name}"),
                "matcher forms (Regex(..), Not(..), Contains(..), ...) are not supported by komainu yet: values are compared exactly",
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Arc::new(HeadersValidation(header_list::fixed_pairs(
        &config.headers,
    )?)))
}

impl Plugin for HeadersValidation {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        let wrong = self
            .0
            .iter()
            .find(|(name, expected)| request.headers.get(name) != Some(expected));
        match wrong {
            None => Flow::Continue,
            Some((name, _)) => Flow::Answer(json_answer(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("header {name} is missing or does not have the expected value"),
            )),
        }
    }
}
