//! The PostgreSQL backend: several nodes share one database, each keeping a
//! small pool of connections.
//!
//! Everything lives in the schema named by `settings.root`, created and
//! brought up to date by versioned migrations at connect (`migrations.rs`
//! has the tables). Entity writes are serialized by a lock on the single
//! revision row, so every batch gets the next revision, in commit order, and
//! other nodes hear of it through LISTEN/NOTIFY (`changes.rs`). Counters are
//! single-statement upserts, atomic across nodes.
//!
//! Every call is bounded by `settings.timeout`: on the client (the whole
//! call, the pool's waits) and on the server (`statement_timeout`), and any
//! failure is `StoreError::Unavailable` with backend "postgresql". A lost
//! server costs calls an error, not a hang; once it is back, the pool opens
//! fresh connections and the listener reconnects on its own, so the same
//! store carries on. TLS follows libpq's `sslmode` and its certificate
//! options in the URL (`tls_options`), on rustls (`tls`).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio::sync::watch;

use crate::connection::ConnectionTracker;
use crate::counter_rules::now_ms;
use crate::notify::publish;
use crate::{
    Counter, DatastoreConnection, Increment, Once, Op, RemoteSettings, Store, StoreError,
    valid_root,
};

/// Keeping `changes()` current: local writes, LISTEN, polling.
mod changes;
/// URL to driver configuration, the pool, and lent connections.
mod connection;
/// Counter reads and writes.
mod counters;
/// Entity reads, write batches and the revision.
mod entities;
/// Ephemeral records: upserts, prefix scans, bounded deletes of expired ones.
mod ephemeral;
/// Mapping driver and pool failures to `StoreError`.
mod errors;
/// Strings and numbers to columns, and scan bounds.
mod keys;
/// The schema, as versioned migrations.
mod migrations;
/// Whether NOTIFY reaches the listener (not behind transaction pooling).
mod probe;
/// The statements, with the schema spelled in.
mod sql;
/// The rustls connector each `sslmode` calls for.
mod tls;
/// libpq's TLS options taken out of the URL.
mod tls_options;
/// Statements sent unnamed with their parameter types: nothing prepared
/// stays on a connection.
mod typed;

use changes::{Feed, Tasks};
use connection::Lease;
use errors::{BACKEND, unavailable};

/// A store on a PostgreSQL database that other komainu nodes may share.
pub struct PostgresStore {
    pool: Pool,
    feed: Arc<Feed>,
    /// The listener and the poller: they stop when the store is dropped.
    _tasks: Tasks,
}

/// What every call needs besides a connection.
struct Shared {
    sql: sql::Statements,
    /// `host:port/database`, for error messages (never the password).
    target: String,
    /// The NOTIFY channel of this root.
    channel: String,
}

impl Shared {
    fn failed(&self, doing: &str, error: &tokio_postgres::Error) -> StoreError {
        errors::failed(&self.target, doing, error)
    }
}

impl PostgresStore {
    /// Connects to `settings.url`, creates or migrates the schema
    /// `settings.root`, and starts listening for other nodes' writes. Fails
    /// with `Unavailable` when the server cannot be reached within
    /// `settings.timeout`, when TLS is required and fails (an untrusted
    /// certificate, one for another host name), when the root is not a valid schema name, or when the schema belongs
    /// to a newer komainu.
    pub async fn connect(settings: RemoteSettings) -> Result<PostgresStore, StoreError> {
        if !valid_root(&settings.root) {
            return Err(unavailable(format!(
                "storage root {:?} cannot name a PostgreSQL schema: use 1 to 63 ASCII \
                 letters, digits and '_', not starting with a digit",
                settings.root
            )));
        }
        let driver = connection::driver(&settings)?;
        let target = connection::target(&driver.config);
        let timeout = settings.timeout;
        match tokio::time::timeout(timeout, Self::open(settings, driver, target.clone())).await {
            Ok(opened) => opened,
            Err(_) => Err(unavailable(format!(
                "{target}: connecting timed out after {timeout:?}"
            ))),
        }
    }

    async fn open(
        settings: RemoteSettings,
        driver: connection::Driver,
        target: String,
    ) -> Result<PostgresStore, StoreError> {
        let pool = connection::pool(&driver, settings.pool_size, settings.timeout, &target)?;
        let shared = Arc::new(Shared {
            sql: sql::Statements::new(&settings.root),
            channel: sql::channel(&settings.root),
            target,
        });
        let mut lease = Lease::take(&pool, &shared.target).await?;
        migrations::run(lease.client()?, &settings.root, &shared.target).await?;
        let revision = entities::revision(&shared, lease.client()?).await?;
        lease.release();
        // Encryption and the start time are the LISTEN connection's, set
        // once it is in place (`changes::start` waits for that).
        let connection = DatastoreConnection::opened_now(BACKEND, shared.target.clone(), false);
        let feed = Arc::new(Feed {
            shared,
            changes: watch::Sender::new(revision),
            timeout: settings.timeout,
            tracker: ConnectionTracker::new(connection),
            notifications: watch::Sender::new(0),
        });
        let tasks = changes::start(
            Arc::clone(&feed),
            driver,
            pool.clone(),
            settings.revision_poll,
        )
        .await?;
        Ok(PostgresStore {
            pool,
            feed,
            _tasks: tasks,
        })
    }

