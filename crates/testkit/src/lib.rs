//! What komainu's tests need from the machine: the shared Redis and
//! PostgreSQL servers (127.0.0.1:6379 and :5432 unless overridden), private
//! throwaway instances that a test may kill and restart, and one rule for a
//! missing server: fail when the run requires datastores (CI sets
//! `KOMAINU_REQUIRE_DATASTORES=1`), else skip loudly.
//!
//! Test support only: panics here are test failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// A private PgBouncer in front of a PostgreSQL server.
pub mod pgbouncer;
/// Ports for spawned servers, never handed out twice in one process.
pub mod ports;
/// Private PostgreSQL instances (initdb + pg_ctl) and the shared server.
pub mod postgres;
/// Private Redis instances (redis-server) and the shared server.
pub mod redis;
/// Require or skip: what a missing server means for this run.
pub mod skip;

/// A name no other test run picks: datastore roots, database names.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}
