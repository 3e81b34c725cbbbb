use async_trait::async_trait;
use tokio::sync::watch;

use crate::{DatastoreConnection, StoreError};

/// When a write applies. Conditions make create (409 on conflict) and update
/// (404 on a missing id) atomic without a read-then-write race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Write whatever is there.
    Any,
    /// Fail with `AlreadyExists` if the entity exists.
    MustNotExist,
    /// Fail with `NotFound` if the entity does not exist.
    MustExist,
}

/// One operation of an atomic batch.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        kind: String,
        id: String,
        value: Vec<u8>,
        condition: Condition,
    },
    Delete {
        kind: String,
        id: String,
        condition: Condition,
    },
    /// Remove every entity of a kind (used by a full import).
    DeleteKind { kind: String },
    /// Writes nothing: rejects the batch with `StoreError::Conflict` unless
    /// the entity holds exactly `value` at this point of the batch. Guards
    /// that read before writing (the last admin key must stay) name what
    /// they counted on, so that a concurrent change of it fails the write
    /// instead of slipping past the check.
    Expect {
        kind: String,
        id: String,
        value: Vec<u8>,
    },
}

/// A counter value and the instant (ms since the Unix epoch) it expires at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub value: i64,
    pub expires_at_ms: Option<u64>,
}

/// One increment of an atomic counter batch (`Store::incr_batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    pub key: String,
    pub by: i64,
    /// As in `Store::incr`: set when the counter is created or found expired.
    pub expires_at_ms: Option<u64>,
}

/// Makes a counter batch apply at most once: a counter named `key` is the
/// marker, alive until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    pub key: String,
    pub expires_at_ms: u64,
}

/// The datastore seen by the rest of the node.
///
/// Every entity write goes through `write`, which applies a batch atomically
/// (all or nothing) and bumps the revision once; subscribers of `changes` see
/// the new revision after the batch is durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs, health and errors: "embedded", "inmemory"...
    fn backend(&self) -> &'static str;

    /// The server (or file) this store uses and since when, for health,
    /// metrics and the Cluster View. Answers from memory: no round trip.
    fn connection(&self) -> DatastoreConnection;

    /// One entity's stored bytes.
    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Entities of a kind in id order, strictly after `after`, at most `limit`
    /// of them. Callers page through a kind with the last id they got.
    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Number of entities of a kind.
    async fn count(&self, kind: &str) -> Result<u64, StoreError>;

    /// Applies the batch atomically and returns the new revision. Ops apply
    /// in order, each seeing the ones before it (`Delete` then `Put` of one
    /// id works; `DeleteKind` then `Put`s replaces a kind). A failed
    /// condition rejects the whole batch: nothing changes and the revision
    /// stays. An empty batch returns the current revision without bumping it.
    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError>;

    /// The revision of the last entity write (0 for an empty new store).
    /// Persistent backends keep it across restarts.
    async fn revision(&self) -> Result<u64, StoreError>;

    /// Wakes on each entity write with the new revision, once the batch is
    /// durable and visible to `get` and `scan`. Never goes backwards; under
    /// concurrent writers a receiver may skip straight to the latest value.
    fn changes(&self) -> watch::Receiver<u64>;

    /// Adds `by` to a counter and returns the new value. An expired counter
    /// counts from zero. `expires_at_ms` (ms since epoch) is set when the
    /// counter is created or found expired; an existing live counter keeps its
    /// expiry, so a quota window is fixed by its first call.
    async fn incr(&self, key: &str, by: i64, expires_at_ms: Option<u64>)
    -> Result<i64, StoreError>;

    /// Applies every increment of `increments` atomically: all of them or
    /// none. With `once`, the batch applies only if its marker counter is not
    /// live, and sets the marker in the same atomic step; a marker already
    /// there means the batch was applied before, and `Ok(false)` is returned
    /// with nothing changed. `Ok(true)` once the batch (and marker) counted.
    /// A key named twice adds twice, in order.
    async fn incr_batch(
        &self,
        once: Option<&Once>,
        increments: &[Increment],
    ) -> Result<bool, StoreError>;

    /// Current values of counters (absent or expired: `None`).
    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError>;

    /// Live counters whose key starts with `prefix`, in key order, strictly
    /// after `after`, at most `limit` (for exports and the admin UI).
    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError>;

    /// Deletes counters (e.g. a quota reset). Missing keys are ignored.
    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Writes a small record that expires by itself at `expires_at_ms` (ms
    /// since the epoch): what nodes sharing a datastore tell each other that
    /// is not configuration (the cluster members each leader hears from).
    /// No revision moves. Backends that cannot be shared between nodes
    /// (memory, embedded) keep the default no-op: the node's own memory
    /// already knows everything a lone node could read back.
    async fn put_ephemeral(
        &self,
        _key: &str,
        _value: &[u8],
        _expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Live ephemeral records whose key starts with `prefix`, in key order,
    /// at most `limit`.
    async fn scan_ephemeral(
        &self,
        _prefix: &str,
        _limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(Vec::new())
    }

    /// Liveness of the backend for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Drops counters whose expiry has passed and returns how many went.
    /// Expired counters already read as absent, so this only reclaims space
    /// (on Redis, which expires counters natively, the index entries of the
    /// counters that went).
    async fn sweep_expired_counters(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
