//! CRUD on every entity kind. Legacy (`/api/routes`) and generic
//! (`/apis/proxy.otoroshi.io/v1/routes`) paths call these same functions.
//! Every write is validated first, applied with a store condition (so create
//! and update are race-free), then published before the answer.

use std::collections::HashMap;
use std::ops::ControlFlow;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use model::Kind;
use model::certificate::PRIVATE_KEY_FIELD;
use model::normalize::{Normalized, normalize, template};
use serde_json::{Value, json};
use store::{Condition, Op, StoreError};

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};
use crate::patch;
use crate::query::ListQuery;

const SCAN_BATCH: usize = 500;

/// A page of entities as clients see them: secrets redacted, projected on
/// `fields`, with the paging headers (`X-Count` counts every match).
pub async fn list(
    ctx: &AdminContext,
    kind: Kind,
    params: &HashMap<String, String>,
) -> AdminResult<(HeaderMap, Json<Value>)> {
    let query = ListQuery::parse(params)?;
    let page = list_matching(ctx, kind, &query).await?;
    let items = page
        .items
        .into_iter()
        .map(|mut item| {
            redact(kind, &mut item);
            query.project(item)
        })
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in query.headers(page.total) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok((headers, Json(Value::Array(items))))
}

/// `_count`: how many entities match the list's filters.
pub async fn count(
    ctx: &AdminContext,
    kind: Kind,
    params: &HashMap<String, String>,
) -> AdminResult<Json<Value>> {
    let query = ListQuery::parse(params)?;
    let mut total = 0usize;
    store::scan_each(
        ctx.store.as_ref(),
        kind.store_key(),
        SCAN_BATCH,
        |_, bytes| {
            if query.matches(&decode(bytes)?) {
                total += 1;
            }
            Ok::<_, AdminError>(ControlFlow::Continue(()))
        },
    )
    .await?;
    Ok(Json(json!({"count": total})))
}

/// Every entity of a kind as stored, secrets included: for the full export only.
pub async fn list_stored(ctx: &AdminContext, kind: Kind) -> AdminResult<Vec<Value>> {
    let query = ListQuery::parse(&HashMap::new())?;
    Ok(list_matching(ctx, kind, &query).await?.items)
}

/// One page of matching entities and how many match in all.
struct Page {
    items: Vec<Value>,
    total: usize,
}

/// Scans the whole kind (the total is needed). Unsorted, only the page is
/// kept in memory; sorted, every match is, then sorted and cut.
async fn list_matching(ctx: &AdminContext, kind: Kind, query: &ListQuery) -> AdminResult<Page> {
    let (skip, take) = query.window();
    let keep_all = query.is_sorted();
    let mut total = 0usize;
    let mut items = Vec::new();
    store::scan_each(
        ctx.store.as_ref(),
        kind.store_key(),
        SCAN_BATCH,
        |_, bytes| {
            let entity = decode(bytes)?;
            if query.matches(&entity) {
                total += 1;
                if keep_all || (total > skip && items.len() < take) {
                    items.push(entity);
                }
            }
            Ok::<_, AdminError>(ControlFlow::Continue(()))
        },
    )
    .await?;
    if keep_all {
        query.sort(&mut items);
        items = items.into_iter().skip(skip).take(take).collect();
    }
    Ok(Page { items, total })
}

pub async fn get(ctx: &AdminContext, kind: Kind, id: &str) -> AdminResult<Json<Value>> {
    let mut entity = load(ctx, kind, id).await?;
    redact(kind, &mut entity);
    Ok(Json(entity))
}

/// Removes what the admin API never shows: a certificate's private key. It
/// stays in the store, the full export and the cluster state. Adds the
/// certificate's `expired` flag, computed at read time (a stored flag would
/// go stale).
pub fn redact(kind: Kind, entity: &mut Value) {
    if kind == Kind::Certificate
        && let Some(object) = entity.as_object_mut()
    {
        object.remove(PRIVATE_KEY_FIELD);
        if let Some(to) = object.get("to").and_then(Value::as_u64) {
            object.insert("expired".into(), Value::Bool(to <= crate::now_ms()));
        }
    }
}

pub async fn create(
    ctx: &AdminContext,
    kind: Kind,
    body: Value,
) -> AdminResult<(StatusCode, Json<Value>)> {
    let entity = normalize(kind, body, None)?;
    write(ctx, kind, entity, Condition::MustNotExist)
        .await
        .map(|v| (StatusCode::CREATED, v))
}

