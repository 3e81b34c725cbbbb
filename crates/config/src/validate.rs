//! Checking each key's winning raw value (or default) and building `Config`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, Origin};
use crate::runtime::*;
use crate::schema::{self, DefaultValue, Key, Kind};
use crate::sources::{Layers, Raw};

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Unset,
    Str(String),
    Int(i64),
    List(Vec<String>),
}

/// The effective value of one key and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: &'static Key,
    pub val: Val,
    pub origin: Origin,
}

/// Every valid key in schema order; invalid ones are reported and left out.
pub(crate) fn resolve(layers: &Layers, errors: &mut Vec<ConfigError>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(schema::KEYS.len());
    for key in schema::KEYS {
        let (val, origin) = match layers.get(key.name) {
            Some((raw, origin)) => match parse(key.kind, raw) {
                Ok(val) => (val, origin.clone()),
                Err(expected) => {
                    let (key, value) = (key.name.to_string(), raw.to_string());
                    errors.push(ConfigError::Invalid {
                        key,
                        value,
                        origin: origin.clone(),
                        expected,
                    });
                    continue;
                }
            },
            None => (default_val(key, &out), Origin::Default),
        };
        out.push(Entry { key, val, origin });
    }
    check_worker(&out, errors);
    check_tls(&out, errors);
    check_hosts(&out, errors);
    check_datastore_urls(&out, errors);
    check_redis_topology(&out, errors);
    out
}

/// Sentinel wants a master name and its sentinels together; Sentinel and
/// Cluster exclude each other (a node talks to one topology).
fn check_redis_topology(entries: &[Entry], errors: &mut Vec<ConfigError>) {
    let is_set = |name: &str| match get(entries, name) {
        None | Some(Val::Unset) => false,
        Some(Val::List(items)) => !items.is_empty(),
        Some(_) => true,
    };
    // An invalid key is missing from `entries`: reported already, not absent.
    let absent = |name: &str| match get(entries, name) {
        Some(Val::Unset) => true,
        Some(Val::List(items)) => items.is_empty(),
        _ => false,
    };
    let (master, members) = ("app.redis.sentinels.master", "app.redis.sentinels.members");
    let mut require = |key: &str, because: String| {
        errors.push(ConfigError::RequiredWith {
            key: key.to_string(),
            because,
            env: schema::find(key).and_then(|k| k.env),
        });
    };
    for (key, partner) in [
        (master, members),
        (members, master),
        (master, "app.redis.sentinels.password"),
    ] {
        if is_set(partner) && absent(key) {
            require(key, format!("{partner} is set"));
        }
    }
    let cluster = "app.redis.cluster.members";
    if is_set(cluster)
        && (is_set(master) || is_set(members))
        && let Some(entry) = entries.iter().find(|e| e.key.name == cluster)
    {
        errors.push(ConfigError::Invalid {
            key: cluster.to_string(),
            value: format!(
                "{:?}",
                match &entry.val {
                    Val::List(items) => items.clone(),
                    _ => Vec::new(),
                }
            ),
            origin: entry.origin.clone(),
            expected: "no cluster members when app.redis.sentinels.* is set: \
                       a deployment uses either Sentinel or Cluster"
                .to_string(),
        });
    }
}

/// libpq's `sslmode` values komainu speaks (see the store's PostgreSQL TLS).
const PG_SSLMODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

/// What can be told of the datastore URLs before connecting: the `sslmode`
/// of `app.pg.uri` (the store names any other fault when it connects).
fn check_datastore_urls(entries: &[Entry], errors: &mut Vec<ConfigError>) {
    let mut invalid = |entry: &Entry, expected: String| {
        errors.push(ConfigError::Invalid {
            key: entry.key.name.to_string(),
            value: crate::render::mask_password(match &entry.val {
                Val::Str(text) => text,
                _ => "",
            }),
            origin: entry.origin.clone(),
            expected,
        });
    };
    if let Some(entry) = entries.iter().find(|e| e.key.name == "app.pg.uri")
        && let Val::Str(uri) = &entry.val
        && let Some(mode) = sslmode(uri)
        && !PG_SSLMODES.contains(&mode)
    {
        invalid(
            entry,
            format!("sslmode one of {} (not {mode:?})", PG_SSLMODES.join(", ")),
        );
    }
}

/// The `sslmode` of a PostgreSQL URI (`?…&sslmode=x`) or key/value string
/// (`… sslmode=x …`), if it names one.
fn sslmode(uri: &str) -> Option<&str> {
    let pairs: Vec<&str> = match uri.split_once("://") {
        Some((_, rest)) => rest.split_once('?')?.1.split('&').collect(),
        None => uri.split_whitespace().collect(),
    };
    pairs
        .into_iter()
        .find_map(|pair| pair.strip_prefix("sslmode="))
        .map(|mode| mode.trim_matches('\''))
}

