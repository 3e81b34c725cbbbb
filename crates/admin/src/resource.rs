//! Kubernetes-style resources, as `otoroshictl` and manifests send them:
//! `{apiVersion, kind, metadata: {name}, spec: {...}}` where `spec` is the
//! entity. Plain entities pass through unchanged.

use model::Kind;
use model::ValidationErrors;
use serde_json::Value;

use crate::error::AdminError;

/// The entity a write body carries: `spec` of a resource, or the body itself.
/// A resource's `metadata.name` fills the entity's missing name.
pub fn entity(kind: Kind, mut body: Value) -> Result<Value, AdminError> {
    let Some(object) = body.as_object_mut() else {
        return Ok(body);
    };
    let is_resource = object.contains_key("spec")
        && (object.contains_key("apiVersion") || object.contains_key("kind"));
    if !is_resource {
        return Ok(body);
    }
    if let Some(named) = object.get("kind") {
        match named.as_str() {
            Some(name) if kind.accepts_name(name) => {}
            _ => {
                return Err(invalid(
                    "kind",
                    format!("expected '{}' on this path, got {named}", kind.name()),
                ));
            }
        }
    }
    if object.get("apiVersion").is_some_and(|v| !v.is_string()) {
        return Err(invalid("apiVersion", "expected a string".into()));
    }
    let name = match object.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata)) => match metadata.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(invalid("metadata.name", "expected a string".into())),
        },
        Some(_) => return Err(invalid("metadata", "expected an object".into())),
    };
    let Some(Value::Object(mut spec)) = object.remove("spec") else {
        return Err(invalid("spec", "expected an object: the entity".into()));
    };
    if let (Some(name), Some(field)) = (name, name_field(kind)) {
        let missing = matches!(spec.get(field), None | Some(Value::Null));
        if missing {
            spec.insert(field.to_string(), Value::String(name));
        }
    }
    Ok(Value::Object(spec))
}

/// The field a resource's `metadata.name` fills; the singleton has none.
fn name_field(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::ApiKey => Some("clientName"),
        Kind::GlobalConfig => None,
        Kind::Route | Kind::ServiceGroup | Kind::Certificate => Some("name"),
    }
}

fn invalid(field: &str, message: String) -> AdminError {
    AdminError::Validation(ValidationErrors::single(field, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_is_the_entity_and_metadata_names_it() {
        let body = json!({"apiVersion": "proxy.otoroshi.io/v1", "kind": "Route",
            "metadata": {"name": "from-metadata"}, "spec": {"id": "r1"}});
        assert_eq!(
            entity(Kind::Route, body).unwrap(),
            json!({"id": "r1", "name": "from-metadata"})
        );
        let named = json!({"kind": "Route", "metadata": {"name": "m"}, "spec": {"name": "own"}});
        assert_eq!(entity(Kind::Route, named).unwrap()["name"], "own");
        let key = json!({"kind": "ApiKey", "metadata": {"name": "k"}, "spec": {}});
        assert_eq!(entity(Kind::ApiKey, key).unwrap()["clientName"], "k");
    }

    #[test]
    fn plain_entities_pass_and_bad_resources_name_the_field() {
        let plain = json!({"id": "r1", "kind": "whatever"});
        assert_eq!(entity(Kind::Route, plain.clone()).unwrap(), plain);
        for (body, field) in [
            (json!({"kind": "Apikey", "spec": {}}), "kind"),
            (json!({"kind": "Route", "spec": []}), "spec"),
            (
                json!({"kind": "Route", "metadata": {"name": 1}, "spec": {}}),
                "metadata.name",
            ),
            (json!({"apiVersion": 1, "spec": {}}), "apiVersion"),
        ] {
            let err = entity(Kind::Route, body).unwrap_err();
            let AdminError::Validation(errors) = err else {
                panic!("not a validation error");
            };
            assert_eq!(errors.0[0].path, field);
        }
    }
}
