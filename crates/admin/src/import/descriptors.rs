//! The `serviceDescriptors` section, one descriptor at a time: each either
//! becomes a validated route, or is refused with its reasons and kept as
//! written (so the export gives it back and nothing is lost). A refusal does
//! not fail the import: a real export mixes descriptors komainu can run with
//! some it cannot.

use std::collections::HashSet;

use model::Kind;
use model::normalize::{decode_value, normalize};
use serde_json::{Value, json};
use store::Op;

use super::convert::{Conversion, convert};
use super::descriptor::ServiceDescriptor;
use super::kept;
use crate::error::{AdminError, AdminResult};

pub const SECTION: &str = "serviceDescriptors";

#[derive(Default)]
pub struct Outcome {
    pub ops: Vec<Op>,
    /// `{serviceDescriptor, route, notes}` per converted descriptor.
    pub converted: Vec<Value>,
    /// `{section, index, id, reasons}` per refused descriptor.
    pub refused: Vec<Value>,
}

/// `items` is the section, already checked to be an array of objects
/// within the bounds (`kept::check`). `route_ids`: routes the document
/// brings itself, which a converted descriptor may not replace.
pub fn plan(items: &[Value], route_ids: &HashSet<String>) -> AdminResult<Outcome> {
    let mut outcome = Outcome::default();
    let mut taken = route_ids.clone();
    let mut refused_originals = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match route_of(item, &taken) {
            Ok((route_id, value, notes)) => {
                taken.insert(route_id.clone());
                outcome.ops.push(Op::Put {
                    kind: Kind::Route.store_key().into(),
                    id: route_id.clone(),
                    value: serde_json::to_vec(&value)
                        .map_err(|e| AdminError::Internal(e.to_string()))?,
                    condition: store::Condition::Any,
                });
                outcome.converted.push(json!({
                    "serviceDescriptor": route_id, "route": route_id, "notes": notes,
                }));
            }
            Err(reasons) => {
                outcome.refused.push(json!({
                    "section": SECTION, "index": index, "id": kept::entity_id(item),
                    "reasons": reasons, "kept": true,
                }));
                refused_originals.push(item.clone());
            }
        }
    }
    outcome.ops.push(if refused_originals.is_empty() {
        kept::remove(SECTION)
    } else {
        kept::Section {
            name: SECTION.into(),
            value: Value::Array(refused_originals),
        }
        .op()?
    });
    Ok(outcome)
}

/// The stored route of one descriptor, or why not.
fn route_of(
    item: &Value,
    taken: &HashSet<String>,
) -> Result<(String, Value, Vec<String>), Vec<String>> {
    let descriptor: ServiceDescriptor = decode_value(item.clone()).map_err(|errors| {
        errors
            .0
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
    })?;
    if taken.contains(&descriptor.id) {
        return Err(vec![format!(
            "id: a route with id '{}' is already in this import",
            descriptor.id
        )]);
    }
    let (route, notes) = match convert(&descriptor) {
        Conversion::Route { route, notes } => (route, notes),
        Conversion::Refused(reasons) => return Err(reasons),
    };
    let normalized = normalize(Kind::Route, route, None).map_err(|errors| {
        errors
            .0
            .into_iter()
            .map(|e| format!("as a route, {}: {}", e.path, e.message))
            .collect::<Vec<_>>()
    })?;
    Ok((normalized.id, normalized.value, notes))
}
