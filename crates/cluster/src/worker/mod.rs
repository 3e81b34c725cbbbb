//! The worker side of the cluster: it serves traffic from state it gets from
//! the leaders and sends its quota use back.
//!
//! - `sync`: the state loop, a long-poll on `GET /api/cluster/state` with
//!   `If-None-Match`, so that a change reaches this worker as soon as the
//!   leader has it; `pollEvery` is the fallback pace when a leader does not
//!   hold the request.
//! - `push`: the quota loop, `PUT /api/cluster/quotas` every `pushEvery`,
//!   batches identified so that a retried batch is counted once.
//! - `snapshot`: the local state file, loaded at start before any leader
//!   call, so that a worker restarted while the leaders are down still serves.
//! - `client`, `export`, `backoff`, `stats`, `status`: the HTTP
//!   calls, the checks on an export, retry pacing and bounded logging, the
//!   `globstats` figures and the health view.
//!
//! The worker never crashes on what the network gives it: a failed call or a
//! refused export keeps the current state, and the loops retry forever.

/// Retry pacing and rate-limited failure logs.
mod backoff;
/// The HTTP client, the headers of every call, leader failover.
mod client;
/// Checks on a received export; building the `State` from its lines.
mod export;
/// The quota push loop and its batches.
mod push;
/// The local snapshot file.
mod snapshot;
/// The `globstats` figures (also the leader's own).
pub(crate) mod stats;
/// The health view.
mod status;
/// The state long-poll loop.
mod sync;
/// The TLS client config for https:// leaders (`cluster.mtls.*`).
mod tls;

pub use self::tls::{LeaderTlsFiles, leader_tls};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use live::LiveStats;
use model::StateHandle;
use proxy::quota::QuotaTracker;

use self::backoff::Severity;
use self::client::{LeaderClient, Running};
use self::status::{Phase, SyncStatus};

/// Everything a worker needs to reach and identify itself to the leaders;
/// the node fills it from `cluster.*`. Its `Debug` hides the secret.
#[derive(Clone)]
pub struct WorkerSettings {
    pub id: String,
    pub name: String,
    pub version: &'static str,
    pub location: String,
    pub http_port: u16,
    pub https_port: u16,
    /// e.g. `http://127.0.0.1:8091`, tried in turn.
    pub leader_urls: Vec<String>,
    /// The `Host` header of the leaders' admin API.
    pub leader_host: String,
    pub client_id: String,
    pub client_secret: String,
    pub state_retries: u32,
    pub state_timeout: Duration,
    pub poll_every: Duration,
    pub quota_retries: u32,
    pub quota_timeout: Duration,
    pub push_every: Duration,
    pub retry_delay: Duration,
    pub retry_factor: u32,
    /// The snapshot file; none: no snapshot.
    pub dbpath: Option<PathBuf>,
    pub data_stale_after: Duration,
    /// For `https://` leader URLs, from [`leader_tls`]; none: plain HTTP
    /// only (an https URL then fails every call, saying why).
    pub leader_tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSettings")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("leader_urls", &self.leader_urls)
            .field("leader_host", &self.leader_host)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .field("poll_every", &self.poll_every)
            .field("push_every", &self.push_every)
            .field("dbpath", &self.dbpath)
            .field("leader_tls", &self.leader_tls.is_some())
            .finish_non_exhaustive()
    }
}

pub struct Worker {
    settings: WorkerSettings,
    state: Arc<StateHandle>,
    quotas: Arc<QuotaTracker>,
    client: LeaderClient,
    sync: Mutex<SyncStatus>,
    push: push::Pusher,
    spawned: AtomicBool,
}

/// A failed attempt, as the loops react to it.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The leader it failed on (the next attempt goes to the next one).
    pub leader: usize,
    pub message: String,
    pub severity: Severity,
}

impl Failure {
    fn warn(leader: usize, message: impl Into<String>) -> Failure {
        Failure {
            leader,
            message: message.into(),
            severity: Severity::Warn,
        }
    }
}

impl Worker {
    pub fn new(
        settings: WorkerSettings,
        state: Arc<StateHandle>,
        quotas: Arc<QuotaTracker>,
        live: Arc<LiveStats>,
    ) -> Arc<Worker> {
        let client = LeaderClient::new(&settings);
        let push = push::Pusher::new(&settings.id, now_ms(), live);
        Arc::new(Worker {
            settings,
            state,
            quotas,
            client,
            sync: Mutex::new(SyncStatus::default()),
            push,
            spawned: AtomicBool::new(false),
        })
    }

