//! Moves quota counts between the proxy's local atomics and the datastore on
//! standalone and leader nodes: increments are added to the store every
//! `proxy.quotas.flushEvery`, and the totals the store answers come back as
//! the global counts the proxy admits against. Each flush is a batch that
//! counts at most once (see `Flusher`); a failed one is sent again as is;
//! nothing is lost and nothing is counted twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proxy::quota::QuotaTracker;
use store::{Increment, Once, Store, StoreError};
use tokio::sync::Mutex;

/// Prefix of every quota counter key in the store.
const QUOTA_PREFIX: &str = "quotas:";
/// Counters read back per store call when refreshing totals.
const REFRESH_CHUNK: usize = 500;

/// Loads the live counters so that a restart does not reset a daily quota.
pub async fn load(store: &dyn Store, quotas: &QuotaTracker) -> Result<usize, StoreError> {
    let mut after: Option<String> = None;
    let mut loaded = 0;
    loop {
        let batch = store
            .scan_counters(QUOTA_PREFIX, after.as_deref(), 1000)
            .await?;
        for (key, counter) in &batch {
            quotas.observe(
                key,
                counter.value.max(0) as u64,
                counter.expires_at_ms.unwrap_or(u64::MAX),
            );
        }
        loaded += batch.len();
        match batch.last() {
            Some((key, _)) if batch.len() == 1000 => after = Some(key.clone()),
            _ => return Ok(loaded),
        }
    }
}

/// Prefix of the markers that make one flush batch count at most once.
const FLUSH_PREFIX: &str = "leader-flush:";
/// Increments per counter batch (one atomic store call each).
const FLUSH_CHUNK: usize = 500;
/// How long a batch's marker is kept: far longer than a datastore outage a
/// resend would follow; a batch still unsent after that is resent as new.
const MARKER_MEMORY_MS: u64 = 60 * 60 * 1000;

/// Adds this node's quota counts to the store at most once each.
///
/// A drained set of increments becomes a batch with an id of its own and is
/// applied with `Store::incr_batch` and a marker, as worker pushes are. When
/// the store fails (a timeout may hide a write that did land), the batch is
/// kept and resent as is, same id: the marker makes a batch that did land
/// count once. Its calls stay "in transit" in the tracker meanwhile, so
/// admission keeps counting them.
pub struct Flusher {
    /// Names this process's batches apart from other nodes' and restarts'.
    node: String,
    sequence: AtomicU64,
    /// Batches not known to be applied yet, oldest first. The lock also
    /// keeps two flushes (the ticker and shutdown) from overlapping.
    pending: Mutex<Vec<Batch>>,
}

struct Batch {
    once: Once,
    increments: Vec<Increment>,
}

impl Default for Flusher {
    fn default() -> Self {
        Self::new()
    }
}

impl Flusher {
    pub fn new() -> Self {
        Self {
            node: model::id::random_token(16),
            sequence: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Drains the tracker into new batches, sends every pending batch in
    /// order until one fails, then, when all landed, re-reads the totals of
    /// the windows the node serves.
    pub async fn flush(&self, store: &dyn Store, quotas: &QuotaTracker) {
        let mut pending = self.pending.lock().await;
        let drained = quotas.drain();
        for chunk in drained.chunks(FLUSH_CHUNK) {
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            pending.push(Batch {
                once: Once {
                    key: format!("{FLUSH_PREFIX}{}:{sequence}", self.node),
                    expires_at_ms: model::clock::now_ms().saturating_add(MARKER_MEMORY_MS),
                },
                increments: chunk
                    .iter()
                    .map(|increment| Increment {
                        key: increment.key.clone(),
                        by: i64::try_from(increment.delta).unwrap_or(i64::MAX),
                        expires_at_ms: Some(increment.expires_at_ms),
                    })
                    .collect(),
            });
        }
        let mut sent = 0;
        for batch in pending.iter() {
            match store.incr_batch(Some(&batch.once), &batch.increments).await {
                Ok(applied) => {
                    if !applied {
                        tracing::debug!(batch = %batch.once.key, "quota batch had landed before; not counted again");
                    }
                    sent += 1;
                }
                Err(e) => {
                    // One failure is enough to know the store is down: the
                    // rest waits for the next flush.
                    tracing::warn!(error = %e, batch = %batch.once.key, "could not add quota increments to the datastore; will resend the same batch");
                    break;
                }
            }
        }
        let failed = sent < pending.len();
        pending.drain(..sent);
        drop(pending);
        // With the store failing, reading totals would only wait for another
        // timeout; and a batch still pending may or may not be in them.
        if !failed {
            refresh(store, quotas).await;
        }
    }
}

/// Re-reads the totals of the open windows this node serves: what this
/// node just added, what other nodes sharing the store counted, and a reset
/// made through another node's admin API reach this node's admission this
/// way (a lower total is taken as is).
async fn refresh(store: &dyn Store, quotas: &QuotaTracker) {
    let windows: Vec<(String, u64)> = quotas.live_windows();
    for chunk in windows.chunks(REFRESH_CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|(key, _)| key.clone()).collect();
        match store.counters(&keys).await {
            Ok(values) => {
                for ((key, expires), value) in chunk.iter().zip(values) {
                    let total = value.map_or(0, |c| c.value.max(0) as u64);
                    quotas.observe(key, total, *expires);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not re-read quota totals; next flush will");
                return;
            }
        }
    }
}

pub fn spawn(
    store: Arc<dyn Store>,
    quotas: Arc<QuotaTracker>,
    flusher: Arc<Flusher>,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweeps = 0u32;
        loop {
            ticker.tick().await;
            flusher.flush(store.as_ref(), &quotas).await;
            sweeps = sweeps.wrapping_add(1);
            if sweeps.is_multiple_of(60) {
                let _ = store.sweep_expired_counters().await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use model::apikey::ApiKey;
    use store::MemoryStore;
    use store::testing::{Faulty, LoseFirstAnswer};

    use super::*;

    /// The attack of issue 12 item 10: a flush whose answer is lost after
    /// the store applied it is sent again, and used to count twice.
    #[tokio::test]
    async fn a_flush_that_timed_out_after_landing_counts_once() {
        let store = Faulty::new(MemoryStore::new(), LoseFirstAnswer::default());
        let quotas = QuotaTracker::new(Duration::from_secs(10));
        let key: ApiKey = serde_json::from_value(serde_json::json!({"clientId": "k"})).unwrap();
        let now = model::clock::now_ms();
        for _ in 0..3 {
            quotas.admit(&key, now).unwrap();
        }
        let flusher = Flusher::new();
        flusher.flush(&store, &quotas).await;
        flusher.flush(&store, &quotas).await;
        let daily = proxy::quota::counter_key(
            "k",
            proxy::quota::Window::Daily,
            proxy::quota::daily_window(now).id,
        );
        let stored = store.counters(&[daily]).await.unwrap();
        assert_eq!(stored[0].map(|c| c.value), Some(3));
        assert!(flusher.pending.lock().await.is_empty());
    }
}
