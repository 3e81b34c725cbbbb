//! Checks each line of a bulk as the single write would, and turns the lines
//! into one store batch. Lines apply in order, each seeing the ones before
//! it (a line may patch what an earlier one created), through an overlay of
//! what the batch has written so far on top of the store.

use std::collections::HashMap;

use model::Kind;
use model::certificate::PRIVATE_KEY_FIELD;
use model::normalize::{Normalized, normalize};
use serde_json::Value;
use store::{Condition, Op, StoreError};

use crate::bulk::BulkOp;
use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};
use crate::{bulk_admin_keys, patch, resource};

/// What one line came to.
pub enum Outcome {
    /// Checked; written if every line passes.
    Written {
        status: u16,
        /// `created`, `updated` or `deleted`, as Otoroshi's answer names it.
        verb: &'static str,
        id: String,
    },
    Failed {
        id: Option<String>,
        error: AdminError,
    },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Written { .. })
    }

    fn id(&self) -> Option<&str> {
        match self {
            Outcome::Written { id, .. } => Some(id),
            Outcome::Failed { id, .. } => id.as_deref(),
        }
    }
}

/// The store batch (empty when a line failed) and one outcome per line.
pub struct Plan {
    pub ops: Vec<Op>,
    pub outcomes: Vec<Outcome>,
}

/// Checks every line (all of them, so that a client sees every problem at
/// once). Only a datastore failure stops the whole bulk.
pub async fn plan(
    ctx: &AdminContext,
    kind: Kind,
    op: BulkOp,
    lines: &[&[u8]],
) -> AdminResult<Plan> {
    let mut planner = Planner {
        ctx,
        kind,
        stored: HashMap::new(),
        overlay: HashMap::new(),
    };
    let mut ops = Vec::with_capacity(lines.len() + 1);
    let mut outcomes = Vec::with_capacity(lines.len());
    for line in lines {
        match planner.line(op, line).await {
            Ok((write, outcome)) => {
                ops.push(write);
                outcomes.push(outcome);
            }
            Err(LineError::Line { id, error }) => outcomes.push(Outcome::Failed { id, error }),
            Err(LineError::Store(e)) => return Err(e.into()),
        }
    }
    if outcomes.iter().all(Outcome::is_ok) && kind == Kind::ApiKey {
        match bulk_admin_keys::guard(ctx, &planner.stored, &planner.overlay).await? {
            Ok(expect) => ops.extend(expect),
            Err(refusal) => fail_lines_on(&mut outcomes, &refusal.ids, &refusal.message),
        }
    }
    if !outcomes.iter().all(Outcome::is_ok) {
        ops.clear();
    }
    Ok(Plan { ops, outcomes })
}

/// Marks the lines that wrote one of `ids` as failed with `message` (409).
fn fail_lines_on(outcomes: &mut [Outcome], ids: &[String], message: &str) {
    for outcome in outcomes.iter_mut() {
        if let Some(id) = outcome.id().filter(|id| ids.iter().any(|i| i == id)) {
            *outcome = Outcome::Failed {
                id: Some(id.to_string()),
                error: AdminError::Conflict(message.to_string()),
            };
        }
    }
}

enum LineError {
    /// This line is refused; the others are still checked.
    Line {
        id: Option<String>,
        error: AdminError,
    },
    /// The datastore failed: the bulk stops.
    Store(StoreError),
}

impl From<StoreError> for LineError {
    fn from(e: StoreError) -> Self {
        LineError::Store(e)
    }
}

/// A line's problem, with the id when known.
fn refuse(id: Option<&str>, error: impl Into<AdminError>) -> LineError {
    LineError::Line {
        id: id.map(str::to_string),
        error: error.into(),
    }
}

struct Planner<'a> {
    ctx: &'a AdminContext,
    kind: Kind,
    /// Each id read, as the store held it before the batch.
    stored: HashMap<String, Option<Value>>,
    /// Each id written by an earlier line: its value, or `None` once deleted.
    overlay: HashMap<String, Option<Value>>,
}

