//! The entities komainu manages, in Otoroshi's JSON shapes, and the immutable
//! `State` snapshot the data plane reads.
//!
//! This crate owns the shapes (serde types with Otoroshi's field names and
//! defaults), their validation (every problem reported with the path of the
//! field), the registry of entity kinds served by the admin API, and the
//! snapshot built from them. It has no I/O: the store keeps bytes, the admin
//! API speaks HTTP, and both call in here to decode and check entities.

/// API keys (`apim.otoroshi.io/v1/apikeys`).
pub mod apikey;
/// UTC calendar arithmetic on day numbers (quota windows, dates shown).
pub mod calendar;
/// TLS certificates (`pki.otoroshi.io/v1/certificates`).
pub mod certificate;
/// The wall clock in ms, shared by every crate.
pub mod clock;
/// Validation errors that name each bad field by its path.
pub mod error;
/// The global config singleton (`config.otoroshi.io/v1/global-configs`).
pub mod global_config;
/// Service groups (`organize.otoroshi.io/v1/service-groups`).
pub mod group;
/// Entity ids: the accepted character set and generated ids.
pub mod id;
/// The registry of entity kinds: names, API groups, id fields.
pub mod kind;
/// Decoding, defaulting and validating any kind from JSON.
pub mod normalize;
/// Routes (`proxy.otoroshi.io/v1/routes`).
pub mod route;
/// The compiled route table: host index and longest-prefix match.
pub mod router;
/// The mask read-only callers see instead of secrets.
pub mod secret;
/// The immutable snapshot of every entity the data plane reads.
pub mod state;
/// Certificates indexed by SAN for the TLS handshake.
pub mod tls_index;
#[cfg(test)]
mod tls_tests;
/// Small validation helpers shared by the entity modules.
mod validate;

pub use error::{FieldError, ValidationErrors};
pub use kind::Kind;
pub use state::{State, StateHandle};
pub use tls_index::TlsIndex;
