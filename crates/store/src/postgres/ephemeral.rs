//! Ephemeral records: one row each, judged against the node's clock (passed
//! in, as for counters). Expired rows read as absent; each put also removes
//! a small batch of them, so they never pile up, whoever sweeps counters.

use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::ToSql;

use super::Shared;
use super::keys::{limit, prefix_end, text, to_bigint};
use super::typed;
use crate::StoreError;

/// Expired records one put removes at most.
pub(super) const PUT_SWEEP_BATCH: i64 = 100;

/// Expired records one sweep statement removes at most.
pub(super) const SWEEP_BATCH: i64 = 10_000;

pub(super) async fn put(
    shared: &Shared,
    client: &ClientWrapper,
    key: &str,
    value: &[u8],
    expires_at_ms: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    let doing = "writing an ephemeral record";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let params: [&(dyn ToSql + Sync); 3] = [&key.as_bytes(), &value, &to_bigint(expires_at_ms)];
    typed::execute(&**client, &shared.sql.put_ephemeral, &params)
        .await
        .map_err(fail)?;
    sweep_batch(shared, client, now_ms, PUT_SWEEP_BATCH).await?;
    Ok(())
}

pub(super) async fn scan(
    shared: &Shared,
    client: &ClientWrapper,
    prefix: &str,
    page_size: usize,
    now_ms: u64,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    if page_size == 0 {
        return Ok(Vec::new());
    }
    let doing = "scanning ephemeral records";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    let until = prefix_end(prefix.as_bytes());
    let params: [&(dyn ToSql + Sync); 4] = [
        &prefix.as_bytes(),
        &until.as_slice(),
        &to_bigint(now_ms),
        &limit(page_size),
    ];
    let rows = typed::query(&**client, &shared.sql.scan_ephemeral, &params)
        .await
        .map_err(fail)?;
    rows.iter()
        .map(|row| Ok((text(row.try_get(0)?), row.try_get(1)?)))
        .collect::<Result<_, _>>()
        .map_err(fail)
}

/// Removes up to `batch` records expired at `now_ms`; how many went.
pub(super) async fn sweep_batch(
    shared: &Shared,
    client: &ClientWrapper,
    now_ms: u64,
    batch: i64,
) -> Result<u64, StoreError> {
    let doing = "sweeping expired ephemeral records";
    let fail = |error: tokio_postgres::Error| shared.failed(doing, &error);
    typed::execute(
        &**client,
        &shared.sql.sweep_ephemeral,
        &[&to_bigint(now_ms), &batch],
    )
    .await
    .map_err(fail)
}
