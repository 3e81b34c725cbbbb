//! The table of every configuration key: dotted name, env var, kind and default.

/// How a key's text is checked and turned into a value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A non-empty string.
    Text,
    /// A non-empty string shown masked by `render`.
    Secret,
    /// A non-empty connection string whose password part is masked by `render`.
    Dsn,
    /// An integer in `min..=max` (`max == i64::MAX` means unbounded).
    Int { min: i64, max: i64 },
    /// A duration in whole milliseconds, at least `min`.
    Millis { min: i64 },
    /// Case-insensitive `(accepted, canonical)` pairs plus what to tell the user.
    Choice(&'static [(&'static str, &'static str)], &'static str),
    /// A list of http(s) URLs; a single text is split on commas.
    UrlList,
    /// A list of IP networks (`10.0.0.0/8`, `::1/128`) or addresses; a
    /// single text is split on commas.
    CidrList,
    /// A list of `host:port` server addresses (Redis Sentinel or Cluster
    /// members); a single text is split on commas.
    HostPortList,
    /// A name usable as a PostgreSQL schema and a Redis key prefix: ASCII
    /// letters, digits and `_`, not starting with a digit, at most 63 bytes.
    Identifier,
}

/// A key's value when no layer sets it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DefaultValue {
    Text(&'static str),
    List(&'static [&'static str]),
    Unset,
    /// The final value of another (earlier) key, as Otoroshi's `${otoroshi...}`.
    SameAs(&'static str),
}

#[derive(Debug)]
pub(crate) struct Key {
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub kind: Kind,
    pub default: DefaultValue,
}

const PORT: Kind = Kind::Int { min: 0, max: 65535 };
const U32_MIN1: Kind = Kind::Int {
    min: 1,
    max: u32::MAX as i64,
};
const RETRIES: Kind = Kind::Int {
    min: 0,
    max: u32::MAX as i64,
};
const MS: Kind = Kind::Millis { min: 0 };
const MS1: Kind = Kind::Millis { min: 1 };

const fn key(name: &'static str, env: &'static str, kind: Kind, default: DefaultValue) -> Key {
    let env = if env.is_empty() { None } else { Some(env) };
    Key {
        name,
        env,
        kind,
        default,
    }
}

use DefaultValue::{SameAs, Text as D, Unset};
use Kind::{Dsn, Secret, Text};

