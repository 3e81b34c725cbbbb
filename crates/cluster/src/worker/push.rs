//! The quota loop: every `pushEvery`, the calls admitted here since the last
//! push go to the leader as one batch, and the global totals it answers
//! become the counts this worker admits against.
//!
//! Order, as the tracker wants it: `drain` → the leader adds → `observe`
//! the totals it returns. A batch that fails stays pending and is sent again
//! unchanged, with the same id, until a leader acknowledges it: the leader
//! applies an id once, so a batch whose answer was lost is not counted twice,
//! and nothing drained is ever dropped. While a batch is pending no new one is
//! drained; new calls keep counting in the tracker and go in the next batch.
//!
//! Batch ids are `<worker id>:<sequence>`, the sequence starting at the
//! worker's start time in ms: a worker restarted under the same id never
//! reuses the id of a batch the leader has already seen (it sends at most one
//! batch per `pushEvery`, so its sequence never catches up with the clock).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use live::LiveStats;

use super::backoff::{Streak, backoff};
use super::stats::globstats;
use super::status::PushStatus;
use super::sync::refused;
use super::{Failure, Worker, lock, now_ms};
use crate::wire::{PushAnswer, PushLine};

#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub id: String,
    pub body: Bytes,
    /// The counter keys it carries.
    pub keys: HashSet<String>,
}

pub(crate) struct Pusher {
    worker_id: String,
    seq: AtomicU64,
    pending: Mutex<Option<Batch>>,
    /// One push at a time (the loop, or the last push at shutdown).
    round: tokio::sync::Mutex<()>,
    live: Arc<LiveStats>,
    streak: Mutex<Streak>,
    status: Mutex<PushStatus>,
}

impl Pusher {
    pub fn new(worker_id: &str, start_ms: u64, live: Arc<LiveStats>) -> Pusher {
        Pusher {
            worker_id: worker_id.to_string(),
            seq: AtomicU64::new(start_ms),
            pending: Mutex::new(None),
            round: tokio::sync::Mutex::new(()),
            live,
            streak: Mutex::new(Streak::new("quota push to the leaders")),
            status: Mutex::new(PushStatus::default()),
        }
    }

    /// Whether `key` is in a batch not acknowledged yet.
    pub fn is_pending(&self, key: &str) -> bool {
        lock(&self.pending)
            .as_ref()
            .is_some_and(|b| b.keys.contains(key))
    }

    pub fn status(&self) -> PushStatus {
        let mut status = lock(&self.status).clone();
        status.pending_batch = lock(&self.pending).as_ref().map(|b| b.id.clone());
        status
    }

    fn stats_line(&self) -> PushLine {
        PushLine::Stats(globstats(&self.live.figures()))
    }

    /// A push that carries only this worker's stats: no batch id (nothing
    /// to apply once), no counters.
    fn stats_only(&self) -> Bytes {
        let mut body = serde_json::to_vec(&self.stats_line()).unwrap_or_default();
        body.push(b'\n');
        Bytes::from(body)
    }