    /// At start, before any leader call: if `dbpath` holds a snapshot
    /// younger than `data_stale_after`, publishes it (and feeds its counters
    /// to the quota tracker) and returns its age.
    pub fn load_snapshot(&self) -> Option<Duration> {
        let path = self.settings.dbpath.as_deref()?;
        if lock(&self.sync).phase != Phase::Loading {
            return None;
        }
        if !path.exists() {
            tracing::info!(path = %path.display(), "no snapshot file yet; waiting for the first leader sync");
            return None;
        }
        let (header, body) = match snapshot::read(path) {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(path = %path.display(), error, "snapshot file ignored");
                return None;
            }
        };
        let now = now_ms();
        let age_ms = header.age_ms(now);
        let stale_ms = self.settings.data_stale_after.as_millis() as u64;
        if age_ms > stale_ms {
            tracing::warn!(
                path = %path.display(), age_ms, stale_ms,
                "snapshot file ignored: older than cluster.worker.dataStaleAfter"
            );
            return None;
        }
        let lines = match export::parse_checked(&body) {
            Ok(lines) => lines,
            Err(error) => {
                tracing::warn!(path = %path.display(), error, "snapshot file ignored: bad line");
                return None;
            }
        };
        let digest = self.apply(header.revision, &header.etag, lines);
        {
            let mut sync = lock(&self.sync);
            sync.phase = Phase::Snapshot;
            sync.received_at_ms = now;
            sync.age_at_receipt_ms = age_ms;
            sync.etag = Some(header.etag.clone());
            sync.revision = header.revision;
            sync.digest = digest;
            sync.snapshot_saved_at_ms = Some(header.saved_at);
        }
        tracing::info!(
            path = %path.display(), age_ms, revision = header.revision,
            "serving from the snapshot file until the first leader sync"
        );
        Some(Duration::from_millis(age_ms))
    }

    /// Starts the state loop and the quota push loop (tokio tasks, on the
    /// current runtime); a second call does nothing.
    pub fn spawn(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("cluster worker started outside a tokio runtime: not syncing");
            return;
        };
        if self.spawned.swap(true, Ordering::AcqRel) {
            return;
        }
        runtime.spawn(Arc::clone(self).state_loop());
        runtime.spawn(Arc::clone(self).push_loop());
    }

    /// For health: `{"state": "loading"|"snapshot"|"synced", "age_ms",
    /// "last_sync_at", "leader", "revision", "digest", "last_error",
    /// "consecutive_failures", "quotas": {..}}`.
    pub fn status(&self) -> serde_json::Value {
        let sync = lock(&self.sync).clone();
        let push = self.push.status();
        status::render(&sync, &push, self.client.last_used(), now_ms())
    }

    /// Publishes the state an export describes (one swap) and feeds its
    /// counters to the tracker; returns the digest it runs under.
    fn apply(&self, revision: u64, etag: &str, lines: Vec<crate::wire::StateLine>) -> String {
        let digest = export::bare_etag(etag).to_string();
        let counters = publish(&self.state, revision, &digest, lines);
        self.observe(counters);
        digest
    }

    /// Feeds an export's counters to the quota tracker.
    fn observe(&self, counters: Vec<crate::wire::CounterLine>) {
        for c in counters {
            // A counter in a batch not yet acknowledged: the export's total
            // may not include it, and observing it would drop the batch's
            // calls from the local count until the batch is delivered.
            if !self.push.is_pending(&c.counter) {
                self.quotas.observe(&c.counter, c.value, c.expires_at_ms);
            }
        }
    }

    /// The state this worker runs, for the identity headers.
    fn running(&self) -> Running {
        let state = self.state.load();
        if !state.loaded {
            return Running {
                digest: None,
                revision: None,
            };
        }
        Running {
            digest: (!state.digest.is_empty()).then(|| state.digest.clone()),
            revision: Some(state.revision),
        }
    }
}

pub(crate) use model::clock::now_ms;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Builds the state an export describes and publishes it (one swap), unless
/// it is the one in force; returns the export's counters. CPU work for a
/// large state: called off the async threads once the node serves.
fn publish(
    handle: &StateHandle,
    revision: u64,
    digest: &str,
    lines: Vec<crate::wire::StateLine>,
) -> Vec<crate::wire::CounterLine> {
    let (state, counters) = export::build_state(revision, digest, lines);
    let current = handle.load();
    // The ETag covers every entity line: same ETag, same entities. Not
    // swapping then spares the data plane a rebuild on leaders that
    // answer 200 to every poll.
    if !(current.loaded && current.digest == digest && current.revision == revision) {
        handle.publish(state);
    }
    counters
}
