//! The last export, kept so that many workers polling cost one build.
//!
//! An export is reused while the store revision is the one it was built at
//! (any entity write bumps it, so an admin write invalidates at once) and,
//! when a body is served, while it is younger than `cacheStateFor` (counters
//! move without bumping the revision). Builds go one at a time: requests that
//! arrive during a build wait for it and take its result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use store::Store;

use super::LeaderSettings;
use super::dump::Dumper;
use super::error::LeaderError;
use super::export::{self, Export};

pub(crate) struct ExportCache {
    store: Arc<dyn Store>,
    grouping_by: usize,
    compression: i8,
    max_age: Duration,
    /// The last export built. A std mutex: only held to clone an `Arc`.
    last: Mutex<Option<Arc<Export>>>,
    /// Held for the whole of a build (the single flight); guards the ETag of
    /// the last export handed to the dumper.
    building: tokio::sync::Mutex<Option<String>>,
    dumper: Option<Dumper>,
    /// Whether the last call had to fall back on `last` (logs state changes
    /// once instead of once per poll).
    degraded: AtomicBool,
}

impl ExportCache {
    pub(crate) fn new(store: Arc<dyn Store>, settings: &LeaderSettings) -> Self {
        ExportCache {
            store,
            grouping_by: settings.grouping_by,
            compression: settings.compression,
            max_age: settings.cache_state_for,
            last: Mutex::new(None),
            building: tokio::sync::Mutex::new(None),
            dumper: settings.state_dump_path.clone().map(Dumper::new),
            degraded: AtomicBool::new(false),
        }
    }

    /// The last export built, whatever its age (for the member list).
    pub(crate) fn last(&self) -> Option<Arc<Export>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An export to serve as a body: at the current revision and younger
    /// than `cacheStateFor`.
    pub(crate) async fn fresh(&self) -> Result<Arc<Export>, LeaderError> {
        self.get(true).await
    }

    /// An export at the current revision, whatever its age: enough to
    /// compare ETags, which counters do not change.
    pub(crate) async fn current(&self) -> Result<Arc<Export>, LeaderError> {
        self.get(false).await
    }

    /// The export from the store or, while the datastore cannot be read, the
    /// last one built: workers keep getting the state they would have had
    /// (and 304s for it) instead of errors that would trigger failover to
    /// leaders that are just as cut off.
    async fn get(&self, young: bool) -> Result<Arc<Export>, LeaderError> {
        match self.build_if_needed(young).await {
            Ok(export) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("datastore readable again: cluster state served from it");
                }
                Ok(export)
            }
            Err(error) => match self.last() {
                Some(last) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %error, revision = last.revision, "datastore unreadable: serving the last cluster state built until it returns");
                    }
                    Ok(last)
                }
                None => Err(error),
            },
        }
    }

    async fn build_if_needed(&self, young: bool) -> Result<Arc<Export>, LeaderError> {
        let asked = Instant::now();
        let revision = self.store.revision().await?;
        if let Some(e) = self.usable(revision, young, None) {
            return Ok(e);
        }
        let mut dumped = self.building.lock().await;
        // Whoever held the lock may have just built what we need. An export
        // built after we asked is taken even when `cacheStateFor` is 0, so a
        // crowd of pollers still costs one build.
        let revision = self.store.revision().await?;
        if let Some(e) = self.usable(revision, young, Some(asked)) {
            return Ok(e);
        }
        let from_ms = super::now_ms();
        let plain = export::scan(self.store.as_ref(), self.grouping_by).await?;
        let mut built = export::finish(&plain, self.compression, revision, from_ms).await?;
        if let Some(previous) = self.last().filter(|e| e.revision == revision) {
            built.revision_built_ms = previous.revision_built_ms;
        }
        let built = Arc::new(built);
        if let Some(dumper) = &self.dumper
            && dumped.as_deref() != Some(built.etag.as_str())
        {
            dumper.dump(plain.body.clone());
            *dumped = Some(built.etag.clone());
        }
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(built.clone());
        tracing::debug!(revision, etag = %built.etag, lines = built.count, "cluster state export built");
        Ok(built)
    }

    fn usable(&self, revision: u64, young: bool, asked: Option<Instant>) -> Option<Arc<Export>> {
        self.last().filter(|e| {
            e.revision == revision
                && (!young
                    || e.built.elapsed() < self.max_age
                    || asked.is_some_and(|asked| e.built >= asked))
        })
    }
}
