//! PATCH bodies: an array is a JSON Patch (RFC 6902), an object a JSON Merge
//! Patch (RFC 7396), as Otoroshi's admin API decides.

use serde_json::Value;

use crate::error::AdminError;

pub fn apply(target: &mut Value, patch: Value) -> Result<(), AdminError> {
    match patch {
        Value::Array(_) => {
            let patch: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| AdminError::BadRequest(format!("invalid JSON Patch document: {e}")))?;
            json_patch::patch(target, &patch)
                .map_err(|e| AdminError::BadRequest(format!("JSON Patch failed: {e}")))
        }
        Value::Object(_) => {
            json_patch::merge(target, &patch);
            Ok(())
        }
        _ => Err(AdminError::BadRequest(
            "PATCH expects a JSON Patch array or a JSON Merge Patch object".into(),
        )),
    }
}
