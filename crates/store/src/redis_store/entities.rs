//! Entity reads, write batches and the revision (see `keys` for the layout).

use std::collections::HashMap;

use redis::{FromRedisValue, Value};

use super::keys::Keys;
use super::link::Link;
use super::revisions::Announced;
use super::scripts;
use crate::conditions::check;
use crate::{Condition, Op, StoreError};

pub(super) async fn get(
    link: &Link,
    keys: &Keys,
    kind: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    link.query(redis::cmd("HGET").arg(keys.kind(kind).values).arg(id))
        .await
}

pub(super) async fn scan(
    link: &Link,
    keys: &Keys,
    kind: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let kind_keys = keys.kind(kind);
    // ZRANGEBYLEX compares bytes, as Rust orders `str`: "(" excludes `after`.
    let lower = after.map_or_else(|| b"-".to_vec(), |after| [b"(", after.as_bytes()].concat());
    let flat: Vec<Vec<u8>> = link
        .invoke(
            scripts::SCAN
                .key(kind_keys.ids)
                .key(kind_keys.values)
                .arg(lower)
                .arg(i64::try_from(limit).unwrap_or(i64::MAX)),
        )
        .await?;
    let mut page = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(id), Some(value)) = (items.next(), items.next()) {
        let id = String::from_utf8(id).map_err(|_| {
            link.endpoint()
                .error(format!("an id of kind {kind:?} is not UTF-8"))
        })?;
        page.push((id, value));
    }
    Ok(page)
}

pub(super) async fn count(link: &Link, keys: &Keys, kind: &str) -> Result<u64, StoreError> {
    link.query(redis::cmd("ZCARD").arg(keys.kind(kind).ids))
        .await
}

pub(super) async fn revision(link: &Link, keys: &Keys) -> Result<u64, StoreError> {
    let stored: Option<u64> = link.query(redis::cmd("GET").arg(keys.revision())).await?;
    Ok(stored.unwrap_or(0))
}

/// What the caller needs of an op to report its failed condition, kept
/// because the op itself goes into the script's arguments.
struct Target {
    kind: String,
    id: String,
    condition: Condition,
    /// An `Op::Expect`: its failure is a conflict.
    expect: bool,
}

/// Runs a non-empty batch as one script, announces the new revision to this
/// node's subscribers at once (the script's pub/sub message is for the
/// other nodes), and returns it.
pub(super) async fn write(
    link: &Link,
    keys: &Keys,
    announced: &Announced,
    ops: Vec<Op>,
) -> Result<u64, StoreError> {
    let (epoch, revision) = announced.basis();
    let mut invocation = scripts::WRITE.prepare_invoke();
    invocation
        .key(keys.revision())
        .key(keys.epoch())
        .arg(keys.changes_channel())
        .arg(epoch)
        .arg(revision);
    // Each kind's pair of keys is passed once; ops name it by its KEYS slot.
    let mut slots: HashMap<String, usize> = HashMap::new();
    let mut targets = Vec::with_capacity(ops.len());
    for op in ops {
        let (code, kind, id, condition, value) = match op {
            Op::Put {
                kind,
                id,
                value,
                condition,
            } => ("P", kind, id, condition, value),
            Op::Delete {
                kind,
                id,
                condition,
            } => ("D", kind, id, condition, Vec::new()),
            Op::DeleteKind { kind } => ("K", kind, String::new(), Condition::Any, Vec::new()),
            Op::Expect { kind, id, value } => ("X", kind, id, Condition::Any, value),
        };
        let next_slot = 3 + 2 * slots.len();
        let slot = *slots.entry(kind.clone()).or_insert_with(|| {
            let kind_keys = keys.kind(&kind);
            invocation.key(kind_keys.values).key(kind_keys.ids);
            next_slot
        });
        invocation
            .arg(code)
            .arg(condition_code(condition))
            .arg(slot)
            .arg(id.as_str())
            .arg(value);
        targets.push(Target {
            kind,
            id,
            condition,
            expect: code == "X",
        });
    }
    let reply: Vec<Value> = link.invoke(&invocation).await?;
    let mut reply = reply.into_iter();
    let status: u8 = parse(link, reply.next())?;
    let number: u64 = parse(link, reply.next())?;
    if status == 0 {
        announced.observe(number, parse(link, reply.next())?);
        // Acknowledged only once a failover cannot take it back.
        link.replicated().await?;
        return Ok(number);
    }
    let failed = usize::try_from(number)
        .ok()
        .and_then(|index| targets.into_iter().nth(index));
    match failed {
        Some(Target {
            kind, id, expect, ..
        }) if expect => Err(StoreError::Conflict { kind, id }),
        Some(Target {
            kind,
            id,
            condition,
            ..
        }) => {
            // The script stops at a MustNotExist that found the entity or a
            // MustExist that did not: `check` names the matching error.
            check(condition, condition == Condition::MustNotExist, kind, id)?;
            Err(link
                .endpoint()
                .error("the write script rejected an op that had no condition"))
        }
        None => Err(link
            .endpoint()
            .error(format!("the write script rejected unknown op {number}"))),
    }
}

fn parse<T: FromRedisValue>(link: &Link, value: Option<Value>) -> Result<T, StoreError> {
    redis::from_redis_value(value.unwrap_or(Value::Nil)).map_err(|error| {
        link.endpoint()
            .error(format!("unexpected write script reply: {error}"))
    })
}

fn condition_code(condition: Condition) -> &'static str {
    match condition {
        Condition::Any => "A",
        Condition::MustNotExist => "N",
        Condition::MustExist => "E",
    }
}
