//! The OpenAPI schemas of the import's body and answer, kept next to the
//! code that reads and writes them.

use serde_json::{Value, json};

use super::kept;

/// The body: an export, komainu's or Otoroshi's.
pub fn document() -> Value {
    json!({
        "type": "object",
        "maxProperties": kept::MAX_SECTIONS,
        "description": "routes, apiKeys, serviceGroups, certificates (arrays) and config (object) are validated and each replaces its kind; serviceDescriptors are converted to routes one by one; any other section is kept as written (at most 10 000 entities and 32 levels deep) and exported back",
        "additionalProperties": true,
    })
}

/// The answer: what became of each section and entity.
pub fn report() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "required": ["done", "imported", "renamed", "inlined", "converted", "kept", "refused", "ignored"],
        "properties": {
            "done": {"type": "boolean"},
            "imported": {"type": "object", "description": "entities per section komainu runs", "additionalProperties": {"type": "integer"}},
            "renamed": {"type": "array", "description": "API key authorizations on a service descriptor (service_<id>) renamed to its route (route_<id>)", "items": {"type": "object", "properties": {
                "apikey": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "string"}}}},
            "inlined": {"type": "array", "description": "routes whose backend_ref named a backend of the document, which is now inline", "items": {"type": "object", "properties": {
                "route": {"type": "string"}, "backend": {"type": "string"}}}},
            "converted": {"type": "array", "items": {"type": "object", "properties": {
                "serviceDescriptor": {"type": "string"}, "route": {"type": "string"},
                "notes": {"type": "array", "items": {"type": "string"}, "description": "what the route does differently from the descriptor"}}}},
            "kept": {"type": "object", "description": "sections kept as written, not run", "additionalProperties": {"type": "object", "properties": {
                "count": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "string", "nullable": true}}}}},
            "refused": {"type": "array", "description": "service descriptors not run, with why; they are kept as written", "items": {"type": "object", "properties": {
                "section": {"type": "string"}, "index": {"type": "integer"}, "id": {"type": "string", "nullable": true},
                "reasons": strings, "kept": {"type": "boolean"}}}},
            "ignored": {"type": "object", "description": "entities kept but not run, per section", "additionalProperties": {"type": "integer"}}
        }
    })
}
