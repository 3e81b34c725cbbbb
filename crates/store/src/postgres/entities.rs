//! Entity reads, write batches and the revision.

use deadpool_postgres::{ClientWrapper, Transaction};
use tokio_postgres::types::ToSql;

use super::Shared;
use super::keys::{from_bigint, limit, scan_from, text};
use super::typed::{self, Sql};
use crate::conditions::check;
use crate::{Condition, Op, StoreError};

pub(super) async fn get(
    shared: &Shared,
    client: &ClientWrapper,
    kind: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let doing = "reading an entity";
    let row = typed::query_opt(
        &**client,
        &shared.sql.get,
        &[&kind.as_bytes(), &id.as_bytes()],
    )
    .await
    .map_err(|error| shared.failed(doing, &error))?;
    row.map(|row| row.try_get(0))
        .transpose()
        .map_err(|error| shared.failed(doing, &error))
}

/// One statement, so one snapshot: a page never mixes two states of a kind.
pub(super) async fn scan(
    shared: &Shared,
    client: &ClientWrapper,
    kind: &str,
    after: Option<&str>,
    page_size: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    if page_size == 0 {
        return Ok(Vec::new());
    }
    let doing = "scanning entities";
    let from = scan_from(after);
    let rows = typed::query(
        &**client,
        &shared.sql.scan,
        &[&kind.as_bytes(), &from.as_slice(), &limit(page_size)],
    )
    .await
    .map_err(|error| shared.failed(doing, &error))?;
    rows.into_iter()
        .map(|row| Ok((text(row.try_get(0)?), row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|error| shared.failed(doing, &error))
}

pub(super) async fn count(
    shared: &Shared,
    client: &ClientWrapper,
    kind: &str,
) -> Result<u64, StoreError> {
    let doing = "counting entities";
    let count: i64 = typed::query_one(&**client, &shared.sql.count, &[&kind.as_bytes()])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| shared.failed(doing, &error))?;
    Ok(from_bigint(count))
}

/// Works on a pooled connection and on the listener's own one alike.
pub(super) async fn revision(
    shared: &Shared,
    client: &tokio_postgres::Client,
) -> Result<u64, StoreError> {
    let revision: i64 = typed::query_one(client, &shared.sql.revision, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| shared.failed("reading the revision", &error))?;
    Ok(from_bigint(revision))
}

/// Applies a non-empty batch in one transaction and returns the new
/// revision, committed (durably: the server's default synchronous commit)
/// before this returns. Listeners on every node hear of it from the NOTIFY,
/// which the server sends only once the commit is done.
pub(super) async fn write(
    shared: &Shared,
    client: &mut ClientWrapper,
    ops: Vec<Op>,
) -> Result<u64, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(|error| shared.failed("starting a write", &error))?;
    // Before any op: writers queue here one at a time, so conditions judge
    // a settled state and revisions follow commit order.
    execute(
        shared,
        &tx,
        &shared.sql.lock_revision,
        &[],
        "locking the revision",
    )
    .await?;
    for op in ops {
        if let Err(error) = apply(shared, &tx, op).await {
            // Nothing of the batch stays. Should the rollback itself fail,
            // the connection is broken and the server drops the transaction.
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "postgresql store: rollback failed");
            }
            return Err(error);
        }
    }
    let revision: i64 = typed::query_one(&*tx, &shared.sql.bump_revision, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| shared.failed("bumping the revision", &error))?;
    // Listeners re-read the revision rather than trust a payload; it is
    // there for people watching the channel (`LISTEN` in psql).
    let payload = revision.to_string();
    execute(
        shared,
        &tx,
        &shared.sql.notify,
        &[&shared.channel, &payload],
        "announcing the revision",
    )
    .await?;
    tx.commit()
        .await
        .map_err(|error| shared.failed("committing a write", &error))?;
    Ok(from_bigint(revision))
}

/// One op. Conditions are read from the affected row count of the very
/// statement that writes, so checking costs no extra round trip.
async fn apply(shared: &Shared, tx: &Transaction<'_>, op: Op) -> Result<(), StoreError> {
    let sql = &shared.sql;
    match op {
        Op::Put {
            kind,
            id,
            value,
            condition,
        } => {
            let statement = match condition {
                Condition::Any => &sql.put_any,
                Condition::MustNotExist => &sql.put_new,
                Condition::MustExist => &sql.put_existing,
            };
            let params: [&(dyn ToSql + Sync); 3] =
                [&kind.as_bytes(), &id.as_bytes(), &value.as_slice()];
            let changed = execute(shared, tx, statement, &params, "writing an entity").await?;
            let existed = match condition {
                // Inserted nothing: the entity was there.
                Condition::MustNotExist => changed == 0,
                // Updated something: the entity was there.
                Condition::MustExist => changed > 0,
                // Any never fails, whatever was there.
                Condition::Any => true,
            };
            check(condition, existed, kind, id)
        }
        Op::Delete {
            kind,
            id,
            condition,
        } => {
            let params: [&(dyn ToSql + Sync); 2] = [&kind.as_bytes(), &id.as_bytes()];
            let removed = execute(shared, tx, &sql.delete, &params, "deleting an entity").await?;
            check(condition, removed > 0, kind, id)
        }
        Op::Expect { kind, id, value } => {
            // Under the revision lock taken first: no other writer moves the
            // row between this read and the commit.
            let params: [&(dyn ToSql + Sync); 3] =
                [&kind.as_bytes(), &id.as_bytes(), &value.as_slice()];
            let same = execute(shared, tx, &sql.expect, &params, "checking an entity").await?;
            if same > 0 {
                Ok(())
            } else {
                Err(StoreError::Conflict { kind, id })
            }
        }
        Op::DeleteKind { kind } => execute(
            shared,
            tx,
            &sql.delete_kind,
            &[&kind.as_bytes()],
            "deleting a kind",
        )
        .await
        .map(drop),
    }
}

/// Runs a statement in the transaction; the affected row count.
async fn execute(
    shared: &Shared,
    tx: &Transaction<'_>,
    sql: &Sql,
    params: &[&(dyn ToSql + Sync)],
    doing: &str,
) -> Result<u64, StoreError> {
    typed::execute(&**tx, sql, params)
        .await
        .map_err(|error| shared.failed(doing, &error))
}
