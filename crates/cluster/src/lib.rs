//! Leader / worker clustering, over plain HTTP(S) on the admin API host.
//!
//! This crate owns both sides of the link. A leader exports its state
//! (entities and quota counters) as ndjson at `GET /api/cluster/state`, with a
//! digest, gzip, an ETag and a long-poll so that workers learn of a change as
//! soon as it is written; it takes quota increments from workers at
//! `PUT /api/cluster/quotas` and keeps the member list. A worker polls the
//! leaders (round-robin failover, backoff), checks what it gets, publishes it
//! as the same `State` a standalone node builds from its store, keeps a
//! snapshot file to serve from when every leader is down at start, and pushes
//! its quota increments back.

/// Leader side: state export, quota ingest, members, live events.
pub mod leader;
/// Files readable by this user only (they hold secrets).
mod private_file;
/// The wire format shared by both sides: ndjson lines, digest, headers.
pub mod wire;
/// Worker side: polling, pushing, the snapshot file.
pub mod worker;
