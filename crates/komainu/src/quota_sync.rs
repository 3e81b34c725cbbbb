//! Moves quota counts between the proxy's local atomics and the datastore on
//! standalone and leader nodes: increments are added to the store every
//! `proxy.quotas.flushEvery`, and the totals the store answers come back as
//! the global counts the proxy admits against. A failed flush is put back and
//! sent again; nothing is lost.

use std::sync::Arc;
use std::time::Duration;

use proxy::quota::QuotaTracker;
use store::{Store, StoreError};

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

pub async fn flush(store: &dyn Store, quotas: &QuotaTracker) {
    let drained = quotas.drain();
    let flushed: std::collections::HashSet<String> =
        drained.iter().map(|inc| inc.key.clone()).collect();
    if add(store, quotas, drained).await {
        refresh(store, quotas, &flushed).await;
    }
}

/// Re-reads the totals of the open windows this node serves and did not
/// just add to: what other nodes sharing the store counted, and a reset
/// made through another node's admin API, reach this node's admission this
/// way (a lower total is taken as is).
async fn refresh(
    store: &dyn Store,
    quotas: &QuotaTracker,
    flushed: &std::collections::HashSet<String>,
) {
    let windows: Vec<(String, u64)> = quotas
        .live_windows()
        .into_iter()
        .filter(|(key, _)| !flushed.contains(key))
        .collect();
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

/// Adds the increments to the store and observes the totals; false when
/// the store failed (the rest is put back for the next flush).
async fn add(
    store: &dyn Store,
    quotas: &QuotaTracker,
    drained: Vec<proxy::quota::Increment>,
) -> bool {
    let mut increments = drained.into_iter();
    while let Some(increment) = increments.next() {
        match store
            .incr(
                &increment.key,
                increment.delta as i64,
                Some(increment.expires_at_ms),
            )
            .await
        {
            Ok(total) => {
                quotas.observe(&increment.key, total.max(0) as u64, increment.expires_at_ms)
            }
            Err(e) => {
                // The datastore is down or failing: one timeout is enough to
                // know; the rest waits for the next flush instead of paying
                // one timeout per key.
                tracing::warn!(error = %e, key = %increment.key, "could not add quota increments to the datastore; will retry");
                quotas.restore(std::iter::once(increment).chain(increments).collect());
                return false;
            }
        }
    }
    true
}

pub fn spawn(store: Arc<dyn Store>, quotas: Arc<QuotaTracker>, every: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweeps = 0u32;
        loop {
            ticker.tick().await;
            flush(store.as_ref(), &quotas).await;
            sweeps = sweeps.wrapping_add(1);
            if sweeps.is_multiple_of(60) {
                let _ = store.sweep_expired_counters().await;
            }
        }
    });
}
