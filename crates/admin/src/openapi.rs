//! The OpenAPI 3 document of the admin API, built from the kinds registry so
//! that a new kind is documented as soon as it is served. A test checks that
//! every path the router serves appears here.

use axum::Json;
use model::Kind;
use serde_json::{Map, Value, json};

use crate::routes::HEALTH_PATH;

pub fn document() -> Json<Value> {
    let mut paths = Map::new();
    let mut add = |path: String, item: Value| {
        paths.insert(path, item);
    };
    add(
        "/api/version".into(),
        json!({"get": op("Version of this node", "Node", None, false)}),
    );
    add(
        "/api/infos".into(),
        json!({"get": op("Node and datastore information", "Node", None, false)}),
    );
    add(
        "/api/openapi.json".into(),
        json!({"get": op("This document", "Node", None, false)}),
    );
    add(
        "/apis/entities".into(),
        json!({"get": op("Entity kinds served by the generic API", "Node", None, false)}),
    );
    for (path, method, summary) in [
        (
            "/api/cluster/state",
            "get",
            "Leader only: the state export for workers (ndjson; ETag, gzip, ?wait= long-poll)",
        ),
        (
            "/api/cluster/quotas",
            "put",
            "Leader only: quota increments and stats pushed by a worker (ndjson)",
        ),
        (
            "/api/cluster/members",
            "get",
            "Leader only: the cluster members and their health",
        ),
        (
            "/api/cluster/live",
            "get",
            "Leader only: members and state as server-sent events (?every=ms): {members, revision, stateBuiltAt (ms, first build of that revision), etag}",
        ),
    ] {
        add(
            path.into(),
            json!({method: {"summary": summary, "tags": ["Cluster"], "responses": {"200": {"description": "OK"}, "304": {"description": "not modified (state)"}, "401": {"description": "unauthorized"}}}}),
        );
    }
    add(
        "/metrics".into(),
        json!({"get": {
            "summary": "Prometheus metrics of the node (text exposition)", "tags": ["Node"],
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": {"description": "unauthorized"}
            }
        }}),
    );
    // Served by the ui crate's router, behind the same admin key check.
    add(
        "/api/admins/simple".into(),
        json!({
            "get": op("Admin users (who sign in to the UI); never their password hashes", "AdminUser", None, false),
            "post": op("Create an admin user: {username, password (8..72 bytes, stored as bcrypt), label, readOnly}", "AdminUser", None, true),
        }),
    );
    add(
        "/api/admins/simple/_template".into(),
        json!({"get": op("A new admin user's fields", "AdminUser", None, false)}),
    );
    add(
        "/api/admins/simple/{username}".into(),
        json!({
            "get": op("One admin user", "AdminUser", None, false),
            "put": op("Change label, readOnly and, when given, the password (which ends the user's sessions)", "AdminUser", None, true),
            "delete": op("Delete an admin user (not the last one who may write: 409)", "AdminUser", None, false),
        }),
    );
    add(
        "/api/live".into(),
        json!({"get": op("Live traffic figures of this node over the last 10 s (requests/s, errors, latency p50/p99, data in/out, connections, CPU, memory)", "Node", Some("LiveFigures"), false)}),
    );
    add(
        HEALTH_PATH.into(),
        json!({"get": {
            "summary": "Health of the node and its datastore (no credentials needed)",
            "tags": ["Node"], "security": [],
            "responses": {"200": {"description": "healthy"}, "503": {"description": "datastore unhealthy"}}
        }}),
    );
    add(
        "/api/otoroshi.json".into(),
        json!({
            "get": op("Full export, in Otoroshi's layout", "Export", None, false),
            "post": op("Import an export: each kind present replaces that kind, atomically", "Export", None, true),
        }),
    );
    add(
        "/api/globalconfig".into(),
        json!({
            "get": op("The global config", "GlobalConfig", Some("GlobalConfig"), false),
            "put": op("Replace the global config", "GlobalConfig", Some("GlobalConfig"), true),
            "patch": patch_op("GlobalConfig", "GlobalConfig"),
        }),
    );
    for (path, what) in [
        (
            "/api/pki/certs",
            "a certificate (server, or client with client: true)",
        ),
        ("/api/pki/cas", "a CA certificate"),
    ] {
        let mut post = op(
            &format!(
                "Generate {what} (ECDSA P-256), self-signed or signed by the CA caRef, and store it"
            ),
            "Certificate",
            Some("Certificate"),
            false,
        );
        post["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(Some("CertificateRequest"))}}});
        post["responses"]["201"] = post["responses"]["200"].take();
        if let Some(responses) = post["responses"].as_object_mut() {
            responses.remove("200");
        }
        add(path.into(), json!({"post": post}));
    }
    for kind in Kind::ALL {
        let mut bases = vec![format!(
            "/apis/{}/{}/{}",
            kind.group(),
            kind.version(),
            kind.plural()
        )];
        if kind != Kind::GlobalConfig {
            bases.push(format!("/api/{}", kind.legacy_segment()));
        }
        let tag = kind.name();
        let schema = Some(kind.name());
        for base in bases {
            add(
                base.clone(),
                json!({
                    "get": list_op(kind),
                    "post": op(&format!("Create a {}", kind.singular()), tag, schema, true),
                }),
            );
            add(
                format!("{base}/_template"),
                json!({
                    "get": op(&format!("A new {} with defaults and fresh ids", kind.singular()), tag, schema, false),
                }),
            );
            if kind == Kind::ApiKey {
                add(
                    format!("{base}/{{id}}/quotas"),
                    json!({
                        "parameters": [{"name": "id", "in": "path", "required": true, "description": "the key's clientId", "schema": {"type": "string"}}],
                        "get": op("The key's quota use in the current windows, as this node counts it (store totals plus calls not flushed yet)", tag, Some("Quotas"), false),
                        "delete": op("Reset the key's counters of the current windows (throttling, day, month); answers the zeroed quotas", tag, Some("Quotas"), false),
                    }),
                );
            }
            add(
                format!("{base}/{{id}}"),
                json!({
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:~-]{1,128}$"}}],
                    "get": op(&format!("One {}", kind.singular()), tag, schema, false),
                    "put": op(&format!("Replace a {}", kind.singular()), tag, schema, true),
                    "patch": patch_op(tag, kind.name()),
                    "delete": op(&format!("Delete a {}", kind.singular()), tag, None, false),
                }),
            );
        }
    }
    Json(json!({
        "openapi": "3.0.3",
        "info": {
            "title": "komainu admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Otoroshi-compatible admin API. Authenticate with an admin API key: HTTP Basic clientId:clientSecret, or the Otoroshi-Client-Id and Otoroshi-Client-Secret headers."
        },
        "security": [{"basic": []}, {"clientId": [], "clientSecret": []}],
        "paths": paths,
        "components": components(),
    }))
}

