//! Test support for the crates above the store (feature `testing`): stores
//! that misbehave at a chosen moment, to write races and faults as tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::{Barrier, watch};

use crate::{Counter, Increment, MemoryStore, Once, Op, StoreError};

/// A memory store whose first two writes wait for each other: both
/// requests have done all their reading before either writes, the worst
/// interleaving two leaders can produce.
pub struct Lockstep {
    inner: MemoryStore,
    held: Barrier,
    writes: AtomicUsize,
}

impl Lockstep {
    /// `inner`, whose first two writes are held until both arrived.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            held: Barrier::new(2),
            writes: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl crate::Store for Lockstep {
    fn backend(&self) -> &'static str {
        "lockstep"
    }
    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(kind, id).await
    }
    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.scan(kind, after, limit).await
    }
    async fn count(&self, kind: &str) -> Result<u64, StoreError> {
        self.inner.count(kind).await
    }
    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) < 2 {
            self.held.wait().await;
        }
        self.inner.write(ops).await
    }
    async fn revision(&self) -> Result<u64, StoreError> {
        self.inner.revision().await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes()
    }
    async fn incr(&self, key: &str, by: i64, at: Option<u64>) -> Result<i64, StoreError> {
        self.inner.incr(key, by, at).await
    }
    async fn incr_batch(&self, once: Option<&Once>, inc: &[Increment]) -> Result<bool, StoreError> {
        self.inner.incr_batch(once, inc).await
    }
    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError> {
        self.inner.counters(keys).await
    }
    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError> {
        self.inner.scan_counters(prefix, after, limit).await
    }
    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError> {
        self.inner.reset_counters(keys).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
