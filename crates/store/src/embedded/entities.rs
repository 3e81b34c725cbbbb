use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, Table};

use super::tables::{ENTITIES, META, REVISION, in_write_txn, unavailable};
use crate::conditions::check;
use crate::{Op, StoreError};

type EntityTable<'txn> = Table<'txn, (&'static str, &'static str), &'static [u8]>;

/// The first key past every `(kind, _)`. No kind sorts between `kind` and
/// `kind + "\0"` ("\0" being the smallest suffix), and a tuple compares its
/// first element first.
fn kind_end(kind: &str) -> String {
    format!("{kind}\0")
}

pub(super) fn get(db: &Database, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let table = txn.open_table(ENTITIES).map_err(unavailable)?;
    let value = table.get((kind, id)).map_err(unavailable)?;
    Ok(value.map(|guard| guard.value().to_vec()))
}

pub(super) fn scan(
    db: &Database,
    kind: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = db.begin_read().map_err(unavailable)?;
    let table = txn.open_table(ENTITIES).map_err(unavailable)?;
    let start = match after {
        Some(after) => Bound::Excluded((kind, after)),
        None => Bound::Included((kind, "")),
    };
    let end = kind_end(kind);
    let range = table
        .range((start, Bound::Excluded((end.as_str(), ""))))
        .map_err(unavailable)?;
    let mut page = Vec::new();
    for entry in range.take(limit) {
        let (key, value) = entry.map_err(unavailable)?;
        page.push((key.value().1.to_owned(), value.value().to_vec()));
    }
    Ok(page)
}

pub(super) fn count(db: &Database, kind: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let table = txn.open_table(ENTITIES).map_err(unavailable)?;
    let end = kind_end(kind);
    let range = table
        .range((kind, "")..(end.as_str(), ""))
        .map_err(unavailable)?;
    let mut count = 0;
    for entry in range {
        entry.map_err(unavailable)?;
        count += 1;
    }
    Ok(count)
}

pub(super) fn revision(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let meta = txn.open_table(META).map_err(unavailable)?;
    let revision = meta.get(REVISION).map_err(unavailable)?;
    Ok(revision.map_or(0, |guard| guard.value()))
}

/// Applies the batch and bumps the revision in one durable transaction.
pub(super) fn write(db: &Database, ops: Vec<Op>) -> Result<u64, StoreError> {
    in_write_txn(db, |txn| {
        let mut entities = txn.open_table(ENTITIES).map_err(unavailable)?;
        for op in ops {
            apply(&mut entities, op)?;
        }
        let mut meta = txn.open_table(META).map_err(unavailable)?;
        let current = meta
            .get(REVISION)
            .map_err(unavailable)?
            .map_or(0, |guard| guard.value());
        let revision = current.saturating_add(1);
        meta.insert(REVISION, revision).map_err(unavailable)?;
        Ok(revision)
    })
}

fn apply(entities: &mut EntityTable<'_>, op: Op) -> Result<(), StoreError> {
    match op {
        Op::Put {
            kind,
            id,
            value,
            condition,
        } => {
            let existed = entities
                .insert((kind.as_str(), id.as_str()), value.as_slice())
                .map_err(unavailable)?
                .is_some();
            check(condition, existed, kind, id)
        }
        Op::Delete {
            kind,
            id,
            condition,
        } => {
            let existed = entities
                .remove((kind.as_str(), id.as_str()))
                .map_err(unavailable)?
                .is_some();
            check(condition, existed, kind, id)
        }
        Op::Expect { kind, id, value } => {
            let same = entities
                .get((kind.as_str(), id.as_str()))
                .map_err(unavailable)?
                .is_some_and(|held| held.value() == value.as_slice());
            if same {
                Ok(())
            } else {
                Err(StoreError::Conflict { kind, id })
            }
        }
        Op::DeleteKind { kind } => {
            let end = kind_end(&kind);
            entities
                .retain_in((kind.as_str(), "")..(end.as_str(), ""), |_, _| false)
                .map_err(unavailable)
        }
    }
}
