//! A Sentinel deployment of a test's own: a master, one replica and three
//! sentinels (`redis-server --sentinel`) watching them, all on 127.0.0.1 and
//! ephemeral ports. Tuned to fail over in a few seconds once the master is
//! killed, so that tests can watch a failover happen.

use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::resp::{Connection, Reply, Target};
use super::server::{binary, log};
use super::{CHECK_TIMEOUT, RedisServer};

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "komainu";

/// How long the master may stay silent before a sentinel calls it down:
/// short, so that a failover takes seconds in tests.
const DOWN_AFTER_MS: u64 = 1000;

/// Sentinels discover one another through the master every 2 s; a failover
/// needs them to know each other, so the start waits for that.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A master, its replica and three sentinels. Everything is killed when
/// dropped.
pub struct RedisSentinels {
    /// The two data servers, the initial master first. Either may be
    /// master now (after a failover) or killed.
    servers: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
    password: Option<String>,
}

impl RedisSentinels {
    /// Starts everything and waits until the replica is in sync and each
    /// sentinel knows the replica and the two other sentinels. `None` (after
    /// `skip::missing`) when redis-server is not installed.
    pub fn start() -> Option<RedisSentinels> {
        Self::start_with_password(None)
    }

    /// As `start`, with sentinels that ask for `password` (the data servers
    /// ask for none).
    pub fn start_with_password(password: Option<&str>) -> Option<RedisSentinels> {
        let master = RedisServer::start()?;
        let master_port = master.port().to_string();
        let replica = RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &master_port])?;
        let mut deployment = RedisSentinels {
            servers: vec![master, replica],
            sentinels: Vec::new(),
            password: password.map(str::to_owned),
        };
        let layout = Layout {
            master_port: deployment.servers[0].port(),
            replica_port: deployment.servers[1].port(),
            password,
        };
        deployment.sentinels = SentinelProcess::start_three(&layout);
        deployment.wait_until_ready();
        Some(deployment)
    }

    /// The sentinels' `host:port`, as `app.redis.sentinels.members` takes them.
    pub fn members(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect()
    }

    /// The port of the server the sentinels name as master now.
    pub fn master_port(&self) -> io::Result<u16> {
        let mut last = io::Error::other("no sentinel answered");
        for sentinel in &self.sentinels {
            match self.ask_master(sentinel.port) {
                Ok(port) => return Ok(port),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// The data server listening on `port`.
    pub fn server(&self, port: u16) -> Option<&RedisServer> {
        self.servers.iter().find(|server| server.port() == port)
    }

    /// SIGKILLs the server the sentinels name as master now, and returns
    /// its port.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port().expect("the sentinels name a master");
        let server = self
            .servers
            .iter_mut()
            .find(|server| server.port() == port)
            .expect("the master is one of ours");
        server.kill();
        port
    }

    /// Waits until the sentinels name a master other than `old_port`, and
    /// returns its port.
    pub fn wait_for_new_master(&self, old_port: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(port) = self.master_port()
                && port != old_port
            {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "no failover within {within:?}; sentinel log:\n{}",
                log(self.sentinels[0].dir.path())
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn ask_master(&self, sentinel_port: u16) -> io::Result<u16> {
        let reply = self.sentinel_command(
            sentinel_port,
            &[
                b"SENTINEL",
                b"get-master-addr-by-name",
                MASTER_NAME.as_bytes(),
            ],
        )?;
        let Reply::Array(Some(parts)) = reply else {
            return Err(io::Error::other(format!("sentinel answered {reply:?}")));
        };
        parts
            .get(1)
            .and_then(Reply::bulk_text)
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| io::Error::other("sentinel named no port"))
    }

    fn sentinel_command(&self, port: u16, args: &[&[u8]]) -> io::Result<Reply> {
        let target = Target {
            host: "127.0.0.1".to_owned(),
            port,
            user: None,
            password: self.password.clone(),
            db: None,
        };
        Connection::open(&target, CHECK_TIMEOUT)?.command(args)
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let replica_synced = self.servers[1]
                .info("replication")
                .is_ok_and(|info| info.contains("master_link_status:up"))
                && super::replicas_online(&self.servers[0]) >= 1;
            let sentinels_ready = self.sentinels.iter().all(|sentinel| {
                let count = |what: &[u8]| match self
                    .sentinel_command(sentinel.port, &[b"SENTINEL", what, MASTER_NAME.as_bytes()])
                {
                    Ok(Reply::Array(Some(items))) => items.len(),
                    _ => 0,
                };
                count(b"replicas") >= 1 && count(b"sentinels") >= 2
            });
            if replica_synced && sentinels_ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not get ready within {READY_TIMEOUT:?}; log:\n{}",
                log(self.sentinels[0].dir.path())
            );
            sleep(Duration::from_millis(100));
        }
    }
}

