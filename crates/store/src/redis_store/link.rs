//! The command connection: every call bounded by the configured timeout and
//! every failure turned into `StoreError::Unavailable`, so that a dead or
//! hung Redis costs a caller one timeout at most, never a hang.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, FromRedisValue, Pipeline, RedisResult, ScriptInvocation};

use super::endpoint::Endpoint;
use crate::StoreError;
use crate::connection::ConnectionTracker;

/// Reconnect attempts the manager makes per outage before it fails the
/// calls waiting on it. Few on purpose: the next call (or the revision
/// poll) starts a fresh attempt, so a Redis that comes back is found
/// quickly, while calls during an outage fail fast instead of queueing.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// A cheap handle (clones share one multiplexed connection) that the store
/// and its background tasks use alike.
#[derive(Clone)]
pub(super) struct Link {
    manager: ConnectionManager,
    timeout: Duration,
    endpoint: Arc<Endpoint>,
    /// Sees every call's outcome: a dropped connection, then the first
    /// answer on the manager's new one, moves the "connected since".
    tracker: Arc<ConnectionTracker>,
}

impl Link {
    /// Connects once to prove the server is there: a node that starts with
    /// a wrong address should say so at startup, not at its first request.
    pub(super) async fn connect(
        client: Client,
        endpoint: Arc<Endpoint>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let connecting = ConnectionManager::new_with_config(client, config);
        let manager = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(manager)) => manager,
            Ok(Err(error)) => {
                return Err(endpoint.error(format!(
                    "cannot connect: {error}{}",
                    tls_hint(&error.to_string())
                )));
            }
            Err(_) => {
                return Err(endpoint.error(format!("cannot connect within {timeout:?}")));
            }
        };
        let tracker = Arc::new(ConnectionTracker::new(endpoint.connection()));
        Ok(Self {
            manager,
            timeout,
            endpoint,
            tracker,
        })
    }

    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(super) fn tracker(&self) -> &ConnectionTracker {
        &self.tracker
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.manager.clone();
        bounded(self, cmd.query_async(&mut connection)).await
    }

    /// Runs `pipeline` (make it `atomic()` for MULTI/EXEC).
    pub(super) async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &Pipeline,
    ) -> Result<T, StoreError> {
        let mut connection = self.manager.clone();
        bounded(self, pipeline.query_async(&mut connection)).await
    }

    /// EVALSHA, falling back to loading the script when the server lacks it
    /// (after a restart or SCRIPT FLUSH).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.manager.clone();
        bounded(self, script.invoke_async(&mut connection)).await
    }
}

/// Awaits `call` for at most `timeout`. A call cut off by the timeout may
/// still have run on the server (a write then counts as unknown, as any
/// timed-out write does).
///
/// The errors after which the manager reconnects (the connection dropped or
/// failed to open) tell the tracker the connection is gone; any answer,
/// a Redis error reply included, says one is there.
async fn bounded<T>(
    link: &Link,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    let (endpoint, timeout) = (&link.endpoint, link.timeout);
    let epoch = link.tracker.epoch();
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => {
            link.tracker.answered(epoch);
            Ok(value)
        }
        Ok(Err(error)) => {
            if error.is_unrecoverable_error() || error.is_io_error() {
                link.tracker.lost(epoch);
            } else {
                link.tracker.answered(epoch);
            }
            Err(endpoint.error(error))
        }
        Err(_) => Err(endpoint.error(format!("no answer within {timeout:?}"))),
    }
}

/// What to fix when the TLS handshake failed over a certificate: rustls's
/// reasons (`UnknownIssuer`, `UnknownCA`) are exact but terse.
fn tls_hint(error: &str) -> &'static str {
    // rustls says `Expired` or `certificate expired: …`.
    if error.contains("invalid peer certificate") && error.to_lowercase().contains("expired") {
        " (the server's certificate has expired: renew it on the Redis server)"
    } else if error.contains("invalid peer certificate") {
        " (the server's certificate is not trusted: it must be signed by a CA in \
         app.redis.tls.caFile, or the system roots when unset, and name the URL's host)"
    } else if error.contains("received fatal alert") {
        " (the server refused the TLS handshake: does it want a client certificate \
         (app.redis.tls.certFile / keyFile) signed by a CA it trusts?)"
    } else {
        ""
    }
}
