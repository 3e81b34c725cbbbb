//! The paths that describe the node itself, in Otoroshi's shapes: version,
//! infos, health, metrics, live figures, and the node API under
//! `/apis/cluster/node/`.

use serde_json::{Value, json};

use super::{object, read, schema, with_errors};
use crate::metrics_json::METRICS_PATH;
use crate::routes::HEALTH_PATH;

pub(super) fn paths(mode: &str) -> Vec<(&'static str, Value)> {
    let version = read(
        "Version of this node: Otoroshi's object (raw, major, minor, patch, build, suffix, suffix_version, str) plus version (the raw string), version_raw and name",
        "Node",
        version_schema(),
    );
    let infos = read(
        "Node and datastore information, in Otoroshi's fields plus cluster_mode, node_name, started_at",
        "Node",
        infos_schema(),
    );
    let health = read(
        "Health of this node, as the monitoring path answers it (503 when the datastore does not answer)",
        "Node",
        health_schema(),
    );
    let live_summary = if mode == "leader" {
        "Live traffic figures: Otoroshi's fields (calls, dataIn, dataOut, rate, duration, overhead, dataInRate, dataOutRate, concurrentHandledRequests) for the whole cluster (every member's pushed figures plus this leader's; duration and overhead weighted by rate), this node's own figures over the last 10 s beside them, and cluster: {health, members, history} (one sample every 5 s for 10 minutes, then the current one)"
    } else {
        "Live traffic figures of this node over the last 10 s: Otoroshi's fields (calls, dataIn, dataOut, rate, duration, overhead, dataInRate, dataOutRate, concurrentHandledRequests) and komainu's (requests/s, errors, latency p50/p99, data in/out, connections, CPU, memory)"
    };
    vec![
        ("/api/version", json!({"get": version.clone()})),
        ("/api/infos", json!({"get": infos.clone()})),
        (
            "/api/live",
            json!({"get": read(live_summary, "Node", live_schema())}),
        ),
        (
            HEALTH_PATH,
            json!({"get": {
                "summary": "Health of the node and its datastore, in Otoroshi's shape (no credentials needed)",
                "tags": ["Node"], "security": [],
                "responses": {
                    "200": {"description": "healthy", "content": {"application/json": {"schema": health_schema()}}},
                    "503": {"description": "datastore unhealthy", "content": {"application/json": {"schema": health_schema()}}}
                }
            }}),
        ),
        (
            METRICS_PATH,
            json!({"get": metrics_op(
                "The node's metrics (the figures of /metrics) as JSON, or Prometheus text with Accept: text/plain (or ?format=prometheus). Open unless metrics.accessKey is set; then ?access_key= or an admin key",
                true,
            )}),
        ),
        ("/apis/cluster/node/infos", json!({"get": infos})),
        ("/apis/cluster/node/version", json!({"get": version})),
        ("/apis/cluster/node/health", json!({"get": health})),
        (
            "/apis/cluster/node/metrics",
            json!({"get": metrics_op(
                "This node's metrics as JSON, or Prometheus text with Accept: text/plain (or ?format=prometheus)",
                false,
            )}),
        ),
    ]
}

fn metrics_op(summary: &str, keyless: bool) -> Value {
    let mut parameters = vec![json!({"name": "format", "in": "query", "required": false,
        "description": "json, or prometheus / prom for the text exposition; decides before Accept",
        "schema": {"type": "string", "enum": ["json", "prometheus", "prom"]}})];
    if keyless {
        parameters.push(json!({"name": "access_key", "in": "query", "required": false,
            "description": "metrics.accessKey, when one is set", "schema": {"type": "string", "maxLength": 1024}}));
    }
    let sample = json!({"type": "object", "required": ["name", "type", "value"], "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["counters", "gauges", "histograms", "summaries", "untyped"]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "value": {"oneOf": [{"type": "number"}, {"type": "string", "description": "NaN, +Inf or -Inf"}]}
    }});
    let mut op = json!({
        "summary": summary, "tags": ["Node"], "parameters": parameters,
        "responses": with_errors(json!({"200": {"description": "OK", "content": {
            "application/json": {"schema": {"type": "array", "items": sample}},
            "text/plain": {"schema": {"type": "string"}}
        }}}))
    });
    if keyless {
        op["security"] = json!([{}, {"basic": []}, {"clientId": [], "clientSecret": []}]);
    }
    op
}

