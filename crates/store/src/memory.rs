use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::conditions::check;
use crate::counter_rules::{bumped, live, now_ms, scan_start};
use crate::notify::publish;
use crate::{Counter, DatastoreConnection, Increment, Once, Op, Store, StoreError};

type Entities = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// A store that lives and dies with the process: tests, demos, and nodes
/// whose configuration comes entirely from files.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
    /// Created with the store: there is nothing to lose or reconnect to.
    created_at_ms: u64,
}

#[derive(Default)]
struct Inner {
    /// kind -> id -> bytes, so a kind is one map to scan, count or drop.
    entities: Entities,
    counters: BTreeMap<String, Counter>,
    revision: u64,
}

/// What puts one op of a failed batch back the way it was.
enum Undo {
    Entity {
        kind: String,
        id: String,
        previous: Option<Vec<u8>>,
    },
    Kind {
        kind: String,
        entities: BTreeMap<String, Vec<u8>>,
    },
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            changes: watch::Sender::new(0),
            created_at_ms: now_ms(),
        }
    }

    /// No code path panics while holding the lock, so a poisoned lock still
    /// guards consistent data and is safe to take over.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Applies ops in order, recording how to revert each, and reverts them all
/// at the first failed condition.
fn apply_batch(entities: &mut Entities, ops: Vec<Op>) -> Result<(), StoreError> {
    let mut undo = Vec::with_capacity(ops.len());
    for op in ops {
        if let Err(error) = apply_op(entities, op, &mut undo) {
            revert(entities, undo);
            return Err(error);
        }
    }
    Ok(())
}

fn apply_op(entities: &mut Entities, op: Op, undo: &mut Vec<Undo>) -> Result<(), StoreError> {
    match op {
        Op::Put {
            kind,
            id,
            value,
            condition,
        } => {
            let previous = entities
                .entry(kind.clone())
                .or_default()
                .insert(id.clone(), value);
            let existed = previous.is_some();
            undo.push(Undo::Entity {
                kind: kind.clone(),
                id: id.clone(),
                previous,
            });
            check(condition, existed, kind, id)
        }
        Op::Delete {
            kind,
            id,
            condition,
        } => {
            let previous = remove_entity(entities, &kind, &id);
            let existed = previous.is_some();
            undo.push(Undo::Entity {
                kind: kind.clone(),
                id: id.clone(),
                previous,
            });
            check(condition, existed, kind, id)
        }
        Op::Expect { kind, id, value } => {
            let held = entities.get(&kind).and_then(|of_kind| of_kind.get(&id));
            if held == Some(&value) {
                Ok(())
            } else {
                Err(StoreError::Conflict { kind, id })
            }
        }
        Op::DeleteKind { kind } => {
            if let Some(removed) = entities.remove(&kind) {
                undo.push(Undo::Kind {
                    kind,
                    entities: removed,
                });
            }
            Ok(())
        }
    }
}

/// Drops emptied kinds so that `entities` holds no trace of a deleted kind.
fn remove_entity(entities: &mut Entities, kind: &str, id: &str) -> Option<Vec<u8>> {
    let of_kind = entities.get_mut(kind)?;
    let previous = of_kind.remove(id);
    if of_kind.is_empty() {
        entities.remove(kind);
    }
    previous
}

fn revert(entities: &mut Entities, undo: Vec<Undo>) {
    for step in undo.into_iter().rev() {
        match step {
            Undo::Entity {
                kind,
                id,
                previous: Some(value),
            } => {
                entities.entry(kind).or_default().insert(id, value);
            }
            Undo::Entity {
                kind,
                id,
                previous: None,
            } => {
                remove_entity(entities, &kind, &id);
            }
            Undo::Kind {
                kind,
                entities: removed,
            } => {
                entities.insert(kind, removed);
            }
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "inmemory"
    }

    fn connection(&self) -> DatastoreConnection {
        DatastoreConnection {
            connected_since_ms: Some(self.created_at_ms),
            ..DatastoreConnection::opened_now(self.backend(), "process memory", false)
        }
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .entities
            .get(kind)
            .and_then(|of_kind| of_kind.get(id))
            .cloned())
    }

    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let inner = self.lock();
        let Some(of_kind) = inner.entities.get(kind) else {
            return Ok(Vec::new());
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(of_kind
            .range::<str, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(id, value)| (id.clone(), value.clone()))
            .collect())
    }

    async fn count(&self, kind: &str) -> Result<u64, StoreError> {
        let inner = self.lock();
        let count = inner.entities.get(kind).map_or(0, BTreeMap::len);
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if ops.is_empty() {
            return Ok(inner.revision);
        }
        apply_batch(&mut inner.entities, ops)?;
        inner.revision += 1;
        let revision = inner.revision;
        // Published under the lock: a woken reader blocks on it until this
        // returns, and by then the batch is in place.
        publish(&self.changes, revision);
        Ok(revision)
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.lock().revision)
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
        let mut inner = self.lock();
        let stored = inner.counters.get(key).copied();
        let counter = bumped(stored, by, expires_at_ms, now_ms());
        inner.counters.insert(key.to_owned(), counter);
        Ok(counter.value)
    }

    async fn incr_batch(
        &self,
        once: Option<&Once>,
        increments: &[Increment],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let now = now_ms();
        if let Some(once) = once {
            let marker = inner.counters.get(&once.key).copied();
            if marker.and_then(|counter| live(counter, now)).is_some() {
                return Ok(false);
            }
            let counter = bumped(marker, 1, Some(once.expires_at_ms), now);
            inner.counters.insert(once.key.clone(), counter);
        }
        for increment in increments {
            let stored = inner.counters.get(&increment.key).copied();
            let counter = bumped(stored, increment.by, increment.expires_at_ms, now);
            inner.counters.insert(increment.key.clone(), counter);
        }
        Ok(true)
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError> {
        let inner = self.lock();
        let now = now_ms();
        Ok(keys
            .iter()
            .map(|key| {
                inner
                    .counters
                    .get(key)
                    .and_then(|counter| live(*counter, now))
            })
            .collect())
    }

    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError> {
        let inner = self.lock();
        let now = now_ms();
        Ok(inner
            .counters
            .range::<str, _>((scan_start(prefix, after), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, counter)| live(*counter, now).map(|live| (key.clone(), live)))
            .take(limit)
            .collect())
    }

    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for key in keys {
            inner.counters.remove(key);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn sweep_expired_counters(&self) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let now = now_ms();
        let before = inner.counters.len();
        inner
            .counters
            .retain(|_, counter| live(*counter, now).is_some());
        let removed = before.saturating_sub(inner.counters.len());
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