pub async fn replace(
    ctx: &AdminContext,
    kind: Kind,
    id: &str,
    mut body: Value,
) -> AdminResult<Json<Value>> {
    if kind == Kind::Certificate {
        keep_private_key(ctx, id, &mut body).await?;
    }
    let entity = normalize(kind, body, Some(id))?;
    same_id(kind, id, &entity)?;
    write(ctx, kind, entity, Condition::MustExist).await
}

/// `POST` on an item path (how `otoroshictl apply` writes): creates the
/// entity when absent (201), replaces it when present (200). Each attempt is
/// a conditional write, so a concurrent create or delete between the
/// existence check and the write is retried rather than lost.
pub async fn upsert(
    ctx: &AdminContext,
    kind: Kind,
    id: &str,
    body: Value,
) -> AdminResult<(StatusCode, Json<Value>)> {
    for _ in 0..UPSERT_ATTEMPTS {
        let exists =
            kind == Kind::GlobalConfig || ctx.store.get(kind.store_key(), id).await?.is_some();
        let outcome = if exists {
            replace(ctx, kind, id, body.clone())
                .await
                .map(|v| (StatusCode::OK, v))
        } else {
            let entity = normalize(kind, body.clone(), Some(id))?;
            same_id(kind, id, &entity)?;
            write(ctx, kind, entity, Condition::MustNotExist)
                .await
                .map(|v| (StatusCode::CREATED, v))
        };
        match outcome {
            Err(AdminError::Store(
                StoreError::AlreadyExists { .. } | StoreError::NotFound { .. },
            )) => continue,
            other => return other,
        }
    }
    Err(AdminError::Conflict(format!(
        "{} '{id}' kept being created and deleted concurrently; retry",
        kind.singular()
    )))
}

/// How many times an upsert re-checks existence after losing a race.
const UPSERT_ATTEMPTS: usize = 5;

pub async fn patch(
    ctx: &AdminContext,
    kind: Kind,
    id: &str,
    body: Value,
) -> AdminResult<Json<Value>> {
    let mut current = load(ctx, kind, id).await?;
    patch::apply(&mut current, body, ctx.max_body_size)?;
    let entity = normalize(kind, current, Some(id))?;
    same_id(kind, id, &entity)?;
    write(ctx, kind, entity, Condition::MustExist).await
}

/// The singleton normalizes to its one id whatever the path said.
fn same_id(kind: Kind, id: &str, entity: &Normalized) -> AdminResult<()> {
    if entity.id == id {
        Ok(())
    } else {
        Err(AdminError::not_found(format!("{} '{id}'", kind.singular())))
    }
}

pub async fn delete(ctx: &AdminContext, kind: Kind, id: &str) -> AdminResult<Json<Value>> {
    let op = Op::Delete {
        kind: kind.store_key().into(),
        id: id.into(),
        condition: Condition::MustExist,
    };
    let revision = guarded_write(ctx, kind, id, None, op).await?;
    ctx.publisher.publish_up_to(revision).await?;
    Ok(Json(json!({"deleted": true})))
}

/// A new entity's fields, shown like a stored one: a certificate's empty
/// `privateKey` is left out too, as the API never returns that field.
pub fn new_template(kind: Kind) -> Json<Value> {
    let mut entity = template(kind);
    redact(kind, &mut entity);
    Json(entity)
}

/// The stored document, or the kind's default for the global config, which
/// always exists from a client's point of view.
pub async fn load(ctx: &AdminContext, kind: Kind, id: &str) -> AdminResult<Value> {
    match ctx.store.get(kind.store_key(), id).await? {
        Some(bytes) => decode(&bytes),
        None if kind == Kind::GlobalConfig && id == model::global_config::GLOBAL_ID => {
            Ok(template(kind))
        }
        None => Err(AdminError::not_found(format!("{} '{id}'", kind.singular()))),
    }
}

