//! Redis Sentinel: asking the sentinels which server is the master of the
//! configured name, at connect time and again after a failure (the master
//! may have died and a replica been promoted in its place).
//!
//! The data nodes take the credentials and database of `app.redis.url`; the
//! sentinels take `app.redis.sentinels.password`, which is theirs alone.

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, IntoConnectionInfo};
use tokio::sync::Mutex;

use super::connection::node_address;
use super::endpoint::Endpoint;
use crate::StoreError;

/// Asks the sentinels for the master. One lookup at a time: the client
/// keeps a connection per sentinel and needs `&mut` to use them.
pub(super) struct Locator {
    sentinels: Mutex<SentinelClient>,
    /// `master <name> via <sentinels>`: what errors name.
    pub(super) description: String,
}

impl Locator {
    pub(super) fn new(
        endpoint: &Endpoint,
        master: &str,
        members: &[String],
        password: Option<&str>,
    ) -> Result<Self, StoreError> {
        let description = format!("master {master:?} via sentinels {}", members.join(","));
        let invalid = |detail: String| endpoint.error(format!("{description}: {detail}"));
        if endpoint.tls {
            return Err(invalid(
                "TLS (rediss://) with Sentinel is not supported yet; use redis://".to_owned(),
            ));
        }
        if members.is_empty() {
            return Err(invalid("app.redis.sentinels.members is empty".to_owned()));
        }
        let addresses = members
            .iter()
            .map(|member| {
                node_address(member).ok_or_else(|| invalid(format!("{member:?} is not host:port")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // What the URL says of the data nodes, its host and port aside.
        let data = endpoint
            .url
            .as_str()
            .into_connection_info()
            .map_err(|error| invalid(format!("invalid app.redis.url: {error}")))?;
        let data = data.redis_settings();
        let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)
            .map_err(|error| invalid(error.to_string()))?
            .set_client_to_redis_db(data.db());
        if let Some(username) = data.username() {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = data.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(password) = password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        let sentinels = builder
            .build()
            .map_err(|error| invalid(error.to_string()))?;
        Ok(Self {
            sentinels: Mutex::new(sentinels),
            description,
        })
    }

    /// A client for the server the sentinels name as master now (checked to
    /// see itself as master), within `timeout`.
    pub(super) async fn master(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<Client, StoreError> {
        let lookup = async { self.sentinels.lock().await.async_get_client().await };
        match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => {
                Err(endpoint.error(format!("{}: no master found: {error}", self.description)))
            }
            Err(_) => Err(endpoint.error(format!(
                "{}: no master found within {timeout:?}",
                self.description
            ))),
        }
    }
}