impl Planner<'_> {
    async fn line(&mut self, op: BulkOp, raw: &[u8]) -> Result<(Op, Outcome), LineError> {
        let body: Value = serde_json::from_slice(raw)
            .map_err(|e| refuse(None, AdminError::BadRequest(format!("malformed JSON: {e}"))))?;
        match op {
            BulkOp::Create => self.create(body).await,
            BulkOp::Replace => self.replace(body).await,
            BulkOp::Patch => self.patch(body).await,
            BulkOp::Delete => self.delete(body).await,
        }
    }

    async fn create(&mut self, body: Value) -> Result<(Op, Outcome), LineError> {
        let kind = self.kind;
        let body = resource::entity(kind, body).map_err(|e| refuse(None, e))?;
        // Named in the answer when the line gives it, even if invalid.
        let given = body
            .get(kind.id_field())
            .and_then(Value::as_str)
            .map(str::to_string);
        let entity = normalize(kind, body, None).map_err(|e| refuse(given.as_deref(), e))?;
        if self.current(&entity.id).await?.is_some() {
            let exists = StoreError::AlreadyExists {
                kind: kind.store_key().into(),
                id: entity.id.clone(),
            };
            return Err(refuse(Some(&entity.id), exists));
        }
        Ok(self.put(entity, Condition::MustNotExist, 201, "created"))
    }

    async fn replace(&mut self, body: Value) -> Result<(Op, Outcome), LineError> {
        let kind = self.kind;
        let mut body = resource::entity(kind, body).map_err(|e| refuse(None, e))?;
        let id = line_id(kind, &body, kind.id_field())?;
        let Some(current) = self.current(&id).await? else {
            return Err(self.missing(&id));
        };
        if kind == Kind::Certificate {
            keep_private_key(&current, &mut body);
        }
        let entity = normalize(kind, body, Some(&id)).map_err(|e| refuse(Some(&id), e))?;
        Ok(self.put(entity, Condition::MustExist, 200, "updated"))
    }

    async fn patch(&mut self, line: Value) -> Result<(Op, Outcome), LineError> {
        let kind = self.kind;
        let id = line_id(kind, &line, "id")?;
        let Some(patch) = line.get("patch").cloned() else {
            let error = AdminError::BadRequest(
                "each line of a PATCH bulk is {\"id\": ..., \"patch\": [JSON Patch operations] or {merge patch}}".into(),
            );
            return Err(refuse(Some(&id), error));
        };
        let Some(mut current) = self.current(&id).await? else {
            return Err(self.missing(&id));
        };
        patch::apply(&mut current, patch, self.ctx.max_body_size)
            .map_err(|e| refuse(Some(&id), e))?;
        let entity = normalize(kind, current, Some(&id)).map_err(|e| refuse(Some(&id), e))?;
        Ok(self.put(entity, Condition::MustExist, 200, "updated"))
    }

    async fn delete(&mut self, line: Value) -> Result<(Op, Outcome), LineError> {
        let kind = self.kind;
        let id = line_id(kind, &line, "id")?;
        if self.current(&id).await?.is_none() {
            return Err(self.missing(&id));
        }
        self.overlay.insert(id.clone(), None);
        let op = Op::Delete {
            kind: kind.store_key().into(),
            id: id.clone(),
            condition: Condition::MustExist,
        };
        let outcome = Outcome::Written {
            status: 200,
            verb: "deleted",
            id,
        };
        Ok((op, outcome))
    }

    /// The entity as the lines so far leave it: the overlay, else the store.
    async fn current(&mut self, id: &str) -> Result<Option<Value>, LineError> {
        if let Some(written) = self.overlay.get(id) {
            return Ok(written.clone());
        }
        if let Some(stored) = self.stored.get(id) {
            return Ok(stored.clone());
        }
        let stored = match self.ctx.store.get(self.kind.store_key(), id).await? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                refuse(
                    Some(id),
                    AdminError::Internal(format!("stored entity is not JSON: {e}")),
                )
            })?),
            None => None,
        };
        self.stored.insert(id.to_string(), stored.clone());
        Ok(stored)
    }

    fn put(
        &mut self,
        entity: Normalized,
        condition: Condition,
        status: u16,
        verb: &'static str,
    ) -> (Op, Outcome) {
        self.overlay
            .insert(entity.id.clone(), Some(entity.value.clone()));
        // Canonical JSON of a `Value` always serializes.
        let value = serde_json::to_vec(&entity.value).unwrap_or_default();
        let op = Op::Put {
            kind: self.kind.store_key().into(),
            id: entity.id.clone(),
            value,
            condition,
        };
        let outcome = Outcome::Written {
            status,
            verb,
            id: entity.id,
        };
        (op, outcome)
    }

    fn missing(&self, id: &str) -> LineError {
        refuse(
            Some(id),
            AdminError::not_found(format!("{} '{id}'", self.kind.singular())),
        )
    }
}

/// The id a line names: in `field`, or in the kind's own id field
/// (`clientId` for API keys), as a string.
fn line_id(kind: Kind, line: &Value, field: &str) -> Result<String, LineError> {
    let named = line
        .get(field)
        .or_else(|| line.get(kind.id_field()))
        .and_then(Value::as_str);
    match named {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(refuse(
            None,
            AdminError::BadRequest(format!(
                "each line must name its {} by a string '{field}'",
                kind.singular()
            )),
        )),
    }
}

/// As a single PUT: a certificate sent without its private key (as the API
/// shows it) keeps the one it has.
fn keep_private_key(current: &Value, body: &mut Value) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    let missing = match object.get(PRIVATE_KEY_FIELD) {
        None | Some(Value::Null) => true,
        Some(Value::String(key)) => key.is_empty(),
        Some(_) => false,
    };
    if missing && let Some(key) = current.get(PRIVATE_KEY_FIELD) {
        object.insert(PRIVATE_KEY_FIELD.to_string(), key.clone());
    }
}
