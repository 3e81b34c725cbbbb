//! Otoroshi routes may point at a stored backend (`backend_ref`) instead of
//! carrying one. komainu keeps backends inline only, so a route of an
//! import whose `backend_ref` names a backend of the same document gets
//! that backend inline (the `backends` section itself is kept as written).

use serde_json::{Value, json};

/// Inlines the backend `route` refers to, if the document has it; returns
/// what was done, for the answer. A reference to a backend the document
/// lacks is left for validation to refuse.
pub fn inline(route: &mut Value, backends: Option<&Value>) -> Option<Value> {
    let reference = route.get("backend_ref")?.as_str()?.to_string();
    let backend = backends?
        .as_array()?
        .iter()
        .find(|b| b["id"] == reference.as_str())?
        .get("backend")?
        .clone();
    route["backend"] = backend;
    route["backend_ref"] = Value::Null;
    Some(json!({"route": route["id"].clone(), "backend": reference}))
}
