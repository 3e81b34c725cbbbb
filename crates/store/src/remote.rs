use std::path::PathBuf;
use std::time::Duration;

/// How a node reaches a datastore server (Redis, PostgreSQL) that other
/// nodes share.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// `redis://…` or `postgresql://…`, credentials included.
    pub url: String,
    /// `app.storageRoot`: the Redis key prefix, the PostgreSQL schema. Two
    /// deployments on one server stay apart by using different roots.
    pub root: String,
    /// Connections a node keeps open at most (PostgreSQL pool size).
    pub pool_size: usize,
    /// How often the revision is re-read in case a change notification was
    /// missed (a dropped pub/sub or LISTEN connection): `cacheStateFor`.
    pub revision_poll: Duration,
    /// How long connecting (or one call) may take before the datastore counts
    /// as unavailable.
    pub timeout: Duration,
    /// Trust and identity for `rediss://` (`app.redis.tls.*`). PostgreSQL
    /// takes its own from the URL, as libpq does (`sslrootcert`...).
    pub tls: TlsFiles,
    /// How the Redis servers are found; PostgreSQL ignores it.
    pub redis: RedisTopology,
}

/// Where a Redis store's servers are. `url` still gives the credentials and
/// database of the data nodes; with Sentinel or Cluster its host and port
/// are not used.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RedisTopology {
    /// The one server `url` names.
    #[default]
    Standalone,
    /// The master the sentinels name for `master`, followed across
    /// failovers. `members` are the sentinels' `host:port`; `password`
    /// theirs, when they ask for one.
    Sentinel {
        master: String,
        members: Vec<String>,
        password: Option<String>,
    },
    /// A Redis Cluster reached through any of `members` (`host:port`).
    Cluster { members: Vec<String> },
}

/// PEM files for a TLS connection to a datastore server.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// Roots that verify the server's certificate; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain to present, with `key_file`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl RemoteSettings {
    /// Settings with the defaults a node uses, for `url` under `root`.
    pub fn new(url: impl Into<String>, root: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            root: root.into(),
            pool_size: 8,
            revision_poll: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            tls: TlsFiles::default(),
            redis: RedisTopology::Standalone,
        }
    }
}

/// Whether `root` can name a PostgreSQL schema and a Redis prefix alike:
/// ASCII letters, digits and `_`, not starting with a digit, 1 to 63 bytes.
pub fn valid_root(root: &str) -> bool {
    let mut bytes = root.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && root.len() <= 63
}
