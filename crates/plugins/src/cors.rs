//! CORS: answers preflights (OPTIONS with Access-Control-Request-Method)
//! itself with 204, or 403 when the origin, method or a requested header is
//! not allowed; adds the Access-Control-* headers to every response of the
//! route (plugins' own answers included). Header values are built once at
//! build time; per request only the client's Origin is read (preflights).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, COOKIE, ORIGIN,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::patterns;
use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, ResponseCtx, json_answer};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.Cors",
    name: "CORS",
    description: "Answers CORS preflights (204, or 403 when not allowed) and adds the Access-Control-* headers to responses.",
    steps: &[Step::PreRoute, Step::TransformResponse],
    build,
    default_config: config::defaults::<CorsConfig>,
    config_schema: config::schema::<CorsConfig>,
};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CorsConfig {
    /// `*` or one origin (`https://app.example.com`).
    pub allow_origin: String,
    pub expose_headers: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    /// Paths (regular expressions on the whole path) where CORS is not applied.
    pub excluded_patterns: Vec<String>,
    /// Seconds a browser may cache a preflight's answer.
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origin: "*".into(),
            expose_headers: Vec::new(),
            allow_headers: Vec::new(),
            allow_methods: Vec::new(),
            excluded_patterns: Vec::new(),
            max_age: None,
            allow_credentials: true,
        }
    }
}

enum AllowOrigin {
    Any,
    One(HeaderValue),
}

struct Cors {
    origin: AllowOrigin,
    credentials: bool,
    /// Lower-cased; a `*` entry is `any_header` instead.
    allow_headers: Box<[String]>,
    any_header: bool,
    allow_methods: Box<[String]>,
    any_method: bool,
    excluded: Box<[Regex]>,
    /// The headers that do not depend on the request.
    fixed: Box<[(HeaderName, HeaderValue)]>,
}

static WILDCARD: HeaderValue = HeaderValue::from_static("*");
static TRUE: HeaderValue = HeaderValue::from_static("true");

/// A list header value (`a, b`), each entry checked with `valid`.
fn joined(
    field: &str,
    entries: &[String],
    valid: fn(&str) -> bool,
    what: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<HeaderValue> {
    let mut ok = true;
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        if entry != "*" && !valid(entry) {
            errors.push(ConfigError::new(
                format!("{field}[{i}]"),
                format!("not {what}"),
            ));
            ok = false;
        }
    }
    if !ok || entries.is_empty() {
        return None;
    }
    let text = entries
        .iter()
        .map(|e| e.trim())
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&text).ok()
}

fn is_header_name(s: &str) -> bool {
    HeaderName::from_bytes(s.as_bytes()).is_ok()
}

fn is_method(s: &str) -> bool {
    !s.is_empty() && Method::from_bytes(s.as_bytes()).is_ok()
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    Ok(Arc::new(compile(config::parse(value)?)?))
}

fn compile(config: CorsConfig) -> Result<Cors, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let origin = match config.allow_origin.trim() {
        "*" => AllowOrigin::Any,
        one => match HeaderValue::from_str(one) {
            Ok(value) if !one.is_empty() && !one.contains("${") => AllowOrigin::One(value),
            _ => {
                errors.push(ConfigError::new(
                    "allow_origin",
                    "`*` or one origin such as https://app.example.com (no ${...} expressions)",
                ));
                AllowOrigin::Any
            }
        },
    };
    let mut fixed = Vec::new();
    let lists = [
        (
            ACCESS_CONTROL_EXPOSE_HEADERS,
            "expose_headers",
            &config.expose_headers,
            is_header_name as fn(&str) -> bool,
            "a header name",
        ),
        (
            ACCESS_CONTROL_ALLOW_HEADERS,
            "allow_headers",
            &config.allow_headers,
            is_header_name,
            "a header name",
        ),
        (
            ACCESS_CONTROL_ALLOW_METHODS,
            "allow_methods",
            &config.allow_methods,
            is_method,
            "an HTTP method",
        ),
    ];
    for (header, field, entries, valid, what) in lists {
        if let Some(value) = joined(field, entries, valid, what, &mut errors) {
            fixed.push((header, value));
        }
    }
    if let Some(age) = config.max_age {
        fixed.push((ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age)));
    }
    let excluded = patterns("excluded_patterns", &config.excluded_patterns, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let lower = |list: &[String]| -> Box<[String]> {
        list.iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| e != "*")
            .collect()
    };
    let has_star = |list: &[String]| list.iter().any(|e| e.trim() == "*");
    Ok(Cors {
        origin,
        credentials: config.allow_credentials,
        allow_headers: lower(&config.allow_headers),
        any_header: has_star(&config.allow_headers),
        allow_methods: lower(&config.allow_methods),
        any_method: has_star(&config.allow_methods),
        excluded: excluded.into_boxed_slice(),
        fixed: fixed.into_boxed_slice(),
    })
}

