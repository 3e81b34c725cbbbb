//! The validated runtime configuration the rest of the node reads. Built only
//! by `load` (see lib.rs); every field here already passed validation.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub http: HttpConfig,
    pub https: HttpsConfig,
    pub app: AppConfig,
    pub admin: AdminConfig,
    pub ui: UiConfig,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
    pub proxy: ProxyConfig,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `http.address`, default "0.0.0.0".
    pub address: String,
    /// `http.port` (`HTTP_PORT`), default 8080; 0 asks the OS for a free port.
    pub port: u16,
    /// `http.shutdownTimeout` ms, default 30000: how long in-flight requests
    /// may run after SIGTERM.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpsConfig {
    /// `https.port` (`HTTPS_PORT`), default 8443; 0 = an ephemeral port.
    pub port: u16,
    /// `https.address`, default `http.address`.
    pub address: String,
    /// `https.clientAuth` (`HTTPS_CLIENT_AUTH`): whether the HTTPS listener
    /// asks clients for a certificate.
    pub client_auth: ClientAuth,
    /// `https.clientCAPath` (`HTTPS_CLIENT_CA_PATH`): PEM bundle of the CAs
    /// client certificates must chain to; required unless clientAuth = none.
    pub client_ca_path: Option<PathBuf>,
    /// `https.handshakeTimeout` ms, default 10000: a TLS handshake that takes
    /// longer is dropped.
    pub handshake_timeout: Duration,
}

/// `https.clientAuth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked for.
    None,
    /// Asked for and verified when given; the cluster endpoints then require
    /// one, other traffic does not.
    Want,
    /// Required: the handshake fails without a valid client certificate.
    Need,
}

/// `cluster.mtls.*`: how a worker reaches its leaders over HTTPS.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MtlsConfig {
    /// `cluster.mtls.trustedCAPath` (`CLUSTER_MTLS_TRUSTED_CA_PATH`): PEM
    /// bundle that verifies the leaders' certificates; unset = system roots.
    pub trusted_ca_path: Option<PathBuf>,
    /// `cluster.mtls.certPath` (`CLUSTER_MTLS_CERT_PATH`): PEM chain the
    /// worker presents to leaders (mutual TLS), with `key_path`.
    pub cert_path: Option<PathBuf>,
    /// `cluster.mtls.keyPath` (`CLUSTER_MTLS_KEY_PATH`): its private key.
    pub key_path: Option<PathBuf>,
}

/// `app.redis.tls.*`: how a `rediss://` server is trusted and whom the
/// node shows itself as. Files in PEM.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RedisTlsConfig {
    /// `app.redis.tls.caFile` (`REDIS_TLS_CA_FILE`): the roots that verify
    /// the server's certificate; unset = system roots.
    pub ca_file: Option<PathBuf>,
    /// `app.redis.tls.certFile` (`REDIS_TLS_CERT_FILE`): a client
    /// certificate chain, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// `app.redis.tls.keyFile` (`REDIS_TLS_KEY_FILE`): its private key.
    pub key_file: Option<PathBuf>,
}

