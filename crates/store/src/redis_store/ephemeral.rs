//! Ephemeral records: one Redis string per record with a native expiry
//! (PXAT), plus an index of their names (a sorted set read in byte order)
//! for prefix scans. Scans drop the index entries of records that went in
//! the range they read; `sweep` walks the whole index.

use std::ops::Bound;

use redis::Value;

use super::counters::{MAX_EXPIRY_MS, SCAN_STEP, lex_bound, parse, sweep_index};
use super::keys::Keys;
use super::link::Link;
use super::scripts;
use crate::StoreError;

pub(super) async fn put(
    link: &Link,
    keys: &Keys,
    key: &str,
    value: &[u8],
    expires_at_ms: u64,
) -> Result<(), StoreError> {
    let _written: i64 = link
        .invoke(
            scripts::PUT_EPHEMERAL
                .key(keys.ephemeral_index())
                .key(keys.ephemeral(key))
                .arg(key)
                .arg(value)
                .arg(expires_at_ms.min(MAX_EXPIRY_MS)),
        )
        .await?;
    Ok(())
}

pub(super) async fn scan(
    link: &Link,
    keys: &Keys,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut page = Vec::new();
    let mut lower = lex_bound(Bound::Included(prefix));
    // Each step is one atomic script; a page needs several only when many
    // dead entries sit in its range (and those are gone after it).
    while page.len() < limit {
        let wanted = limit - page.len();
        let reply: Vec<Value> = link
            .invoke(
                scripts::SCAN_EPHEMERAL
                    .key(keys.ephemeral_index())
                    .arg(keys.ephemeral_prefix())
                    .arg(prefix)
                    .arg(lower.as_slice())
                    .arg(i64::try_from(wanted).unwrap_or(i64::MAX))
                    .arg(wanted.clamp(SCAN_STEP.0, SCAN_STEP.1)),
            )
            .await?;
        let mut items = reply.into_iter();
        let more: i64 = parse(link, items.next().unwrap_or(Value::Nil))?;
        let last: Option<String> = parse(link, items.next().unwrap_or(Value::Nil))?;
        while let (Some(name), Some(value)) = (items.next(), items.next()) {
            page.push((parse(link, name)?, parse(link, value)?));
        }
        match last {
            Some(last) if more == 1 => lower = lex_bound(Bound::Excluded(&last)),
            _ => break,
        }
    }
    Ok(page)
}

/// Drops the index entries of records Redis has expired; how many went.
pub(super) async fn sweep(link: &Link, keys: &Keys) -> Result<u64, StoreError> {
    sweep_index(link, &keys.ephemeral_index(), &keys.ephemeral_prefix()).await
}
