//! The OpenAPI 3 document of the admin API, built from the kinds registry so
//! that a new kind is documented as soon as it is served. It is served per
//! node: the cluster endpoints appear only on a leader, which serves them. A
//! test checks that every path the router serves appears here, and
//! `.ci/fuzz-admin` checks the real answers against it (status codes and
//! body schemas).

/// `_bulk` and NDJSON lists.
mod bulk;
/// Version, infos, health, metrics, live figures, the node API.
mod node;
mod schemas;

use axum::Json;
use model::Kind;
use serde_json::{Map, Value, json};

use crate::query::{MAX_ENTRIES, MAX_PAGE, MAX_PAGE_SIZE, MAX_PARAM_LENGTH, MAX_PATH_DEPTH};

/// The document as a node in cluster mode `mode` (`off`, `leader`,
/// `worker`) serves it.
pub fn document(mode: &str) -> Json<Value> {
    let mut paths = Map::new();
    let mut add = |path: &str, item: Value| {
        paths.insert(path.to_string(), item);
    };
    for (path, item) in node::paths(mode) {
        add(path, item);
    }
    add(
        "/api/openapi.json",
        json!({"get": read("This document", "Node", object())}),
    );
    add(
        "/apis/entities",
        json!({"get": read("Entity kinds served by the generic API", "Node", object())}),
    );
    if mode == "leader" {
        for (path, item) in cluster_paths() {
            add(path, item);
        }
    }
    add(
        "/metrics",
        json!({"get": {
            "summary": "Prometheus metrics of the node (text exposition)", "tags": ["Node"],
            "responses": with_errors(json!({
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
            }))
        }}),
    );
    admin_users(&mut add);
    add(
        "/api/plugins",
        json!({"get": read("The route plugins this node runs: id, name, description, steps, default config and the JSON schema of the config", "Node", json!({"type": "array", "items": schema("Plugin")}))}),
    );
    add(
        "/api/otoroshi.json",
        json!({
            "get": read("Full export, in Otoroshi's layout", "Export", object()),
            "post": write("Import an export, komainu's or Otoroshi's (service descriptors converted to routes, other sections kept), atomically", "Export", crate::import::schema::document(), crate::import::schema::report()),
        }),
    );
    add(
        "/api/globalconfig",
        json!({
            "get": read("The global config", "GlobalConfig", schema("GlobalConfig")),
            "put": write("Replace the global config", "GlobalConfig", schema("GlobalConfig"), schema("GlobalConfig")),
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
        let summary = format!(
            "Generate {what} (ECDSA P-256), self-signed or signed by the CA caRef, and store it"
        );
        let post = create(
            &summary,
            "Certificate",
            schema("CertificateRequest"),
            schema("Certificate"),
        );
        add(path, json!({"post": post}));
    }
    for kind in Kind::ALL {
        for base in crate::routes::bases(kind) {
            kind_paths(kind, &base, &mut add);
        }
    }
    offer_yaml(&mut paths);
    bulk::offer_ndjson_lists(&mut paths);
    Json(json!({
        "openapi": "3.0.3",
        "info": {
            "title": "komainu admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Otoroshi-compatible admin API. Authenticate with an admin API key: HTTP Basic clientId:clientSecret, or the Otoroshi-Client-Id and Otoroshi-Client-Secret headers. Bodies are JSON or YAML (Content-Type application/yaml, application/x-yaml or text/yaml; aliases count each time they are used against the body size limit; at most 64 levels deep); entity writes also take Kubernetes-style resources {apiVersion, kind, metadata: {name}, spec} whose spec is the entity and whose metadata.name fills a missing name. Answers are YAML when Accept asks for YAML before JSON; lists are NDJSON (one entity a line, same headers) when Accept names application/x-ndjson before JSON."
        },
        "security": [{"basic": []}, {"clientId": [], "clientSecret": []}],
        "paths": paths,
        "components": schemas::components(),
    }))
}

fn kind_paths(kind: Kind, base: &str, add: &mut impl FnMut(&str, Value)) {
    let tag = kind.name();
    let entity = schema(kind.name());
    let one = kind.singular();
    add(
        base,
        json!({
            "get": list_op(kind),
            "post": create(&format!("Create a {one}"), tag, entity.clone(), entity.clone()),
        }),
    );
    add(&format!("{base}/_count"), json!({"get": count_op(kind)}));
    if kind != Kind::GlobalConfig {
        add(&format!("{base}/_bulk"), bulk::item(kind));
    }
    if base.starts_with("/apis/") {
        add(
            &format!("{base}/_schema"),
            json!({"get": read(
                &format!("The JSON schema (draft 2020-12) of a {one}, generated from the type a write is decoded into: its shape, defaults and required fields; the API checks values (ids, plugins, PEM) on top"),
                tag,
                object(),
            )}),
        );
    }
    add(
        &format!("{base}/_template"),
        json!({
            "get": read(&format!("A new {one} with defaults and fresh ids"), tag, entity.clone()),
        }),
    );
    if kind == Kind::ApiKey {
        add(
            &format!("{base}/{{id}}/quotas"),
            json!({
                "parameters": [{"name": "id", "in": "path", "required": true, "description": "the key's clientId", "schema": {"type": "string"}}],
                "get": read("The key's quota use in the current windows, as this node counts it (store totals plus calls not flushed yet)", tag, schema("Quotas")),
                "delete": read("Reset the key's counters of the current windows (throttling, day, month); answers the zeroed quotas", tag, schema("Quotas")),
            }),
        );
    }
    add(
        &format!("{base}/{{id}}"),
        json!({
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:~-]{1,128}$"}}],
            "get": read(&format!("One {one}"), tag, entity.clone()),
            "put": write(&format!("Replace a {one}"), tag, entity.clone(), entity.clone()),
            "post": upsert_op(one, tag, entity),
            "patch": patch_op(tag, kind.name()),
            "delete": read(&format!("Delete a {one}"), tag, schema("Deleted")),
        }),
    );
}

/// `/api/admins/simple`: served by the ui crate's router, behind the same
/// admin key check.
fn admin_users(add: &mut impl FnMut(&str, Value)) {
    let tag = "AdminUser";
    add(
        "/api/admins/simple",
        json!({
            "get": read("Admin users (who sign in to the UI); never their password hashes", tag,
                json!({"type": "array", "items": schema("AdminUser")})),
            "post": create("Create an admin user: {username, password (8..72 bytes, stored as bcrypt), label, readOnly}",
                tag, schema("AdminUserInput"), schema("AdminUser")),
        }),
    );
    add(
        "/api/admins/simple/_template",
        json!({"get": read("A new admin user's fields", tag, schema("AdminUserInput"))}),
    );
    add(
        "/api/admins/simple/{username}",
        json!({
            "parameters": [{"name": "username", "in": "path", "required": true,
                "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
            "get": read("One admin user", tag, schema("AdminUser")),
            "put": write("Change label, readOnly and, when given, the password (which ends the user's sessions); the username is the path's",
                tag, schema("AdminUserInput"), schema("AdminUser")),
            "delete": read("Delete an admin user (not the last one who may write: 409)", tag, schema("Deleted")),
        }),
    );
}

fn cluster_paths() -> Vec<(&'static str, Value)> {
    let tag = ["Cluster"];
    let ndjson = json!({"application/x-ndjson": {"schema": {"type": "string"}}});
    vec![
        (
            "/api/cluster/state",
            json!({"get": {
                "summary": "Leader only: the state export for workers (ndjson; ETag, gzip, ?wait= long-poll)",
                "tags": tag,
                "responses": with_errors(json!({
                    "200": {"description": "the state, one entity a line", "content": ndjson},
                    "304": {"description": "not modified"}
                }))
            }}),
        ),
        (
            "/api/cluster/quotas",
            json!({"put": {
                "summary": "Leader only: quota increments and stats pushed by a worker (ndjson)",
                "tags": tag,
                "requestBody": {"required": true, "content": ndjson},
                "responses": with_errors(json!({"200": ok(object())}))
            }}),
        ),
        (
            "/api/cluster/members",
            json!({
                "get": read("Leader only: the cluster members and their health", "Cluster", json!({})),
                "delete": read("Leader only: forget every member (Otoroshi's clear); each comes back at its next sync or push", "Cluster",
                    json!({"type": "object", "required": ["done"], "properties": {"done": {"type": "boolean"}}})),
            }),
        ),
        (
            "/api/cluster/live",
            json!({"get": {
                "summary": "Leader only: members and state as server-sent events (?every=ms): {members, revision, stateBuiltAt (ms, first build of that revision), etag}",
                "tags": tag,
                "responses": with_errors(json!({
                    "200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
                }))
            }}),
        ),
    ]
}

/// Every JSON body may be sent as YAML, and every JSON answer is YAML when
/// `Accept` asks for it (see the `yaml` module): said once here for all.
fn offer_yaml(paths: &mut Map<String, Value>) {
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        if let Some(content) = operation
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
            && let Some(schema) = content.get("application/json").cloned()
        {
            for media in crate::yaml::MEDIA_TYPES {
                content.insert(media.to_string(), schema.clone());
            }
        }
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for response in responses.values_mut() {
            if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                && let Some(schema) = content.get("application/json").cloned()
            {
                content.insert("application/yaml".to_string(), schema);
            }
        }
    }
}

/// An operation without a body that answers 200 with `answer`.
fn read(summary: &str, tag: &str, answer: Value) -> Value {
    json!({"summary": summary, "tags": [tag], "responses": with_errors(json!({"200": ok(answer)}))})
}

/// An operation with a JSON body that answers 200 with `answer`.
fn write(summary: &str, tag: &str, body: Value, answer: Value) -> Value {
    let mut op = read(summary, tag, answer);
    op["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": body}}});
    op
}

