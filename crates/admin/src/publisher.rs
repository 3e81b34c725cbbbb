//! Builds the state snapshot from the store and publishes it. Admin writes
//! wait for the snapshot that includes them before answering, so a client that
//! creates an API key can use it on its very next call.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use model::{Kind, State, StateHandle};
use store::{Store, StoreError};
use tokio::sync::Mutex;

/// How many entities one scan call fetches while building the state.
const SCAN_BATCH: usize = 1000;

pub struct Publisher {
    store: Arc<dyn Store>,
    state: Arc<StateHandle>,
    /// Serializes rebuilds: a burst of writes costs one or two rebuilds, not one each.
    building: Mutex<()>,
    /// How long the last rebuild took, in µs (health, benchmarks).
    last_build_us: AtomicU64,
}

impl Publisher {
    pub fn new(store: Arc<dyn Store>, state: Arc<StateHandle>) -> Self {
        Self {
            store,
            state,
            building: Mutex::new(()),
            last_build_us: AtomicU64::new(0),
        }
    }

    /// Makes sure the published state reflects at least `revision`.
    pub async fn publish_up_to(&self, revision: u64) -> Result<(), StoreError> {
        let _guard = self.building.lock().await;
        if self.state.load().revision >= revision && revision != 0 {
            return Ok(());
        }
        let started = Instant::now();
        let state = build_state(self.store.as_ref()).await?;
        let routes = state.routes.len();
        // Compiling route runtimes for 100 000 routes is CPU work: off the
        // threads that serve requests.
        let handle = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || handle.publish(state))
            .await
            .map_err(|e| unavailable(format!("publishing the state failed: {e}")))?;
        let took = started.elapsed();
        self.last_build_us
            .store(took.as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(
            revision,
            routes,
            took_ms = took.as_secs_f64() * 1000.0,
            "state published"
        );
        Ok(())
    }

    pub fn last_build_ms(&self) -> f64 {
        self.last_build_us.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Reads every entity into a new snapshot. The revision is read first: writes
/// landing during the scan may be included early, and their own revision will
/// trigger another rebuild, so the snapshot is never older than it claims.
pub async fn build_state(store: &dyn Store) -> Result<State, StoreError> {
    let revision = store.revision().await?;
    let mut builder = State::builder(revision);
    // Routes are decoded together, off the async threads and on every core.
    let mut routes = Vec::new();
    for kind in Kind::ALL {
        store::scan_each(store, kind.store_key(), SCAN_BATCH, |id, bytes| {
            if kind == Kind::Route {
                routes.push((id.to_string(), bytes.to_vec()));
            } else if let Err(problem) = builder.add(kind, bytes) {
                tracing::warn!(kind = kind.name(), id, %problem, "stored entity left out of the state");
            }
            Ok::<_, StoreError>(ControlFlow::Continue(()))
        })
        .await?;
    }
    // Decoding and indexing the routes (the router) is CPU work: off the
    // async threads.
    tokio::task::spawn_blocking(move || {
        for (id, problem) in builder.add_routes(routes) {
            tracing::warn!(kind = Kind::Route.name(), id, %problem, "stored entity left out of the state");
        }
        builder.build()
    })
        .await
        .map_err(|e| unavailable(format!("building the state failed: {e}")))
}

/// A build that did not finish (its thread panicked or was cancelled).
fn unavailable(message: String) -> StoreError {
    StoreError::Unavailable {
        backend: "state",
        message,
    }
}
