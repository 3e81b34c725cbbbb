use redb::{Database, TableDefinition, WriteTransaction};

use crate::StoreError;

pub(super) const BACKEND: &str = "embedded";

/// The file inside the data folder.
pub(super) const FILE_NAME: &str = "komainu.redb";

/// Entities keyed by `(kind, id)`: tuples compare element by element, so a
/// kind is one contiguous range and "route" never bleeds into "routes".
pub(super) const ENTITIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entities");

/// Single values; today only the revision.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const REVISION: &str = "revision";

/// Counter key -> (value, expiry in ms since the epoch).
pub(super) const COUNTERS: TableDefinition<&str, (i64, Option<u64>)> =
    TableDefinition::new("counters");

/// (expiry, counter key) for every counter that has an expiry, so a sweep
/// reads only what is due instead of every counter.
pub(super) const EXPIRIES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("counter_expiries");

pub(super) fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// Runs `body` in a write transaction and commits it durably (redb's default
/// immediate durability), or aborts it when `body` fails so that a rejected
/// batch leaves nothing behind.
pub(super) fn in_write_txn<T>(
    db: &Database,
    body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    match body(&txn) {
        Ok(value) => {
            txn.commit().map_err(unavailable)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(abort) = txn.abort() {
                tracing::warn!(error = %abort, "embedded store: aborting a write failed");
            }
            Err(error)
        }
    }
}

/// Creates every table up front: a read transaction cannot create one, and
/// opening a missing table there is an error rather than an empty table.
pub(super) fn create_tables(db: &Database) -> Result<(), StoreError> {
    in_write_txn(db, |txn| {
        txn.open_table(ENTITIES).map_err(unavailable)?;
        txn.open_table(META).map_err(unavailable)?;
        txn.open_table(COUNTERS).map_err(unavailable)?;
        txn.open_table(EXPIRIES).map_err(unavailable)?;
        Ok(())
    })
}
