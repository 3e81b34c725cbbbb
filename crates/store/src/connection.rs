//! Which datastore server a node is using, and since when: what health,
//! metrics and the Cluster View report (`Store::connection`).
//!
//! Backends keep a `ConnectionTracker` and tell it what their connections
//! go through: a call that found the connection gone (`lost`), the first
//! call that got an answer after that (`answered`), a connection opened on
//! purpose (`reconnected`), or a move to another server (`moved_to`, for a
//! Sentinel failover).
//! Reading it is a lock and a clone: cheap enough for every scrape.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::counter_rules::now_ms;

/// One snapshot of where a store's data lives. It never holds a password:
/// endpoints are built from parsed addresses, not from the configured URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreConnection {
    /// The backend, as `Store::backend` names it: "redis", "postgresql",
    /// "embedded", "inmemory".
    pub kind: &'static str,
    /// The server the node talks to now: `host:port` (Redis, plus `/db`
    /// when not 0), `host:port/database` (PostgreSQL; every host of a
    /// multi-host URL), a socket path, or the database file (embedded).
    /// With Sentinel this is the current master, not a sentinel.
    pub endpoint: String,
    /// How `endpoint` was found when it is not configured as such (the
    /// sentinels and master name of a Sentinel setup, the seed nodes of a
    /// Cluster); `None` for a directly configured server.
    pub via: Option<String>,
    /// Whether the connection is encrypted (TLS negotiated, not just
    /// allowed: PostgreSQL's `sslmode=prefer` says what the server chose).
    pub tls: bool,
    /// When the current connection was established (ms since the Unix
    /// epoch), moved on every reconnection; `None` while the server cannot
    /// be reached.
    pub connected_since_ms: Option<u64>,
}

impl DatastoreConnection {
    /// A connection opened now to `endpoint`.
    pub fn opened_now(kind: &'static str, endpoint: impl Into<String>, tls: bool) -> Self {
        Self {
            kind,
            endpoint: endpoint.into(),
            via: None,
            tls,
            connected_since_ms: Some(now_ms()),
        }
    }
}

/// A backend's view of its connection, updated from its call path and
/// background tasks.
///
/// Calls report with the epoch they started in (`epoch`), which moves at
/// every loss and every reconnection: a call that was already under way
/// when the state changed says nothing about the new state (a late error
/// from the dead connection after the server came back, or a late answer
/// from before it went), and is ignored.
#[derive(Debug)]
pub(crate) struct ConnectionTracker {
    current: Mutex<DatastoreConnection>,
    /// Set by `lost`, cleared by a reconnection: keeps the common path (a
    /// successful call while connected) to one atomic load, no lock.
    lost: AtomicBool,
    epoch: AtomicU64,
}

impl ConnectionTracker {
    pub(crate) fn new(connection: DatastoreConnection) -> Self {
        Self {
            current: Mutex::new(connection),
            lost: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> DatastoreConnection {
        self.lock().clone()
    }

    /// What a call notes before it starts, to report with.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A call started in `epoch` found the connection gone (dropped,
    /// refused, reset): not connected until a later call gets through.
    pub(crate) fn lost(&self, epoch: u64) {
        let mut current = self.lock();
        if self.lost.load(Ordering::Acquire) || self.epoch() != epoch {
            return;
        }
        self.lost.store(true, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        current.connected_since_ms = None;
    }

    /// A call started in `epoch` got an answer: if it started after a
    /// loss, a new connection carried it.
    pub(crate) fn answered(&self, epoch: u64) {
        if !self.lost.load(Ordering::Acquire) {
            return;
        }
        let mut current = self.lock();
        if !self.lost.load(Ordering::Acquire) || self.epoch() != epoch {
            return;
        }
        self.renew(&mut current);
    }

    /// A fresh connection was opened on purpose (a listener reconnecting):
    /// it counts from now even if no call saw the old one go. Returns the
    /// epoch to report that connection's loss with.
    pub(crate) fn reconnected(&self, tls: bool) -> u64 {
        let mut current = self.lock();
        current.tls = tls;
        self.renew(&mut current)
    }

    /// The node now talks to another server (a failover's new master).
    pub(crate) fn moved_to(&self, endpoint: String, tls: bool) {
        let mut current = self.lock();
        current.endpoint = endpoint;
        current.tls = tls;
        self.renew(&mut current);
    }

    /// Connected from now on; calls already under way no longer count.
    fn renew(&self, current: &mut DatastoreConnection) -> u64 {
        self.lost.store(false, Ordering::Release);
        current.connected_since_ms = Some(now_ms());
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// No code path panics while holding the lock; a poisoned one still
    /// guards a consistent value.
    fn lock(&self) -> MutexGuard<'_, DatastoreConnection> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> ConnectionTracker {
        ConnectionTracker::new(DatastoreConnection {
            connected_since_ms: Some(1),
            ..DatastoreConnection::opened_now("redis", "h:1", false)
        })
    }

    #[test]
    fn a_loss_clears_since_and_the_next_answer_starts_a_new_one() {
        let tracker = tracker();
        tracker.answered(tracker.epoch());
        assert_eq!(tracker.snapshot().connected_since_ms, Some(1));
        tracker.lost(tracker.epoch());
        assert_eq!(tracker.snapshot().connected_since_ms, None);
        tracker.answered(tracker.epoch());
        let since = tracker.snapshot().connected_since_ms.unwrap();
        assert!(since > 1, "{since}");
        tracker.moved_to("other:2".to_owned(), true);
        let moved = tracker.snapshot();
        assert_eq!((moved.endpoint.as_str(), moved.tls), ("other:2", true));
    }

    #[test]
    fn calls_under_way_across_a_change_are_ignored() {
        let tracker = tracker();
        let before_loss = tracker.epoch();
        tracker.lost(tracker.epoch());
        // An answer that left before the loss does not mean reconnected.
        tracker.answered(before_loss);
        assert_eq!(tracker.snapshot().connected_since_ms, None);
        let during_outage = tracker.epoch();
        tracker.answered(during_outage);
        assert!(tracker.snapshot().connected_since_ms.is_some());
        // A late error from the dead connection does not undo it.
        tracker.lost(during_outage);
        tracker.lost(before_loss);
        assert!(tracker.snapshot().connected_since_ms.is_some());
    }
}
