//! The command connection: every call bounded by the configured timeout and
//! every failure turned into `StoreError::Unavailable`, so that a dead or
//! hung Redis costs a caller one timeout at most, never a hang. Under
//! Sentinel it also moves to the new master after a failover.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::{Client, Cmd, FromRedisValue, Pipeline, RedisResult, ScriptInvocation};

use super::connection::Server;
use super::endpoint::Endpoint;
use super::sentinel::Locator;
use crate::StoreError;
use crate::connection::ConnectionTracker;

/// A cheap handle (clones share one multiplexed connection) that the store
/// and its background tasks use alike.
#[derive(Clone)]
pub(super) struct Link {
    shared: Arc<Shared>,
}

struct Shared {
    /// The connection in use. Replaced (never mutated) when Sentinel names
    /// another master; calls in flight finish on the one they took.
    current: RwLock<Arc<Server>>,
    /// Sentinel: whom to ask for the master after a failure. `None`: the
    /// servers are the configured ones, for good.
    locator: Option<Locator>,
    /// A lookup is under way: failures meanwhile start no other.
    locating: AtomicBool,
    /// Sentinel or Cluster: a replica may take over from the master, so
    /// entity writes wait for a replica (see `replicated`).
    failover: bool,
    /// The hash slot of every key of the root: where commands that name
    /// no key (INFO, ROLE, WAIT) go in a cluster.
    home_slot: u16,
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
        let server = Server::single(client, &endpoint, timeout).await?;
        Ok(Self::new(server, None, false, 0, endpoint, timeout))
    }

    /// Connects to the master the sentinels name, and follows it from then
    /// on: after a failed call the sentinels are asked again, and a new
    /// master (a failover) takes the next calls.
    pub(super) async fn connect_sentinel(
        locator: Locator,
        endpoint: Arc<Endpoint>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let client = locator.master(&endpoint, timeout).await?;
        let server = Server::single(client, &endpoint, timeout).await?;
        Ok(Self::new(server, Some(locator), true, 0, endpoint, timeout))
    }

    /// Connects to a Redis Cluster through `members`; the cluster client
    /// follows redirections and failovers itself.
    pub(super) async fn connect_cluster(
        members: &[String],
        home_slot: u16,
        endpoint: Arc<Endpoint>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let server = Server::cluster(members, &endpoint, timeout).await?;
        Ok(Self::new(server, None, true, home_slot, endpoint, timeout))
    }

    fn new(
        server: Server,
        locator: Option<Locator>,
        failover: bool,
        home_slot: u16,
        endpoint: Arc<Endpoint>,
        timeout: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(server)),
                locator,
                locating: AtomicBool::new(false),
                failover,
                home_slot,
                timeout,
                tracker: Arc::new(ConnectionTracker::new(endpoint.connection())),
                endpoint,
            }),
        }
    }

    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    pub(super) fn tracker(&self) -> &ConnectionTracker {
        &self.shared.tracker
    }

    pub(super) fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// Where the `attempt`th pub/sub connection goes (pub/sub needs a
    /// connection of its own): the server in use now, or the cluster
    /// members in turn, so that a lost node is not retried forever.
    pub(super) fn subscribe_client(&self, attempt: usize) -> Client {
        let server = self.server();
        server.subscribe_to[attempt % server.subscribe_to.len()].clone()
    }

    fn server(&self) -> Arc<Server> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.server().connection.clone();
        self.bounded(cmd.query_async(&mut connection)).await
    }

    /// A command that names no key, run where the root's keys live (see
    /// `Connection::at_home`).
    pub(super) async fn query_home<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.server().connection.clone();
        let slot = self.shared.home_slot;
        let value = self.bounded(connection.at_home(cmd, slot)).await?;
        redis::from_redis_value(value).map_err(|error| self.shared.endpoint.error(error))
    }

    /// Runs `pipeline` (make it `atomic()` for MULTI/EXEC).
    pub(super) async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &Pipeline,
    ) -> Result<T, StoreError> {
        let mut connection = self.server().connection.clone();
        self.bounded(pipeline.query_async(&mut connection)).await
    }

    /// EVALSHA, falling back to loading the script when the server lacks it
    /// (after a restart or SCRIPT FLUSH).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.server().connection.clone();
        self.bounded(script.invoke_async(&mut connection)).await
    }

    /// Sentinel or Cluster: a replica may take over from the master.
    pub(super) fn failover_possible(&self) -> bool {
        self.shared.failover
    }

    /// `host:port` of the single server in use (the members under Cluster).
    pub(super) fn address(&self) -> String {
        self.server().address.clone()
    }

    /// Under Sentinel, the master the sentinels name now; `None` otherwise.
    pub(super) async fn master_named_by_sentinels(&self) -> Result<Option<String>, StoreError> {
        let Some(locator) = &self.shared.locator else {
            return Ok(None);
        };
        let client = locator
            .master(&self.shared.endpoint, self.shared.timeout)
            .await?;
        Ok(Some(client.get_connection_info().addr().to_string()))
    }

    /// After a failure under Sentinel: asks the sentinels (in the
    /// background, one lookup at a time) whether another server is master
    /// now, and moves the next calls there. The call that failed still
    /// fails: a write may or may not have reached the old master.
    pub(super) fn follow_failover(&self) {
        if self.shared.locator.is_none() || self.shared.locating.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = self.clone();
        tokio::spawn(async move {
            if let Err(error) = link.locate().await {
                tracing::debug!(%error, "redis store: no new master yet");
            }
            link.shared.locating.store(false, Ordering::Release);
        });
    }

    async fn locate(&self) -> Result<(), StoreError> {
        let Some(locator) = &self.shared.locator else {
            return Ok(());
        };
        let (endpoint, timeout) = (&self.shared.endpoint, self.shared.timeout);
        let client = locator.master(endpoint, timeout).await?;
        let address = client.get_connection_info().addr().to_string();
        if address == self.server().address {
            return Ok(());
        }
        let server = Server::single(client, endpoint, timeout).await?;
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(server);
        self.shared.tracker.moved_to(address.clone(), endpoint.tls);
        tracing::info!(
            master = %address,
            "redis store: following the new master named by the sentinels"
        );
        Ok(())
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let result = bounded(&self.shared, call).await;
        if result.is_err() {
            self.follow_failover();
        }
        result
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
    shared: &Shared,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    let (endpoint, timeout, tracker) = (&shared.endpoint, shared.timeout, &shared.tracker);
    let epoch = tracker.epoch();
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => {
            tracker.answered(epoch);
            Ok(value)
        }
        Ok(Err(error)) => {
            if error.is_unrecoverable_error() || error.is_io_error() {
                tracker.lost(epoch);
            } else {
                tracker.answered(epoch);
            }
            Err(endpoint.error(error))
        }
        Err(_) => Err(endpoint.error(format!("no answer within {timeout:?}"))),
    }
}