/// The UI and the admin API are told apart by host: one name cannot be both.
fn check_hosts(entries: &[Entry], errors: &mut Vec<ConfigError>) {
    let (Some(ui), Some(Val::Str(admin))) = (
        entries.iter().find(|e| e.key.name == "ui.host"),
        get(entries, "admin.host"),
    ) else {
        return;
    };
    if let Val::Str(host) = &ui.val
        && host.eq_ignore_ascii_case(admin)
    {
        errors.push(ConfigError::Invalid {
            key: "ui.host".to_string(),
            value: host.clone(),
            origin: ui.origin.clone(),
            expected: format!("a host other than admin.host ({admin})"),
        });
    }
}

fn default_val(key: &Key, earlier: &[Entry]) -> Val {
    match key.default {
        DefaultValue::Text(text) => {
            parse(key.kind, &Raw::Text(text.to_string())).unwrap_or(Val::Unset)
        }
        DefaultValue::List(items) => Val::List(items.iter().map(ToString::to_string).collect()),
        DefaultValue::Unset => Val::Unset,
        DefaultValue::SameAs(other) => get(earlier, other).cloned().unwrap_or(Val::Unset),
    }
}

/// What a kind accepts, for error messages.
fn expected(kind: Kind) -> String {
    match kind {
        Kind::Text | Kind::Secret | Kind::Dsn => "a non-empty string".into(),
        Kind::Int { min, max: i64::MAX } => format!("an integer >= {min}"),
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::Millis { min } => format!("a number of milliseconds, an integer >= {min}"),
        Kind::Choice(_, accepted) => accepted.into(),
        Kind::UrlList => "a list of http:// or https:// URLs with a host".into(),
        Kind::CidrList => "a list of IP networks (10.0.0.0/8, fd00::/8) or IP addresses".into(),
        Kind::HostPortList => {
            format!("a list of at most {MAX_SERVERS} host:port addresses (port 1 to 65535)")
        }
        Kind::Identifier => {
            "letters, digits and _ (not starting with a digit), at most 63 characters".into()
        }
    }
}

/// Checks one raw value; the error is what is accepted.
fn parse(kind: Kind, raw: &Raw) -> Result<Val, String> {
    let text = match (kind, raw) {
        (Kind::UrlList, Raw::List(items)) => {
            return match items.iter().find(|u| !is_http_url(u)) {
                Some(bad) => Err(format!("{}; {bad:?} is not one", expected(kind))),
                None => Ok(Val::List(items.clone())),
            };
        }
        (Kind::CidrList, Raw::List(items)) => {
            return match items.iter().find(|n| parse_network(n).is_none()) {
                Some(bad) => Err(format!("{}; {bad:?} is not one", expected(kind))),
                None => Ok(Val::List(items.clone())),
            };
        }
        (Kind::HostPortList, Raw::List(items)) => {
            if items.len() > MAX_SERVERS {
                return Err(format!("{}; {} is too many", expected(kind), items.len()));
            }
            return match items.iter().find(|a| !is_host_port(a)) {
                Some(bad) => Err(format!("{}; {bad:?} is not one", expected(kind))),
                None => Ok(Val::List(items.clone())),
            };
        }
        (Kind::UrlList | Kind::CidrList | Kind::HostPortList, Raw::Text(text)) => {
            return parse(kind, &Raw::List(vec![text.clone()]));
        }
        (_, Raw::List(_)) => return Err(expected(kind)),
        (_, Raw::Text(text)) => text.trim(),
    };
    let int_in = |min: i64, max: i64| text.parse::<i64>().ok().filter(|n| (min..=max).contains(n));
    let val = match kind {
        Kind::Text | Kind::Secret | Kind::Dsn => {
            Some(Val::Str(text.to_string())).filter(|_| !text.is_empty())
        }
        Kind::Int { min, max } => int_in(min, max).map(Val::Int),
        Kind::Millis { min } => int_in(min, i64::MAX).map(Val::Int),
        Kind::Choice(choices, _) => choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, canonical)| Val::Str(canonical.to_string())),
        Kind::UrlList | Kind::CidrList | Kind::HostPortList => None,
        Kind::Identifier => Some(Val::Str(text.to_string())).filter(|_| is_identifier(text)),
    };
    val.ok_or_else(|| expected(kind))
}

/// A network, or an address taken as a network of one.
pub(crate) fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

fn is_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && text.len() <= 63
}

/// Sentinels or cluster nodes one deployment lists, at most: real ones
/// have 3 to a few dozen.
const MAX_SERVERS: usize = 64;

