//! The component schemas of the OpenAPI document: entities as the API
//! answers them, request bodies, errors.

use serde_json::{Value, json};

pub fn components() -> Value {
    // RFC 6901: empty (the whole document) or /-separated tokens.
    let pointer = json!({"type": "string", "pattern": "^(/([^/~]|~[01])*)*$"});
    let entity = |required: &[&str], properties: Value| json!({"type": "object", "additionalProperties": true, "required": required, "properties": properties});
    json!({
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "clientId": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Id"},
            "clientSecret": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Secret"}
        },
        "schemas": {
            "Deleted": {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "boolean"}}},
            "JsonPatch": {"type": "array", "maxItems": crate::patch::MAX_OPERATIONS, "items": {"oneOf": [
                {"type": "object", "required": ["op", "path", "value"], "properties": {
                    "op": {"type": "string", "enum": ["add", "replace", "test"]}, "path": pointer.clone(), "value": {}}},
                {"type": "object", "required": ["op", "path"], "properties": {
                    "op": {"type": "string", "enum": ["remove"]}, "path": pointer.clone()}},
                {"type": "object", "required": ["op", "from", "path"], "properties": {
                    "op": {"type": "string", "enum": ["move", "copy"]}, "from": pointer.clone(), "path": pointer}}
            ]}},
            "AdminUser": {"type": "object", "required": ["username", "label", "createdAt", "type", "metadata", "readOnly"], "properties": {
                "username": {"type": "string"}, "label": {"type": "string"},
                "createdAt": {"type": "integer", "description": "ms since the epoch"},
                "type": {"type": "string"}, "metadata": {"type": "object"}, "readOnly": {"type": "boolean"}
            }},
            "AdminUserInput": {"type": "object", "properties": {
                "username": {"type": "string", "maxLength": 128, "description": "1..128 characters, no spaces, slashes or control characters; a PUT takes the path's"},
                "password": {"type": "string", "maxLength": 72, "description": "8..72 bytes, required to create; empty or absent on PUT keeps the current one"},
                "label": {"type": "string"}, "readOnly": {"type": "boolean"}
            }},
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
                "plugins": {"type": "array", "description": "run in this order within each step; GET /api/plugins lists each plugin's steps, defaults and config schema", "items": {"type": "object", "required": ["plugin"], "properties": {
                    "plugin": {"type": "string", "description": format!("an enabled plugin must be one of: {}", plugins::registry::ids().join(", "))},
                    "enabled": {"type": "boolean"},
                    "include": {"type": "array", "items": {"type": "string"}, "description": "regular expressions on the whole path; empty: every path"},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                    "config": {"type": "object"}}}}
            })),
            "Apikey": entity(&[], json!({
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
            "Plugin": {"type": "object", "required": ["id", "name", "description", "steps", "default_config", "config_schema"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                "steps": {"type": "array", "items": {"type": "string", "enum": plugins::Step::ALL.iter().map(|s| s.name()).collect::<Vec<_>>()}},
                "default_config": {"type": "object"}, "config_schema": {"type": "object"}}},
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
