//! Every plugin komainu implements, in one table: its Otoroshi id, what it
//! is, the steps it works in, and how its config is decoded, defaulted and
//! described. Validation at write time, `GET /api/plugins`, the OpenAPI
//! document and the UI read this table; ids are compared here only, at
//! write and compile time, never on the request path.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::context::Plugin;
use crate::step::Step;
use crate::{
    additional_headers_in, additional_headers_out, allow_http_methods, apikey_calls,
    brotli_response_compressor, cors, force_https_traffic, gzip_response_compressor,
    headers_validation, ip_address_allowed_list, ip_address_block_list, maintenance_mode,
    missing_headers_in, missing_headers_out, otoroshi_headers_in, override_host, read_only_calls,
    redirection, remove_headers_in, remove_headers_out, request_body_length_limiter,
    response_body_length_limiter, robots, security_headers, send_otoroshi_headers_back,
    simple_basic_auth, static_response, x_forwarded_headers,
};

/// Otoroshi's plugin ids all start with this.
pub const ID_PREFIX: &str = "cp:otoroshi.next.plugins.";

/// Decodes and checks a config, and builds the plugin from it.
pub type Build = fn(&Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>>;

pub struct Descriptor {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub steps: &'static [Step],
    pub build: Build,
    pub default_config: fn() -> Value,
    pub config_schema: fn() -> Value,
}

pub static REGISTRY: &[Descriptor] = &[
    apikey_calls::DESCRIPTOR,
    override_host::DESCRIPTOR,
    force_https_traffic::DESCRIPTOR,
    additional_headers_in::DESCRIPTOR,
    additional_headers_out::DESCRIPTOR,
    remove_headers_in::DESCRIPTOR,
    remove_headers_out::DESCRIPTOR,
    allow_http_methods::DESCRIPTOR,
    read_only_calls::DESCRIPTOR,
    maintenance_mode::MAINTENANCE,
    maintenance_mode::BUILD,
    redirection::DESCRIPTOR,
    static_response::DESCRIPTOR,
    security_headers::DESCRIPTOR,
    robots::DESCRIPTOR,
    request_body_length_limiter::DESCRIPTOR,
    cors::DESCRIPTOR,
    ip_address_allowed_list::DESCRIPTOR,
    ip_address_block_list::DESCRIPTOR,
    headers_validation::DESCRIPTOR,
    missing_headers_in::DESCRIPTOR,
    missing_headers_out::DESCRIPTOR,
    x_forwarded_headers::DESCRIPTOR,
    otoroshi_headers_in::DESCRIPTOR,
    send_otoroshi_headers_back::DESCRIPTOR,
    simple_basic_auth::DESCRIPTOR,
    response_body_length_limiter::DESCRIPTOR,
    gzip_response_compressor::DESCRIPTOR,
    brotli_response_compressor::DESCRIPTOR,
];

/// The plugin with this id (`cp:otoroshi.next.plugins.X`).
pub fn find(id: &str) -> Option<&'static Descriptor> {
    REGISTRY.iter().find(|d| d.id == id)
}

/// Every id, for error messages.
pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|d| d.id).collect()
}

/// `GET /api/plugins`: each plugin with its steps, default config and the
/// JSON schema of its config.
pub fn catalog() -> Value {
    Value::Array(
        REGISTRY
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "name": d.name,
                    "description": d.description,
                    "steps": d.steps.iter().map(|s| s.name()).collect::<Vec<_>>(),
                    "default_config": (d.default_config)(),
                    "config_schema": (d.config_schema)(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_otoroshis() {
        let mut ids = ids();
        assert!(ids.iter().all(|id| id.starts_with(ID_PREFIX)));
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }

    #[test]
    fn every_default_config_builds() {
        for d in REGISTRY {
            let defaults = (d.default_config)();
            assert!((d.build)(&defaults).is_ok(), "{}", d.id);
            assert!((d.build)(&Value::Null).is_ok(), "{}", d.id);
            assert!((d.config_schema)().is_object(), "{}", d.id);
            assert!(!d.steps.is_empty(), "{}", d.id);
        }
    }
}