/// `host:port` or `[v6]:port`, port 1 to 65535, and nothing else (no
/// scheme, credentials or path: those come from `app.redis.url`).
fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.trim().rsplit_once(':') else {
        return false;
    };
    let host = match host.strip_prefix('[') {
        Some(v6) => match v6.strip_suffix(']') {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
            _ => return false,
        },
        None => host,
    };
    !host.is_empty()
        && !host.contains(|c: char| c.is_whitespace() || "/@[]?#".contains(c))
        && (host.contains(':') == address.trim().starts_with('['))
        && port.parse::<u16>().is_ok_and(|port| port != 0)
}

fn is_http_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next(),
        None => host_port.split(':').next(),
    };
    host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace))
}

fn get<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Val> {
    entries.iter().find(|e| e.key.name == name).map(|e| &e.val)
}

/// In worker mode the leader credentials and at least one URL are required.
fn check_worker(entries: &[Entry], errors: &mut Vec<ConfigError>) {
    if get(entries, "cluster.mode") != Some(&Val::Str("worker".into())) {
        return;
    }
    for name in [
        "cluster.leader.urls",
        "cluster.leader.clientId",
        "cluster.leader.clientSecret",
    ] {
        if matches!(get(entries, name), Some(Val::Unset))
            || get(entries, name) == Some(&Val::List(vec![]))
        {
            let env = schema::find(name).and_then(|k| k.env);
            errors.push(ConfigError::RequiredForWorker {
                key: name.to_string(),
                env,
            });
        }
    }
}

/// Keys that need a partner: a client CA when client certificates are asked
/// for, and a client certificate and its key together.
fn check_tls(entries: &[Entry], errors: &mut Vec<ConfigError>) {
    let is_set = |name: &str| !matches!(get(entries, name), Some(Val::Unset) | None);
    let mut require = |key: &str, because: String| {
        errors.push(ConfigError::RequiredWith {
            key: key.to_string(),
            because,
            env: schema::find(key).and_then(|k| k.env),
        });
    };
    if let Some(Val::Str(auth)) = get(entries, "https.clientAuth")
        && auth != "none"
        && !is_set("https.clientCAPath")
    {
        require("https.clientCAPath", format!("https.clientAuth = {auth}"));
    }
    for (key, partner) in [
        ("cluster.mtls.keyPath", "cluster.mtls.certPath"),
        ("cluster.mtls.certPath", "cluster.mtls.keyPath"),
        ("app.redis.tls.keyFile", "app.redis.tls.certFile"),
        ("app.redis.tls.certFile", "app.redis.tls.keyFile"),
    ] {
        if is_set(partner) && !is_set(key) {
            require(key, format!("{partner} is set"));
        }
    }
}

/// Typed reads from validated entries (the fallbacks are unreachable after validation).
struct View<'a>(&'a [Entry]);