    /// The pending batch, or a new one from the tracker (then pending until
    /// acknowledged); `None` when there is nothing to send.
    /// With `refresh`, windows with nothing to add are named too (increment
    /// 0) so that the answer brings their global totals.
    fn next(&self, quotas: &proxy::quota::QuotaTracker, refresh: bool) -> Option<Batch> {
        let mut pending = lock(&self.pending);
        if let Some(batch) = pending.as_ref() {
            return Some(batch.clone());
        }
        let increments = quotas.drain();
        let drained: HashSet<&str> = increments.iter().map(|inc| inc.key.as_str()).collect();
        // Windows with nothing to add still ask for their global totals.
        let refresh: Vec<(String, u64)> = if refresh {
            quotas
                .live_windows()
                .into_iter()
                .filter(|(key, _)| !drained.contains(key.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        drop(drained);
        if increments.is_empty() && refresh.is_empty() {
            return None;
        }
        let id = format!(
            "{}:{}",
            self.worker_id,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut lines = vec![PushLine::Batch { id: id.clone() }];
        let mut keys = HashSet::new();
        for inc in increments {
            keys.insert(inc.key.clone());
            lines.push(PushLine::Increment {
                counter: inc.key,
                calls: inc.delta,
                expires_at_ms: inc.expires_at_ms,
            });
        }
        for (key, expires_at_ms) in refresh {
            keys.insert(key.clone());
            lines.push(PushLine::Increment {
                counter: key,
                calls: 0,
                expires_at_ms,
            });
        }
        lines.push(self.stats_line());
        let mut body = Vec::new();
        for line in &lines {
            // Serializing these plain types cannot fail; a line that somehow
            // did would be left out rather than the batch lost.
            if let Ok(bytes) = serde_json::to_vec(line) {
                body.extend_from_slice(&bytes);
                body.push(b'\n');
            }
        }
        let batch = Batch {
            id,
            body: Bytes::from(body),
            keys,
        };
        *pending = Some(batch.clone());
        Some(batch)
    }
}

impl Worker {
    pub(super) async fn push_loop(self: Arc<Self>) {
        let every = self.settings.push_every;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let _round = self.push.round.lock().await;
            match self.push.next(&self.quotas, true) {
                Some(batch) => {
                    self.deliver(&batch, self.settings.quota_retries).await;
                }
                // Nothing to count: the stats still go, so that the cluster
                // view shows this worker's traffic; best effort, no retry.
                None => {
                    let stats = Batch {
                        id: "stats".to_string(),
                        body: self.push.stats_only(),
                        keys: HashSet::new(),
                    };
                    if let Err(failure) = self.send(&stats).await {
                        tracing::debug!(error = %failure.message, "stats push failed");
                    }
                }
            }
        }
    }

    /// One last push at shutdown: the pending batch, then what is left in
    /// the tracker, within `quota_timeout` in all. Best effort.
    pub async fn final_push(&self) {
        let work = async {
            let _round = self.push.round.lock().await;
            for _ in 0..2 {
                // Only what is left to add: nobody will read totals now.
                let Some(batch) = self.push.next(&self.quotas, false) else {
                    return true;
                };
                if !self.deliver(&batch, 0).await {
                    return false;
                }
            }
            // The second batch went; a third could only hold calls admitted
            // during this push.
            true
        };
        let delivered = tokio::time::timeout(self.settings.quota_timeout, work)
            .await
            .unwrap_or(false);
        if !delivered && let Some(batch) = lock(&self.push.pending).as_ref() {
            tracing::warn!(
                batch = %batch.id, counters = batch.keys.len(),
                "quota increments not delivered to a leader before shutdown"
            );
        }
    }

    /// Sends `batch` until a leader acknowledges it or `retries` retries
    /// have failed. On success, observes the totals and clears the pending
    /// batch; returns whether it was delivered.
    async fn deliver(&self, batch: &Batch, retries: u32) -> bool {
        let mut attempt = 0u32;
        loop {
            match self.send(batch).await {
                Ok(answer) => {
                    for total in answer.counters {
                        self.quotas
                            .observe(&total.counter, total.total, total.expires_at_ms);
                    }
                    *lock(&self.push.pending) = None;
                    lock(&self.push.streak).success();
                    let mut status = lock(&self.push.status);
                    status.last_push_at_ms = Some(now_ms());
                    status.consecutive_failures = 0;
                    status.last_error = None;
                    return true;
                }
                Err(failure) => {
                    self.client.failed(failure.leader);
                    let failures = {
                        let mut streak = lock(&self.push.streak);
                        streak.failure(&failure.message, failure.severity);
                        streak.failures()
                    };
                    {
                        let mut status = lock(&self.push.status);
                        status.consecutive_failures = failures;
                        status.last_error = Some(failure.message);
                    }
                    if attempt >= retries {
                        return false;
                    }
                    let s = &self.settings;
                    tokio::time::sleep(backoff(s.retry_delay, s.retry_factor, attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn send(&self, batch: &Batch) -> Result<PushAnswer, Failure> {
        let mut extra = HeaderMap::new();
        extra.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let answer = self
            .client
            .call(
                Method::PUT,
                "/api/cluster/quotas",
                extra,
                batch.body.clone(),
                &self.running(),
                self.settings.quota_timeout,
            )
            .await
            .map_err(|(leader, e)| Failure::warn(leader, e.to_string()))?;
        if answer.status != StatusCode::OK {
            return Err(refused(&answer, answer.status));
        }
        match serde_json::from_slice::<PushAnswer>(&answer.body) {
            Ok(parsed) if parsed.done => Ok(parsed),
            Ok(_) => Err(Failure::warn(
                answer.leader,
                format!("{}: batch {} not done", answer.url, batch.id),
            )),
            Err(e) => Err(Failure::warn(
                answer.leader,
                format!("{}: bad answer to batch {}: {e}", answer.url, batch.id),
            )),
        }
    }
}
