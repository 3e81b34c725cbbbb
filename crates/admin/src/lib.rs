//! The admin API of standalone and leader nodes, in Otoroshi's shapes.
//!
//! This crate owns the HTTP surface that manages entities: the legacy
//! `/api/...` paths and the generic `/apis/{group}/{version}/{plural}` paths
//! (both over the same handlers), export/import, node info, health, the
//! OpenAPI document, admin-key authentication, and the one mapping from
//! errors to HTTP answers. Writes go through the store and are published as a
//! new state snapshot before the answer (see `publisher`).

/// Admin-key authentication middleware.
pub mod auth;
/// JSON request bodies with a size limit.
mod body;
/// Bootstrap of the first admin API key.
pub mod bootstrap;
/// `_bulk`: NDJSON writes of many entities, all or nothing.
mod bulk;
/// The last admin key across a bulk.
mod bulk_admin_keys;
/// Each bulk line checked and turned into the store batch.
mod bulk_plan;
/// The shared context handlers receive.
pub mod context;
/// CRUD handlers shared by legacy and generic paths.
mod entities;
/// Admin errors and their HTTP mapping.
pub mod error;
/// Full export (`GET /api/otoroshi.json`).
mod export;
/// Health in Otoroshi's shape.
pub mod health;
/// Import of a komainu or Otoroshi export (`POST /api/otoroshi.json`).
mod import;
/// The last admin key under concurrent removals.
#[cfg(test)]
mod last_admin_race;
/// `GET /api/live`: the node's live traffic figures.
pub mod live;
/// Media types in `Content-Type` and `Accept`.
mod media;
/// Version, infos, the kinds list.
pub mod meta;
/// Metrics as JSON or Prometheus text, Otoroshi's way.
pub mod metrics_json;
/// NDJSON bodies and answers (`_bulk`, lists on `Accept`).
mod ndjson;
/// The OpenAPI 3 document of this API.
pub mod openapi;
/// JSON Patch and Merge Patch.
mod patch;
pub mod pki;
/// Builds and publishes the state snapshot from the store.
pub mod publisher;
/// List paging and filtering.
mod query;
/// An API key's quota use and reset.
mod quotas;
/// What read-only callers may not read.
mod redact;
/// Kubernetes-style resources: `spec` is the entity.
mod resource;
/// The path table: which handler answers which path.
mod routes;
/// `_schema`: a kind's JSON schema, generated from its types.
mod schema;
/// YAML bodies and answers, bounded.
mod yaml;

pub use body::JsonBody;
pub use context::{AdminContext, NodeInfo};
pub use error::AdminError;
pub use metrics_json::METRICS_PATH;
pub use pki::{
    ADMIN_CERTIFICATE_ID, UI_CERTIFICATE_ID, ensure_admin_certificate, ensure_ui_certificate,
};
pub use routes::{HEALTH_PATH, router, router_with, served_paths};

/// Store kinds the admin API keeps besides the entity kinds (the sections
/// of an Otoroshi import it does not run): a datastore copy must take them.
pub const STORED_KINDS: [&str; 1] = [import::kept::STORE_KIND];

pub(crate) use model::clock::now_ms;