fn op(summary: &str, tag: &str, schema: Option<&str>, with_body: bool) -> Value {
    let mut op = json!({"summary": summary, "tags": [tag], "responses": responses(schema)});
    if with_body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}});
    }
    op
}

fn list_op(kind: Kind) -> Value {
    let mut op = op(&format!("List {}", kind.plural()), kind.name(), None, false);
    op["parameters"] = json!([
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "page number, from 1"},
        {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "entities per page; all when absent"},
        {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object", "additionalProperties": {"type": "string"}},
         "description": "filter.<field>=<value>: keep entities whose field (dotted path) equals the value or, for an array, contains it"}
    ]);
    op["responses"]["200"] = json!({"description": "OK", "content": {"application/json": {"schema": {"type": "array", "items": schema_ref(Some(kind.name()))}}}});
    op
}

fn patch_op(tag: &str, schema: &str) -> Value {
    let mut op = op(
        "JSON Merge Patch (object body) or JSON Patch (array body)",
        tag,
        Some(schema),
        false,
    );
    op["requestBody"] = json!({"required": true, "content": {
        "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}},
        "application/merge-patch+json": {"schema": {"type": "object"}},
        "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}}
    }});
    op
}

fn schema_ref(schema: Option<&str>) -> Value {
    match schema {
        Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
        None => json!({"type": "object"}),
    }
}

fn responses(schema: Option<&str>) -> Value {
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "200": {"description": "OK", "content": {"application/json": {"schema": schema_ref(schema)}}},
        "400": error, "401": error, "403": error, "404": error, "409": error, "413": error, "503": error,
    })
}

