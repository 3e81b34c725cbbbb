//! One entry point per operation for every kind: decode a client's JSON into
//! the kind's typed shape (so wrong types are caught with their path), fill
//! defaults and generated ids, validate, and encode back to the canonical JSON
//! that the store keeps and the API returns.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::apikey::ApiKey;
use crate::certificate::Certificate;
use crate::global_config::{GLOBAL_ID, GlobalConfig};
use crate::group::ServiceGroup;
use crate::id;
use crate::route::Route;
use crate::{Kind, ValidationErrors};

/// A validated entity in its canonical JSON form.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub id: String,
    pub value: Value,
}

/// Checks a client's document for `kind`. `path_id` is the id named in the
/// URL, if any: the body must agree with it (or leave the id out). With no id
/// anywhere, one is generated as Otoroshi would.
pub fn normalize(
    kind: Kind,
    mut body: Value,
    path_id: Option<&str>,
) -> Result<Normalized, ValidationErrors> {
    let Some(object) = body.as_object_mut() else {
        return Err(ValidationErrors::single(
            "$",
            format!("expected a JSON object for a {}", kind.singular()),
        ));
    };
    let field = kind.id_field();
    if kind == Kind::GlobalConfig {
        // The singleton has no id of its own in Otoroshi's shape.
        object.remove(field);
    } else {
        match (object.get(field), path_id) {
            (Some(Value::String(body_id)), Some(path_id)) if body_id != path_id => {
                return Err(ValidationErrors::single(
                    field,
                    format!("'{body_id}' does not match the id '{path_id}' in the path"),
                ));
            }
            (Some(Value::String(_)), _) => {}
            (Some(Value::Null) | None, Some(path_id)) => {
                object.insert(field.to_string(), Value::String(path_id.to_string()));
            }
            (Some(Value::Null) | None, None) => {
                object.insert(field.to_string(), Value::String(generate_id(kind)));
            }
            (Some(_), _) => return Err(ValidationErrors::single(field, "expected a string")),
        }
    }
    match kind {
        Kind::Route => check::<Route>(body, |r| {
            r.fill_defaults();
            r.validate()?;
            Ok(r.id.clone())
        }),
        Kind::ApiKey => check::<ApiKey>(body, |k| {
            k.fill_defaults();
            k.validate()?;
            Ok(k.client_id.clone())
        }),
        Kind::ServiceGroup => check::<ServiceGroup>(body, |g| {
            g.fill_defaults();
            g.validate()?;
            Ok(g.id.clone())
        }),
        Kind::GlobalConfig => check::<GlobalConfig>(body, |c| {
            c.validate()?;
            Ok(GLOBAL_ID.to_string())
        }),
        Kind::Certificate => check::<Certificate>(body, |c| {
            c.normalize()?;
            Ok(c.id.clone())
        }),
    }
}

fn check<T: DeserializeOwned + Serialize>(
    body: Value,
    finish: impl FnOnce(&mut T) -> Result<String, ValidationErrors>,
) -> Result<Normalized, ValidationErrors> {
    let mut entity: T = decode_value(body)?;
    let id = finish(&mut entity)?;
    let value =
        serde_json::to_value(&entity).map_err(|e| ValidationErrors::single("$", e.to_string()))?;
    Ok(Normalized { id, value })
}

/// Decodes JSON into a typed entity; a type error names the field's path.
pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "$".to_string() } else { path };
        ValidationErrors::single(path, e.into_inner().to_string())
    })
}

/// Decodes JSON bytes into a typed entity, without an intermediate
/// `Value`; a type error names the field's path, and bytes that are not
/// JSON at all (or carry trailing data) are reported at `$`.
pub fn decode_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ValidationErrors> {
    // Stored entities almost always decode: try without path tracking first,
    // and decode again with it only to say where a failure is.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path == "." || inner.is_syntax() || inner.is_eof() {
            "$".to_string()
        } else {
            path
        };
        ValidationErrors::single(path, inner.to_string())
    })?;
    deserializer
        .end()
        .map_err(|e| ValidationErrors::single("$", e.to_string()))?;
    Ok(value)
}

pub fn generate_id(kind: Kind) -> String {
    match kind {
        Kind::ApiKey => id::random_token(16),
        Kind::GlobalConfig => GLOBAL_ID.to_string(),
        other => id::generate(other.id_prefix()),
    }
}

/// A new entity of `kind` with defaults and fresh ids, as `/_template` serves.
pub fn template(kind: Kind) -> Value {
    let seed = match kind {
        Kind::Route => serde_json::json!({
            "name": "New route",
            "frontend": {"domains": ["new-route.oto.tools"]},
            "backend": {"targets": [{"hostname": "127.0.0.1", "port": 8081}]},
        }),
        Kind::ApiKey => {
            serde_json::json!({"clientName": "New apikey", "authorizedEntities": ["group_default"]})
        }
        Kind::ServiceGroup => serde_json::json!({"name": "New group"}),
        Kind::GlobalConfig => serde_json::json!({}),
        // A certificate cannot be valid without a chain and key: the template
        // is the bare shape for a client to fill.
        Kind::Certificate => {
            return serde_json::json!({
                "id": generate_id(kind), "name": "New certificate", "description": "",
                "chain": "", "privateKey": "", "caRef": null,
                "ca": false, "client": false, "selfSigned": false,
            });
        }
    };
    match normalize(kind, seed, None) {
        Ok(normalized) => normalized.value,
        // The seeds above are valid by construction; an empty object is the
        // least surprising answer if a future change breaks one.
        Err(_) => Value::Object(Default::default()),
    }
}
