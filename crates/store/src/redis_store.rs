use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{
    Counter, DatastoreConnection, Increment, Once, Op, RedisTopology, RemoteSettings, Store,
    StoreError, valid_root,
};

/// One server's connection or a cluster's, behind one type.
mod connection;
/// Counters: values with native expiry, a name index, the counter scripts.
mod counters;
/// Which URLs are accepted, and naming the server without its password.
mod endpoint;
/// Entity reads, write batches and the revision.
mod entities;
/// Ephemeral records: values with native expiry and a name index.
mod ephemeral;
/// The key layout under a root.
mod keys;
/// The command connection: timeouts, reconnects, error mapping.
mod link;
/// When a write may be acknowledged: a replica holds it, or none can.
mod replication;
/// What this node announced, and noticing a server that lost its data.
mod revisions;
/// The Lua scripts everything atomic runs as.
mod scripts;
/// Asking the sentinels which server is master.
mod sentinel;
/// Refusing servers too old for the scripts.
mod server_version;
/// `rediss://`: the roots and client certificate handed to the client.
mod tls;
/// Pub/sub and polling that wake `changes()` on other nodes' writes.
mod watcher;

use endpoint::{Endpoint, unavailable};
use keys::Keys;
use link::Link;
use revisions::Announced;
use watcher::Watcher;

const BACKEND: &str = "redis";

/// The shared datastore on a Redis server (7.0 or later), for several nodes
/// at once: entity batches and counter updates are Lua scripts, so they stay
/// atomic between nodes, and every write is announced on a pub/sub channel
/// that wakes the other nodes' `changes()`.
///
/// One multiplexed connection carries all commands (`pool_size` does not
/// apply) and reconnects by itself; pub/sub has a connection of its own.
/// Durability is the server's: with persistence off, a Redis restart loses
/// everything. The nodes notice (the root's epoch key is gone with the
/// data) and the revision jumps past all they announced, so that each of
/// them wakes and reloads rather than waiting for the count to catch up.
pub struct RedisStore {
    link: Link,
    keys: Arc<Keys>,
    announced: Arc<Announced>,
    /// Stops the background tasks when the store goes.
    _watcher: Watcher,
}

impl RedisStore {
    /// Connects to `settings.url` and keeps everything under keys starting
    /// with `{root}:`, braces included (see `keys`). Fails with `Unavailable` when the server cannot
    /// be reached within `settings.timeout`, the URL is not a plain
    /// `redis://` one, or the server is older than 7.0.
    pub async fn connect(settings: RemoteSettings) -> Result<RedisStore, StoreError> {
        if !valid_root(&settings.root) {
            return Err(unavailable(format!(
                "storage root {:?} is not usable as a Redis key prefix: use 1 to 63 \
                 ASCII letters, digits or '_', not starting with a digit",
                settings.root
            )));
        }
        let endpoint = Endpoint::parse(&settings.url)?;
        let keys = Arc::new(Keys::new(&settings.root));
        let link = match &settings.redis {
            RedisTopology::Standalone => {
                let client = tls::client(&endpoint, &settings.tls)?;
                Link::connect(client, Arc::new(endpoint), settings.timeout).await?
            }
            RedisTopology::Sentinel {
                master,
                members,
                password,
            } => {
                let locator =
                    sentinel::Locator::new(&endpoint, master, members, password.as_deref())?;
                let endpoint = Arc::new(endpoint.named(locator.description.clone()));
                Link::connect_sentinel(locator, endpoint, settings.timeout).await?
            }
            RedisTopology::Cluster { members } => {
                let description = format!("cluster via {}", members.join(","));
                let endpoint = Arc::new(endpoint.named(description));
                let home = keys.home_slot();
                Link::connect_cluster(members, home, endpoint, settings.timeout).await?
            }
        };
        server_version::check(&link).await?;
        let announced = Arc::new(Announced::new(revisions::first_look(&link, &keys).await?));
        let watcher = watcher::spawn(
            link.clone(),
            Arc::clone(&keys),
            Arc::clone(&announced),
            settings.revision_poll,
        );
        Ok(RedisStore {
            link,
            keys,
            announced,
            _watcher: watcher,
        })
    }
}

#[async_trait]
impl Store for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn connection(&self) -> DatastoreConnection {
        self.link.tracker().snapshot()
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        entities::get(&self.link, &self.keys, kind, id).await
    }

    async fn scan(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        entities::scan(&self.link, &self.keys, kind, after, limit).await
    }

    async fn count(&self, kind: &str) -> Result<u64, StoreError> {
        entities::count(&self.link, &self.keys, kind).await
    }

    async fn write(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if ops.is_empty() {
            return self.revision().await;
        }
        entities::write(&self.link, &self.keys, &self.announced, ops).await
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        entities::revision(&self.link, &self.keys).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.announced.subscribe()
    }

    async fn incr(
        &self,
        key: &str,
        by: i64,
        expires_at_ms: Option<u64>,
    ) -> Result<i64, StoreError> {
        counters::incr(&self.link, &self.keys, key, by, expires_at_ms).await
    }

    async fn incr_batch(
        &self,
        once: Option<&Once>,
        increments: &[Increment],
    ) -> Result<bool, StoreError> {
        counters::incr_batch(&self.link, &self.keys, once, increments).await
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<Option<Counter>>, StoreError> {
        counters::get_many(&self.link, &self.keys, keys).await
    }

    async fn scan_counters(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Counter)>, StoreError> {
        counters::scan(&self.link, &self.keys, prefix, after, limit).await
    }

    async fn reset_counters(&self, keys: &[String]) -> Result<(), StoreError> {
        counters::reset(&self.link, &self.keys, keys).await
    }

    async fn put_ephemeral(
        &self,
        key: &str,
        value: &[u8],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        ephemeral::put(&self.link, &self.keys, key, value, expires_at_ms).await
    }

    async fn scan_ephemeral(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        ephemeral::scan(&self.link, &self.keys, prefix, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.link.query_home(&redis::cmd("PING")).await
    }

    /// Redis drops expired counters itself; this reclaims their entries in
    /// the name index (and counts those). The ephemeral records' index is
    /// swept along, uncounted.
    async fn sweep_expired_counters(&self) -> Result<u64, StoreError> {
        let removed = counters::sweep(&self.link, &self.keys).await?;
        ephemeral::sweep(&self.link, &self.keys).await?;
        Ok(removed)
    }
}
