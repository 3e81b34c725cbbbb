//! `GET` and `DELETE /api/apikeys/{clientId}/quotas` (and the generic
//! `/apis/apim.otoroshi.io/v1/apikeys/{clientId}/quotas`): an API key's
//! quota use in Otoroshi's shape, and a reset of its current windows.
//!
//! "Current" is what this node counts when it admits a call: the shared
//! store's total (or the total this node last heard plus its calls in
//! flight, when larger) plus the calls this node admitted and has not
//! flushed yet.
//! A reset deletes the current windows' counters in the store and clears
//! them in this node's tracker; the other nodes take the lower totals on
//! their next flush (leaders) or push (workers).

use axum::Json;
use proxy::quota::{CurrentWindow, Window};
use serde_json::{Value, json};

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};
use crate::now_ms;

pub async fn get(ctx: &AdminContext, client_id: &str) -> AdminResult<Json<Value>> {
    quotas(ctx, client_id, now_ms()).await.map(Json)
}

pub async fn reset(ctx: &AdminContext, client_id: &str) -> AdminResult<Json<Value>> {
    let now = now_ms();
    known(ctx, client_id)?;
    let windows = windows(ctx, client_id, now);
    let keys: Vec<String> = windows.iter().map(|w| w.counter_key.clone()).collect();
    if let Some(tracker) = &ctx.quotas {
        tracker.reset(client_id, now);
    }
    ctx.store.reset_counters(&keys).await?;
    tracing::info!(client_id, "quota counters of the current windows reset");
    quotas(ctx, client_id, now).await.map(Json)
}

fn known(ctx: &AdminContext, client_id: &str) -> AdminResult<[u64; 3]> {
    let state = ctx.state.load();
    let key = state
        .apikey(client_id)
        .ok_or_else(|| AdminError::not_found(format!("api key '{client_id}'")))?;
    Ok([key.throttling_quota, key.daily_quota, key.monthly_quota])
}

fn windows(ctx: &AdminContext, client_id: &str, now: u64) -> [CurrentWindow; 3] {
    match &ctx.quotas {
        Some(tracker) => tracker.current_windows(client_id, now),
        // Same keys, nothing unsynced: a node without a tracker counts nothing.
        None => proxy::quota::QuotaTracker::default().current_windows(client_id, now),
    }
}

async fn quotas(ctx: &AdminContext, client_id: &str, now: u64) -> AdminResult<Value> {
    let authorized = known(ctx, client_id)?;
    let windows = windows(ctx, client_id, now);
    let keys: Vec<String> = windows.iter().map(|w| w.counter_key.clone()).collect();
    let stored = ctx.store.counters(&keys).await?;
    let mut current = [0u64; 3];
    for (n, window) in windows.iter().enumerate() {
        let total = stored
            .get(n)
            .and_then(Option::as_ref)
            .map_or(0, |c| c.value.max(0) as u64);
        // During a flush the calls are in neither the store nor `unsynced`
        // but in `heard`; after a reset elsewhere `heard` is stale-high
        // until the next flush: the larger of the two is what admission uses
        // (modulo a second).
        current[n] = total.max(window.heard).saturating_add(window.unsynced);
    }
    let at = |w: Window| {
        let n = Window::ALL.iter().position(|x| *x == w).unwrap_or(0);
        (
            authorized[n],
            current[n],
            authorized[n].saturating_sub(current[n]),
        )
    };
    let (t_auth, t_cur, t_rem) = at(Window::Throttling);
    let (d_auth, d_cur, d_rem) = at(Window::Daily);
    let (m_auth, m_cur, m_rem) = at(Window::Monthly);
    Ok(json!({
        "authorizedCallsPerWindow": t_auth,
        "throttlingCallsPerWindow": t_cur,
        "remainingCallsPerWindow": t_rem,
        "authorizedCallsPerDay": d_auth,
        "currentCallsPerDay": d_cur,
        "remainingCallsPerDay": d_rem,
        "authorizedCallsPerMonth": m_auth,
        "currentCallsPerMonth": m_cur,
        "remainingCallsPerMonth": m_rem,
    }))
}
