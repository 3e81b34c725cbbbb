//! Endpoints that describe the node rather than its entities.

use axum::Json;
use axum::http::StatusCode;
use model::Kind;
use serde_json::{Value, json};

use crate::context::AdminContext;

pub fn version(ctx: &AdminContext) -> Json<Value> {
    let v = ctx.info.version;
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (parts.next(), parts.next(), parts.next());
    Json(json!({
        "version_raw": v,
        "version": {"major": major, "minor": minor, "patch": patch, "suffix": null},
        "name": "komainu",
    }))
}

pub fn infos(ctx: &AdminContext) -> Json<Value> {
    Json(json!({
        "otoroshi_cluster_id": ctx.info.name,
        "otoroshi_version": ctx.info.version,
        "otoroshi_version_sem": {"major": 0, "minor": 1, "patch": 0},
        "java_version": null,
        "os": {"name": std::env::consts::OS, "arch": std::env::consts::ARCH},
        "datastore": ctx.store.backend(),
        "env": "prod",
        "cluster_mode": ctx.info.mode,
        "node_name": ctx.info.name,
        "started_at": ctx.info.started_at_ms,
    }))
}

/// Prometheus text exposition of the node's metrics.
pub fn metrics(ctx: &AdminContext) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (ctx.metrics)(),
    )
}

/// `/apis/entities`: the kinds served by the generic API, in Otoroshi's shape.
pub fn entities() -> Json<Value> {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "kind": k.name(),
                "plural_name": k.plural(),
                "singular_name": k.singular(),
                "group": k.group(),
                "version": {"name": k.version(), "served": true, "deprecated": false, "storage": true},
            })
        })
        .collect();
    Json(json!({"version": "v1", "resources": resources}))
}

/// Health for load balancers and probes: no secrets, so no credentials needed.
pub async fn health(ctx: &AdminContext) -> (StatusCode, Json<Value>) {
    let datastore_ok = ctx.store.ping().await.is_ok();
    let state = ctx.state.load();
    let status = if datastore_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = |ok: bool| if ok { "healthy" } else { "unhealthy" };
    let expired: Vec<Value> = state
        .tls
        .expired(crate::now_ms())
        .into_iter()
        .map(|(id, name, to)| json!({"id": id, "name": name, "to": to}))
        .collect();
    (
        status,
        Json(json!({
            "otoroshi": health(datastore_ok),
            "datastore": health(datastore_ok),
            "storage": ctx.store.backend(),
            "datastore_connection": datastore_connection(ctx.store.as_ref()),
            "state": {
                "revision": state.revision, "routes": state.routes.len(), "apikeys": state.apikeys.len(),
                "build_ms": ctx.publisher.last_build_ms(),
            },
            "cluster": {"mode": ctx.info.mode, "name": ctx.info.name},
            // Expired certificates are reported, not made a failure: the
            // node still serves everything else.
            "certificates": {"count": state.tls.len(), "expired": expired},
        })),
    )
}

/// Which datastore server the node uses and since when (ms since the
/// epoch; null while it cannot be reached). Built from parsed addresses,
/// so no password can show.
fn datastore_connection(datastore: &dyn store::Store) -> Value {
    let connection = store::Store::connection(datastore);
    json!({
        "kind": connection.kind,
        "endpoint": connection.endpoint,
        "via": connection.via,
        "tls": connection.tls,
        "connected": connection.connected_since_ms.is_some(),
        "connected_since": connection.connected_since_ms,
    })
}
