//! An API key in Otoroshi's shape. Unknown fields round-trip in `extra`, but
//! the Otoroshi features that restrict a key (`restrictions`, `rotation`) are
//! refused when enabled: komainu does not enforce them yet, and a key that
//! looks restricted but is not would be worse than an error.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ValidationErrors;
use crate::validate;

/// Otoroshi's "no limit" quota value.
pub const UNLIMITED: u64 = 10_000_000;

/// The service group whose keys may use the admin API (Otoroshi's name).
pub const ADMIN_API_GROUP: &str = "admin-api-group";

/// Metadata entry that narrows an admin key to one role (see [`ApiKey::role`]).
pub const ROLE_METADATA: &str = "komainu.role";

/// What an admin key may do. A key without `komainu.role` metadata is a
/// full admin key (read-write, or read-only with `readOnly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything the admin API allows (within `readOnly`).
    Admin,
    /// `"komainu.role": "worker"`: a cluster worker's key. It may pull the
    /// cluster state and push quotas, nothing else, so that a compromised
    /// worker cannot rewrite the configuration.
    Worker,
}

fn yes() -> bool {
    true
}

fn unlimited() -> u64 {
    UNLIMITED
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub client_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authorized_entities: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub allow_client_id_only: bool,
    #[serde(default = "unlimited")]
    pub throttling_quota: u64,
    #[serde(default = "unlimited")]
    pub daily_quota: u64,
    #[serde(default = "unlimited")]
    pub monthly_quota: u64,
    /// Expiry, ms since the Unix epoch; `null` for never.
    #[serde(default)]
    pub valid_until: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ApiKey {
    pub fn fill_defaults(&mut self) {
        if self.client_secret.is_empty() {
            self.client_secret = crate::id::random_token(64);
        }
        if self.client_name.is_empty() {
            self.client_name = self.client_id.clone();
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validate::id(&mut errors, "clientId", &self.client_id);
        validate::non_empty(&mut errors, "clientSecret", &self.client_secret);
        if crate::secret::is_mask(&self.client_secret) {
            errors.push("clientSecret", crate::secret::REFUSED);
        }
        validate::non_empty(&mut errors, "clientName", &self.client_name);
        for (i, entity) in self.authorized_entities.iter().enumerate() {
            let path = format!("authorizedEntities[{i}]");
            match entity.split_once('_') {
                Some(("route" | "group", id)) => validate::id(&mut errors, &path, id),
                _ => errors.push(path, format!("'{entity}' must be route_<id> or group_<id>")),
            }
        }
        if let Some(role) = self.metadata.get(ROLE_METADATA)
            && !matches!(role.as_str(), "admin" | "worker")
        {
            errors.push(
                format!("metadata.{ROLE_METADATA}"),
                format!("'{role}' is not a role; use 'worker' (cluster workers) or 'admin'"),
            );
        }
        for feature in ["restrictions", "rotation"] {
            if enabled_object(self.extra.get(feature)) {
                errors.push(
                    format!("{feature}.enabled"),
                    format!("{feature} are not enforced by komainu yet; set enabled to false"),
                );
            }
        }
        errors.into_result()
    }

    /// Whether the key is authorized on a route given its id and groups.
    pub fn authorizes(&self, route_id: &str, route_groups: &[String]) -> bool {
        self.authorized_entities
            .iter()
            .any(|e| match e.split_once('_') {
                Some(("route", id)) => id == route_id,
                Some(("group", id)) => route_groups.iter().any(|g| g == id),
                _ => false,
            })
    }

    pub fn is_admin(&self) -> bool {
        self.authorized_entities
            .iter()
            .any(|e| e == &format!("group_{ADMIN_API_GROUP}"))
    }

    /// The role the key's metadata gives it. An unknown role value is read
    /// as `Worker`, the least power, rather than as a full admin: a typo must
    /// not widen a key.
    pub fn role(&self) -> Role {
        match self.metadata.get(ROLE_METADATA).map(String::as_str) {
            None | Some("admin") => Role::Admin,
            Some(_) => Role::Worker,
        }
    }

    /// An enabled, unexpired, read-write admin key with the full admin role:
    /// one that can still administer (the last of them may not be removed).
    pub fn can_administer(&self, now_ms: u64) -> bool {
        self.enabled
            && self.is_admin()
            && !self.expired(now_ms)
            && !self.read_only
            && self.role() == Role::Admin
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.valid_until.is_some_and(|until| until <= now_ms)
    }
}

fn enabled_object(value: Option<&Value>) -> bool {
    value
        .and_then(|v| v.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(metadata: serde_json::Value) -> ApiKey {
        serde_json::from_value(serde_json::json!({"clientId": "k", "clientSecret": "s",
            "clientName": "k", "authorizedEntities": ["group_admin-api-group"],
            "metadata": metadata}))
        .unwrap()
    }

    #[test]
    fn the_worker_role_narrows_an_admin_key() {
        assert_eq!(key(serde_json::json!({})).role(), Role::Admin);
        assert_eq!(
            key(serde_json::json!({"komainu.role": "admin"})).role(),
            Role::Admin
        );
        let worker = key(serde_json::json!({"komainu.role": "worker"}));
        assert_eq!(worker.role(), Role::Worker);
        assert!(worker.is_admin() && !worker.can_administer(0));
        assert!(key(serde_json::json!({})).can_administer(0));
        // A typo is refused on write, and reads as the least power.
        let typo = key(serde_json::json!({"komainu.role": "wroker"}));
        assert_eq!(typo.role(), Role::Worker);
        let errors = typo.validate().unwrap_err();
        assert_eq!(errors.0[0].path, "metadata.komainu.role");
    }
}
