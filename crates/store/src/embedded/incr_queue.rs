//! Group commit for counter increments.
//!
//! A durable commit costs an fsync (milliseconds), and quotas call `incr` on
//! every proxied request: one commit per call would cap the whole node at a
//! few hundred requests per second. Instead, callers queue their increment
//! and one blocking task applies everything queued so far in a single
//! transaction, commits once, then answers each caller. Every answer still
//! follows a durable commit; concurrency only shares the fsync.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use redb::Database;
use tokio::sync::oneshot;

use super::counters::{CounterTables, incr_in};
use super::tables::{in_write_txn, unavailable};
use crate::StoreError;
use crate::counter_rules::now_ms;

pub(super) struct IncrQueue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// Whether a drainer task owns the queue; at most one runs at a time so
    /// that increments of one key apply in the order they were queued.
    draining: bool,
}

struct Pending {
    key: String,
    by: i64,
    expires_at_ms: Option<u64>,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

impl IncrQueue {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }

    /// Nothing panics under this lock, so a poisoned one still guards a
    /// consistent queue.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) async fn incr(
        self: &Arc<Self>,
        db: &Arc<Database>,
        key: String,
        by: i64,
        expires_at_ms: Option<u64>,
    ) -> Result<i64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_drainer = {
            let mut state = self.lock();
            state.pending.push(Pending {
                key,
                by,
                expires_at_ms,
                reply,
            });
            !std::mem::replace(&mut state.draining, true)
        };
        if start_drainer {
            let drainer = Drainer {
                queue: Arc::clone(self),
                db: Arc::downgrade(db),
                finished: false,
            };
            tokio::task::spawn_blocking(move || drainer.run());
        }
        answer
            .await
            .map_err(|_| unavailable("the counter writer stopped before committing"))?
    }
}

/// Owns the queue while it drains. If it is dropped without finishing (a
/// panic inside redb, or a runtime shutting down before the task ran), it
/// hands the role back and fails what is queued rather than leaving callers
/// waiting forever.
struct Drainer {
    queue: Arc<IncrQueue>,
    /// Weak, and upgraded only around a commit: a caller that got its answer
    /// may drop the store and reopen the folder at once, which fails while
    /// anything still holds the database open.
    db: Weak<Database>,
    finished: bool,
}

impl Drainer {
    fn run(mut self) {
        loop {
            let batch = {
                let mut state = self.queue.lock();
                if state.pending.is_empty() {
                    // Released under the lock, so a caller that queues right
                    // after sees `draining == false` and starts a new drainer.
                    state.draining = false;
                    self.finished = true;
                    return;
                }
                std::mem::take(&mut state.pending)
            };
            let outcome = match self.db.upgrade() {
                Some(db) => commit_batch(&db, &batch),
                None => Err("the store was closed".to_owned()),
            };
            answer(batch, outcome);
        }
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let orphans = {
            let mut state = self.queue.lock();
            state.draining = false;
            std::mem::take(&mut state.pending)
        };
        // Dropping the reply senders wakes each caller with an error.
        drop(orphans);
    }
}

/// Applies the batch in queue order and commits once.
fn commit_batch(db: &Database, batch: &[Pending]) -> Result<Vec<i64>, String> {
    let now = now_ms();
    in_write_txn(db, |txn| {
        let mut tables = CounterTables::open(txn)?;
        batch
            .iter()
            .map(|pending| {
                incr_in(
                    &mut tables,
                    &pending.key,
                    pending.by,
                    pending.expires_at_ms,
                    now,
                )
            })
            .collect()
    })
    .map_err(|error| match error {
        StoreError::Unavailable { message, .. } => message,
        other => other.to_string(),
    })
}

/// Gives each caller its running total, or everyone the commit's error.
fn answer(batch: Vec<Pending>, outcome: Result<Vec<i64>, String>) {
    match outcome {
        Ok(values) => {
            for (pending, value) in batch.into_iter().zip(values) {
                // A caller that stopped waiting still had its hit counted.
                let _ = pending.reply.send(Ok(value));
            }
        }
        Err(message) => {
            for pending in batch {
                let _ = pending.reply.send(Err(unavailable(&message)));
            }
        }
    }
}
