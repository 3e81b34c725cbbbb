//! What the two kinds of node (`store_node`, `worker_node`) hand to the
//! shared part of a node (`node`), kept apart from all three so that the
//! node modules only depend on it, never on each other.

use std::sync::Arc;

use axum::Router;
use model::StateHandle;
use proxy::quota::QuotaTracker;
use store::Store;

use crate::quota_sync;

/// What a mode hands to the shared part of the node.
pub struct Plane {
    pub state: Arc<StateHandle>,
    pub admin: Router,
    /// The admin UI (standalone and leader nodes, unless `ui.enabled = false`).
    pub ui: Option<Router>,
    /// Lines printed once the port is bound (admin key, where things are).
    pub notes: Vec<String>,
    pub kind: PlaneKind,
}

/// Where the node's state comes from, and what it must do before it stops.
pub enum PlaneKind {
    Store(StoreNode),
    Worker(Arc<cluster::worker::Worker>),
}

impl PlaneKind {
    /// Quota counts taken since the last sync would be lost otherwise.
    pub async fn shutdown(&self, quotas: &QuotaTracker) {
        match self {
            PlaneKind::Store(node) => node.shutdown(quotas).await,
            PlaneKind::Worker(worker) => worker.final_push().await,
        }
    }
}

/// A standalone or leader node's datastore side, kept for the last quota flush.
pub struct StoreNode {
    store: Arc<dyn Store>,
    flusher: Arc<quota_sync::Flusher>,
}

impl StoreNode {
    pub fn new(store: Arc<dyn Store>, flusher: Arc<quota_sync::Flusher>) -> StoreNode {
        StoreNode { store, flusher }
    }

    pub async fn shutdown(&self, quotas: &QuotaTracker) {
        self.flusher.flush(self.store.as_ref(), quotas).await;
    }
}

/// The machine's name, for the members view's `location`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
