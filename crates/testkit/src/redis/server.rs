//! A throwaway redis-server of a test's own, for what the shared server
//! must not suffer: being killed and restarted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::skip;

/// Overrides the redis-server binary (default: the one on PATH).
pub const BINARY_ENV: &str = "KOMAINU_REDIS_SERVER";

/// A cold start takes milliseconds; this only bounds a broken one.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Another process may grab the free port between our probe and the
/// server's bind: that start fails and is retried on a fresh port.
const START_ATTEMPTS: usize = 5;

/// A redis-server on 127.0.0.1 and a free port, in a temporary folder.
/// Killed when dropped.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Append-only file with an fsync per write: what a Redis used as a
    /// gateway's datastore runs with, so that a restart keeps the data.
    persistent: bool,
    /// The TLS port, when started with `start_tls`.
    tls_port: Option<u16>,
    /// More redis-server arguments (a replica's `--replicaof`...).
    extra_args: Vec<String>,
}

impl RedisServer {
    /// Starts a server without persistence (a restart comes back empty) and
    /// waits until it answers PING. `None` (after `skip::missing`) when
    /// redis-server is not installed.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(false)
    }

    /// As `start`, with an append-only file synced on every write: data
    /// survives `kill` + `restart`.
    pub fn start_persistent() -> Option<RedisServer> {
        Self::start_with(true)
    }

    /// A server that also takes TLS on a port of its own (`tls_url`), with
    /// the certificate and key given in PEM; `ca_pem` verifies client
    /// certificates, which are required when `clients_must_prove` (else not
    /// asked for). The plain port stays for readiness checks and cleanup.
    pub fn start_tls(
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &str,
        clients_must_prove: bool,
    ) -> Option<RedisServer> {
        let mut server = Self::start_with(false)?;
        let dir = server.dir.path();
        std::fs::write(dir.join("tls.crt"), cert_pem).expect("write tls.crt");
        std::fs::write(dir.join("tls.key"), key_pem).expect("write tls.key");
        std::fs::write(dir.join("ca.crt"), ca_pem).expect("write ca.crt");
        std::fs::write(
            dir.join("tls-auth-clients"),
            if clients_must_prove { "yes" } else { "no" },
        )
        .expect("write the client auth mode");
        server.kill();
        for _ in 0..START_ATTEMPTS {
            server.tls_port = Some(crate::ports::unused());
            if server.launch() {
                return Some(server);
            }
            server.port = crate::ports::unused();
        }
        panic!(
            "redis-server with TLS did not start; log:\n{}",
            log(server.dir.path())
        );
    }

    /// `rediss://127.0.0.1:<tls port>`, for a server started by `start_tls`.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}"))
    }

    /// A server with more redis-server arguments (`--replicaof`,
    /// `--cluster-enabled`...), without persistence.
    pub fn start_with_args(args: &[&str]) -> Option<RedisServer> {
        Self::start_configured(false, args)
    }

    fn start_with(persistent: bool) -> Option<RedisServer> {
        Self::start_configured(persistent, &[])
    }

    fn start_configured(persistent: bool, args: &[&str]) -> Option<RedisServer> {
        let binary = binary();
        if let Err(error) = Command::new(&binary)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
        {
            skip::missing("redis-server", &format!("cannot run {binary}: {error}"));
            return None;
        }
        let mut server = RedisServer {
            port: crate::ports::unused(),
            dir: TempDir::new().expect("a temp dir for redis-server"),
            child: None,
            persistent,
            tls_port: None,
            extra_args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        for _ in 0..START_ATTEMPTS {
            if server.launch() {
                return Some(server);
            }
            server.port = crate::ports::unused();
        }
        panic!(
            "redis-server did not start in {START_ATTEMPTS} attempts; log:\n{}",
            log(server.dir.path())
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's folder (its log is `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// One command on a fresh connection, for a test's checks.
    pub fn command(&self, args: &[&[u8]]) -> std::io::Result<super::resp::Reply> {
        super::open(&self.url())?.command(args)
    }

    /// `INFO <section>` as text.
    pub fn info(&self, section: &str) -> std::io::Result<String> {
        super::info(&self.url(), section)
    }

    /// Whether the process still runs (a test's `kill` ends it).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: connections drop at once, as on a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port:
    /// empty, unless started persistent.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.launch(),
            "redis-server did not restart on port {}; log:\n{}",
            self.port,
            log(self.dir.path())
        );
    }

    /// Spawns redis-server and waits for PING; false when it exited first
    /// (most likely: the port was taken).
    fn launch(&mut self) -> bool {
        let mut command = Command::new(binary());
        if let Some(tls_port) = self.tls_port {
            let dir = self.dir.path();
            let auth = std::fs::read_to_string(dir.join("tls-auth-clients"))
                .unwrap_or_else(|_| "no".to_owned());
            command
                .args(["--tls-port", &tls_port.to_string()])
                .arg("--tls-cert-file")
                .arg(dir.join("tls.crt"))
                .arg("--tls-key-file")
                .arg(dir.join("tls.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.crt"))
                .args(["--tls-auth-clients", auth.as_str()]);
        }
        let child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", if self.persistent { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if super::ping(&self.url()).is_ok() {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited {
                self.child = None;
                return false;
            }
            sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(super) fn binary() -> String {
    std::env::var(BINARY_ENV).unwrap_or_else(|_| "redis-server".to_owned())
}

pub(super) fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_else(|error| format!("({error})"))
}