    fn shared(&self) -> &Shared {
        &self.feed.shared
    }

    /// Runs `work` on a pooled connection within the call timeout. The
    /// connection goes back to the pool only if `work` finished; one cut
    /// short by the timeout is closed (see `Lease`).
    async fn call<T>(
        &self,
        doing: &str,
        work: impl AsyncFnOnce(&Shared, &mut deadpool_postgres::Object) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let shared = self.shared();
        let tracker = &self.feed.tracker;
        let epoch = tracker.epoch();
        let call = async {
            let mut lease = Lease::take(&self.pool, &shared.target)
                .await
                .inspect_err(|_| tracker.lost(epoch))?;
            let outcome = work(shared, lease.client()?).await;
            // A statement error on a live connection is still an answer.
            if lease.client()?.is_closed() {
                tracker.lost(epoch);
            } else {
                tracker.answered(epoch);
            }
            lease.release();
            outcome
        };
        match tokio::time::timeout(self.feed.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(unavailable(format!(
                "{}: {doing} timed out after {:?}",
                shared.target, self.feed.timeout
            ))),
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn connection(&self) -> DatastoreConnection {
        self.feed.tracker.snapshot()
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.call("reading an entity", async |shared, client| {
            entities::get(shared, client, kind, id).await
        })
        .await
    }

    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.call("scanning entities", async |shared, client| {
            entities::scan(shared, client, kind, after, limit).await
        })
        .await
    }

    async fn count(&self, kind: &str) -> Result<u64, StoreError> {
        self.call("counting entities", async |shared, client| {
            entities::count(shared, client, kind).await
        })
        .await
    }

    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if ops.is_empty() {
            return self.revision().await;
        }
        let revision = self
            .call("writing", async |shared, client| {
                entities::write(shared, client, ops).await
            })
            .await?;
        // Committed: this node's subscribers need not wait for the NOTIFY.
        publish(&self.feed.changes, revision);
        Ok(revision)
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        self.call("reading the revision", async |shared, client| {
            entities::revision(shared, client).await
        })
        .await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.feed.changes.subscribe()
    }

    async fn incr(
        &self,
        key: &str,
        by: i64,
        expires_at_ms: Option<u64>,
    ) -> Result<i64, StoreError> {
        self.call("incrementing a counter", async |shared, client| {
            counters::incr(shared, client, key, by, expires_at_ms, now_ms()).await
        })
        .await
    }

    async fn incr_batch(
        &self,
        once: Option<&Once>,
        increments: &[Increment],
    ) -> Result<bool, StoreError> {
        self.call("applying a counter batch", async |shared, client| {
            counters::incr_batch(shared, client, once, increments, now_ms()).await
        })
        .await
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError> {
        self.call("reading counters", async |shared, client| {
            counters::get_many(shared, client, keys, now_ms()).await
        })
        .await
    }

    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError> {
        self.call("scanning counters", async |shared, client| {
            counters::scan(shared, client, prefix, after, limit, now_ms()).await
        })
        .await
    }

    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError> {
        self.call("resetting counters", async |shared, client| {
            counters::reset(shared, client, keys).await
        })
        .await
    }

    async fn put_ephemeral(
        &self,
        key: &str,
        value: &[u8],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.call("writing an ephemeral record", async |shared, client| {
            ephemeral::put(shared, client, key, value, expires_at_ms, now_ms()).await
        })
        .await
    }

    async fn scan_ephemeral(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.call("scanning ephemeral records", async |shared, client| {
            ephemeral::scan(shared, client, prefix, limit, now_ms()).await
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.call("pinging", async |shared, client| {
            client
                .simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|error| shared.failed("pinging", &error))
        })
        .await
    }

    /// Batch after batch, each its own bounded statement, until none is
    /// left or half the call timeout is spent: a large backlog is worked off
    /// over several sweeps instead of failing each one at the timeout.
    /// A batch of expired ephemeral records goes first, uncounted (puts
    /// remove them too).
    async fn sweep_expired_counters(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let started = Instant::now();
        let budget = self.feed.timeout / 2;
        self.call(
            "sweeping expired ephemeral records",
            async |shared, client| {
                ephemeral::sweep_batch(shared, client, now, ephemeral::SWEEP_BATCH).await
            },
        )
        .await?;
        let mut total: u64 = 0;
        loop {
            let removed = self
                .call("sweeping expired counters", async |shared, client| {
                    counters::sweep_batch(shared, client, now).await
                })
                .await?;
            total = total.saturating_add(removed);
            if removed < keys::from_bigint(counters::SWEEP_BATCH) || started.elapsed() >= budget {
                return Ok(total);
            }
        }
    }
}