/// Every key, grouped by section (render relies on this order; derived
/// defaults come after the key they follow).
pub(crate) static KEYS: &[Key] = &[
    key("http.address", "", Text, D("0.0.0.0")),
    key("http.port", "HTTP_PORT", PORT, D("8080")),
    key("http.shutdownTimeout", "", MS, D("30000")),
    key("https.port", "HTTPS_PORT", PORT, D("8443")),
    key("https.address", "", Text, SameAs("http.address")),
    key(
        "https.clientAuth",
        "HTTPS_CLIENT_AUTH",
        Kind::Choice(
            &[("none", "none"), ("want", "want"), ("need", "need")],
            "one of none, want, need",
        ),
        D("none"),
    ),
    key("https.clientCAPath", "HTTPS_CLIENT_CA_PATH", Text, Unset),
    key("https.handshakeTimeout", "", MS1, D("10000")),
    key(
        "app.storage",
        "APP_STORAGE",
        Kind::Choice(
            &[
                ("embedded", "embedded"),
                ("file", "embedded"),
                ("inmemory", "inmemory"),
                ("redis", "redis"),
                ("lettuce", "redis"),
                ("postgresql", "postgresql"),
                ("postgres", "postgresql"),
            ],
            "one of embedded (alias file), inmemory, redis (alias lettuce), postgresql (alias postgres)",
        ),
        D("embedded"),
    ),
    key(
        "app.storageRoot",
        "APP_STORAGE_ROOT",
        Kind::Identifier,
        D("komainu"),
    ),
    key(
        "app.adminLogin",
        "OTOROSHI_INITIAL_ADMIN_LOGIN",
        Text,
        D("admin@otoroshi.io"),
    ),
    key(
        "app.adminPassword",
        "OTOROSHI_INITIAL_ADMIN_PASSWORD",
        Secret,
        Unset,
    ),
    key("app.filedb.path", "FILEDB_PATH", Text, D("./komainu-data")),
    key(
        "app.redis.url",
        "REDIS_URL",
        Dsn,
        D("redis://127.0.0.1:6379"),
    ),
    key("app.redis.tls.caFile", "REDIS_TLS_CA_FILE", Text, Unset),
    key("app.redis.tls.certFile", "REDIS_TLS_CERT_FILE", Text, Unset),
    key("app.redis.tls.keyFile", "REDIS_TLS_KEY_FILE", Text, Unset),
    key(
        "app.redis.sentinels.master",
        "REDIS_SENTINEL_MASTER",
        Text,
        Unset,
    ),
    key(
        "app.redis.sentinels.members",
        "REDIS_SENTINEL_MEMBERS",
        Kind::HostPortList,
        DefaultValue::List(&[]),
    ),
    key(
        "app.redis.sentinels.password",
        "REDIS_SENTINEL_PASSWORD",
        Secret,
        Unset,
    ),
    key(
        "app.redis.cluster.members",
        "REDIS_CLUSTER_MEMBERS",
        Kind::HostPortList,
        DefaultValue::List(&[]),
    ),
    key(
        "app.pg.uri",
        "PG_URI",
        Dsn,
        D("postgresql://postgres@127.0.0.1:5432/postgres"),
    ),
    key(
        "app.pg.poolSize",
        "PG_POOL_SIZE",
        Kind::Int { min: 1, max: 1000 },
        D("8"),
    ),
    key(
        "admin.host",
        "ADMIN_HOST",
        Text,
        D("otoroshi-api.oto.tools"),
    ),
    key("admin.clientId", "ADMIN_CLIENT_ID", Text, Unset),
    key("admin.clientSecret", "ADMIN_CLIENT_SECRET", Secret, Unset),
    key(
        "admin.maxBodySize",
        "",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        D("10485760"),
    ),
    key("ui.enabled", "UI_ENABLED", BOOL, D("true")),
    key("ui.host", "UI_HOST", Text, D("otoroshi.oto.tools")),
    key("ui.secureCookies", "UI_SECURE_COOKIES", BOOL, D("false")),
    key(
        "ui.sessionMaxAge",
        "UI_SESSION_MAX_AGE",
        Kind::Millis { min: 60_000 },
        D("86400000"),
    ),
    key(
        "cluster.mode",
        "CLUSTER_MODE",
        Kind::Choice(
            &[("off", "off"), ("leader", "leader"), ("worker", "worker")],
            "one of off, leader, worker",
        ),
        D("off"),
    ),
    key(
        "cluster.compression",
        "CLUSTER_COMPRESSION",
        Kind::Int { min: -1, max: 9 },
        D("-1"),
    ),
    key("cluster.retryDelay", "CLUSTER_RETRY_DELAY", MS, D("300")),
    key(
        "cluster.retryFactor",
        "CLUSTER_RETRY_FACTOR",
        U32_MIN1,
        D("2"),
    ),
    key("cluster.selfAddress", "CLUSTER_SELF_ADDRESS", Text, Unset),
    key(
        "cluster.mtls.trustedCAPath",
        "CLUSTER_MTLS_TRUSTED_CA_PATH",
        Text,
        Unset,
    ),
    key(
        "cluster.mtls.certPath",
        "CLUSTER_MTLS_CERT_PATH",
        Text,
        Unset,
    ),
    key("cluster.mtls.keyPath", "CLUSTER_MTLS_KEY_PATH", Text, Unset),
    key("cluster.leader.name", "CLUSTER_LEADER_NAME", Text, Unset),
    key(
        "cluster.leader.urls",
        "CLUSTER_LEADER_URL",
        Kind::UrlList,
        DefaultValue::List(&["http://127.0.0.1:8080"]),
    ),
    key(
        "cluster.leader.host",
        "CLUSTER_LEADER_HOST",
        Text,
        D("otoroshi-api.oto.tools"),
    ),
    key(
        "cluster.leader.clientId",
        "CLUSTER_LEADER_CLIENT_ID",
        Text,
        Unset,
    ),
    key(
        "cluster.leader.clientSecret",
        "CLUSTER_LEADER_CLIENT_SECRET",
        Secret,
        Unset,
    ),
    key(
        "cluster.leader.cacheStateFor",
        "CLUSTER_LEADER_CACHE_STATE_FOR",
        MS,
        D("4000"),
    ),
    key(
        "cluster.leader.groupingBy",
        "CLUSTER_LEADER_GROUP_BY",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64,
        },
        D("50"),
    ),
    key(
        "cluster.leader.stateDumpPath",
        "CLUSTER_LEADER_DUMP_PATH",
        Text,
        Unset,
    ),
    key("cluster.worker.name", "CLUSTER_WORKER_NAME", Text, Unset),
    key(
        "cluster.worker.retries",
        "CLUSTER_WORKER_RETRIES",
        RETRIES,
        D("3"),
    ),
    key(
        "cluster.worker.timeout",
        "CLUSTER_WORKER_TIMEOUT",
        MS1,
        D("2000"),
    ),
    key(
        "cluster.worker.dbpath",
        "CLUSTER_WORKER_DB_PATH",
        Text,
        Unset,
    ),
    key(
        "cluster.worker.dataStaleAfter",
        "CLUSTER_WORKER_DATA_STALE_AFTER",
        MS,
        D("600000"),
    ),
    key(
        "cluster.worker.state.retries",
        "CLUSTER_WORKER_STATE_RETRIES",
        RETRIES,
        SameAs("cluster.worker.retries"),
    ),
    key(
        "cluster.worker.state.pollEvery",
        "CLUSTER_WORKER_POLL_EVERY",
        MS1,
        D("10000"),
    ),
    key(
        "cluster.worker.state.timeout",
        "CLUSTER_WORKER_POLL_TIMEOUT",
        MS1,
        SameAs("cluster.worker.timeout"),
    ),
    key(
        "cluster.worker.quotas.retries",
        "CLUSTER_WORKER_QUOTAS_RETRIES",
        RETRIES,
        SameAs("cluster.worker.retries"),
    ),
    key(
        "cluster.worker.quotas.pushEvery",
        "CLUSTER_WORKER_PUSH_EVERY",
        MS1,
        D("2000"),
    ),
    key(
        "cluster.worker.quotas.timeout",
        "CLUSTER_WORKER_PUSH_TIMEOUT",
        MS1,
        SameAs("cluster.worker.timeout"),
    ),
    key(
        "log.format",
        "LOG_FORMAT",
        Kind::Choice(
            &[("human", "human"), ("json", "json")],
            "one of human, json",
        ),
        D("human"),
    ),
    key("log.level", "LOG_LEVEL", Text, D("info")),
    key(
        "proxy.timeouts.connect",
        "PROXY_CONNECT_TIMEOUT",
        MS1,
        D("5000"),
    ),
    key(
        "proxy.timeouts.headerRead",
        "PROXY_HEADER_READ_TIMEOUT",
        MS1,
        D("10000"),
    ),
    key(
        "proxy.timeouts.upstream",
        "PROXY_UPSTREAM_TIMEOUT",
        MS1,
        D("30000"),
    ),
    key("proxy.timeouts.idle", "PROXY_IDLE_TIMEOUT", MS1, D("60000")),
    key(
        "proxy.maxHeaderSize",
        "",
        Kind::Int {
            min: 8192,
            max: 1048576,
        },
        D("16384"),
    ),
    key(
        "proxy.maxConnections",
        "PROXY_MAX_CONNECTIONS",
        U32_MIN1,
        D("10000"),
    ),
    key(
        "proxy.maxConnectionsPerClient",
        "PROXY_MAX_CONNECTIONS_PER_CLIENT",
        RETRIES,
        D("256"),
    ),
    key("proxy.accessLog", "ACCESS_LOG", BOOL, D("false")),
    key(
        "proxy.trustedProxies",
        "PROXY_TRUSTED_PROXIES",
        Kind::CidrList,
        DefaultValue::List(&[]),
    ),
    key("proxy.quotas.throttlingWindow", "", MS1, D("10000")),
    key("proxy.quotas.flushEvery", "", MS1, D("1000")),
    key("metrics.port", "METRICS_PORT", PORT, Unset),
    key(
        "metrics.accessKey",
        "OTOROSHI_METRICS_ACCESS_KEY",
        Secret,
        Unset,
    ),
];

