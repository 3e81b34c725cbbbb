//! `GET /api/cluster/live?every=<ms>`: the member list as server-sent events
//! for the UI tiles. The stream lives only as long as the client's
//! connection: when it goes, the server drops the body and the ticker with it.
//!
//! Also the cluster-wide figures a leader's `/api/live` answers (the sum of
//! the members' pushed `globstats` and its own) and the history of them the
//! home page charts: one sample every [`SAMPLE_EVERY`], the last
//! [`SAMPLES_KEPT`] kept.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use ::live::cluster::{ClusterFigures, ClusterNow, ClusterView, History, Pending, health_of};

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::time::{MissedTickBehavior, interval};

use super::http::query_u64;
use super::{Leader, now_ms};
use crate::worker::stats::member_figures;

/// How often the leader samples the cluster's figures for the chart.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Ten minutes of samples: a chart of the last minutes, bounded memory.
pub(crate) const SAMPLES_KEPT: usize = 120;

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

impl Leader {
    /// The figures and health of every member in the list (this leader,
    /// the other leaders and the live workers).
    pub(crate) async fn cluster_now(&self) -> ClusterNow {
        let members = self.members().await;
        let members = members.as_array().map(Vec::as_slice).unwrap_or_default();
        let figures: Vec<_> = members
            .iter()
            .map(|m| member_figures(&m["stats"]))
            .collect();
        ClusterNow {
            figures: ClusterFigures::sum(&figures, now_ms()),
            health: health_of(members.iter().filter_map(|m| m["health"].as_str())),
        }
    }

    /// Samples the cluster's figures into the history every [`SAMPLE_EVERY`]
    /// (the first one at once) for as long as the leader lives.
    pub(crate) fn spawn_history_sampler(self: &Arc<Self>) {
        let leader = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = interval(SAMPLE_EVERY);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(leader) = leader.upgrade() else {
                    return;
                };
                let sample = leader.cluster_now().await.figures;
                leader
                    .history
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(sample);
            }
        });
    }
}

/// What the admin API asks a leader about its cluster.
impl ClusterView for Leader {
    fn now(&self) -> Pending<'_, ClusterNow> {
        Box::pin(self.cluster_now())
    }

    fn history(&self) -> Vec<ClusterFigures> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples()
    }
}

/// An empty history of the right size.
pub(crate) fn new_history() -> std::sync::Mutex<History> {
    std::sync::Mutex::new(History::new(SAMPLES_KEPT))
}