/// A create: like `write`, but the answer is 201 Created.
fn create(summary: &str, tag: &str, body: Value, answer: Value) -> Value {
    let mut op = write(summary, tag, body, answer);
    if let Some(responses) = op["responses"].as_object_mut()
        && let Some(created) = responses.remove("200")
    {
        responses.insert("201".into(), created);
    }
    op
}

fn list_op(kind: Kind) -> Value {
    let mut op = read(
        &format!("List {}", kind.plural()),
        kind.name(),
        // With `fields`, each item holds only the fields asked for.
        json!({"type": "array", "items": {"anyOf": [
            schema(kind.name()),
            {"type": "object", "description": "the fields asked for with `fields`"},
        ]}}),
    );
    too_large_head(&mut op);
    op["description"] = json!(format!(
        "Filter with query parameters filter.<field>=<value> (at most {MAX_ENTRIES}): keep entities whose field (dotted path) equals the value or, for an array, contains it. The headers give X-Count (entities matching), X-Offset, X-Page, X-Page-Size and X-Pages."
    ));
    let list_param = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "maxLength": MAX_PARAM_LENGTH}})
    };
    let mut parameters = vec![
        json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "description": "page number, from 1"}),
        json!({"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, "description": "entities per page; all when absent"}),
    ];
    parameters.extend(filter_params());
    parameters.extend([
        list_param("sorted", &format!("field[:true|false],... (at most {MAX_ENTRIES}; true: descending): sort by these fields, missing and null first")),
        list_param("fields", &format!("field,a.b,... (at most {MAX_ENTRIES}): keep only these fields of each entity")),
    ]);
    op["parameters"] = Value::Array(parameters);
    let integer = json!({"schema": {"type": "integer"}});
    op["responses"]["200"]["headers"] = json!({
        "X-Count": {"description": "entities matching the filters, all pages", "schema": {"type": "integer"}},
        "X-Offset": {"description": "matching entities before this page", "schema": {"type": "integer"}},
        "X-Page": integer.clone(),
        "X-Page-Size": {"description": "pageSize, or X-Count (at least 1) without it", "schema": {"type": "integer"}},
        "X-Pages": integer,
    });
    op
}