/// One `redis-server --sentinel`, killed when dropped.
struct SentinelProcess {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl SentinelProcess {
    /// Three sentinels that know one another (and the replica) from their
    /// config files: found by themselves, that takes a few seconds of
    /// hello messages. Another process may take a probed port first: then
    /// all three start again on fresh ones.
    fn start_three(layout: &Layout<'_>) -> Vec<SentinelProcess> {
        for _ in 0..5 {
            let peers: Vec<Peer> = (0..3)
                .map(|_| Peer {
                    port: crate::ports::unused(),
                    id: format!("{:040x}", rand::random::<u128>()),
                })
                .collect();
            let started: Vec<Option<SentinelProcess>> = (0..peers.len())
                .map(|me| SentinelProcess::start(layout, &peers, me))
                .collect();
            if started.iter().all(Option::is_some) {
                return started.into_iter().flatten().collect();
            }
        }
        panic!("redis-server --sentinel did not start in 5 attempts");
    }

    fn start(layout: &Layout<'_>, peers: &[Peer], me: usize) -> Option<SentinelProcess> {
        let dir = TempDir::new().expect("a temp dir for a sentinel");
        write_config(dir.path(), layout, peers, me);
        let child = Command::new(binary())
            .arg(dir.path().join("sentinel.conf"))
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server --sentinel");
        let mut sentinel = SentinelProcess {
            port: peers[me].port,
            dir,
            child,
        };
        sentinel.wait_for_ping(layout.password).then_some(sentinel)
    }

    fn wait_for_ping(&mut self, password: Option<&str>) -> bool {
        let target = Target {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            user: None,
            password: password.map(str::to_owned),
            db: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pong = Connection::open(&target, CHECK_TIMEOUT)
                .and_then(|mut connection| connection.command(&[b"PING"]));
            if matches!(pong, Ok(Reply::Simple(ref pong)) if pong == "PONG") {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every sentinel's config names.
struct Layout<'a> {
    master_port: u16,
    replica_port: u16,
    password: Option<&'a str>,
}

/// A sentinel's port and run id, chosen before any starts.
struct Peer {
    port: u16,
    id: String,
}

/// Sentinel rewrites its config file as it learns: it must be a file of
/// its own, in its own folder.
fn write_config(dir: &Path, layout: &Layout<'_>, peers: &[Peer], me: usize) {
    let master_port = layout.master_port;
    let mut config = format!(
        "port {port}\n\
         bind 127.0.0.1\n\
         dir {dir}\n\
         logfile {dir}/redis.log\n\
         sentinel myid {id}\n\
         sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {MASTER_NAME} 5000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n\
         sentinel known-replica {MASTER_NAME} 127.0.0.1 {replica_port}\n",
        port = peers[me].port,
        id = peers[me].id,
        replica_port = layout.replica_port,
        dir = dir.display()
    );
    for (index, peer) in peers.iter().enumerate() {
        if index != me {
            config.push_str(&format!(
                "sentinel known-sentinel {MASTER_NAME} 127.0.0.1 {} {}\n",
                peer.port, peer.id
            ));
        }
    }
    if let Some(password) = layout.password {
        // The sentinels talk to one another with the same password.
        config.push_str(&format!(
            "requirepass {password}\nsentinel sentinel-pass {password}\n"
        ));
    }
    std::fs::write(dir.join("sentinel.conf"), config).expect("write sentinel.conf");
}
