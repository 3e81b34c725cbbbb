//! The sections komainu runs as they are (`routes`, `apiKeys`,
//! `serviceGroups`, `certificates`, `config`): every entity validated as a
//! normal write; each kind present replaces that kind.

use std::collections::HashSet;

use model::FieldError;
use model::Kind;
use model::apikey::ApiKey;
use model::normalize::normalize;
use serde_json::{Map, Value, json};
use store::Op;

use crate::error::{AdminError, AdminResult};

/// What the native sections of a document come to.
#[derive(Default)]
pub struct Plan {
    pub ops: Vec<Op>,
    /// Entities per export key, for the answer.
    pub imported: Map<String, Value>,
    /// Ids of the routes the document brings, which converted descriptors
    /// may not take.
    pub route_ids: HashSet<String>,
    pub admin_key_present: bool,
    /// `{apikey, from, to}` per authorization renamed (see `legacy_entities`).
    pub renamed: Vec<Value>,
    /// `{route, backend}` per stored backend made inline (`backend_ref`).
    pub inlined: Vec<Value>,
}

/// Whether `key` is the export key of a kind komainu runs.
pub fn is_native(key: &str) -> bool {
    Kind::ALL.iter().any(|k| k.export_key() == key)
}

pub fn plan(doc: &Map<String, Value>, errors: &mut Vec<FieldError>) -> AdminResult<Plan> {
    let mut plan = Plan::default();
    for kind in Kind::ALL {
        let Some(section) = doc.get(kind.export_key()) else {
            continue;
        };
        let items: Vec<(String, Value)> = match (kind, section) {
            (Kind::GlobalConfig, Value::Object(_)) => {
                vec![(kind.export_key().to_string(), section.clone())]
            }
            (Kind::GlobalConfig, _) => {
                errors.push(FieldError {
                    path: "config".into(),
                    message: "expected an object".into(),
                });
                continue;
            }
            (_, Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{}[{i}]", kind.export_key()), item.clone()))
                .collect(),
            _ => {
                errors.push(FieldError {
                    path: kind.export_key().into(),
                    message: "expected an array".into(),
                });
                continue;
            }
        };
        plan.ops.push(Op::DeleteKind {
            kind: kind.store_key().into(),
        });
        let mut seen = HashSet::new();
        for (path, mut item) in items {
            if kind == Kind::ApiKey {
                plan.renamed.extend(legacy_entities(&mut item));
            }
            if kind == Kind::Route {
                plan.inlined
                    .extend(super::backend_ref::inline(&mut item, doc.get("backends")));
            }
            match normalize(kind, item, None) {
                Ok(entity) => {
                    if !seen.insert(entity.id.clone()) {
                        errors.push(FieldError {
                            path: format!("{path}.{}", kind.id_field()),
                            message: format!("duplicate id '{}'", entity.id),
                        });
                        continue;
                    }
                    if kind == Kind::ApiKey {
                        plan.admin_key_present |=
                            serde_json::from_value::<ApiKey>(entity.value.clone())
                                .is_ok_and(|k| k.can_administer(crate::now_ms()));
                    }
                    let value = serde_json::to_vec(&entity.value)
                        .map_err(|e| AdminError::Internal(e.to_string()))?;
                    plan.ops.push(Op::Put {
                        kind: kind.store_key().into(),
                        id: entity.id,
                        value,
                        condition: store::Condition::Any,
                    });
                }
                Err(problems) => errors.extend(problems.prefixed(&path).0),
            }
        }
        if kind == Kind::Route {
            plan.route_ids = seen.clone();
        }
        plan.imported
            .insert(kind.export_key().into(), json!(seen.len()));
    }
    Ok(plan)
}

/// Otoroshi authorizes a key on a legacy descriptor as `service_<id>`,
/// and honours it on the route converted from it (same id); komainu names
/// routes only, so the authorization is renamed `route_<id>`.
fn legacy_entities(key: &mut Value) -> Vec<Value> {
    let client_id = key["clientId"].clone();
    // Otoroshi 16+ writes the same list again as `{kind, id}` objects.
    if let Some(authorizations) = key.get_mut("authorizations").and_then(Value::as_array_mut) {
        for authorization in authorizations {
            if authorization["kind"] == "service" {
                authorization["kind"] = json!("route");
            }
        }
    }
    let Some(entities) = key
        .get_mut("authorizedEntities")
        .and_then(Value::as_array_mut)
    else {
        return Vec::new();
    };
    let mut renamed = Vec::new();
    for entity in entities.iter_mut() {
        if let Some(id) = entity.as_str().and_then(|e| e.strip_prefix("service_")) {
            let to = format!("route_{id}");
            renamed.push(json!({"apikey": client_id, "from": entity.clone(), "to": to}));
            *entity = json!(to);
        }
    }
    renamed
}

/// An import that holds API keys must keep one that can administer.
pub fn check_admin_key(doc: &Map<String, Value>, plan: &Plan) -> AdminResult<()> {
    if doc.contains_key(Kind::ApiKey.export_key()) && !plan.admin_key_present {
        return Err(AdminError::BadRequest(format!(
            "the import holds no enabled read-write admin API key (an apikey with group_{} in authorizedEntities): it would lock every client out",
            model::apikey::ADMIN_API_GROUP
        )));
    }
    Ok(())
}
