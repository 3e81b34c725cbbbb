//! Turning driver and pool failures into `StoreError::Unavailable`.
//!
//! Messages name the server (`host:port/database`, never the password, which
//! neither the driver's errors nor our target description carry) and what the
//! store was doing, so that an operator reading a health check or a log line
//! knows where to look.

use std::error::Error;

use deadpool_postgres::{PoolError, TimeoutType};

use crate::StoreError;

pub(super) const BACKEND: &str = "postgresql";

pub(super) fn unavailable(message: impl Into<String>) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message: message.into(),
    }
}

/// The driver's `Display` says only what kind of failure it was ("db error",
/// "error connecting to server"); the cause (the server's message, the OS
/// error) sits in the source chain, so it is spelled out here.
pub(super) fn describe(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their cause in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if let Some(plain) = certificate_refused(error) {
        text.push_str(" (");
        text.push_str(&plain);
        text.push(')');
    }
    text.push_str(pooler_hint(&text));
    text
}

/// What to change when PgBouncer refuses the `options` startup parameter,
/// which carries the store's server-side call timeout.
fn pooler_hint(text: &str) -> &'static str {
    if text.contains("unsupported startup parameter: options") {
        " (PgBouncer? add `ignore_startup_parameters = options` to pgbouncer.ini)"
    } else {
        ""
    }
}

/// A refused server certificate in plain words: rustls's reasons are
/// precise but terse (`UnknownIssuer`), and this is what an operator fixes
/// by changing `sslrootcert` or the host name in `PG_URI`.
fn certificate_refused(error: &(dyn Error + 'static)) -> Option<String> {
    let reason = transport::tls_client::refused_certificate(error)?;
    let plain = if reason.starts_with("UnknownIssuer") {
        "untrusted certificate: not signed by a CA in sslrootcert (or the system roots)"
    } else if reason.starts_with("NotValidForName") {
        "wrong host name: the server's certificate is not valid for the host in the URL"
    } else if reason.starts_with("Expired") {
        "the server's certificate has expired"
    } else if reason.starts_with("NotValidYet") {
        "the server's certificate is not valid yet"
    } else {
        return Some(format!("server certificate refused: {reason}"));
    };
    Some(plain.to_owned())
}

/// A failed statement or connection: "<target>: <doing>: <cause>".
pub(super) fn failed(target: &str, doing: &str, error: &tokio_postgres::Error) -> StoreError {
    unavailable(format!("{target}: {doing} failed: {}", describe(error)))
}

/// A connection that could not be had from the pool.
pub(super) fn no_connection(target: &str, error: &PoolError) -> StoreError {
    let cause = match error {
        PoolError::Backend(error) => describe(error),
        PoolError::Timeout(TimeoutType::Wait) => {
            "every pooled connection stayed busy until the timeout".to_owned()
        }
        PoolError::Timeout(TimeoutType::Create) => "connecting timed out".to_owned(),
        PoolError::Timeout(TimeoutType::Recycle) => {
            "checking a pooled connection timed out".to_owned()
        }
        other => other.to_string(),
    };
    unavailable(format!("{target}: cannot get a connection: {cause}"))
}
