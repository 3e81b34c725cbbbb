//! A private PgBouncer in front of a PostgreSQL server, on its own port and
//! in a temporary folder, stopped when dropped. Runs as the `postgres` OS
//! user when the tests run as root (PgBouncer refuses root).

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::postgres::{SERVER_USER, is_root, user_exists};
use crate::skip;

/// How long PgBouncer may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `session` or `transaction` (`pool_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
}

impl PoolMode {
    fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

pub struct PgBouncer {
    child: Child,
    port: u16,
    database: String,
    _dir: TempDir,
}

impl PgBouncer {
    /// A PgBouncer with `pool_mode`, serving database `database` of the
    /// server at `host:port` as `user` (trust auth on the server; any
    /// client is let in), with `ignore_startup_parameters = options` as a
    /// client sending server options needs. `None` (after
    /// `skip::missing`) when pgbouncer is not installed.
    pub fn start(
        host: &str,
        port: u16,
        database: &str,
        user: &str,
        pool_mode: PoolMode,
    ) -> Option<PgBouncer> {
        let Some(binary) = binary() else {
            skip::missing("pgbouncer", "no pgbouncer in PATH or /usr/sbin");
            return None;
        };
        let as_user = is_root();
        if as_user && !user_exists(SERVER_USER) {
            skip::missing(
                "pgbouncer",
                &format!("running as root and there is no OS user {SERVER_USER:?} to run it as"),
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("komainu-pgbouncer-")
            .tempdir()
            .expect("temporary folder for pgbouncer");
        let listen = crate::ports::unused();
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n{database} = host={host} port={port} dbname={database} user={user}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\n\
                 auth_type = any\npool_mode = {}\nignore_startup_parameters = options\n\
                 unix_socket_dir =\nlogfile = {}\n",
                pool_mode.name(),
                dir.path().join("pgbouncer.log").display()
            ),
        )
        .expect("write pgbouncer.ini");
        let mut command = if as_user {
            let chown = Command::new("chown")
                .args(["-R", SERVER_USER])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown {}", dir.path().display());
            // Its own child (not runuser's), so that drop can reap it.
            let mut command = Command::new(&binary);
            command
                .uid(id(&["-u", SERVER_USER]))
                .gid(id(&["-g", SERVER_USER]));
            command
        } else {
            Command::new(&binary)
        };
        let child = command
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgbouncer");
        let mut bouncer = PgBouncer {
            child,
            port: listen,
            database: database.to_owned(),
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", listen)).is_err() {
            if let Ok(Some(status)) = bouncer.child.try_wait() {
                panic!("pgbouncer exited ({status}): {}", bouncer.log());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "pgbouncer did not listen on {listen}: {}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(bouncer)
    }

    /// A PgBouncer in front of the server a `postgresql://user@host:port/db`
    /// URI names (no password: the tests' servers trust), and the same URI
    /// through it.
    pub fn in_front_of(uri: &str, pool_mode: PoolMode) -> Option<(PgBouncer, String)> {
        let rest = uri
            .split_once("://")
            .map_or(uri, |(_, rest)| rest)
            .split('?')
            .next()
            .unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (user, address) = authority
            .rsplit_once('@')
            .unwrap_or(("postgres", authority));
        let user = user.split(':').next().unwrap_or("postgres");
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().expect("a port in the PostgreSQL URI")),
            None => (address, 5432),
        };
        let bouncer = PgBouncer::start(host, port, database, user, pool_mode)?;
        let through = bouncer.uri(user);
        Some((bouncer, through))
    }

    /// `postgresql://<user>@127.0.0.1:<port>/<database>` through PgBouncer.
    pub fn uri(&self, user: &str) -> String {
        format!(
            "postgresql://{user}@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `id <args>` as a number (a user's uid or gid).
fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {args:?} printed no number"))
}

fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
}
