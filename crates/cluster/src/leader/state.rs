//! `GET /api/cluster/state`: the export, `304` when the worker already runs
//! it, and the long-poll that makes a write reach workers in well under a
//! second (Otoroshi needs up to a poll period plus a cache period, ~20 s).
//!
//! Long-poll: with `?wait=<ms>` and an `If-None-Match` naming the current
//! ETag, the request sleeps on the store's change notification (no CPU while
//! idle, however many workers wait) and answers the new export as soon as the
//! entities change, or `304` at the deadline.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::read::GzDecoder;
use tokio::time::{Instant, sleep, sleep_until};

use super::error::LeaderError;
use super::export::Export;
use super::http::{accepts_gzip, if_none_match, put, query_u64, tags_match};
use super::members::Identity;
use super::{Leader, now_ms};
use crate::wire;

/// Fallback re-check during a long-poll when no change is notified: a write
/// made through another leader on a shared datastore does not ring this
/// process's `changes()`, so look at the revision at least this often (the
/// waiting worker's `lastSeen` is refreshed at the same pace).
const MIN_RECHECK: Duration = Duration::from_secs(1);

enum Answer {
    Full(Arc<Export>),
    NotModified(Arc<Export>),
}

pub(crate) async fn get_state(
    State(leader): State<Arc<Leader>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let identity = Identity::from_headers(&headers);
    leader.still_there(identity.as_ref());
    let wait = query_u64(uri.query(), "wait")
        .unwrap_or(0)
        .min(wire::MAX_WAIT_MS);
    let answer = match if_none_match(&headers) {
        None => leader.cache.fresh().await.map(Answer::Full),
        Some(tags) => {
            let wait = Duration::from_millis(wait);
            let answer = leader
                .answer_conditional(&tags, wait, identity.as_ref())
                .await;
            leader.still_there(identity.as_ref());
            answer
        }
    };
    match answer {
        Ok(Answer::Full(export)) => leader.full(&export, accepts_gzip(&headers)).await,
        Ok(Answer::NotModified(export)) => leader.not_modified(&export),
        Err(e) => e.into_response(),
    }
}

impl Leader {
    async fn answer_conditional(
        &self,
        tags: &[String],
        wait: Duration,
        caller: Option<&Identity>,
    ) -> Result<Answer, LeaderError> {
        // Subscribe before looking, so a write landing in between still wakes us.
        let mut changes = self.store.changes();
        let current = self.cache.current().await?;
        if !tags_match(tags, &current.etag) {
            return Ok(Answer::Full(self.cache.fresh().await?));
        }
        if wait.is_zero() {
            return Ok(Answer::NotModified(current));
        }
        let deadline = Instant::now() + wait;
        let recheck = self.settings.cache_state_for.max(MIN_RECHECK);
        let mut notified = true;
        loop {
            tokio::select! {
                changed = changes.changed(), if notified => {
                    // The store is gone: keep waiting on the timers only.
                    notified = changed.is_ok();
                }
                _ = sleep(recheck) => self.still_there(caller),
                _ = sleep_until(deadline) => {
                    return Ok(Answer::NotModified(self.cache.current().await?));
                }
            }
            let current = self.cache.current().await?;
            // A write that leaves the entities as they were (same ETag) is
            // not news: keep waiting.
            if !tags_match(tags, &current.etag) {
                return Ok(Answer::Full(self.cache.fresh().await?));
            }
        }
    }

    fn not_modified(&self, export: &Export) -> Response {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        self.describe(response.headers_mut(), export);
        response
    }

    async fn full(&self, export: &Export, gzip_ok: bool) -> Response {
        let body = if export.gzipped && !gzip_ok {
            match gunzip(export.body.clone()).await {
                Ok(plain) => plain,
                Err(e) => return e.into_response(),
            }
        } else {
            export.body.clone()
        };
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        self.describe(headers, export);
        put(
            headers,
            header::CONTENT_TYPE.as_str(),
            "application/x-ndjson",
        );
        if export.gzipped && gzip_ok {
            put(headers, header::CONTENT_ENCODING.as_str(), "gzip");
        }
        put(headers, header::VARY.as_str(), "Accept-Encoding");
        put(headers, wire::HEADER_COUNT, export.count);
        put(headers, wire::HEADER_DIGEST, &export.digest);
        put(headers, wire::HEADER_FROM, export.from_ms);
        response
    }

    /// Headers on both the 200 and the 304.
    fn describe(&self, headers: &mut HeaderMap, export: &Export) {
        put(
            headers,
            header::ETAG.as_str(),
            format!("\"{}\"", export.etag),
        );
        put(headers, wire::HEADER_REVISION, export.revision);
        put(headers, wire::HEADER_NOW, now_ms());
        put(headers, wire::HEADER_FORMAT, wire::FORMAT);
        put(headers, wire::HEADER_LEADER_NAME, &self.settings.name);
        put(headers, wire::HEADER_LEADER_VERSION, self.settings.version);
        // The export holds API key secrets: no shared cache may keep it.
        put(headers, header::CACHE_CONTROL.as_str(), "private, no-store");
    }
}

/// The plain body for a client that refuses gzip (an operator's tool): rare,
/// so decoded on demand rather than cached twice.
async fn gunzip(body: Bytes) -> Result<Bytes, LeaderError> {
    tokio::task::spawn_blocking(move || {
        let mut plain = Vec::with_capacity(body.len() * 4);
        GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .map(|_| Bytes::from(plain))
    })
    .await
    .map_err(|e| LeaderError::Internal(format!("gunzip task failed: {e}")))?
    .map_err(|e| LeaderError::Internal(format!("gunzip failed: {e}")))
}