impl Cors {
    fn excluded(&self, path: &str) -> bool {
        self.excluded.iter().any(|r| r.is_match(path))
    }

    /// Why a preflight is refused, as Otoroshi decides it: the origin must
    /// be the allowed one (any with `*`), the method listed, and each
    /// requested header listed (`*` counts only for calls without cookies
    /// or Authorization, as browsers read it).
    fn refusal(&self, headers: &HeaderMap) -> Option<&'static str> {
        let origin_ok = match (&self.origin, headers.get(ORIGIN)) {
            (AllowOrigin::Any, _) => true,
            (AllowOrigin::One(allowed), Some(origin)) => {
                origin.as_bytes().eq_ignore_ascii_case(allowed.as_bytes())
            }
            (AllowOrigin::One(_), None) => false,
        };
        if !origin_ok {
            return Some("this origin is not allowed");
        }
        let method = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        let method_ok = self.any_method
            || self
                .allow_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method));
        if !method_ok {
            return Some("this method is not allowed");
        }
        let credentials = headers.contains_key(COOKIE) || headers.contains_key(AUTHORIZATION);
        if self.any_header && !credentials {
            return None;
        }
        let allowed = |value: &HeaderValue| {
            value.to_str().is_ok_and(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .all(|h| self.allow_headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
            })
        };
        if headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .all(allowed)
        {
            None
        } else {
            Some("a requested header is not allowed")
        }
    }

    /// Sets the CORS headers. `allow_origin` `*` is sent as `*`, with
    /// credentials or not, as Otoroshi does: echoing the caller's Origin
    /// would let any site make credentialed calls and read the answers.
    fn apply(&self, headers: &mut HeaderMap) {
        let allow = match &self.origin {
            AllowOrigin::One(value) => value,
            AllowOrigin::Any => &WILDCARD,
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow.clone());
        if self.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
        }
        for (name, value) in self.fixed.iter() {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl Plugin for Cors {
    fn pre_route(&self, request: &mut RequestCtx<'_>) -> Flow {
        let preflight = request.method == Method::OPTIONS
            && request.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if !preflight || self.excluded(request.path) {
            return Flow::Continue;
        }
        if let Some(reason) = self.refusal(request.headers) {
            return Flow::Answer(json_answer(StatusCode::FORBIDDEN, "cors_refused", reason));
        }
        let mut answer = Response::new(Bytes::new());
        *answer.status_mut() = StatusCode::NO_CONTENT;
        self.apply(answer.headers_mut());
        Flow::Answer(answer)
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        if !self.excluded(response.path) {
            self.apply(response.headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(config: Value) -> Cors {
        compile(config::parse(&config).unwrap()).unwrap()
    }

    fn preflight(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("GET"),
        );
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_star_header_list_holds_only_without_credentials() {
        let c = cors(serde_json::json!({"allow_methods": ["GET"], "allow_headers": ["*"]}));
        let asked = ("access-control-request-headers", "x-anything");
        assert_eq!(c.refusal(&preflight(&[asked])), None);
        assert!(
            c.refusal(&preflight(&[asked, ("authorization", "Bearer x")]))
                .is_some()
        );
        assert!(c.refusal(&preflight(&[asked, ("cookie", "a=b")])).is_some());
    }

    #[test]
    fn default_config_allows_no_preflight_method() {
        let c = cors(Value::Null);
        assert!(c.refusal(&preflight(&[])).is_some());
        assert!(build(&Value::Null).is_ok());
    }

    #[test]
    fn any_origin_is_sent_as_a_star_even_with_credentials() {
        let mut headers = HeaderMap::new();
        let c = cors(Value::Null);
        c.apply(&mut headers);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        let mut headers = HeaderMap::new();
        cors(serde_json::json!({"allow_credentials": false})).apply(&mut headers);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }
}