/// Long list parameters can make the request head pass
/// `proxy.maxHeaderSize`: the listener answers 431 without a body.
fn too_large_head(op: &mut Value) {
    op["responses"]["431"] = json!({"description": "the request head (here, its query) is larger than proxy.maxHeaderSize"});
}

/// `filtered`, the parameter lists and `_count` share.
fn filter_params() -> Vec<Value> {
    vec![json!({"name": "filtered", "in": "query",
        "description": format!("field:sub[|sub...],... (at most {MAX_ENTRIES} fields, dotted paths of at most {MAX_PATH_DEPTH} segments): keep entities whose field contains, case-insensitively, one of the substrings"),
        "schema": {"type": "string", "maxLength": MAX_PARAM_LENGTH}})]
}

fn count_op(kind: Kind) -> Value {
    let mut op = read(
        &format!(
            "Count {} (filter.<field>=<value> and filtered apply)",
            kind.plural()
        ),
        kind.name(),
        json!({"type": "object", "required": ["count"], "properties": {"count": {"type": "integer", "minimum": 0}}}),
    );
    op["parameters"] = Value::Array(filter_params());
    too_large_head(&mut op);
    op
}

/// Create or replace by id: 201 when created, 200 when replaced.
fn upsert_op(one: &str, tag: &str, entity: Value) -> Value {
    let mut op = write(
        &format!("Create or replace a {one} (upsert): 201 when created, 200 when replaced"),
        tag,
        entity.clone(),
        entity.clone(),
    );
    op["responses"]["201"] =
        json!({"description": "Created", "content": {"application/json": {"schema": entity}}});
    op
}

fn patch_op(tag: &str, entity: &str) -> Value {
    let mut op = read(
        "JSON Merge Patch (object body) or JSON Patch (array body, at most 1000 operations); the patched entity is bounded like a PUT body",
        tag,
        schema(entity),
    );
    let json_patch = schema("JsonPatch");
    let merge_patch = json!({"type": "object"});
    op["requestBody"] = json!({"required": true, "content": {
        "application/json": {"schema": {"oneOf": [merge_patch, json_patch]}},
        "application/merge-patch+json": {"schema": merge_patch},
        "application/json-patch+json": {"schema": json_patch}
    }});
    op
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn object() -> Value {
    json!({"type": "object"})
}

fn ok(answer: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": answer}}})
}

/// `success` plus the error answers every admin operation may give, in the
/// one error shape.
fn with_errors(mut success: Value) -> Value {
    let error = json!({"description": "error", "content": {"application/json": {"schema": schema("Error")}}});
    if let Some(responses) = success.as_object_mut() {
        for status in ["400", "401", "403", "404", "409", "413", "503"] {
            responses.insert(status.into(), error.clone());
        }
    }
    success
}
