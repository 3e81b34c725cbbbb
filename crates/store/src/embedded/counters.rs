use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, Table, WriteTransaction};

use super::tables::{COUNTERS, EXPIRIES, in_write_txn, unavailable};
use crate::counter_rules::{bumped, live, scan_start};
use crate::{Counter, Increment, Once, StoreError};

/// Counters one sweep transaction removes at most, so that a backlog of
/// expired counters never makes one huge transaction.
const SWEEP_BATCH: usize = 4096;

type ExpiryTable<'txn> = Table<'txn, (u64, &'static str), ()>;

/// The two tables every counter write touches, opened together.
pub(super) struct CounterTables<'txn> {
    counters: Table<'txn, &'static str, (i64, Option<u64>)>,
    expiries: ExpiryTable<'txn>,
}

impl<'txn> CounterTables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            counters: txn.open_table(COUNTERS).map_err(unavailable)?,
            expiries: txn.open_table(EXPIRIES).map_err(unavailable)?,
        })
    }
}

fn counter((value, expires_at_ms): (i64, Option<u64>)) -> Counter {
    Counter {
        value,
        expires_at_ms,
    }
}

/// One increment inside a write transaction that the caller commits.
pub(super) fn incr_in(
    tables: &mut CounterTables<'_>,
    key: &str,
    by: i64,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    let CounterTables { counters, expiries } = tables;
    let stored = counters
        .get(key)
        .map_err(unavailable)?
        .map(|guard| counter(guard.value()));
    let next = bumped(stored, by, expires_at_ms, now_ms);
    let old_expiry = stored.and_then(|stored| stored.expires_at_ms);
    if old_expiry != next.expires_at_ms {
        // Overwriting an expired counter is its lazy removal; its index entry
        // has to go with it.
        unindex(expiries, key, old_expiry)?;
        if let Some(at) = next.expires_at_ms {
            expiries.insert((at, key), ()).map_err(unavailable)?;
        }
    }
    counters
        .insert(key, (next.value, next.expires_at_ms))
        .map_err(unavailable)?;
    Ok(next.value)
}

fn unindex(
    expiries: &mut ExpiryTable<'_>,
    key: &str,
    expires_at_ms: Option<u64>,
) -> Result<(), StoreError> {
    if let Some(at) = expires_at_ms {
        expiries.remove((at, key)).map_err(unavailable)?;
    }
    Ok(())
}

pub(super) fn get_many(
    db: &Database,
    keys: &[String],
    now_ms: u64,
) -> Result<Vec<Option<Counter>>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let counters = txn.open_table(COUNTERS).map_err(unavailable)?;
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let stored = counters.get(key.as_str()).map_err(unavailable)?;
        found.push(stored.and_then(|guard| live(counter(guard.value()), now_ms)));
    }
    Ok(found)
}

pub(super) fn scan(
    db: &Database,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<(String, Counter)>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = db.begin_read().map_err(unavailable)?;
    let counters = txn.open_table(COUNTERS).map_err(unavailable)?;
    let range = counters
        .range::<&str>((scan_start(prefix, after), Bound::Unbounded))
        .map_err(unavailable)?;
    let mut page = Vec::new();
    for entry in range {
        let (key, value) = entry.map_err(unavailable)?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        if let Some(counter) = live(counter(value.value()), now_ms) {
            page.push((key.to_owned(), counter));
            if page.len() == limit {
                break;
            }
        }
    }
    Ok(page)
}

pub(super) fn reset(db: &Database, keys: &[String]) -> Result<(), StoreError> {
    in_write_txn(db, |txn| {
        let CounterTables {
            mut counters,
            mut expiries,
        } = CounterTables::open(txn)?;
        for key in keys {
            let removed = counters.remove(key.as_str()).map_err(unavailable)?;
            let expiry = removed.and_then(|guard| guard.value().1);
            unindex(&mut expiries, key, expiry)?;
        }
        Ok(())
    })
}

/// Removes up to `SWEEP_BATCH` counters that expired at or before `now_ms`
/// and returns how many went.
pub(super) fn sweep_batch(db: &Database, now_ms: u64) -> Result<usize, StoreError> {
    in_write_txn(db, |txn| {
        let CounterTables {
            mut counters,
            mut expiries,
        } = CounterTables::open(txn)?;
        let due = {
            let range = expiries
                .range(..(now_ms.saturating_add(1), ""))
                .map_err(unavailable)?;
            let mut due = Vec::new();
            for entry in range.take(SWEEP_BATCH) {
                let (key, _) = entry.map_err(unavailable)?;
                let (at, key) = key.value();
                due.push((at, key.to_owned()));
            }
            due
        };
        for (at, key) in &due {
            expiries.remove((*at, key.as_str())).map_err(unavailable)?;
            counters.remove(key.as_str()).map_err(unavailable)?;
        }
        Ok(due.len())
    })
}

/// Whether a sweep that removed `removed` counters may have left more due.
pub(super) fn sweep_has_more(removed: usize) -> bool {
    removed == SWEEP_BATCH
}

/// `Store::incr_batch` in one durable transaction: the marker check, the
/// marker and every increment commit together or not at all.
pub(super) fn incr_batch(
    db: &Database,
    once: Option<&Once>,
    increments: &[Increment],
    now_ms: u64,
) -> Result<bool, StoreError> {
    in_write_txn(db, |txn| {
        let mut tables = CounterTables::open(txn)?;
        if let Some(once) = once {
            let marker = tables
                .counters
                .get(once.key.as_str())
                .map_err(unavailable)?
                .map(|guard| counter(guard.value()));
            if marker.and_then(|marker| live(marker, now_ms)).is_some() {
                return Ok(false);
            }
            incr_in(&mut tables, &once.key, 1, Some(once.expires_at_ms), now_ms)?;
        }
        for increment in increments {
            incr_in(
                &mut tables,
                &increment.key,
                increment.by,
                increment.expires_at_ms,
                now_ms,
            )?;
        }
        Ok(true)
    })
}
