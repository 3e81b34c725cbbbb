//! SecurityHeadersPlugin: the usual browser security headers set on every
//! response of the route. Values are Otoroshi's; a setting left `DISABLED`
//! leaves whatever the backend sent (Otoroshi strips it: a gateway plugin
//! meant to add protection should not remove the backend's).

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Plugin, ResponseCtx};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.SecurityHeadersPlugin",
    name: "Security headers",
    description: "Sets X-Frame-Options, X-XSS-Protection, X-Content-Type-Options, Strict-Transport-Security (HTTPS calls only unless `hsts.on_http`), Content-Security-Policy, Referrer-Policy and Permissions-Policy on responses.",
    steps: &[Step::TransformResponse],
    build,
    default_config: config::defaults::<SecurityHeadersConfig>,
    config_schema: config::schema::<SecurityHeadersConfig>,
};

const DISABLED: &str = "DISABLED";

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct SecurityHeadersConfig {
    /// `DENY`, `SAMEORIGIN` or `DISABLED`.
    pub frame_options: String,
    /// `OFF` (0), `ON` (1), `BLOCK` (1; mode=block) or `DISABLED`.
    pub xss_protection: String,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_options: bool,
    pub hsts: HstsConfig,
    pub csp: CspConfig,
    /// A Referrer-Policy value (`no-referrer`, `same-origin`, ...) or `DISABLED`.
    pub referrer_policy: String,
    pub permissions_policy: PermissionsPolicyConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct HstsConfig {
    pub enabled: bool,
    pub include_subdomains: bool,
    pub max_age: u64,
    pub preload: bool,
    /// Also on plain-HTTP calls (browsers ignore it there).
    pub on_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CspConfig {
    /// `ENABLED`, `REPORT_ONLY` or `DISABLED`.
    pub mode: String,
    pub csp: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct PermissionsPolicyConfig {
    pub enabled: bool,
    pub policy: String,
}

impl Default for SecurityHeadersConfig {
    fn default() -> Self {
        Self {
            frame_options: DISABLED.into(),
            xss_protection: DISABLED.into(),
            content_type_options: false,
            hsts: HstsConfig::default(),
            csp: CspConfig::default(),
            referrer_policy: DISABLED.into(),
            permissions_policy: PermissionsPolicyConfig::default(),
        }
    }
}

impl Default for HstsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            include_subdomains: false,
            max_age: 3600,
            preload: false,
            on_http: false,
        }
    }
}

impl Default for CspConfig {
    fn default() -> Self {
        Self {
            mode: DISABLED.into(),
            csp: String::new(),
        }
    }
}

const REFERRER_POLICIES: [&str; 8] = [
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

struct SecurityHeaders {
    /// Set on every response.
    always: Box<[(HeaderName, HeaderValue)]>,
    /// Strict-Transport-Security, and whether plain HTTP gets it too.
    hsts: Option<(HeaderValue, bool)>,
}

/// One of `accepted` (any case), as written in `accepted`; `None` for DISABLED.
fn choice(
    field: &str,
    value: &str,
    accepted: &[&'static str],
    errors: &mut Vec<ConfigError>,
) -> Option<&'static str> {
    if value.eq_ignore_ascii_case(DISABLED) {
        return None;
    }
    let found = accepted.iter().find(|a| a.eq_ignore_ascii_case(value));
    if found.is_none() {
        errors.push(ConfigError::new(
            field,
            format!("must be one of {}, {DISABLED}", accepted.join(", ")),
        ));
    }
    found.copied()
}

/// A free-text header value from the config, checked once.
fn text(field: &str, value: &str, errors: &mut Vec<ConfigError>) -> Option<HeaderValue> {
    let value = value.trim();
    if value.is_empty() {
        errors.push(ConfigError::new(field, "must not be empty when enabled"));
        return None;
    }
    HeaderValue::from_str(value)
        .map_err(|_| {
            errors.push(ConfigError::new(
                field,
                "not a valid header value (visible ASCII and spaces)",
            ))
        })
        .ok()
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: SecurityHeadersConfig = config::parse(value)?;
    let mut errors = Vec::new();
    let mut always = Vec::new();
    let frame = choice(
        "frame_options",
        &config.frame_options,
        &["DENY", "SAMEORIGIN"],
        &mut errors,
    );
    if let Some(frame) = frame {
        always.push((
            http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static(frame),
        ));
    }
    let xss = choice(
        "xss_protection",
        &config.xss_protection,
        &["OFF", "ON", "BLOCK"],
        &mut errors,
    );
    if let Some(xss) = xss {
        let value = match xss {
            "OFF" => "0",
            "ON" => "1",
            _ => "1; mode=block",
        };
        always.push((
            http::header::X_XSS_PROTECTION,
            HeaderValue::from_static(value),
        ));
    }
    if config.content_type_options {
        always.push((
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    }
    let csp_mode = choice(
        "csp.mode",
        &config.csp.mode,
        &["ENABLED", "REPORT_ONLY"],
        &mut errors,
    );
    if let Some(mode) = csp_mode
        && let Some(value) = text("csp.csp", &config.csp.csp, &mut errors)
    {
        let name = if mode == "ENABLED" {
            http::header::CONTENT_SECURITY_POLICY
        } else {
            http::header::CONTENT_SECURITY_POLICY_REPORT_ONLY
        };
        always.push((name, value));
    }
    let referrer = choice(
        "referrer_policy",
        &config.referrer_policy,
        &REFERRER_POLICIES,
        &mut errors,
    );
    if let Some(referrer) = referrer {
        always.push((
            http::header::REFERRER_POLICY,
            HeaderValue::from_static(referrer),
        ));
    }
    if config.permissions_policy.enabled
        && let Some(value) = text(
            "permissions_policy.policy",
            &config.permissions_policy.policy,
            &mut errors,
        )
    {
        always.push((HeaderName::from_static("permissions-policy"), value));
    }
    let hsts = config.hsts.enabled.then(|| {
        let h = &config.hsts;
        let mut value = format!("max-age={}", h.max_age);
        if h.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if h.preload {
            value.push_str("; preload");
        }
        (value_header(&value), h.on_http)
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Arc::new(SecurityHeaders {
        always: always.into_boxed_slice(),
        hsts,
    }))
}

/// The HSTS value is digits and fixed words only, always a valid header.
fn value_header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("max-age=0"))
}

impl Plugin for SecurityHeaders {
    fn reads_request(&self) -> bool {
        false
    }

    fn transform_response(&self, response: &mut ResponseCtx<'_>) {
        for (name, value) in self.always.iter() {
            response.headers.insert(name.clone(), value.clone());
        }
        if let Some((value, on_http)) = &self.hsts
            && (response.tls || *on_http)
        {
            response
                .headers
                .insert(http::header::STRICT_TRANSPORT_SECURITY, value.clone());
        }
    }
}
