use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Counter;

/// Milliseconds since the Unix epoch. A clock set before 1970 reads as 0
/// rather than failing: counters then simply never look expired.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// An expiry at or before `now_ms` is over, so a window ending at `t` does not
/// accept a hit stamped `t`.
pub(crate) fn is_expired(expires_at_ms: Option<u64>, now_ms: u64) -> bool {
    expires_at_ms.is_some_and(|at| at <= now_ms)
}

/// The stored counter as callers see it: expired counters are absent.
pub(crate) fn live(counter: Counter, now_ms: u64) -> Option<Counter> {
    (!is_expired(counter.expires_at_ms, now_ms)).then_some(counter)
}

/// The counter after an `incr`. A live counter keeps its expiry so the quota
/// window stays where its first hit put it; saturating because a quota that
/// overflows i64 is still over quota, and wrapping would reopen it.
pub(crate) fn bumped(
    stored: Option<Counter>,
    by: i64,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> Counter {
    match stored.and_then(|counter| live(counter, now_ms)) {
        Some(counter) => Counter {
            value: counter.value.saturating_add(by),
            expires_at_ms: counter.expires_at_ms,
        },
        None => Counter {
            value: by,
            expires_at_ms,
        },
    }
}

/// Where a counter scan starts: strictly after `after` when that lies inside
/// or beyond the prefix range, else at the first key of the prefix.
pub(crate) fn scan_start<'a>(prefix: &'a str, after: Option<&'a str>) -> Bound<&'a str> {
    match after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    }
}
