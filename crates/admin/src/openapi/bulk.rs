//! The NDJSON parts of the document: `_bulk` operations, and lists that
//! answer one entity a line on `Accept: application/x-ndjson`.

use model::Kind;
use serde_json::{Map, Value, json};

use super::{schema, with_errors};
use crate::bulk::{MAX_LINE_BYTES, MAX_LINES};
use crate::ndjson::MEDIA_TYPE;

/// `{base}/_bulk`: POST, PUT, PATCH and DELETE.
pub fn item(kind: Kind) -> Value {
    let id = kind.id_field();
    let plural = kind.plural();
    let entity = schema(kind.name());
    let id_string =
        json!({"type": "string", "description": format!("the entity's id (its '{id}')")});
    let patch_line = json!({"type": "object", "required": ["id", "patch"], "properties": {
        "id": id_string.clone(),
        "patch": {"oneOf": [{"type": "object", "description": "JSON Merge Patch"}, schema("JsonPatch")]}
    }});
    let delete_line =
        json!({"type": "object", "required": ["id"], "properties": {"id": id_string}});
    json!({
        "post": operation(kind, &format!("Create {plural}: one entity a line (as a POST body, Kubernetes-style resources included); a line answers {{status: 201, created: true, id, id_field}}"), entity.clone()),
        "put": operation(kind, &format!("Replace {plural}: one entity a line, naming its id in '{id}'; a line answers {{status: 200, updated: true, id, id_field}}"), entity),
        "patch": operation(kind, "Patch entities: one {\"id\": ..., \"patch\": JSON Patch array or merge patch object} a line; a line answers {status: 200, updated: true, id, id_field}", patch_line),
        "delete": operation(kind, "Delete entities: one {\"id\": ...} a line; a line answers {status: 200, deleted: true, id, id_field}. Content-Type or X-Content-Type must be application/x-ndjson", delete_line),
    })
}

/// One bulk operation whose lines are each a `line` document. The body is
/// described as the array of its lines (one item a line), which is how
/// tools that generate bodies from the document (the fuzzer) can build one.
fn operation(kind: Kind, summary: &str, line: Value) -> Value {
    let lines = json!({"type": "string", "description": "NDJSON: one JSON document a line"});
    let mut responses = with_errors(json!({
        "200": {"description": "every line was written, in one atomic batch; one answer line per input line, in order", "content": {MEDIA_TYPE: {"schema": lines.clone()}}},
    }));
    responses["400"] = json!({
        "description": "nothing was written. JSON: the body is not NDJSON (bad_content_type) or unreadable. NDJSON: one answer line per input line; failed lines carry {status, error, error_description, fields?, id?}, valid ones {status: 424, error: not_written}",
        "content": {
            "application/json": {"schema": schema("Error")},
            MEDIA_TYPE: {"schema": lines},
        }
    });
    let body = json!({"type": "array", "maxItems": MAX_LINES, "items": line,
        "description": "NDJSON: each item is sent as one line"});
    json!({
        "summary": summary,
        "description": format!("All or nothing: each line is checked as the single write would check it, in order (a line sees the lines before it); only when every line passes are they all written. At most {MAX_LINES} non-blank lines of at most {MAX_LINE_BYTES} bytes, within admin.maxBodySize; over a bound the bulk is refused (413) before any line is read. A bulk that would leave no usable admin key is refused (its lines answer 409)."),
        "tags": [kind.name()],
        "requestBody": {"required": true, "content": {MEDIA_TYPE: {"schema": body}}},
        "responses": responses,
    })
}

/// Every list (a `GET` answering a JSON array) may answer NDJSON instead.
pub fn offer_ndjson_lists(paths: &mut Map<String, Value>) {
    let lists = paths
        .values_mut()
        .filter_map(|item| item.get_mut("get"))
        .filter_map(|op| op.pointer_mut("/responses/200/content"))
        .filter_map(Value::as_object_mut)
        .filter(|content| {
            content
                .get("application/json")
                .is_some_and(|json| json["schema"]["type"] == "array")
        });
    for content in lists {
        content.insert(
            MEDIA_TYPE.to_string(),
            json!({"schema": {"type": "string", "description": "one item a line, when Accept names application/x-ndjson before JSON"}}),
        );
    }
}
