//! `GET /api/cluster/live?every=<ms>`: the member list as server-sent events
//! for the UI tiles. The stream lives only as long as the client's
//! connection: when it goes, the server drops the body and the ticker with it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::time::{MissedTickBehavior, interval};

use super::Leader;
use super::http::query_u64;

const DEFAULT_EVERY_MS: u64 = 2_000;
/// Faster than this is a UI refreshing for nothing.
const MIN_EVERY_MS: u64 = 250;
/// Slower than this and proxies between the UI and us may cut the stream.
const MAX_EVERY_MS: u64 = 60_000;

pub(crate) async fn get_live(
    State(leader): State<Arc<Leader>>,
    uri: Uri,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let every = query_u64(uri.query(), "every")
        .unwrap_or(DEFAULT_EVERY_MS)
        .clamp(MIN_EVERY_MS, MAX_EVERY_MS);
    let mut ticker = interval(Duration::from_millis(every));
    // A slow client must not get a burst of stale catch-up events.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let events =
        futures_util::stream::unfold((leader, ticker), |(leader, mut ticker)| async move {
            ticker.tick().await;
            let event = Event::default()
                .event("members")
                .data(leader.live_snapshot().await.to_string());
            Some((Ok(event), (leader, ticker)))
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}

impl Leader {
    /// `{"members": [...], "revision": .., "stateBuiltAt": ms, "etag": ..}`, the leader's
    /// digest brought up to date first (see `get_members`).
    async fn live_snapshot(&self) -> serde_json::Value {
        if let Err(e) = self.cache.current().await {
            tracing::warn!(error = %e, "live member event without a current state digest");
        }
        let last = self.cache.last();
        json!({
            "members": self.members().await,
            "revision": last.as_ref().map(|e| e.revision),
            "stateBuiltAt": last.as_ref().map(|e| e.revision_built_ms),
            "etag": last.as_ref().map(|e| e.etag.clone()),
        })
    }
}
