//! Connection-level pieces more than one crate needs, kept out of the data
//! plane so that the cluster link and the UI do not depend on the proxy:
//! the rustls client set-up (backends and leaders are both reached over
//! TLS with the same provider, roots and error reading) and what the
//! listener tells a handler about the connection a request came on.

/// What the listener knows about a request's connection (TLS, client certificate).
pub mod conn;
/// rustls client pieces: provider, system roots, PEM files, trust-all, refusal reasons.
pub mod tls_client;