/// Otoroshi's version object (`otoroshi_version_sem` in infos).
fn semver_schema() -> Value {
    let nullable_int = json!({"type": "integer", "nullable": true});
    json!({"type": "object", "required": ["raw", "major", "minor", "patch"], "properties": {
        "raw": {"type": "string"},
        "major": {"type": "integer"}, "minor": {"type": "integer"}, "patch": {"type": "integer"},
        "build": nullable_int.clone(), "suffix": {"type": "string", "nullable": true},
        "suffix_version": nullable_int, "str": {"type": "string"}
    }})
}

/// `/api/version`: Otoroshi's object plus komainu's fields.
fn version_schema() -> Value {
    json!({"allOf": [semver_schema(), {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "string", "description": "the raw version, as Otoroshi's docs show it"},
        "version_raw": {"type": "string"}, "name": {"type": "string"}
    }}]})
}

fn infos_schema() -> Value {
    json!({"type": "object", "required": ["otoroshi_cluster_id", "otoroshi_version", "otoroshi_version_sem", "os", "datastore", "env"], "properties": {
        "otoroshi_cluster_id": {"type": "string"}, "otoroshi_version": {"type": "string"},
        "otoroshi_version_sem": semver_schema(), "java_version": {"nullable": true},
        "os": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "arch": {"type": "string"}}},
        "backoffice_url": {"type": "string", "nullable": true},
        "datastore": {"type": "string"}, "env": {"type": "string"},
        "cluster_mode": {"type": "string"}, "node_name": {"type": "string"}, "started_at": {"type": "integer"}
    }})
}

fn health_schema() -> Value {
    let component = json!({"type": "object", "required": ["initialized", "status"], "properties": {
        "initialized": {"type": "boolean"}, "status": {"type": "string"}}});
    json!({"type": "object", "required": ["otoroshi", "datastore", "proxy", "storage", "eventstore", "certificates", "scripts"], "properties": {
        "otoroshi": {"type": "string", "description": "healthy, unhealthy, or loading (a worker without state)"},
        "datastore": {"type": "string", "description": "healthy or unhealthy"},
        "proxy": component.clone(),
        "storage": {"allOf": [component.clone(), {"type": "object", "properties": {"kind": {"type": "string", "description": "embedded, inmemory, redis, postgresql; memory on a worker"}}}]},
        "eventstore": component.clone(),
        "certificates": {"allOf": [component.clone(), {"type": "object", "properties": {
            "count": {"type": "integer"},
            "expired": {"type": "array", "items": object()}}}]},
        "scripts": component,
        "state": object(),
        "cluster": {"type": "object", "properties": {
            "mode": {"type": "string"}, "name": {"type": "string"},
            "health": {"type": "string", "description": "leader only: healthy, notthathealthy (a member is orange) or unhealthy (one is red)"}}}
    }})
}

fn live_schema() -> Value {
    let number = json!({"type": "number"});
    let integer = json!({"type": "integer"});
    json!({"allOf": [schema("LiveFigures"), {"type": "object", "properties": {
        "calls": integer.clone(), "dataIn": integer.clone(), "dataOut": integer.clone(),
        "rate": number.clone(), "duration": number.clone(), "overhead": number.clone(),
        "dataInRate": number.clone(), "dataOutRate": number.clone(),
        "concurrentHandledRequests": integer.clone(),
        "cluster": {"type": "object", "description": "leader only", "properties": {
            "health": {"type": "string"}, "members": integer,
            "history": {"type": "array", "maxItems": 121, "items": {"type": "object", "properties": {
                "at": {"type": "integer"}, "rate": number.clone(), "duration": number.clone(),
                "dataInRate": number.clone(), "dataOutRate": number}}}
        }}
    }}]})
}
