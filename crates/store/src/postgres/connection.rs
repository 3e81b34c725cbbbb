//! From `RemoteSettings` to a driver configuration and a connection pool.
//!
//! TLS follows libpq's `sslmode` (see `tls_options` and `tls`): the driver
//! is told only whether TLS is off, tried or required; who checks what of
//! the server's certificate is in the rustls configuration.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::Config;
use tokio_postgres::config::{Host, SslMode};

use super::errors::{no_connection, unavailable};
use super::tls::PgTls;
use super::tls_options::{self, Mode};
use crate::{RemoteSettings, StoreError};

/// TCP keepalive probes let a connection to a vanished server (power loss,
/// network partition: nothing sends a reset) fail in about 30 s instead of
/// the kernel's two hours, which matters most for the idle LISTEN connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// What connecting needs: the driver's configuration and the TLS connector.
#[derive(Clone)]
pub(super) struct Driver {
    pub(super) config: Config,
    pub(super) tls: PgTls,
}

/// Parses the URL and adds what every connection of this store needs: the
/// call timeout on the client side and the server side, keepalives, and an
/// application name that shows in `pg_stat_activity`.
pub(super) fn driver(settings: &RemoteSettings) -> Result<Driver, StoreError> {
    let (url, tls_options) = tls_options::split(&settings.url)?;
    // The driver's parse errors name an option or a character, never the
    // URL itself, so the password cannot leak through them.
    let mut config = Config::from_str(&url).map_err(|error| {
        unavailable(format!(
            "invalid PostgreSQL URL: {}",
            super::errors::describe(&error)
        ))
    })?;
    config.ssl_mode(match tls_options.mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    let tls = PgTls::new(&tls_options)
        .map_err(|error| unavailable(format!("{}: {}", target(&config), message(error))))?;
    let timeout = settings.timeout;
    // 0 would switch the server-side limits off, not make them immediate.
    let millis = timeout.as_millis().max(1);
    let server_limits =
        format!("-c statement_timeout={millis} -c idle_in_transaction_session_timeout={millis}");
    let options = match config.get_options() {
        Some(own) if !own.trim().is_empty() => format!("{own} {server_limits}"),
        _ => server_limits,
    };
    config
        .options(options)
        .connect_timeout(timeout)
        .tcp_user_timeout(timeout)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    if config.get_application_name().is_none() {
        config.application_name("komainu");
    }
    Ok(Driver { config, tls })
}

fn message(error: StoreError) -> String {
    match error {
        StoreError::Unavailable { message, .. } => message,
        other => other.to_string(),
    }
}

/// Where the store connects, for error messages: `host:port/database`. Built
/// from the parsed configuration, so it holds no password.
pub(super) fn target(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            // One port may serve every host; none means the default.
            let port = ports
                .get(index)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    format!(
        "{hosts}/{}",
        config.get_dbname().unwrap_or("(default database)")
    )
}

/// A pool of `size` connections (at least one). Waiting for a free
/// connection, opening one and checking one are each bounded by `timeout`.
/// Recycling only checks that the connection is still open: a connection
/// that died with its server fails its next statement once, and the pool
/// replaces it.
pub(super) fn pool(
    driver: &Driver,
    size: usize,
    timeout: Duration,
    target: &str,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        driver.config.clone(),
        driver.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        })
        .build()
        .map_err(|error| unavailable(format!("{target}: cannot build the pool: {error}")))
}

/// A pooled connection lent to one call. It goes back to the pool only
/// through `release`, once the call has finished. A call cut short (its
/// timeout fired, its caller went away) drops the lease instead, which
/// closes the connection: it may be mid-statement or inside a transaction
/// (perhaps holding the revision lock), and closing it is the one way to
/// be sure the server rolls that back rather than the next caller inheriting
/// it.
pub(super) struct Lease {
    client: Option<Object>,
}

impl Lease {
    pub(super) async fn take(pool: &Pool, target: &str) -> Result<Self, StoreError> {
        let client = pool
            .get()
            .await
            .map_err(|error| no_connection(target, &error))?;
        Ok(Self {
            client: Some(client),
        })
    }

    pub(super) fn client(&mut self) -> Result<&mut Object, StoreError> {
        // Only `release` and `drop` empty the lease, and both consume it.
        self.client
            .as_mut()
            .ok_or_else(|| unavailable("connection already released"))
    }

    /// Hands the connection back to the pool for the next call.
    pub(super) fn release(mut self) {
        drop(self.client.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Detached from the pool, then dropped: the socket closes.
            drop(Object::take(client));
        }
    }
}