/// Where the Redis servers are. In every mode `app.redis.url` still gives
/// the credentials, database and scheme the data nodes take; with Sentinel
/// or Cluster its host and port are not used.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RedisTopology {
    /// The one server `app.redis.url` names.
    #[default]
    Standalone,
    /// The master that Sentinel names, followed across failovers.
    Sentinel {
        /// `app.redis.sentinels.master` (`REDIS_SENTINEL_MASTER`): the
        /// name the sentinels monitor.
        master: String,
        /// `app.redis.sentinels.members` (`REDIS_SENTINEL_MEMBERS`): the
        /// sentinels' `host:port`.
        members: Vec<String>,
        /// `app.redis.sentinels.password` (`REDIS_SENTINEL_PASSWORD`): the
        /// sentinels' own password, when they ask for one.
        password: Option<String>,
    },
    /// A Redis Cluster: `app.redis.cluster.members`
    /// (`REDIS_CLUSTER_MEMBERS`), some of its nodes' `host:port`.
    Cluster { members: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `embedded` (alias `file`): redb file under `app.filedb.path`.
    Embedded,
    /// `inmemory`: nothing kept across restarts.
    InMemory,
    /// `redis` (alias `lettuce`), `REDIS_URL`.
    Redis,
    /// `postgresql`, `PG_URI`.
    Postgresql,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// `app.storage` (`APP_STORAGE`), default embedded.
    pub storage: Storage,
    /// `app.filedb.path` (`FILEDB_PATH`), default "./komainu-data": the folder of
    /// the embedded store.
    pub data_dir: PathBuf,
    /// `app.redis.url` (`REDIS_URL`), default "redis://127.0.0.1:6379".
    pub redis_url: String,
    /// `app.redis.tls.*`: trust and identity for `rediss://` URLs.
    pub redis_tls: RedisTlsConfig,
    /// `app.redis.sentinels.*` / `app.redis.cluster.*`: how the Redis
    /// servers are found (default: `app.redis.url`'s host alone).
    pub redis_topology: RedisTopology,
    /// `app.pg.uri` (`PG_URI`), default "postgresql://postgres@127.0.0.1:5432/postgres".
    pub pg_uri: String,
    /// `app.pg.poolSize` (`PG_POOL_SIZE`), default 8: connections per node.
    pub pg_pool_size: usize,
    /// `app.storageRoot` (`APP_STORAGE_ROOT`), default "komainu": the Redis
    /// key prefix and the PostgreSQL schema, so that several deployments can
    /// share one datastore server.
    pub storage_root: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// `admin.host` (`ADMIN_HOST`), default "otoroshi-api.oto.tools".
    pub host: String,
    /// `admin.clientId` (`ADMIN_CLIENT_ID`), bootstrap admin key id.
    pub client_id: Option<String>,
    /// `admin.clientSecret` (`ADMIN_CLIENT_SECRET`), secret.
    pub client_secret: Option<String>,
    /// `admin.maxBodySize` bytes, default 10 MiB; larger bodies get 413.
    pub max_body_size: usize,
}

/// The web admin UI of standalone and leader nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct UiConfig {
    /// `ui.enabled` (`UI_ENABLED`), default true.
    pub enabled: bool,
    /// `ui.host` (`UI_HOST`), default "otoroshi.oto.tools" (Otoroshi's
    /// backoffice host): requests for it get the UI.
    pub host: String,
    /// `ui.secureCookies` (`UI_SECURE_COOKIES`), default false: the session
    /// cookie is Secure when the page came over HTTPS; true makes it always
    /// Secure (TLS ended by a load balancer in front of the node).
    pub secure_cookies: bool,
    /// `ui.sessionMaxAge` ms (`UI_SESSION_MAX_AGE`), default 24 h: a login
    /// lasts this long, then the user signs in again.
    pub session_max_age: Duration,
    /// `app.adminLogin` (`OTOROSHI_INITIAL_ADMIN_LOGIN`), default
    /// "admin@otoroshi.io": the first admin user, created when there is none.
    pub initial_login: String,
    /// `app.adminPassword` (`OTOROSHI_INITIAL_ADMIN_PASSWORD`): its password;
    /// unset = random, printed once.
    pub initial_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMode {
    Off,
    Leader,
    Worker,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `cluster.mode` (`CLUSTER_MODE`): off | leader | worker, default off.
    pub mode: ClusterMode,
    /// `cluster.compression` (`CLUSTER_COMPRESSION`): -1 (off) ..= 9, default -1.
    pub compression: i8,
    /// `cluster.retryDelay` ms (`CLUSTER_RETRY_DELAY`), default 300.
    pub retry_delay: Duration,
    /// `cluster.retryFactor` (`CLUSTER_RETRY_FACTOR`), default 2 (>= 1).
    pub retry_factor: u32,
    /// `cluster.selfAddress` (`CLUSTER_SELF_ADDRESS`), optional.
    pub self_address: Option<String>,
    pub mtls: MtlsConfig,
    pub leader: LeaderConfig,
    pub worker: WorkerConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaderConfig {
    /// `cluster.leader.name` (`CLUSTER_LEADER_NAME`); None = generate one.
    pub name: Option<String>,
    /// `cluster.leader.urls` (`CLUSTER_LEADER_URL`, comma separated), default
    /// ["http://127.0.0.1:8080"]; each must be an http(s) URL.
    pub urls: Vec<String>,
    /// `cluster.leader.host` (`CLUSTER_LEADER_HOST`), default "otoroshi-api.oto.tools".
    pub host: String,
    /// `cluster.leader.clientId` (`CLUSTER_LEADER_CLIENT_ID`).
    pub client_id: Option<String>,
    /// `cluster.leader.clientSecret` (`CLUSTER_LEADER_CLIENT_SECRET`), secret.
    pub client_secret: Option<String>,
    /// `cluster.leader.cacheStateFor` ms (`CLUSTER_LEADER_CACHE_STATE_FOR`), default 4000.
    pub cache_state_for: Duration,
    /// `cluster.leader.groupingBy` (`CLUSTER_LEADER_GROUP_BY`), default 50, >= 1.
    pub grouping_by: usize,
    /// `cluster.leader.stateDumpPath` (`CLUSTER_LEADER_DUMP_PATH`), optional.
    pub state_dump_path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// `cluster.worker.name` (`CLUSTER_WORKER_NAME`); None = generate one.
    pub name: Option<String>,
    /// `cluster.worker.retries` (`CLUSTER_WORKER_RETRIES`), default 3.
    pub retries: u32,
    /// `cluster.worker.timeout` ms (`CLUSTER_WORKER_TIMEOUT`), default 2000.
    pub timeout: Duration,
    /// `cluster.worker.dbpath` (`CLUSTER_WORKER_DB_PATH`), optional snapshot file.
    pub dbpath: Option<PathBuf>,
    /// `cluster.worker.dataStaleAfter` ms (`CLUSTER_WORKER_DATA_STALE_AFTER`), default 600000.
    pub data_stale_after: Duration,
    pub state: SyncConfig,
    pub quotas: SyncConfig,
}

/// `cluster.worker.state.*` (retries/pollEvery/timeout) or
/// `cluster.worker.quotas.*` (retries/pushEvery/timeout). retries and timeout
/// default to the `cluster.worker.retries` / `.timeout` values in force.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub retries: u32,
    /// pollEvery (state, default 10000) or pushEvery (quotas, default 2000).
    pub every: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `log.format` (`LOG_FORMAT`): human | json, default human.
    pub format: LogFormat,
    /// `log.level` (`LOG_LEVEL`): a tracing filter, default "info".
    pub level: String,
}

