//! Sections of an Otoroshi export that komainu does not run (auth modules,
//! JWT verifiers, scripts, data exporters, tenants, teams, backends...),
//! kept as written: one opaque JSON document per section in the store,
//! under its own store kind, read by nothing but the export. Bounded in
//! count, depth and entities, so that what is kept cannot grow without
//! limit or be made too deep to walk.

use model::FieldError;
use serde_json::{Map, Value, json};
use store::Op;

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};

/// Store kind of the kept sections (one entity per section, its key as id).
/// Part of the stored schema: never rename.
pub const STORE_KIND: &str = "otoroshi-sections";

/// Most sections one document may keep.
pub const MAX_SECTIONS: usize = 64;
/// Most entities in one kept section.
pub const MAX_ENTITIES: usize = 10_000;
/// Deepest nesting of a kept value (Otoroshi's deepest entities, auth
/// modules and data exporters, are well under 16).
pub const MAX_DEPTH: usize = 32;
/// Longest section name.
const MAX_NAME: usize = 64;

/// Sections Otoroshi's export always writes as arrays of entities: a
/// non-array there is a malformed document, not something to keep.
const ENTITY_SECTIONS: [&str; 16] = [
    "serviceDescriptors",
    "admins",
    "simpleAdmins",
    "errorTemplates",
    "jwtVerifiers",
    "authConfigs",
    "clientValidators",
    "scripts",
    "tcpServices",
    "dataExporters",
    "tenants",
    "teams",
    "routeCompositions",
    "backends",
    "wasmPlugins",
    "drafts",
];

/// One section to keep, checked.
pub struct Section {
    pub name: String,
    pub value: Value,
}

impl Section {
    /// The ids of its entities, for the import answer.
    pub fn entity_ids(&self) -> Vec<Value> {
        match &self.value {
            Value::Array(items) => items.iter().map(entity_id).collect(),
            _ => Vec::new(),
        }
    }

    pub fn op(&self) -> AdminResult<Op> {
        let value =
            serde_json::to_vec(&self.value).map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(Op::Put {
            kind: STORE_KIND.into(),
            id: self.name.clone(),
            value,
            condition: store::Condition::Any,
        })
    }
}

/// Removes a kept section (a `serviceDescriptors` section that converted
/// whole leaves nothing to keep).
pub fn remove(name: &str) -> Op {
    Op::Delete {
        kind: STORE_KIND.into(),
        id: name.into(),
        condition: store::Condition::Any,
    }
}

/// An entity's id as Otoroshi names it (`id`, `clientId` or `username`).
pub fn entity_id(entity: &Value) -> Value {
    ["id", "clientId", "username"]
        .iter()
        .find_map(|key| entity.get(key).filter(|v| v.is_string()).cloned())
        .unwrap_or(Value::Null)
}

/// Checks a section to keep; problems are pushed with their path.
pub fn check(name: &str, value: Value, errors: &mut Vec<FieldError>) -> Option<Section> {
    let before = errors.len();
    let mut problem = |path: String, message: String| errors.push(FieldError { path, message });
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        problem(
            name.chars().take(MAX_NAME).collect(),
            format!("a section name is 1 to {MAX_NAME} letters, digits, '_' or '-'"),
        );
        return None;
    }
    match &value {
        Value::Array(items) => {
            if items.len() > MAX_ENTITIES {
                problem(
                    name.into(),
                    format!(
                        "{} entities, more than the limit of {MAX_ENTITIES}",
                        items.len()
                    ),
                );
            }
            if ENTITY_SECTIONS.contains(&name)
                && let Some(i) = items.iter().position(|item| !item.is_object())
            {
                problem(format!("{name}[{i}]"), "expected an object".into());
            }
        }
        _ if ENTITY_SECTIONS.contains(&name) => {
            problem(name.into(), "expected an array".into());
        }
        _ => {}
    }
    if depth(&value) > MAX_DEPTH {
        problem(
            name.into(),
            format!("nested deeper than the limit of {MAX_DEPTH} levels"),
        );
    }
    (errors.len() == before).then(|| Section {
        name: name.to_string(),
        value,
    })
}

/// Nesting depth, without recursion (the parser bounds it, but a kept value
/// must not depend on that to be walked safely).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// Every kept section, in name order, for the export.
pub async fn load(ctx: &AdminContext) -> AdminResult<Map<String, Value>> {
    let mut sections = Map::new();
    store::scan_each(ctx.store.as_ref(), STORE_KIND, 64, |id, bytes| {
        let value = serde_json::from_slice::<Value>(bytes)
            .map_err(|e| AdminError::Internal(format!("kept section '{id}' is not JSON: {e}")))?;
        sections.insert(id.to_string(), value);
        Ok::<_, AdminError>(std::ops::ControlFlow::Continue(()))
    })
    .await?;
    Ok(sections)
}

/// The answer's entry for a kept section.
pub fn summary(section: &Section) -> Value {
    match &section.value {
        Value::Array(items) => json!({"count": items.len(), "ids": section.entity_ids()}),
        _ => json!({"count": 1, "ids": []}),
    }
}
