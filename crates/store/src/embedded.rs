use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, DatabaseError};
use tokio::sync::watch;

use crate::counter_rules::now_ms;
use crate::notify::publish;
use crate::{Counter, DatastoreConnection, Increment, Once, Op, Store, StoreError};

/// Counter reads and writes on redb.
mod counters;
/// Entity reads, batches and the revision on redb.
mod entities;
/// Group commit: concurrent increments share one durable transaction.
mod incr_queue;
/// Table layout, error mapping and the write-transaction wrapper.
mod tables;

use incr_queue::IncrQueue;
use tables::{BACKEND, FILE_NAME, unavailable};

/// The persistent default: one redb file in the data folder. Every write is
/// committed with immediate durability before it is acknowledged, so it
/// survives `kill -9` and power loss.
pub struct EmbeddedStore {
    db: Arc<Database>,
    changes: watch::Sender<u64>,
    increments: Arc<IncrQueue>,
    path: PathBuf,
    /// When the file was opened: it stays open (and locked) for good.
    opened_at_ms: u64,
}

impl EmbeddedStore {
    /// Opens `<dir>/komainu.redb`, creating the folder and the file if
    /// needed. Blocking: call it at startup, not from a busy runtime thread.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // The datastore holds API key secrets: a new folder is this user's only.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|error| {
            unavailable(format!(
                "cannot create data folder {}: {error}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|error| open_error(dir, &path, error))?;
        tables::create_tables(&db)?;
        let revision = entities::revision(&db)?;
        Ok(Self {
            db: Arc::new(db),
            changes: watch::Sender::new(revision),
            increments: Arc::new(IncrQueue::new()),
            path,
            opened_at_ms: now_ms(),
        })
    }

    /// The database file this store writes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a redb call on the blocking pool: commits wait on fsync, which
    /// must not stall a runtime thread.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || call(&db))
            .await
            .map_err(|error| unavailable(format!("storage task failed: {error}")))?
    }
}

fn open_error(dir: &Path, path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => unavailable(format!(
            "data folder {} is in use: {} is locked by another komainu process \
             (or another store in this one); stop it or choose another data folder",
            dir.display(),
            path.display()
        )),
        error => unavailable(format!("cannot open {}: {error}", path.display())),
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn connection(&self) -> DatastoreConnection {
        DatastoreConnection {
            connected_since_ms: Some(self.opened_at_ms),
            ..DatastoreConnection::opened_now(BACKEND, self.path.display().to_string(), false)
        }
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.blocking(move |db| entities::get(db, &kind, &id)).await
    }

    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (kind, after) = (kind.to_owned(), after.map(str::to_owned));
        self.blocking(move |db| entities::scan(db, &kind, after.as_deref(), limit))
            .await
    }

    async fn count(&self, kind: &str) -> Result<u64, StoreError> {
        let kind = kind.to_owned();
        self.blocking(move |db| entities::count(db, &kind)).await
    }

    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if ops.is_empty() {
            return self.revision().await;
        }
        let changes = self.changes.clone();
        // Published from the blocking task, right after the commit, so that a
        // caller that stops waiting cannot leave a committed batch unannounced.
        self.blocking(move |db| {
            let revision = entities::write(db, ops)?;
            publish(&changes, revision);
            Ok(revision)
        })
        .await
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        self.blocking(entities::revision).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    async fn incr(
        &self,
        key: &str,
        by: i64,
        expires_at_ms: Option<u64>,
    ) -> Result<i64, StoreError> {
        self.increments
            .incr(&self.db, key.to_owned(), by, expires_at_ms)
            .await
    }

    async fn incr_batch(
        &self,
        once: Option<&Once>,
        increments: &[Increment],
    ) -> Result<bool, StoreError> {
        let (once, increments) = (once.cloned(), increments.to_vec());
        self.blocking(move |db| counters::incr_batch(db, once.as_ref(), &increments, now_ms()))
            .await
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError> {
        let keys = keys.to_vec();
        self.blocking(move |db| counters::get_many(db, &keys, now_ms()))
            .await
    }

    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError> {
        let (prefix, after) = (prefix.to_owned(), after.map(str::to_owned));
        self.blocking(move |db| counters::scan(db, &prefix, after.as_deref(), limit, now_ms()))
            .await
    }

    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys = keys.to_vec();
        self.blocking(move |db| counters::reset(db, &keys)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| entities::revision(db).map(drop)).await
    }

    async fn sweep_expired_counters(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut total: u64 = 0;
        loop {
            let removed = self
                .blocking(move |db| counters::sweep_batch(db, now))
                .await?;
            total = total.saturating_add(u64::try_from(removed).unwrap_or(u64::MAX));
            if !counters::sweep_has_more(removed) {
                return Ok(total);
            }
        }
    }
}
