//! Counters: one Redis string per counter with a native expiry, plus an
//! index of their names (a sorted set read in byte order) for prefix scans.
//! The rules (expiry, saturation, markers) live in the Lua scripts, which
//! mirror `counter_rules`.

use std::ops::Bound;

use redis::{FromRedisValue, Value};

use super::keys::Keys;
use super::link::Link;
use super::scripts;
use crate::counter_rules::scan_start;
use crate::{Counter, Increment, Once, StoreError};

/// The scripts see expiries as Lua numbers (doubles), exact below 2^53 ms:
/// the year 287396. Later expiries are stored as that, which no quota
/// window will tell apart from "never".
pub(super) const MAX_EXPIRY_MS: u64 = (1 << 53) - 1;

/// Index entries one scan step reads at least and at most: enough that a
/// page rarely needs two steps, few enough that expired entries waiting
/// for a sweep never make one script run long.
pub(super) const SCAN_STEP: (usize, usize) = (256, 4096);

/// Index entries one sweep step looks at.
const SWEEP_STEP: usize = 1000;

fn expiry_arg(expires_at_ms: Option<u64>) -> String {
    expires_at_ms.map_or_else(String::new, |at| at.min(MAX_EXPIRY_MS).to_string())
}

fn counter(value: i64, expires_at_ms: i64) -> Counter {
    Counter {
        value,
        // The scripts answer -1 for "no expiry".
        expires_at_ms: u64::try_from(expires_at_ms).ok(),
    }
}

/// A lexical range bound on counter names, as ZRANGEBYLEX spells it.
pub(super) fn lex_bound(bound: Bound<&str>) -> Vec<u8> {
    match bound {
        Bound::Included(name) => [b"[", name.as_bytes()].concat(),
        Bound::Excluded(name) => [b"(", name.as_bytes()].concat(),
        Bound::Unbounded => b"-".to_vec(),
    }
}

pub(super) fn parse<T: FromRedisValue>(link: &Link, value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|error| {
        link.endpoint()
            .error(format!("unexpected script reply: {error}"))
    })
}

pub(super) async fn incr(
    link: &Link,
    keys: &Keys,
    key: &str,
    by: i64,
    expires_at_ms: Option<u64>,
) -> Result<i64, StoreError> {
    link.invoke(
        scripts::INCR
            .key(keys.counter_index())
            .key(keys.counter(key))
            .arg(key)
            .arg(by)
            .arg(expiry_arg(expires_at_ms)),
    )
    .await
}

pub(super) async fn incr_batch(
    link: &Link,
    keys: &Keys,
    once: Option<&Once>,
    increments: &[Increment],
) -> Result<bool, StoreError> {
    let mut invocation = scripts::INCR_BATCH.prepare_invoke();
    invocation
        .key(keys.counter_index())
        .arg(if once.is_some() { "1" } else { "0" });
    if let Some(once) = once {
        // The marker is a counter like the others, bumped first.
        invocation
            .key(keys.counter(&once.key))
            .arg(once.key.as_str())
            .arg(1)
            .arg(expiry_arg(Some(once.expires_at_ms)));
    }
    for increment in increments {
        invocation
            .key(keys.counter(&increment.key))
            .arg(increment.key.as_str())
            .arg(increment.by)
            .arg(expiry_arg(increment.expires_at_ms));
    }
    let applied: i64 = link.invoke(&invocation).await?;
    Ok(applied == 1)
}

pub(super) async fn get_many(
    link: &Link,
    keys: &Keys,
    names: &[String],
) -> Result<Vec<Option<Counter>>, StoreError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut invocation = scripts::COUNTERS.prepare_invoke();
    for name in names {
        invocation.key(keys.counter(name));
    }
    let flat: Vec<Option<i64>> = link.invoke(&invocation).await?;
    let mut found = Vec::with_capacity(names.len());
    let mut items = flat.into_iter();
    while let (Some(value), Some(expiry)) = (items.next(), items.next()) {
        found.push(
            value
                .zip(expiry)
                .map(|(value, expiry)| counter(value, expiry)),
        );
    }
    if found.len() != names.len() {
        return Err(link.endpoint().error("the counters script answered short"));
    }
    Ok(found)
}

pub(super) async fn scan(
    link: &Link,
    keys: &Keys,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Counter)>, StoreError> {
    let mut page = Vec::new();
    let mut lower = lex_bound(scan_start(prefix, after));
    // Each step is one atomic script; a page needs several only when many
    // expired entries sit in its range.
    while page.len() < limit {
        let wanted = limit - page.len();
        let reply: Vec<Value> = link
            .invoke(
                scripts::SCAN_COUNTERS
                    .key(keys.counter_index())
                    .arg(keys.counter_prefix())
                    .arg(prefix)
                    .arg(lower.as_slice())
                    .arg(i64::try_from(wanted).unwrap_or(i64::MAX))
                    .arg(wanted.clamp(SCAN_STEP.0, SCAN_STEP.1)),
            )
            .await?;
        let mut items = reply.into_iter();
        let more: i64 = parse(link, items.next().unwrap_or(Value::Nil))?;
        let last: Option<String> = parse(link, items.next().unwrap_or(Value::Nil))?;
        while let (Some(name), Some(value), Some(expiry)) =
            (items.next(), items.next(), items.next())
        {
            let name: String = parse(link, name)?;
            page.push((name, counter(parse(link, value)?, parse(link, expiry)?)));
        }
        match last {
            Some(last) if more == 1 => lower = lex_bound(Bound::Excluded(&last)),
            _ => break,
        }
    }
    Ok(page)
}

/// Deletes counters and their index entries together (MULTI/EXEC).
pub(super) async fn reset(link: &Link, keys: &Keys, names: &[String]) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    let counters: Vec<String> = names.iter().map(|name| keys.counter(name)).collect();
    let mut pipeline = redis::pipe();
    pipeline
        .atomic()
        .cmd("DEL")
        .arg(counters)
        .ignore()
        .cmd("ZREM")
        .arg(keys.counter_index())
        .arg(names)
        .ignore();
    link.pipeline(&pipeline).await
}

/// Walks the whole index a step at a time, dropping the entries of counters
/// Redis has expired, and returns how many went.
pub(super) async fn sweep(link: &Link, keys: &Keys) -> Result<u64, StoreError> {
    sweep_index(link, &keys.counter_index(), &keys.counter_prefix()).await
}

/// `sweep` on any index of names whose keys (`key_prefix` .. name) expire
/// natively: the counters' and the ephemeral records'.
pub(super) async fn sweep_index(
    link: &Link,
    index: &str,
    key_prefix: &str,
) -> Result<u64, StoreError> {
    let mut removed_total: u64 = 0;
    let mut lower = lex_bound(Bound::Unbounded);
    loop {
        let (removed, last): (u64, Option<String>) = link
            .invoke(
                scripts::SWEEP
                    .key(index)
                    .arg(key_prefix)
                    .arg(lower.as_slice())
                    .arg(SWEEP_STEP),
            )
            .await?;
        removed_total = removed_total.saturating_add(removed);
        match last {
            Some(last) => lower = lex_bound(Bound::Excluded(&last)),
            None => return Ok(removed_total),
        }
    }
}