fn components() -> Value {
    let entity = |required: &[&str], properties: Value| json!({"type": "object", "additionalProperties": true, "required": required, "properties": properties});
    json!({
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "clientId": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Id"},
            "clientSecret": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Secret"}
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error", "error_description"], "properties": {
                "error": {"type": "string"}, "error_description": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}}
            }},
            "Route": entity(&["frontend", "backend"], json!({
                "id": {"type": "string"}, "name": {"type": "string"}, "enabled": {"type": "boolean"},
                "groups": {"type": "array", "items": {"type": "string"}},
                "frontend": {"type": "object", "properties": {
                    "domains": {"type": "array", "items": {"type": "string"}}, "strip_path": {"type": "boolean"},
                    "exact": {"type": "boolean"}, "methods": {"type": "array", "items": {"type": "string"}},
                    "headers": {"type": "object"}, "query": {"type": "object"}}},
                "backend": {"type": "object", "properties": {
                    "targets": {"type": "array", "items": {"type": "object", "required": ["hostname", "port"], "properties": {
                        "id": {"type": "string"}, "hostname": {"type": "string"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "tls": {"type": "boolean"}, "weight": {"type": "integer", "minimum": 1}, "backup": {"type": "boolean"}}}},
                    "root": {"type": "string"}, "rewrite": {"type": "boolean"},
                    "load_balancing": {"type": "object", "properties": {"type": {"type": "string"}}}}},
                "plugins": {"type": "array", "items": {"type": "object", "properties": {"plugin": {"type": "string"}, "enabled": {"type": "boolean"}, "config": {"type": "object"}}}}
            })),
            "ApiKey": entity(&[], json!({
                "clientId": {"type": "string"}, "clientSecret": {"type": "string"}, "clientName": {"type": "string"},
                "authorizedEntities": {"type": "array", "items": {"type": "string"}}, "enabled": {"type": "boolean"},
                "readOnly": {"type": "boolean"}, "allowClientIdOnly": {"type": "boolean"},
                "throttlingQuota": {"type": "integer"}, "dailyQuota": {"type": "integer"}, "monthlyQuota": {"type": "integer"},
                "validUntil": {"type": "integer", "nullable": true}
            })),
            "Quotas": {"type": "object", "properties": {
                "authorizedCallsPerWindow": {"type": "integer"}, "throttlingCallsPerWindow": {"type": "integer"}, "remainingCallsPerWindow": {"type": "integer"},
                "authorizedCallsPerDay": {"type": "integer"}, "currentCallsPerDay": {"type": "integer"}, "remainingCallsPerDay": {"type": "integer"},
                "authorizedCallsPerMonth": {"type": "integer"}, "currentCallsPerMonth": {"type": "integer"}, "remainingCallsPerMonth": {"type": "integer"}
            }},
            "LiveFigures": {"type": "object", "properties": {
                "requestsPerSec": {"type": "number"}, "errorsPerSec": {"type": "number", "description": "answers with status >= 500"},
                "p50Ms": {"type": "number", "description": "0 when no request in the window"}, "p99Ms": {"type": "number"},
                "meanMs": {"type": "number"}, "overheadMs": {"type": "number", "description": "mean time spent in the proxy itself"},
                "dataInPerSec": {"type": "number", "description": "request body bytes/s from clients"},
                "dataOutPerSec": {"type": "number", "description": "response body bytes/s to clients"},
                "openConnections": {"type": "integer"},
                "requests": {"type": "integer", "description": "since start"}, "errors": {"type": "integer"},
                "bytesIn": {"type": "integer"}, "bytesOut": {"type": "integer"},
                "cpuUsage": {"type": "number", "description": "percent of one core"}, "memoryMb": {"type": "number", "description": "resident memory"},
                "loadAverage": {"type": "number"}, "windowSecs": {"type": "number"}, "at": {"type": "integer", "description": "ms since the epoch"},
                "node": {"type": "object", "properties": {"name": {"type": "string"}, "mode": {"type": "string"}}}
            }},
            "ServiceGroup": entity(&[], json!({"id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}})),
            "GlobalConfig": entity(&[], json!({"maintenanceMode": {"type": "boolean"}})),
            "Certificate": entity(&["chain"], json!({
                "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                "chain": {"type": "string", "description": "PEM certificates, leaf first"},
                "privateKey": {"type": "string", "writeOnly": true, "description": "PEM private key (PKCS#8, PKCS#1 or SEC1); never returned by the API, kept on PUT when absent"},
                "caRef": {"type": "string", "nullable": true}, "ca": {"type": "boolean"}, "client": {"type": "boolean"}, "selfSigned": {"type": "boolean"},
                "subject": {"type": "string", "readOnly": true}, "issuer": {"type": "string", "readOnly": true},
                "sans": {"type": "array", "items": {"type": "string"}, "readOnly": true},
                "from": {"type": "integer", "readOnly": true}, "to": {"type": "integer", "readOnly": true},
                "serialNumber": {"type": "string", "readOnly": true}
            })),
            "CertificateRequest": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                "hosts": {"type": "array", "items": {"type": "string"}, "description": "DNS names (wildcards allowed) and IPs"},
                "subject": {"type": "string", "description": "CN=..., O=..., OU=..., C=..., ST=..., L=..."},
                "days": {"type": "integer", "minimum": 1, "maximum": 36500, "default": 365},
                "caRef": {"type": "string", "description": "id of a stored CA certificate to sign with"},
                "client": {"type": "boolean", "default": false}
            }}
        }
    })
}