async fn write(
    ctx: &AdminContext,
    kind: Kind,
    entity: Normalized,
    condition: Condition,
) -> AdminResult<Json<Value>> {
    // The singleton global config may be written whether or not it was stored yet.
    let condition = if kind == Kind::GlobalConfig {
        Condition::Any
    } else {
        condition
    };
    let value =
        serde_json::to_vec(&entity.value).map_err(|e| AdminError::Internal(e.to_string()))?;
    let op = Op::Put {
        kind: kind.store_key().into(),
        id: entity.id.clone(),
        value,
        condition,
    };
    let revision = guarded_write(ctx, kind, &entity.id, Some(&entity.value), op).await?;
    ctx.publisher.publish_up_to(revision).await?;
    let mut answer = entity.value;
    redact(kind, &mut answer);
    Ok(Json(answer))
}

/// A certificate read from the API has no private key, so a PUT of what a GET
/// returned keeps the stored key rather than failing validation.
async fn keep_private_key(ctx: &AdminContext, id: &str, body: &mut Value) -> AdminResult<()> {
    let Some(object) = body.as_object_mut() else {
        return Ok(());
    };
    let missing = match object.get(PRIVATE_KEY_FIELD) {
        None | Some(Value::Null) => true,
        Some(Value::String(key)) => key.is_empty(),
        Some(_) => false,
    };
    if !missing {
        return Ok(());
    }
    if let Some(bytes) = ctx.store.get(Kind::Certificate.store_key(), id).await?
        && let Some(key) = decode(&bytes)?.get(PRIVATE_KEY_FIELD).cloned()
    {
        object.insert(PRIVATE_KEY_FIELD.to_string(), key);
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> AdminResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::Internal(format!("stored entity is not JSON: {e}")))
}

/// Writes `op` (a put or delete of `kind`/`id`; `replacement` is what a
/// put stores). For an API key it also makes sure a usable admin key
/// remains, inside the store's atomic write (see `admin_key_guard`); when
/// the key counted on changed meanwhile, the check runs again.
async fn guarded_write(
    ctx: &AdminContext,
    kind: Kind,
    id: &str,
    replacement: Option<&Value>,
    op: Op,
) -> AdminResult<u64> {
    for _ in 0..GUARD_ATTEMPTS {
        let mut ops = vec![op.clone()];
        if kind == Kind::ApiKey {
            ops.extend(admin_key_guard(ctx, id, replacement).await?);
        }
        match ctx.store.write(ops).await {
            Err(StoreError::Conflict { .. }) => continue,
            written => return Ok(written?),
        }
    }
    Err(AdminError::Conflict(format!(
        "apikey '{id}': the admin keys kept changing while this write was checked; retry"
    )))
}

/// How many times a guarded write re-reads and retries after a conflict.
const GUARD_ATTEMPTS: usize = 5;

/// Refuses a change that would leave no usable admin key: nobody could use
/// the admin API afterwards, short of editing the datastore by hand. Reads
/// the datastore (not the state snapshot, which may lag another leader's
/// write) and answers the `Op::Expect` the write must carry: another usable
/// admin key, exactly as read. Two concurrent removals of the last two keys
/// each count on the other, so the store lets at most one through.
async fn admin_key_guard(
    ctx: &AdminContext,
    id: &str,
    replacement: Option<&Value>,
) -> AdminResult<Option<Op>> {
    let now = crate::now_ms();
    let usable = |bytes: &[u8]| {
        serde_json::from_slice::<model::apikey::ApiKey>(bytes).is_ok_and(|k| k.can_administer(now))
    };
    let store_key = Kind::ApiKey.store_key();
    let was_admin = ctx
        .store
        .get(store_key, id)
        .await?
        .is_some_and(|bytes| usable(&bytes));
    let replacement_usable = replacement
        .and_then(|v| serde_json::from_value::<model::apikey::ApiKey>(v.clone()).ok())
        .is_some_and(|k| k.can_administer(now));
    if !was_admin || replacement_usable {
        return Ok(None);
    }
    let mut survivor: Option<(String, Vec<u8>)> = None;
    store::scan_each(ctx.store.as_ref(), store_key, SCAN_BATCH, |other, bytes| {
        if other != id && usable(bytes) {
            survivor = Some((other.to_string(), bytes.to_vec()));
            return Ok::<_, AdminError>(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    match survivor {
        Some((other, value)) => Ok(Some(Op::Expect {
            kind: store_key.into(),
            id: other,
            value,
        })),
        None => Err(AdminError::Conflict(format!(
            "apikey '{id}' is the last enabled read-write admin API key; create another before removing or restricting this one"
        ))),
    }
}
