//! The state loop: long-poll the leaders, check and apply what they send.
//!
//! `GET /api/cluster/state?wait=<pollEvery>` carries `If-None-Match` once
//! this process has synced: a komainu leader holds it until its state changes
//! (200, polled again at once) or the wait ends (304, polled again at once).
//! A leader that does not hold the request (it answers 304 at once, or 200
//! with no `ETag` or the same one) is polled every `pollEvery` instead, as
//! Otoroshi workers do.
//!
//! A failed attempt (no answer, bad status, refused export) is retried on the
//! next leader after `retryDelay × retryFactor^n`, up to `state.retries`
//! times; then the loop waits `pollEvery` and starts over, forever.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::backoff::{Severity, Streak, backoff};
use super::client::Answer;
use super::status::Phase;
use super::{Failure, Worker, export, lock, millis, now_ms, snapshot};

/// Shortest time between the starts of two polls, so that a leader whose
/// state changes without pause is not asked in a tight loop.
const MIN_POLL_GAP: Duration = Duration::from_millis(25);

/// How long to wait before the next poll, after a successful one.
struct Pace(Duration);

impl Worker {
    pub(super) async fn state_loop(self: Arc<Self>) {
        let mut streak = Streak::new("state sync with the leaders");
        let mut failed_in_round = 0u32;
        loop {
            let started = Instant::now();
            match self.poll_once(started).await {
                Ok(Pace(wait)) => {
                    streak.success();
                    failed_in_round = 0;
                    {
                        let mut sync = lock(&self.sync);
                        sync.consecutive_failures = 0;
                    }
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(failure) => {
                    self.client.failed(failure.leader);
                    streak.failure(&failure.message, failure.severity);
                    {
                        let mut sync = lock(&self.sync);
                        sync.consecutive_failures = streak.failures();
                        sync.last_error = Some(failure.message);
                    }
                    let wait = if failed_in_round < self.settings.state_retries {
                        let wait = backoff(
                            self.settings.retry_delay,
                            self.settings.retry_factor,
                            failed_in_round,
                        );
                        failed_in_round += 1;
                        wait
                    } else {
                        failed_in_round = 0;
                        self.settings.poll_every
                    };
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One attempt: a poll, and applying what it brings.
    async fn poll_once(&self, started: Instant) -> Result<Pace, Failure> {
        let if_none_match = {
            let sync = lock(&self.sync);
            match sync.phase {
                Phase::Synced => sync.etag.clone(),
                // Before the first sync, even with a snapshot: the first
                // answer brings the current counters too.
                _ => None,
            }
        };
        let poll_every = self.settings.poll_every;
        let mut extra = HeaderMap::new();
        let mut timeout = self.settings.state_timeout;
        if let Some(value) = if_none_match
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            extra.insert(IF_NONE_MATCH, value);
            timeout = poll_every.saturating_add(timeout);
        }
        let path = format!("/api/cluster/state?wait={}", millis(poll_every));
        let answer = self
            .client
            .call(
                Method::GET,
                &path,
                extra,
                Bytes::new(),
                &self.running(),
                timeout,
            )
            .await
            .map_err(|(leader, e)| Failure::warn(leader, e.to_string()))?;
        let until_next_poll = poll_every.saturating_sub(started.elapsed());
        match answer.status {
            StatusCode::NOT_MODIFIED if if_none_match.is_some() => {
                self.confirmed().await;
                let held = started.elapsed() >= poll_every / 2;
                Ok(Pace(if held {
                    Duration::ZERO
                } else {
                    until_next_poll
                }))
            }
            StatusCode::OK => {
                let long_poll = answer.headers.contains_key(http::header::ETAG);
                let etag = self.received(answer).await?;
                let changed = if_none_match.as_deref() != Some(etag.as_str());
                Ok(Pace(if long_poll && changed {
                    MIN_POLL_GAP.saturating_sub(started.elapsed())
                } else {
                    until_next_poll
                }))
            }
            status => Err(refused(&answer, status)),
        }
    }

    /// A 200: checks the export, applies it, writes the snapshot. Returns
    /// the export's `ETag`.
    async fn received(&self, answer: Answer) -> Result<String, Failure> {
        let now = now_ms();
        // Unzipping, checking and compiling a large state is CPU work: off
        // the async threads, so the proxy keeps serving meanwhile.
        let headers = answer.headers.clone();
        let body = answer.body.clone();
        let stale_after = self.settings.data_stale_after;
        let handle = Arc::clone(&self.state);
        let done = tokio::task::spawn_blocking(move || {
            let mut checked = export::check(&headers, body, stale_after, now)?;
            let digest = export::bare_etag(&checked.etag).to_string();
            let lines = std::mem::take(&mut checked.lines);
            let counters = super::publish(&handle, checked.revision, &digest, lines);
            Ok::<_, String>((checked, digest, counters))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|result| result)
        .map_err(|e| {
            Failure::warn(
                answer.leader,
                format!("{}: export refused, current state kept: {e}", answer.url),
            )
        })?;
        let (
            export::Export {
                etag,
                revision,
                age_ms,
                body,
                ..
            },
            digest,
            counters,
        ) = done;
        self.observe(counters);
        {
            let mut sync = lock(&self.sync);
            if sync.phase != Phase::Synced {
                tracing::info!(leader = %answer.url, revision, digest, "first state from the leaders applied");
            } else if sync.etag.as_deref() != Some(etag.as_str()) {
                tracing::debug!(leader = %answer.url, revision, digest, "new state applied");
            }
            sync.phase = Phase::Synced;
            sync.received_at_ms = now;
            sync.age_at_receipt_ms = age_ms;
            sync.last_sync_at_ms = Some(now);
            sync.etag = Some(etag.clone());
            sync.revision = revision;
            sync.digest = digest;
            sync.last_error = None;
        }
        self.save_snapshot(now, age_ms, &etag, revision, body).await;
        Ok(etag)
    }

    /// A 304: the state this worker runs is still the leader's.
    async fn confirmed(&self) {
        let now = now_ms();
        let refresh = {
            let mut sync = lock(&self.sync);
            sync.received_at_ms = now;
            sync.age_at_receipt_ms = 0;
            sync.last_sync_at_ms = Some(now);
            sync.last_error = None;
            // Keep the file's age well under dataStaleAfter while the state
            // does not change, without rewriting it at every poll.
            let every = millis(self.settings.data_stale_after) / 4;
            match sync.snapshot_saved_at_ms {
                Some(saved) if now.saturating_sub(saved) >= every => {
                    sync.snapshot_saved_at_ms = Some(now);
                    sync.etag.clone()
                }
                _ => None,
            }
        };
        if let (Some(etag), Some(path)) = (refresh, self.settings.dbpath.clone()) {
            let done =
                tokio::task::spawn_blocking(move || snapshot::refresh(&path, &etag, now)).await;
            if let Ok(Err(error)) | Err(error) = done.map_err(|e| e.to_string()) {
                tracing::warn!(error, "could not refresh the snapshot file");
            }
        }
    }

    async fn save_snapshot(&self, now: u64, age_ms: u64, etag: &str, revision: u64, body: Bytes) {
        let Some(path) = self.settings.dbpath.clone() else {
            return;
        };
        let header = snapshot::Header {
            komainu_snapshot: snapshot::VERSION,
            saved_at: now,
            from_age_ms: age_ms,
            etag: etag.to_string(),
            revision,
            digest: String::new(),
        };
        let done = tokio::task::spawn_blocking(move || {
            snapshot::write(&path, &header, &body).map_err(|e| format!("{}: {e}", path.display()))
        })
        .await;
        match done.map_err(|e| e.to_string()) {
            Ok(Ok(())) => lock(&self.sync).snapshot_saved_at_ms = Some(now),
            Ok(Err(error)) | Err(error) => {
                tracing::warn!(error, "could not write the snapshot file; serving on")
            }
        }
    }
}

/// A status the worker cannot use.
pub(super) fn refused(answer: &Answer, status: StatusCode) -> Failure {
    // A leader whose HTTPS listener wants a client certificate on the
    // cluster endpoints says so in the body (`https.clientAuth`).
    if status == StatusCode::FORBIDDEN
        && String::from_utf8_lossy(&answer.body).contains("client_certificate_required")
    {
        return Failure {
            leader: answer.leader,
            message: format!(
                "{}: the leader requires a client certificate it trusts ({status}): check cluster.mtls.certPath/keyPath",
                answer.url
            ),
            severity: Severity::Error,
        };
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Failure {
            leader: answer.leader,
            message: format!(
                "{}: the leader refused our credentials ({status}): check cluster.leader.clientId/clientSecret",
                answer.url
            ),
            severity: Severity::Error,
        };
    }
    let excerpt: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .take(200)
        .collect();
    Failure::warn(
        answer.leader,
        format!("{}: answered {status}: {}", answer.url, excerpt.trim()),
    )
}
