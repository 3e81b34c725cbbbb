//! The datastore behind a standalone or leader node.
//!
//! This crate owns the `Store` trait and its implementations (in-memory and the
//! embedded persistent default). A store keeps entities as opaque JSON bytes
//! keyed by `(kind, id)`, numeric counters with an expiry (quotas), and a
//! revision number that moves on every entity write so that readers (the state
//! builder, the cluster export cache) can wake on change. It knows nothing of
//! entity shapes: validation lives in `model`, above it.

/// The trait every backend implements, and the types it speaks.
mod api;
/// How a write's condition meets what it found, shared by the backends.
mod conditions;
/// Which server a store is connected to, and since when.
mod connection;
/// Counter semantics (expiry, windows, scan bounds) shared by the backends.
mod counter_rules;
/// The persistent default backend, on redb.
mod embedded;
/// Errors a backend reports.
mod error;
/// The backend that keeps everything in process memory.
mod memory;
/// Announcing new revisions to `changes()` subscribers.
mod notify;
/// The shared backend on PostgreSQL: a pool, versioned migrations, a
/// revision row that serializes writers, LISTEN/NOTIFY plus polling for
/// `changes()` (`postgres/` holds one file per concern).
mod postgres;
/// The shared backend on Redis 7+: Lua scripts for atomic batches and
/// counters, pub/sub plus polling for `changes()` (`redis_store/` holds one
/// file per concern and the scripts under `redis_store/lua/`).
mod redis_store;
/// How to reach a shared datastore server.
mod remote;
/// Reading a whole kind page by page.
mod scan;

/// Stores that misbehave on purpose, for tests of the crates above.
#[cfg(feature = "testing")]
pub mod testing;

pub use api::*;
pub use connection::DatastoreConnection;
pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use redis_store::RedisStore;
pub use remote::{RedisTopology, RemoteSettings, TlsFiles, valid_root};
pub use scan::scan_each;