impl View<'_> {
    fn opt(&self, name: &str) -> Option<String> {
        match get(self.0, name) {
            Some(Val::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }
    fn text(&self, name: &str) -> String {
        self.opt(name).unwrap_or_default()
    }
    fn num<T: TryFrom<i64> + Default>(&self, name: &str) -> T {
        match get(self.0, name) {
            Some(Val::Int(n)) => T::try_from(*n).unwrap_or_default(),
            _ => T::default(),
        }
    }
    fn ms(&self, name: &str) -> Duration {
        Duration::from_millis(self.num(name))
    }
    fn list(&self, name: &str) -> Vec<String> {
        match get(self.0, name) {
            Some(Val::List(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}

/// Builds the runtime `Config` from entries that passed `resolve` without errors.
pub(crate) fn build(entries: &[Entry]) -> Config {
    let v = View(entries);
    let sync = |prefix: &str, every: &str| SyncConfig {
        retries: v.num(&format!("{prefix}.retries")),
        every: v.ms(&format!("{prefix}.{every}")),
        timeout: v.ms(&format!("{prefix}.timeout")),
    };
    Config {
        http: HttpConfig {
            address: v.text("http.address"),
            port: v.num("http.port"),
            shutdown_timeout: v.ms("http.shutdownTimeout"),
        },
        https: HttpsConfig {
            port: v.num("https.port"),
            address: v.text("https.address"),
            client_auth: match v.text("https.clientAuth").as_str() {
                "want" => ClientAuth::Want,
                "need" => ClientAuth::Need,
                _ => ClientAuth::None,
            },
            client_ca_path: v.opt("https.clientCAPath").map(PathBuf::from),
            handshake_timeout: v.ms("https.handshakeTimeout"),
        },
        app: AppConfig {
            storage: match v.text("app.storage").as_str() {
                "inmemory" => Storage::InMemory,
                "redis" => Storage::Redis,
                "postgresql" => Storage::Postgresql,
                _ => Storage::Embedded,
            },
            data_dir: PathBuf::from(v.text("app.filedb.path")),
            redis_url: v.text("app.redis.url"),
            redis_tls: RedisTlsConfig {
                ca_file: v.opt("app.redis.tls.caFile").map(PathBuf::from),
                cert_file: v.opt("app.redis.tls.certFile").map(PathBuf::from),
                key_file: v.opt("app.redis.tls.keyFile").map(PathBuf::from),
            },
            redis_topology: if !v.list("app.redis.cluster.members").is_empty() {
                RedisTopology::Cluster {
                    members: v.list("app.redis.cluster.members"),
                }
            } else if let Some(master) = v.opt("app.redis.sentinels.master") {
                RedisTopology::Sentinel {
                    master,
                    members: v.list("app.redis.sentinels.members"),
                    password: v.opt("app.redis.sentinels.password"),
                }
            } else {
                RedisTopology::Standalone
            },
            pg_uri: v.text("app.pg.uri"),
            pg_pool_size: v.num("app.pg.poolSize"),
            storage_root: v.text("app.storageRoot"),
        },
        admin: AdminConfig {
            host: v.text("admin.host"),
            client_id: v.opt("admin.clientId"),
            client_secret: v.opt("admin.clientSecret"),
            max_body_size: v.num("admin.maxBodySize"),
        },
        ui: UiConfig {
            enabled: v.text("ui.enabled") == "true",
            host: v.text("ui.host"),
            secure_cookies: v.text("ui.secureCookies") == "true",
            session_max_age: v.ms("ui.sessionMaxAge"),
            initial_login: v.text("app.adminLogin"),
            initial_password: v.opt("app.adminPassword"),
        },
        cluster: ClusterConfig {
            mode: match v.text("cluster.mode").as_str() {
                "leader" => ClusterMode::Leader,
                "worker" => ClusterMode::Worker,
                _ => ClusterMode::Off,
            },
            compression: v.num("cluster.compression"),
            retry_delay: v.ms("cluster.retryDelay"),
            retry_factor: v.num("cluster.retryFactor"),
            self_address: v.opt("cluster.selfAddress"),
            mtls: MtlsConfig {
                trusted_ca_path: v.opt("cluster.mtls.trustedCAPath").map(PathBuf::from),
                cert_path: v.opt("cluster.mtls.certPath").map(PathBuf::from),
                key_path: v.opt("cluster.mtls.keyPath").map(PathBuf::from),
            },
            leader: LeaderConfig {
                name: v.opt("cluster.leader.name"),
                urls: v.list("cluster.leader.urls"),
                host: v.text("cluster.leader.host"),
                client_id: v.opt("cluster.leader.clientId"),
                client_secret: v.opt("cluster.leader.clientSecret"),
                cache_state_for: v.ms("cluster.leader.cacheStateFor"),
                grouping_by: v.num("cluster.leader.groupingBy"),
                state_dump_path: v.opt("cluster.leader.stateDumpPath").map(PathBuf::from),
            },
            worker: WorkerConfig {
                name: v.opt("cluster.worker.name"),
                retries: v.num("cluster.worker.retries"),
                timeout: v.ms("cluster.worker.timeout"),
                dbpath: v.opt("cluster.worker.dbpath").map(PathBuf::from),
                data_stale_after: v.ms("cluster.worker.dataStaleAfter"),
                state: sync("cluster.worker.state", "pollEvery"),
                quotas: sync("cluster.worker.quotas", "pushEvery"),
            },
        },
        log: LogConfig {
            format: match v.text("log.format").as_str() {
                "json" => LogFormat::Json,
                _ => LogFormat::Human,
            },
            level: v.text("log.level"),
        },
        proxy: ProxyConfig {
            connect_timeout: v.ms("proxy.timeouts.connect"),
            header_read_timeout: v.ms("proxy.timeouts.headerRead"),
            upstream_timeout: v.ms("proxy.timeouts.upstream"),
            idle_timeout: v.ms("proxy.timeouts.idle"),
            max_header_size: v.num("proxy.maxHeaderSize"),
            max_connections: v.num("proxy.maxConnections"),
            max_connections_per_client: v.num("proxy.maxConnectionsPerClient"),
            access_log: v.text("proxy.accessLog") == "true",
            trusted_proxies: v
                .list("proxy.trustedProxies")
                .iter()
                .filter_map(|n| parse_network(n))
                .collect(),
            throttling_window: v.ms("proxy.quotas.throttlingWindow"),
            quota_flush_every: v.ms("proxy.quotas.flushEvery"),
        },
        metrics: MetricsConfig {
            port: get(entries, "metrics.port").and_then(|v| match v {
                Val::Int(n) => u16::try_from(*n).ok(),
                _ => None,
            }),
            access_key: v.opt("metrics.accessKey"),
        },
    }
}
