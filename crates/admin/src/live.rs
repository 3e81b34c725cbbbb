//! `GET /api/live`: live traffic figures.
//!
//! Otoroshi's fields (`calls`, `dataIn`, `dataOut`, `rate`, `duration`,
//! `overhead`, `dataInRate`, `dataOutRate`, `concurrentHandledRequests`)
//! are at the top level: on a leader they are the whole cluster's (the
//! members' pushed figures plus its own), elsewhere the node's. Beside them,
//! komainu's figures of this node alone (`requestsPerSec`, `p50Ms`, …, the
//! UI's node tiles) and `node`; a leader adds `cluster`: its health, how
//! many members count, and the history its home page charts.

use axum::Json;
use live::LiveStats;
use live::cluster::{ClusterFigures, MemberFigures};
use serde_json::{Value, json};

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};

pub async fn live(ctx: &AdminContext) -> AdminResult<Json<Value>> {
    let live = ctx
        .live
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("live figures are not sampled on this node".into()))?;
    let mut body = figures(live, &ctx.info.name, ctx.info.mode);
    if let Some(cluster) = &ctx.cluster {
        let now = cluster.now().await;
        put_otoroshi_fields(&mut body, &now.figures);
        let mut history = cluster.history();
        // The chart ends at the figures just answered, not at the last sample.
        history.push(now.figures.clone());
        body["cluster"] = json!({
            "health": now.health,
            "members": now.figures.members,
            "history": history.iter().map(chart_point).collect::<Vec<_>>(),
        });
    }
    Ok(Json(body))
}

/// The answer of `/api/live` for this node alone, shared with the worker's
/// admin host.
pub fn figures(live: &LiveStats, name: &str, mode: &str) -> Value {
    let own = live.figures();
    let mut body = serde_json::to_value(&own).unwrap_or_else(|_| json!({}));
    let alone = ClusterFigures::sum(&[MemberFigures::from(&own)], own.at);
    put_otoroshi_fields(&mut body, &alone);
    body["node"] = json!({"name": name, "mode": mode});
    body
}

fn put_otoroshi_fields(body: &mut Value, f: &ClusterFigures) {
    for (field, value) in [
        ("calls", json!(f.calls)),
        ("dataIn", json!(f.data_in)),
        ("dataOut", json!(f.data_out)),
        ("rate", json!(f.rate)),
        ("duration", json!(f.duration)),
        ("overhead", json!(f.overhead)),
        ("dataInRate", json!(f.data_in_rate)),
        ("dataOutRate", json!(f.data_out_rate)),
        (
            "concurrentHandledRequests",
            json!(f.concurrent_handled_requests),
        ),
    ] {
        body[field] = value;
    }
}

/// One point of the home page's chart: what it draws, nothing more.
fn chart_point(f: &ClusterFigures) -> Value {
    json!({
        "at": f.at, "rate": f.rate, "duration": f.duration,
        "dataInRate": f.data_in_rate, "dataOutRate": f.data_out_rate,
    })
}
