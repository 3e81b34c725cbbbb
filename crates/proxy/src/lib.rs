//! The data plane: every request that is not for the admin host is matched
//! against the routes of the current state snapshot and forwarded to a
//! backend target.
//!
//! This crate owns load balancing, forwarding (pooled upstream client,
//! streaming bodies, upgrades), API key checks, quota counting on local
//! atomics, and the proxy's metrics. It reads one immutable `Arc<State>` per
//! request and never touches a datastore: quota increments leave through
//! `QuotaTracker::drain` and global counts come back through
//! `QuotaTracker::observe`, whoever the caller is (a standalone node's store
//! flusher, or a worker's push to its leader).

/// API key extraction (Otoroshi's order) and checks.
pub mod apikey;
/// The upstream call of one request, retried on other targets.
mod attempts;
/// Load-balancing policies and target health.
pub mod balancer;
/// The body type every response is given as.
pub mod body;
/// The one canonical request path, matched and forwarded.
mod canonical;
/// Data-plane errors and their HTTP mapping.
mod error;
/// Forwarding headers: trusted proxies, replaced client claims, hop limit.
mod forwarding;
/// Hop-by-hop and X-Forwarded-* header rules.
mod headers;
/// The host a request is for.
pub mod host;
/// JWT (HS256) verification for bearer API keys.
mod jwt;
/// Prometheus metrics, with per-route handles resolved once.
pub mod metrics;
/// Running a route's plugin chain, and what plugins ask of the node.
mod pipeline;
/// Per-key quota counters: local atomics, admission, drain and observe.
pub mod quota;
/// Per-route balancers and metric handles kept across snapshots.
/// The way back: response plugins, body plugins, metrics.
mod respond;
mod runtime;
/// One proxied request from match to response.
mod service;
/// Relaying upgraded (WebSocket) connections, with an idle timeout.
mod upgrade;
/// The pooled upstream client.
mod upstream;

pub use error::ProxyError;
pub use forwarding::TrustedProxies;
pub use service::{Proxy, ProxySettings};
