//! The Lua scripts, hashed once per process. Whatever must be atomic (a
//! write batch, an increment with its expiry rule, a counter batch with its
//! marker) or consistent (a page of a scan) runs as one script: Redis runs
//! a script alone, with nothing interleaved.

use std::sync::LazyLock;

use redis::Script;

/// The scripts that move or read the revision share the epoch rules, and
/// the counter scripts their own: each script is its rules file followed by
/// its body (Redis scripts cannot include one another).
macro_rules! script_with {
    ($rules:literal, $body:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!($rules), include_str!($body))))
    };
}

pub(super) static WRITE: LazyLock<Script> = script_with!("lua/epoch_rules.lua", "lua/write.lua");

pub(super) static OBSERVE: LazyLock<Script> =
    script_with!("lua/epoch_rules.lua", "lua/observe.lua");

pub(super) static SCAN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/scan.lua")));

pub(super) static INCR: LazyLock<Script> = script_with!("lua/counter_rules.lua", "lua/incr.lua");

pub(super) static INCR_BATCH: LazyLock<Script> =
    script_with!("lua/counter_rules.lua", "lua/incr_batch.lua");

pub(super) static COUNTERS: LazyLock<Script> =
    script_with!("lua/counter_rules.lua", "lua/counters.lua");

pub(super) static SCAN_COUNTERS: LazyLock<Script> =
    script_with!("lua/counter_rules.lua", "lua/scan_counters.lua");

pub(super) static SWEEP: LazyLock<Script> = script_with!("lua/counter_rules.lua", "lua/sweep.lua");

pub(super) static PUT_EPHEMERAL: LazyLock<Script> =
    script_with!("lua/counter_rules.lua", "lua/put_ephemeral.lua");

pub(super) static SCAN_EPHEMERAL: LazyLock<Script> =
    script_with!("lua/counter_rules.lua", "lua/scan_ephemeral.lua");
