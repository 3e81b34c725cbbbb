//! A Redis Cluster of a test's own: three masters (and, if asked, a replica
//! each) started with `--cluster-enabled yes` on 127.0.0.1 and ephemeral
//! ports, joined by `redis-cli --cluster create`. Tuned so that a replica
//! takes over a killed master within a few seconds.

use std::io;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::RedisServer;
use super::resp::Reply;
use crate::skip;

/// Overrides the redis-cli binary (default: the one on PATH).
pub const CLI_ENV: &str = "KOMAINU_REDIS_CLI";

/// How long a node may stay silent before the others call it failed:
/// short, so that a failover takes seconds in tests.
const NODE_TIMEOUT_MS: &str = "1000";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

const MASTERS: usize = 3;

/// The nodes of one cluster, killed when dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters sharing the 16384 slots, each with `replicas` replicas,
    /// once every node says `cluster_state:ok`. `None` (after
    /// `skip::missing`) when redis-server or redis-cli is not installed.
    pub fn start(replicas: usize) -> Option<RedisCluster> {
        let cli = cli();
        if let Err(error) = Command::new(&cli)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
        {
            skip::missing("redis-cli", &format!("cannot run {cli}: {error}"));
            return None;
        }
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            NODE_TIMEOUT_MS,
        ];
        let mut nodes = Vec::new();
        for _ in 0..MASTERS * (1 + replicas) {
            nodes.push(RedisServer::start_with_args(&args)?);
        }
        let cluster = RedisCluster { nodes };
        let output = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(cluster.members())
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until_ready(replicas);
        Some(cluster)
    }

    /// Every node's `host:port`, as `app.redis.cluster.members` takes them.
    pub fn members(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect()
    }

    /// The node listening on `port`.
    pub fn server(&self, port: u16) -> Option<&RedisServer> {
        self.nodes.iter().find(|node| node.port() == port)
    }

    /// The hash slot of `key`, as the cluster computes it.
    pub fn slot_of(&self, key: &str) -> io::Result<u16> {
        match self.command_on_any(&[b"CLUSTER", b"KEYSLOT", key.as_bytes()])? {
            Reply::Integer(slot) => {
                u16::try_from(slot).map_err(|_| io::Error::other("slot out of range"))
            }
            other => Err(io::Error::other(format!(
                "CLUSTER KEYSLOT answered {other:?}"
            ))),
        }
    }

    /// The port of the master serving `slot` now, as a living node sees it.
    pub fn master_of(&self, slot: u16) -> io::Result<u16> {
        self.serving(slot, 0)
    }

    /// The port of the first replica of `slot`'s master. Waits for one:
    /// CLUSTER SLOTS lists a replica only once gossip tells its offset.
    pub fn replica_of(&self, slot: u16) -> io::Result<u16> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.serving(slot, 1) {
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(50)),
                answer => return answer,
            }
        }
    }

    /// The port of the `nth` node CLUSTER SLOTS lists for `slot`: the
    /// master first, then its replicas.
    fn serving(&self, slot: u16, nth: usize) -> io::Result<u16> {
        let Reply::Array(Some(ranges)) = self.command_on_any(&[b"CLUSTER", b"SLOTS"])? else {
            return Err(io::Error::other("CLUSTER SLOTS answered no array"));
        };
        for range in ranges {
            let Reply::Array(Some(parts)) = range else {
                continue;
            };
            let (Some(Reply::Integer(start)), Some(Reply::Integer(end)), Some(node)) =
                (parts.first(), parts.get(1), parts.get(2 + nth))
            else {
                continue;
            };
            if (*start..=*end).contains(&i64::from(slot))
                && let Reply::Array(Some(address)) = node
                && let Some(Reply::Integer(port)) = address.get(1)
            {
                return u16::try_from(*port).map_err(|_| io::Error::other("port out of range"));
            }
        }
        Err(io::Error::other(format!(
            "no node {nth} serves slot {slot}"
        )))
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        self.nodes
            .iter_mut()
            .find(|node| node.port() == port)
            .expect("the node is one of ours")
            .kill();
    }

    /// SIGKILLs the master of `slot` and returns its port.
    pub fn kill_master_of(&mut self, slot: u16) -> u16 {
        let port = self.master_of(slot).expect("a master serves the slot");
        self.kill(port);
        port
    }

    /// Waits until a master other than `old_port` serves `slot` (its
    /// replica took over), and returns its port.
    pub fn wait_for_new_master(&self, slot: u16, old_port: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(port) = self.master_of(slot)
                && port != old_port
            {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "no replica took slot {slot} over within {within:?}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn command_on_any(&self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut last = io::Error::other("no node is running");
        for node in self.nodes.iter().filter(|node| node.is_running()) {
            match node.command(args) {
                Ok(reply) => return Ok(reply),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    fn wait_until_ready(&self, replicas: usize) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                node.command(&[b"CLUSTER", b"INFO"])
                    .ok()
                    .and_then(|reply| reply.bulk_text())
                    .is_some_and(|info| {
                        info.contains("cluster_state:ok")
                            && info.contains(&format!(
                                "cluster_known_nodes:{}",
                                MASTERS * (1 + replicas)
                            ))
                    })
            });
            // Synced as the masters see it (what ROLE lists), not only as
            // the replicas do: a replica says "up" a moment earlier.
            let masters_with_replicas = self
                .nodes
                .iter()
                .filter(|node| super::replicas_online(node) >= replicas)
                .count();
            let replicas_synced = masters_with_replicas >= MASTERS;
            if all_ok && replicas_synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not get ready within {READY_TIMEOUT:?}"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

fn cli() -> String {
    std::env::var(CLI_ENV).unwrap_or_else(|_| "redis-cli".to_owned())
}
