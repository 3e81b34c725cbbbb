//! What the worker knows of its own sync, for the health endpoint.

use serde_json::{Value, json};

/// Where the running state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing yet: the proxy answers 503.
    Loading,
    /// Served from the snapshot file; no leader reached since start.
    Snapshot,
    /// From a leader, this process.
    Synced,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Snapshot => "snapshot",
            Phase::Synced => "synced",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SyncStatus {
    pub phase: Phase,
    /// Worker clock when the state was received (or confirmed by a 304, or
    /// written to the snapshot that was loaded).
    pub received_at_ms: u64,
    /// The data's age at `received_at_ms`.
    pub age_at_receipt_ms: u64,
    pub last_sync_at_ms: Option<u64>,
    /// The `ETag` of the running state, as the leader sent it.
    pub etag: Option<String>,
    pub revision: u64,
    pub digest: String,
    pub last_error: Option<String>,
    pub consecutive_failures: u64,
    /// `saved_at` of the snapshot file on disk, if this process knows it.
    pub snapshot_saved_at_ms: Option<u64>,
}

impl Default for SyncStatus {
    fn default() -> Self {
        SyncStatus {
            phase: Phase::Loading,
            received_at_ms: 0,
            age_at_receipt_ms: 0,
            last_sync_at_ms: None,
            etag: None,
            revision: 0,
            digest: String::new(),
            last_error: None,
            consecutive_failures: 0,
            snapshot_saved_at_ms: None,
        }
    }
}

/// The quota push side, for the same view.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushStatus {
    pub pending_batch: Option<String>,
    pub last_push_at_ms: Option<u64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u64,
}

pub(crate) fn render(
    sync: &SyncStatus,
    push: &PushStatus,
    leader: Option<String>,
    now_ms: u64,
) -> Value {
    let age_ms = match sync.phase {
        Phase::Loading => None,
        _ => Some(
            now_ms
                .saturating_sub(sync.received_at_ms)
                .saturating_add(sync.age_at_receipt_ms),
        ),
    };
    json!({
        "state": sync.phase.name(),
        "age_ms": age_ms,
        "last_sync_at": sync.last_sync_at_ms,
        "leader": leader,
        "revision": sync.revision,
        "digest": sync.digest,
        "last_error": sync.last_error,
        "consecutive_failures": sync.consecutive_failures,
        "quotas": {
            "pending_batch": push.pending_batch,
            "last_push_at": push.last_push_at_ms,
            "last_error": push.last_error,
            "consecutive_failures": push.consecutive_failures,
        },
    })
}
