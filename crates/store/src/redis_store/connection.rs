//! The connections a `Link` sends commands on: one server's (standalone, or
//! the master Sentinel names), reconnecting by itself; or a Redis Cluster's,
//! which follows MOVED/ASK redirections and re-reads the slot map after a
//! failover. Either way one value the scripts and commands run on.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Client, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use super::endpoint::Endpoint;
use crate::StoreError;

/// Reconnect attempts the manager makes per outage before it fails the
/// calls waiting on it. Few on purpose: the next call (or the revision
/// poll) starts a fresh attempt, so a Redis that comes back is found
/// quickly, while calls during an outage fail fast instead of queueing.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// Retries of one cluster call (redirections, a node away): the call's
/// timeout bounds them anyway.
const CLUSTER_RETRIES: u32 = 4;

#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

impl Connection {
    /// Runs a command that names no key (INFO, ROLE, WAIT) where the
    /// deployment's keys are: in a cluster, on the master of `slot`; the
    /// client would otherwise pick a random node, or all of them.
    pub(super) async fn at_home(&mut self, cmd: &Cmd, slot: u16) -> redis::RedisResult<Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd).await,
            Self::Cluster(connection) => {
                let home = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
                connection
                    .route_command(cmd.clone(), RoutingInfo::SingleNode(home))
                    .await
            }
        }
    }
}

/// One server and the connection to it.
pub(super) struct Server {
    pub(super) connection: Connection,
    /// Where pub/sub connections go, in turn: the server itself, or each
    /// cluster member (PUBLISH reaches every node of a cluster).
    pub(super) subscribe_to: Vec<Client>,
    /// `host:port` of a single server: tells a new master from the old.
    pub(super) address: String,
}

impl Server {
    pub(super) async fn single(
        client: Client,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let connecting = ConnectionManager::new_with_config(client.clone(), config);
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(manager)) => Ok(Self {
                connection: Connection::Single(manager),
                address: client.get_connection_info().addr().to_string(),
                subscribe_to: vec![client],
            }),
            Ok(Err(error)) => Err(endpoint.error(format!(
                "cannot connect: {error}{}",
                tls_hint(&error.to_string())
            ))),
            Err(_) => Err(endpoint.error(format!("cannot connect within {timeout:?}"))),
        }
    }

    /// A cluster reached through `members` (`host:port`), with the URL's
    /// credentials. Only database 0 exists in a cluster.
    pub(super) async fn cluster(
        members: &[String],
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let invalid = |detail: String| endpoint.error(detail);
        if endpoint.tls {
            return Err(invalid(
                "TLS (rediss://) with Redis Cluster is not supported yet; use redis://".to_owned(),
            ));
        }
        let url = endpoint
            .url
            .as_str()
            .into_connection_info()
            .map_err(|error| invalid(format!("invalid app.redis.url: {error}")))?;
        let settings = url.redis_settings();
        if settings.db() != 0 {
            return Err(invalid(
                "a Redis Cluster has database 0 only: remove /db from app.redis.url".to_owned(),
            ));
        }
        let nodes = members
            .iter()
            .map(|member| {
                let addr = node_address(member).ok_or_else(|| {
                    invalid(format!("cluster member {member:?} is not host:port"))
                })?;
                Ok(url.clone().set_addr(addr))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if nodes.is_empty() {
            return Err(invalid("app.redis.cluster.members is empty".to_owned()));
        }
        let subscribe_to = nodes
            .iter()
            .map(|node| Client::open(node.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| invalid(error.to_string()))?;
        let client = ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(CLUSTER_RETRIES)
            .build()
            .map_err(|error| invalid(error.to_string()))?;
        match tokio::time::timeout(timeout, client.get_async_connection()).await {
            Ok(Ok(connection)) => Ok(Self {
                connection: Connection::Cluster(connection),
                subscribe_to,
                address: members.join(","),
            }),
            Ok(Err(error)) => Err(endpoint.error(format!("cannot connect: {error}"))),
            Err(_) => Err(endpoint.error(format!("cannot connect within {timeout:?}"))),
        }
    }
}

/// `host:port` (`[v6]:port`) as the client takes it.
pub(super) fn node_address(member: &str) -> Option<ConnectionAddr> {
    let (host, port) = member.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok().filter(|port| *port != 0)?;
    (!host.is_empty()).then(|| ConnectionAddr::Tcp(host.to_owned(), port))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_host_and_port() {
        assert!(matches!(
            node_address("10.0.0.1:26379"),
            Some(ConnectionAddr::Tcp(host, 26379)) if host == "10.0.0.1"
        ));
        assert!(matches!(
            node_address("[::1]:7000"),
            Some(ConnectionAddr::Tcp(host, 7000)) if host == "::1"
        ));
        assert!(node_address("host").is_none());
        assert!(node_address("host:0").is_none());
        assert!(node_address(":26379").is_none());
    }
}
