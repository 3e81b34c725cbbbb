//! PostgreSQL for tests: the shared server (`KOMAINU_TEST_PG_URI`, else
//! `postgresql://postgres@127.0.0.1:5432/test`) that tests share by each
//! using its own schema, and private servers (`PostgresServer`) that a test
//! may kill and restart.
//!
//! No async and no driver here: reachability is a TCP connect (plus
//! `pg_isready` when installed), cleanup goes through `psql`, and private
//! servers are driven with `initdb` and `pg_ctl`.

use std::fs::File;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::skip;

/// Overrides the shared server's URI.
pub const URI_ENV: &str = "KOMAINU_TEST_PG_URI";
/// A folder holding `initdb`, `pg_ctl`, `postgres` and `psql`, searched
/// before the usual places.
pub const BIN_ENV: &str = "KOMAINU_TEST_PG_BIN";

const DEFAULT_URI: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// Short: a local server answers at once, and a missing one should not slow
/// a skipping run down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The OS user private servers run as when tests run as root (initdb and
/// postgres refuse to run as root).
pub(crate) const SERVER_USER: &str = "postgres";

/// The shared server's URI, or `None` (after `skip::missing`) when nothing
/// accepts connections there.
pub fn shared_uri() -> Option<String> {
    let uri = std::env::var(URI_ENV).unwrap_or_else(|_| DEFAULT_URI.to_owned());
    match reachable(&uri) {
        Ok(()) => Some(uri),
        Err(why) => {
            skip::missing("PostgreSQL", &why);
            None
        }
    }
}

/// Whether a server accepts connections at `uri`. Messages name the host
/// and port, never the URI (it may hold a password).
fn reachable(uri: &str) -> Result<(), String> {
    let Some((host, port)) = host_port(uri) else {
        // A Unix socket or an odd URI: let the test's own connect decide.
        return Ok(());
    };
    let addresses: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {host}:{port}: {error}"))?
        .collect();
    let mut last_error = None;
    let connected = addresses.iter().any(|address| {
        TcpStream::connect_timeout(address, CHECK_TIMEOUT)
            .map_err(|error| last_error = Some(error))
            .is_ok()
    });
    if !connected {
        let why = last_error.map_or_else(|| "no address".to_owned(), |error| error.to_string());
        return Err(format!(
            "nothing accepts connections at {host}:{port}: {why}"
        ));
    }
    // Something listens; when pg_isready is installed, make sure it is a
    // PostgreSQL server ready for connections (not one still starting).
    if let Some(pg_isready) = tool("pg_isready") {
        let status = Command::new(pg_isready)
            .args(["-q", "-t", "3", "-d", uri])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|error| format!("cannot run pg_isready: {error}"))?;
        if !status.success() {
            return Err(format!(
                "the server at {host}:{port} is not accepting connections (pg_isready: {status})"
            ));
        }
    }
    Ok(())
}

/// Host and port of a `postgresql://user:password@host:port/db?...` URI.
fn host_port(uri: &str) -> Option<(String, u16)> {
    let rest = uri
        .strip_prefix("postgresql://")
        .or_else(|| uri.strip_prefix("postgres://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || host.contains(',') {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 5432,
    };
    Some((host.to_owned(), port))
}

/// Drops `schema` and everything in it from the database at `uri`: how a
/// test removes its storage root from the shared server when done.
pub fn drop_schema(uri: &str, schema: &str) -> io::Result<()> {
    let psql = tool("psql").ok_or_else(|| io::Error::other("psql not found"))?;
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    let output = Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c"])
        .arg(format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {quoted} CASCADE"
        ))
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "psql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Drops its schema when dropped: the keep-alive a test holds next to a
/// store rooted on the shared server.
pub struct SchemaGuard {
    uri: String,
    schema: String,
}

impl SchemaGuard {
    pub fn new(uri: &str, schema: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            schema: schema.to_owned(),
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        if let Err(error) = drop_schema(&self.uri, &self.schema) {
            eprintln!(
                "warning: could not drop test schema {}: {error}",
                self.schema
            );
        }
    }
}

/// A private PostgreSQL server in a temporary folder, on its own port, that
/// a test may kill (`pg_ctl stop -m immediate`: no shutdown checkpoint, so
/// the restart runs crash recovery) and restart. Dropping it stops the
/// server and removes the folder.
pub struct PostgresServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// Running as root: every server command runs as `SERVER_USER`.
    as_server_user: bool,
    running: bool,
}

