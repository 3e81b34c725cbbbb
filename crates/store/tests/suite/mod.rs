//! Behaviour every `Store` backend must show, written once.
//!
//! A backend's test file declares `mod suite;` and calls
//! `suite::store_suite!(factory);` where `factory` is an async fn returning
//! `Some` fresh, empty store plus whatever must outlive it (a temp dir, a
//! server handle, `()`), or `None` to skip when its server is missing. Each behaviour becomes its own `#[tokio::test]`.

#![allow(dead_code)]

pub mod batched_counters;
pub mod batches;
pub mod changes;
pub mod counters;
pub mod entities;
pub mod ephemeral;
pub mod failover;
pub mod guards;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{Condition, Op};

/// Long enough for a slow CI disk, short enough that a missing wake-up fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn put(kind: &str, id: &str, value: &[u8]) -> Op {
    put_if(kind, id, value, Condition::Any)
}

pub fn put_if(kind: &str, id: &str, value: &[u8], condition: Condition) -> Op {
    Op::Put {
        kind: kind.to_owned(),
        id: id.to_owned(),
        value: value.to_vec(),
        condition,
    }
}

pub fn delete(kind: &str, id: &str, condition: Condition) -> Op {
    Op::Delete {
        kind: kind.to_owned(),
        id: id.to_owned(),
        condition,
    }
}

pub fn delete_kind(kind: &str) -> Op {
    Op::DeleteKind {
        kind: kind.to_owned(),
    }
}

pub fn ids<V>(page: &[(String, V)]) -> Vec<&str> {
    page.iter().map(|(id, _)| id.as_str()).collect()
}

pub fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

pub fn now_ms() -> u64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(elapsed.as_millis()).unwrap()
}

macro_rules! store_suite {
    ($factory:path) => {
        $crate::suite::store_suite!(@tests $factory;
            entities::new_store_is_empty,
            entities::put_get_scan_count,
            entities::scan_pages_stay_inside_their_kind,
            entities::odd_keys_and_big_values_are_plain_data,
            batches::must_not_exist_conflict_changes_nothing,
            batches::must_exist_on_missing_changes_nothing,
            batches::conditions_pass_when_met,
            batches::ops_apply_in_batch_order,
            batches::delete_kind_then_puts_replaces_a_kind,
            batches::revision_bumps_once_per_batch,
            guards::expect_passes_on_the_same_bytes,
            guards::expect_on_changed_or_missing_rejects_the_batch,
            guards::concurrent_deletes_guarded_by_each_other_leave_one,
            changes::changes_wake_with_the_new_revision,
            changes::changes_ignore_failed_and_empty_batches,
            changes::changes_end_on_the_last_revision_under_concurrency,
            counters::incr_returns_running_totals,
            counters::live_counter_keeps_its_first_window,
            counters::expired_counter_restarts_from_zero,
            counters::counters_reads_in_request_order,
            counters::scan_counters_by_prefix_and_page,
            counters::reset_counters_forgets_them,
            counters::sweep_keeps_live_counters,
            counters::concurrent_incr_loses_nothing,
            batched_counters::incr_batch_applies_every_increment,
            batched_counters::incr_batch_with_a_marker_applies_once,
            batched_counters::incr_batch_marker_that_expired_applies_again,
            batched_counters::concurrent_batches_with_one_marker_apply_once,
            batched_counters::concurrent_batches_lose_nothing,
        );
    };
    (@tests $factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // A factory answers None when its server is missing and the
                // run allows skipping (it has said so loudly already).
                let Some((store, _keep_alive)) = $factory().await else {
                    return;
                };
                $crate::suite::$module::$name(store).await;
            }
        )*
    };
}

pub(crate) use store_suite;

/// The message of a Redis `Unavailable` error; any other error fails the test.
pub fn unavailable_message(error: store::StoreError) -> String {
    match error {
        store::StoreError::Unavailable { backend, message } => {
            assert_eq!(backend, "redis");
            message
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
