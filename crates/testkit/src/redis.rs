//! Redis for tests: the shared server (`KOMAINU_TEST_REDIS_URL`, else
//! 127.0.0.1:6379) that tests share by each using its own key root, and
//! private servers (`RedisServer`) that a test may kill and restart.

use std::io;
use std::time::Duration;

use crate::skip;

/// Three masters (and replicas) joined by `redis-cli --cluster create`.
mod cluster;
/// Raw RESP over a blocking socket: server checks and cleanup.
pub mod resp;
/// A master, a replica and three sentinels.
mod sentinel;
/// Private redis-server processes.
mod server;

pub use cluster::RedisCluster;
pub use sentinel::{MASTER_NAME, RedisSentinels};
pub use server::RedisServer;

use resp::{Connection, Reply, Target};

/// Overrides the shared server's URL.
pub const URL_ENV: &str = "KOMAINU_TEST_REDIS_URL";

const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Short: a local server answers in microseconds, and a missing one should
/// not slow a skipping run down.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The shared server's URL, or `None` (after `skip::missing`) when it does
/// not answer PING.
pub fn shared_url() -> Option<String> {
    let url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    match ping(&url) {
        Ok(()) => Some(url),
        Err(error) => {
            skip::missing("Redis", &format!("no answer to PING at {url}: {error}"));
            None
        }
    }
}

/// Whether the server at `url` answers PING (authenticating first if the
/// URL carries a password).
pub fn ping(url: &str) -> io::Result<()> {
    match open(url)?.command(&[b"PING"])? {
        Reply::Simple(pong) if pong == "PONG" => Ok(()),
        other => Err(io::Error::other(format!("PING answered {other:?}"))),
    }
}

/// Deletes every key matching the glob `pattern` (e.g. `{root}:*`) and
/// returns how many went: how a test removes its root from the shared
/// server when done.
pub fn delete_keys(url: &str, pattern: &str) -> io::Result<u64> {
    let mut connection = open(url)?;
    let mut cursor = b"0".to_vec();
    let mut deleted = 0;
    loop {
        let reply = connection.command(&[
            b"SCAN",
            &cursor,
            b"MATCH",
            pattern.as_bytes(),
            b"COUNT",
            b"1000",
        ])?;
        let Reply::Array(Some(mut parts)) = reply else {
            return Err(io::Error::other(format!("SCAN answered {reply:?}")));
        };
        let (Some(Reply::Array(Some(keys))), Some(Reply::Bulk(Some(next)))) =
            (parts.pop(), parts.pop())
        else {
            return Err(io::Error::other("SCAN answered an odd shape"));
        };
        let keys: Vec<Vec<u8>> = keys
            .into_iter()
            .filter_map(|key| match key {
                Reply::Bulk(Some(key)) => Some(key),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            let mut unlink: Vec<&[u8]> = vec![b"UNLINK"];
            unlink.extend(keys.iter().map(Vec::as_slice));
            if let Reply::Integer(count) = connection.command(&unlink)? {
                deleted += u64::try_from(count).unwrap_or(0);
            }
        }
        if next == b"0" {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// How many clients the server at `url` has connected (this check's own
/// connection included): lets a test see connections being released.
pub fn connected_clients(url: &str) -> io::Result<u64> {
    let info = open(url)?
        .command(&[b"INFO", b"clients"])?
        .bulk_text()
        .unwrap_or_default();
    info.lines()
        .find_map(|line| line.strip_prefix("connected_clients:"))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| io::Error::other("INFO clients has no connected_clients"))
}

/// `INFO <section>` of the server at `url`, as text.
pub fn info(url: &str, section: &str) -> io::Result<String> {
    open(url)?
        .command(&[b"INFO", section.as_bytes()])?
        .bulk_text()
        .ok_or_else(|| io::Error::other("INFO answered no text"))
}

/// How many replicas `server` serves in sync (`state=online`), as a master.
pub fn replicas_online(server: &RedisServer) -> usize {
    server.info("replication").map_or(0, |info| {
        if !info.contains("role:master") {
            return 0;
        }
        info.lines()
            .filter(|line| line.starts_with("slave") && line.contains("state=online"))
            .count()
    })
}

fn open(url: &str) -> io::Result<Connection> {
    let target = Target::parse(url)
        .ok_or_else(|| io::Error::other(format!("not a redis://host:port URL: {url}")))?;
    Connection::open(&target, CHECK_TIMEOUT)
}