const BOOL: Kind = Kind::Choice(
    &[
        ("true", "true"),
        ("on", "true"),
        ("yes", "true"),
        ("false", "false"),
        ("off", "false"),
        ("no", "false"),
    ],
    "true or false",
);

/// Drops the optional `otoroshi.` prefix.
pub(crate) fn strip_prefix(name: &str) -> &str {
    name.strip_prefix("otoroshi.").unwrap_or(name)
}

/// The key with this exact (prefix-less) name.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// True when `name` is a section holding known keys (`cluster`, `cluster.leader`...).
pub(crate) fn is_section(name: &str) -> bool {
    KEYS.iter().any(|k| {
        k.name
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The closest known section (`cluster`, `cluster.leader`, ...) to a
/// mistyped one, if close enough.
pub(crate) fn suggest_section(name: &str) -> Option<&'static str> {
    let wanted = strip_prefix(name).to_ascii_lowercase();
    KEYS.iter()
        .flat_map(|k| {
            k.name
                .match_indices('.')
                .map(|(i, _)| k.name.get(..i).unwrap_or(k.name))
        })
        .map(|section| {
            (
                strsim::levenshtein(&wanted, &section.to_ascii_lowercase()),
                section,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The closest known key to a mistyped one, if close enough.
pub(crate) fn suggest(name: &str) -> Option<&'static str> {
    let wanted = strip_prefix(name).to_ascii_lowercase();
    KEYS.iter()
        .map(|k| {
            (
                strsim::levenshtein(&wanted, &k.name.to_ascii_lowercase()),
                k.name,
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}