impl PostgresServer {
    /// Creates a cluster (`initdb`) and starts it on a free port, or `None`
    /// (after `skip::missing`) when the server binaries are not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Like `start`, with TLS on (`ssl = on`, the certificate and key given
    /// in PEM) and a `pg_hba.conf` that takes TCP clients over TLS only
    /// (`hostssl`): a plain connection is refused by the server.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            skip::missing(
                "PostgreSQL server binaries",
                &format!(
                    "initdb and pg_ctl not found in ${BIN_ENV}, /usr/lib/postgresql/*/bin or PATH"
                ),
            );
            return None;
        };
        let as_server_user = is_root();
        if as_server_user && !user_exists(SERVER_USER) {
            skip::missing(
                "PostgreSQL private server",
                &format!(
                    "running as root and there is no OS user {SERVER_USER:?} to run initdb as"
                ),
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("komainu-pg-")
            .tempdir()
            .expect("temporary folder for a PostgreSQL server");
        if as_server_user {
            let chown = Command::new("chown")
                .arg(SERVER_USER)
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(
                chown.success(),
                "chown {SERVER_USER} {}",
                dir.path().display()
            );
        }
        let mut server = Self {
            dir,
            bin,
            port: 0,
            as_server_user,
            running: false,
        };
        let data = server.data_dir();
        let initdb = server.run(
            "initdb",
            &[
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                // The cluster is thrown away; its creation need not survive
                // a power cut. The server itself runs with fsync on.
                "--no-sync".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        if let Some((cert_pem, key_pem)) = tls {
            server.configure_tls(cert_pem, key_pem);
        }
        // A free port may be taken between finding it and binding it: try a
        // few.
        for _ in 0..3 {
            server.port = crate::ports::unused();
            if server.pg_start() {
                return Some(server);
            }
        }
        panic!(
            "the private PostgreSQL server did not start:\n{}",
            server.log()
        );
    }

    /// `postgresql://postgres@127.0.0.1:<port>/postgres` (trust auth).
    pub fn uri(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server the hard way (`-m immediate`, like a crash): open
    /// connections are cut, nothing is checkpointed, committed transactions
    /// survive through the WAL.
    pub fn kill(&mut self) {
        let output = self.pg_ctl_stop();
        assert!(
            output.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.running = false;
    }

    /// Starts the server again on the same port and data folder, after
    /// `kill`; returns once it accepts connections.
    pub fn restart(&mut self) {
        assert!(!self.running, "restart() needs a killed server");
        assert!(
            self.pg_start(),
            "the private PostgreSQL server did not restart:\n{}",
            self.log()
        );
    }

    /// Certificate and key in the data folder, owned by the server's user
    /// and private (the server refuses a key others can read), TLS on, and
    /// TCP clients accepted over TLS only.
    fn configure_tls(&self, cert_pem: &str, key_pem: &str) {
        let data = self.data_dir();
        let cert = data.join("server.crt");
        let key = data.join("server.key");
        std::fs::write(&cert, cert_pem).expect("write the server certificate");
        std::fs::write(&key, key_pem).expect("write the server key");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("write pg_hba.conf");
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        std::io::Write::write_all(
            &mut conf,
            b"\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        )
        .expect("write postgresql.conf");
        for file in [&cert, &key] {
            let mut command = Command::new("chmod");
            command.arg("600").arg(file);
            assert!(command.status().is_ok_and(|status| status.success()));
            if self.as_server_user {
                let mut command = Command::new("chown");
                command.arg(SERVER_USER).arg(file);
                assert!(command.status().is_ok_and(|status| status.success()));
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// `pg_ctl start`, waiting until the server accepts connections.
    fn pg_start(&mut self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on \
             -c shared_buffers=16MB -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir();
        let log = self.log_file();
        let output = self.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        );
        let address = ("127.0.0.1", self.port);
        self.running = output.status.success()
            && address
                .to_socket_addrs()
                .ok()
                .and_then(|mut addresses| addresses.next())
                .is_some_and(|address| TcpStream::connect_timeout(&address, CHECK_TIMEOUT).is_ok());
        self.running
    }

    fn pg_ctl_stop(&self) -> Output {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
            ],
        )
    }

    /// Runs one of the server binaries, as `SERVER_USER` when we are root.
    /// Output goes to files, not pipes: the server that `pg_ctl start`
    /// leaves running must not hold a pipe this call would wait on.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let binary = self.bin.join(program);
        let mut command = if self.as_server_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--"]).arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        // The server user may not be allowed into the test's working folder.
        command.current_dir(self.dir.path()).args(args);
        let out_path = self.dir.path().join(format!("{program}.out"));
        let err_path = self.dir.path().join(format!("{program}.err"));
        let status = command
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).expect("create an output file"))
            .stderr(File::create(&err_path).expect("create an output file"))
            .status()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            // Immediate: the folder is deleted next, nothing needs saving.
            let _ = self.pg_ctl_stop();
        }
    }
}

/// A folder with `initdb` and `pg_ctl`: `$KOMAINU_TEST_PG_BIN`, the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), then PATH.
fn bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    candidate_dirs().into_iter().find(|dir| has_server(dir))
}

/// Any PostgreSQL program, from the same places.
fn tool(program: &str) -> Option<PathBuf> {
    candidate_dirs()
        .into_iter()
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

pub(crate) fn user_exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_come_out_of_uris() {
        assert_eq!(
            host_port("postgresql://postgres@127.0.0.1:5432/test"),
            Some(("127.0.0.1".to_owned(), 5432))
        );
        assert_eq!(
            host_port("postgres://u:p@ss@db.example:6000?sslmode=disable"),
            Some(("db.example".to_owned(), 6000))
        );
        assert_eq!(
            host_port("postgresql://[::1]/x"),
            Some(("::1".to_owned(), 5432))
        );
        assert_eq!(host_port("postgresql:///test?host=/run/postgresql"), None);
        assert_eq!(host_port("redis://x"), None);
    }
}
