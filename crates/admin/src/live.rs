//! `GET /api/live`: this node's live traffic figures (last 10 s) for the UI
//! tiles, plus who the node is.

use axum::Json;
use live::LiveStats;
use serde_json::{Value, json};

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};

pub fn live(ctx: &AdminContext) -> AdminResult<Json<Value>> {
    let live = ctx
        .live
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("live figures are not sampled on this node".into()))?;
    Ok(Json(figures(live, &ctx.info.name, ctx.info.mode)))
}

/// The answer of `/api/live`, shared with the worker's admin host.
pub fn figures(live: &LiveStats, name: &str, mode: &str) -> Value {
    let mut body = serde_json::to_value(live.figures()).unwrap_or_else(|_| json!({}));
    body["node"] = json!({"name": name, "mode": mode});
    body
}
