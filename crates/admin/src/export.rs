//! `/api/otoroshi.json`: the full export in Otoroshi's layout, and its import.
//!
//! An import is all or nothing: every entity is validated first (errors named
//! `routes[3].backend.targets[0].port`), then each kind present in the
//! document replaces that kind in one atomic store batch. A kind absent from
//! the document is left as it is. Sections komainu does not manage (legacy
//! `serviceDescriptors`, ...) are counted in the answer as `ignored`, not
//! silently taken for imported.

use std::collections::HashSet;

use axum::Json;
use model::Kind;
use model::apikey::ApiKey;
use model::normalize::normalize;
use model::{FieldError, ValidationErrors};
use serde_json::{Map, Value, json};
use store::Op;

use crate::context::AdminContext;
use crate::entities;
use crate::error::{AdminError, AdminResult};

/// Top-level keys of an Otoroshi export that carry no entities.
const DESCRIPTIVE_KEYS: [&str; 4] = ["label", "dateRaw", "date", "stats"];

pub async fn export(ctx: &AdminContext) -> AdminResult<Json<Value>> {
    let mut doc = Map::new();
    doc.insert("label".into(), json!("Otoroshi export"));
    doc.insert("dateRaw".into(), json!(crate::now_ms()));
    doc.insert(
        "stats".into(),
        json!({"calls": 0, "dataIn": 0, "dataOut": 0}),
    );
    for kind in Kind::ALL {
        let value = if kind == Kind::GlobalConfig {
            entities::load(ctx, kind, model::global_config::GLOBAL_ID).await?
        } else {
            Value::Array(entities::list_stored(ctx, kind).await?)
        };
        doc.insert(kind.export_key().into(), value);
    }
    Ok(Json(Value::Object(doc)))
}

pub async fn import(ctx: &AdminContext, body: Value) -> AdminResult<Json<Value>> {
    let Value::Object(doc) = body else {
        return Err(AdminError::BadRequest(
            "an export document must be a JSON object".into(),
        ));
    };
    let mut errors = Vec::<FieldError>::new();
    let mut ops = Vec::new();
    let mut imported = Map::new();
    let mut admin_key_present = false;
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
        ops.push(Op::DeleteKind {
            kind: kind.store_key().into(),
        });
        let mut seen = HashSet::new();
        for (path, item) in items {
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
                        admin_key_present |= serde_json::from_value::<ApiKey>(entity.value.clone())
                            .is_ok_and(|k| k.can_administer(crate::now_ms()));
                    }
                    let value = serde_json::to_vec(&entity.value)
                        .map_err(|e| AdminError::Internal(e.to_string()))?;
                    ops.push(Op::Put {
                        kind: kind.store_key().into(),
                        id: entity.id,
                        value,
                        condition: store::Condition::Any,
                    });
                }
                Err(problems) => errors.extend(problems.prefixed(&path).0),
            }
        }
        imported.insert(kind.export_key().into(), json!(seen.len()));
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }
    if doc.contains_key(Kind::ApiKey.export_key()) && !admin_key_present {
        return Err(AdminError::BadRequest(format!(
            "the import holds no enabled read-write admin API key (an apikey with group_{} in authorizedEntities): it would lock every client out",
            model::apikey::ADMIN_API_GROUP
        )));
    }
    let ignored: Map<String, Value> = doc
        .iter()
        .filter(|(key, _)| {
            !DESCRIPTIVE_KEYS.contains(&key.as_str())
                && !Kind::ALL.iter().any(|k| k.export_key() == *key)
        })
        .filter_map(|(key, value)| match value {
            Value::Array(items) if !items.is_empty() => Some((key.clone(), json!(items.len()))),
            _ => None,
        })
        .collect();
    let revision = ctx.store.write(ops).await?;
    ctx.publisher.publish_up_to(revision).await?;
    Ok(Json(
        json!({"done": true, "imported": imported, "ignored": ignored}),
    ))
}