/// The data plane's defaults; routes may override timeouts in
/// `backend.client` (Otoroshi's `connection_timeout`, `call_timeout`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// `proxy.timeouts.connect` ms (`PROXY_CONNECT_TIMEOUT`), default 5000.
    pub connect_timeout: Duration,
    /// `proxy.timeouts.headerRead` ms (`PROXY_HEADER_READ_TIMEOUT`), default
    /// 10000: a client must send its request head within this (slowloris),
    /// and its first bytes (the protocol choice) within this from accept.
    pub header_read_timeout: Duration,
    /// `proxy.timeouts.upstream` ms (`PROXY_UPSTREAM_TIMEOUT`), default 30000:
    /// until the upstream's response head.
    pub upstream_timeout: Duration,
    /// `proxy.timeouts.idle` ms (`PROXY_IDLE_TIMEOUT`), default 60000: idle
    /// pooled upstream connections, client connections without a request in
    /// flight (HTTP/1 keep-alive, HTTP/2) and upgraded (WebSocket)
    /// connections without traffic either way are closed after this.
    pub idle_timeout: Duration,
    /// `proxy.maxHeaderSize` bytes, default 16384: a larger request head gets 431.
    pub max_header_size: usize,
    /// `proxy.maxConnections` (`PROXY_MAX_CONNECTIONS`), default 10000, at
    /// least 1: client connections open at once on the node (HTTP and HTTPS
    /// listeners together); more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// `proxy.maxConnectionsPerClient` (`PROXY_MAX_CONNECTIONS_PER_CLIENT`),
    /// default 256: the same for one client address (IPv6 by /64), so that
    /// one client cannot take every slot; 0 = no per-client cap (a node
    /// behind a load balancer that hides client addresses).
    pub max_connections_per_client: usize,
    /// `proxy.accessLog` (`ACCESS_LOG`), default false: one JSON line per request.
    pub access_log: bool,
    /// `proxy.trustedProxies` (`PROXY_TRUSTED_PROXIES`), default none: peers
    /// whose X-Forwarded-* / Forwarded headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `proxy.quotas.throttlingWindow` ms, default 10000 (Otoroshi's).
    pub throttling_window: Duration,
    /// `proxy.quotas.flushEvery` ms, default 1000: how often local quota
    /// counts are added to the datastore.
    pub quota_flush_every: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// `metrics.port` (`METRICS_PORT`): a separate port for `/metrics`; unset = only on the admin host.
    pub port: Option<u16>,
    /// `metrics.accessKey` (`OTOROSHI_METRICS_ACCESS_KEY`), secret: what
    /// `/.well-known/otoroshi/monitoring/metrics` wants as `?access_key=`;
    /// unset = that path is open, as in Otoroshi.
    pub access_key: Option<String>,
}
