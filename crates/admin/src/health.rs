//! `/.well-known/otoroshi/monitoring/health` in Otoroshi's shape: the words
//! `otoroshi` and `datastore`, then `proxy`, `storage`, `eventstore`,
//! `certificates` and `scripts` as `{initialized, status}` objects, and
//! `cluster`; komainu adds what it knows beyond that (`state`, the
//! datastore's kind, certificate counts and expiries) inside or beside them.
//!
//! The status code is komainu's, unchanged: 503 when the datastore does not
//! answer (or, on a worker, while it has no state), 200 otherwise.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::context::AdminContext;

/// What a node knows about its parts, for [`document`].
pub struct Parts<'a> {
    /// Otoroshi's overall word for the node.
    pub otoroshi: &'a str,
    pub datastore_healthy: bool,
    /// `embedded`, `redis`, … (`memory` on a worker).
    pub datastore_kind: &'a str,
    /// Whether the proxy can route (a worker without state cannot).
    pub proxy_ready: bool,
    /// komainu's certificate figures, merged into Otoroshi's object.
    pub certificates: Value,
}

fn healthy(ok: bool) -> &'static str {
    if ok { "healthy" } else { "unhealthy" }
}

/// The fields every node's health document has.
pub fn document(parts: Parts<'_>) -> Value {
    let datastore = healthy(parts.datastore_healthy);
    let mut certificates = json!({"initialized": true, "status": "loaded"});
    if let (Some(into), Some(extra)) =
        (certificates.as_object_mut(), parts.certificates.as_object())
    {
        into.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    json!({
        "otoroshi": parts.otoroshi,
        "datastore": datastore,
        "proxy": {
            "initialized": parts.proxy_ready,
            "status": if parts.proxy_ready { "healthy" } else { "loading" },
        },
        "storage": {"initialized": true, "status": datastore, "kind": parts.datastore_kind},
        // komainu keeps no event store (Otoroshi's analytics): never set up,
        // which Otoroshi reports the same way when none is configured.
        "eventstore": {"initialized": false, "status": "unknown"},
        "certificates": certificates,
        // Plugins are compiled in: loaded from the start.
        "scripts": {"compiling": false, "initialized": true, "status": "loaded"},
    })
}

/// Health of a standalone or leader node. No secrets, so no credentials.
pub async fn health(ctx: &AdminContext) -> (StatusCode, Json<Value>) {
    let datastore_ok = ctx.store.ping().await.is_ok();
    let state = ctx.state.load();
    let status = if datastore_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let expired: Vec<Value> = state
        .tls
        .expired(crate::now_ms())
        .into_iter()
        .map(|(id, name, to)| json!({"id": id, "name": name, "to": to}))
        .collect();
    let mut body = document(Parts {
        otoroshi: healthy(datastore_ok),
        datastore_healthy: datastore_ok,
        datastore_kind: ctx.store.backend(),
        proxy_ready: true,
        // Expired certificates are reported, not made a failure: the node
        // still serves everything else.
        certificates: json!({"count": state.tls.len(), "expired": expired}),
    });
    body["state"] = json!({
        "revision": state.revision, "routes": state.routes.len(), "apikeys": state.apikeys.len(),
        "build_ms": ctx.publisher.last_build_ms(),
    });
    body["datastore_connection"] = datastore_connection(ctx.store.as_ref());
    body["cluster"] = json!({"mode": ctx.info.mode, "name": ctx.info.name});
    // A leader adds Otoroshi's word from its members' colours; it does not
    // change the status code (it does not in Otoroshi either).
    if let Some(cluster) = &ctx.cluster {
        body["cluster"]["health"] = json!(cluster.now().await.health);
    }
    (status, Json(body))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_otoroshi_component_is_an_initialized_status_object() {
        let body = document(Parts {
            otoroshi: "healthy",
            datastore_healthy: false,
            datastore_kind: "redis",
            proxy_ready: false,
            certificates: json!({"count": 2}),
        });
        for part in ["proxy", "storage", "eventstore", "certificates", "scripts"] {
            assert!(body[part]["initialized"].is_boolean(), "{part}: {body}");
            assert!(body[part]["status"].is_string(), "{part}: {body}");
        }
        assert_eq!(body["datastore"], "unhealthy");
        assert_eq!(body["storage"]["status"], "unhealthy");
        assert_eq!(body["storage"]["kind"], "redis");
        assert_eq!(body["proxy"]["status"], "loading");
        assert_eq!(body["certificates"]["count"], 2);
        assert_eq!(body["certificates"]["status"], "loaded");
    }
}
