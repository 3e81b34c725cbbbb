//! Counters: each increment is one upsert, judged against the node's clock
//! (passed in, as every backend judges expiry by the calling node's clock)
//! with the rules of `counter_rules`, which the SQL in `sql.rs` mirrors.

use std::collections::HashMap;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Shared;
use super::keys::{counter_range, from_bigint, limit, text, to_bigint};
use super::typed;
use crate::counter_rules::live;
use crate::{Counter, Increment, Once, StoreError};

/// Expired counters one sweep statement removes at most.
pub(super) const SWEEP_BATCH: i64 = 10_000;

pub(super) async fn incr(
    shared: &Shared,
    client: &ClientWrapper,
    key: &str,
    by: i64,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    let doing = "incrementing a counter";
    let params: [&(dyn ToSql + Sync); 4] = [
        &key.as_bytes(),
        &by,
        &expires_at_ms.map(to_bigint),
        &to_bigint(now_ms),
    ];
    typed::query_one(&**client, &shared.sql.incr, &params)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| shared.failed(doing, &error))
}

/// `Store::incr_batch` in one transaction: the marker claim and every
/// increment commit together, or none of them does.
pub(super) async fn incr_batch(
    shared: &Shared,
    client: &mut ClientWrapper,
    once: Option<&Once>,
    increments: &[Increment],
    now_ms: u64,
) -> Result<bool, StoreError> {
    let doing = "applying a counter batch";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let now = to_bigint(now_ms);
    let tx = client.transaction().await.map_err(fail)?;
    if let Some(once) = once {
        let params: [&(dyn ToSql + Sync); 3] =
            [&once.key.as_bytes(), &to_bigint(once.expires_at_ms), &now];
        let claimed = typed::query_opt(&*tx, &shared.sql.claim_marker, &params)
            .await
            .map_err(fail)?;
        if claimed.is_none() {
            // The marker is live: this batch counted before.
            tx.rollback().await.map_err(fail)?;
            return Ok(false);
        }
    }
    // In key order, so that concurrent batches lock shared rows in one order
    // and cannot deadlock. The sort is stable: a key named twice still adds
    // in the caller's order, and distinct keys do not affect each other.
    let mut ordered: Vec<&Increment> = increments.iter().collect();
    ordered.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    for increment in ordered {
        let params: [&(dyn ToSql + Sync); 4] = [
            &increment.key.as_bytes(),
            &increment.by,
            &increment.expires_at_ms.map(to_bigint),
            &now,
        ];
        typed::execute(&*tx, &shared.sql.incr, &params)
            .await
            .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    Ok(true)
}

fn counter(row: &Row) -> Result<(Vec<u8>, Counter), tokio_postgres::Error> {
    let key = row.try_get(0)?;
    let value = row.try_get(1)?;
    let expires_at_ms: Option<i64> = row.try_get(2)?;
    Ok((
        key,
        Counter {
            value,
            expires_at_ms: expires_at_ms.map(from_bigint),
        },
    ))
}

pub(super) async fn get_many(
    shared: &Shared,
    client: &ClientWrapper,
    keys: &[String],
    now_ms: u64,
) -> Result<Vec<Option<Counter>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let doing = "reading counters";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let wanted: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
    let rows = typed::query(&**client, &shared.sql.counters, &[&wanted])
        .await
        .map_err(fail)?;
    let found = rows
        .iter()
        .map(counter)
        .collect::<Result<HashMap<_, _>, _>>()
        .map_err(fail)?;
    Ok(keys
        .iter()
        .map(|key| {
            found
                .get(key.as_bytes())
                .and_then(|counter| live(*counter, now_ms))
        })
        .collect())
}

pub(super) async fn scan(
    shared: &Shared,
    client: &ClientWrapper,
    prefix: &str,
    after: Option<&str>,
    page_size: usize,
    now_ms: u64,
) -> Result<Vec<(String, Counter)>, StoreError> {
    if page_size == 0 {
        return Ok(Vec::new());
    }
    let doing = "scanning counters";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let (from, until) = counter_range(prefix, after);
    let params: [&(dyn ToSql + Sync); 4] = [
        &from.as_slice(),
        &until.as_slice(),
        &to_bigint(now_ms),
        &limit(page_size),
    ];
    let rows = typed::query(&**client, &shared.sql.scan_counters, &params)
        .await
        .map_err(fail)?;
    rows.iter()
        .map(|row| counter(row).map(|(key, counter)| (text(key), counter)))
        .collect::<Result<_, _>>()
        .map_err(fail)
}

pub(super) async fn reset(
    shared: &Shared,
    client: &ClientWrapper,
    keys: &[String],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let doing = "resetting counters";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let doomed: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
    typed::execute(&**client, &shared.sql.reset_counters, &[&doomed])
        .await
        .map_err(fail)?;
    Ok(())
}

/// Removes up to `SWEEP_BATCH` counters expired at `now_ms`; how many went.
pub(super) async fn sweep_batch(
    shared: &Shared,
    client: &ClientWrapper,
    now_ms: u64,
) -> Result<u64, StoreError> {
    let doing = "sweeping expired counters";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    typed::execute(
        &**client,
        &shared.sql.sweep_counters,
        &[&to_bigint(now_ms), &SWEEP_BATCH],
    )
    .await
    .map_err(fail)
}
