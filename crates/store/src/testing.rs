//! Test support for the crates above the store (feature `testing`): a
//! memory store that misbehaves at a chosen moment, to write races and
//! faults as tests. Every call goes to the memory store; a [`Fault`] says
//! what happens around writes and increments.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::{Barrier, watch};

use crate::{Counter, Increment, MemoryStore, Once, Op, StoreError};

/// What a [`Faulty`] store does around the memory store's calls.
#[async_trait]
pub trait Fault: Send + Sync {
    /// Before an entity write reaches the store.
    async fn before_write(&self) {}
    /// After an increment (or a batch) was applied: `Err` is what the
    /// caller sees instead of the answer.
    fn after_increment(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A memory store with a [`Fault`].
pub struct Faulty<F> {
    inner: MemoryStore,
    fault: F,
}

impl<F: Fault> Faulty<F> {
    pub fn new(inner: MemoryStore, fault: F) -> Self {
        Self { inner, fault }
    }
}

/// The first two writes wait for each other: both requests have done all
/// their reading before either writes, the worst interleaving two leaders
/// can produce.
pub struct HoldFirstTwoWrites {
    held: Barrier,
    writes: AtomicUsize,
}

/// A memory store whose first two writes wait for each other.
pub type Lockstep = Faulty<HoldFirstTwoWrites>;

impl Lockstep {
    pub fn lockstep(inner: MemoryStore) -> Self {
        Faulty::new(
            inner,
            HoldFirstTwoWrites {
                held: Barrier::new(2),
                writes: AtomicUsize::new(0),
            },
        )
    }
}

#[async_trait]
impl Fault for HoldFirstTwoWrites {
    async fn before_write(&self) {
        if self.writes.fetch_add(1, Ordering::SeqCst) < 2 {
            self.held.wait().await;
        }
    }
}

/// The first increment lands, then its answer is lost (a timeout), as a
/// remote store does when the connection drops after the commit.
#[derive(Default)]
pub struct LoseFirstAnswer {
    lost: AtomicBool,
}

#[async_trait]
impl Fault for LoseFirstAnswer {
    fn after_increment(&self) -> Result<(), StoreError> {
        if self.lost.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        Err(StoreError::Unavailable {
            backend: "lost-answer",
            message: "timed out after 5s".into(),
        })
    }
}

#[async_trait]
impl<F: Fault + 'static> crate::Store for Faulty<F> {
    fn backend(&self) -> &'static str {
        "faulty"
    }
    fn connection(&self) -> crate::DatastoreConnection {
        crate::Store::connection(&self.inner)
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
        self.fault.before_write().await;
        self.inner.write(ops).await
    }
    async fn revision(&self) -> Result<u64, StoreError> {
        self.inner.revision().await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes()
    }
    async fn incr(&self, key: &str, by: i64, at: Option<u64>) -> Result<i64, StoreError> {
        let total = self.inner.incr(key, by, at).await?;
        self.fault.after_increment()?;
        Ok(total)
    }
    async fn incr_batch(&self, once: Option<&Once>, inc: &[Increment]) -> Result<bool, StoreError> {
        let applied = self.inner.incr_batch(once, inc).await?;
        self.fault.after_increment()?;
        Ok(applied)
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
