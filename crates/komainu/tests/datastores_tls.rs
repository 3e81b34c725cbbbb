#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Leaders on datastores that speak TLS only: a private PostgreSQL with
//! `ssl = on` and a `hostssl`-only `pg_hba.conf`, its certificate made by a
//! test CA. What `sslmode` accepts and refuses, and what the errors say.
//!
//! The server's certificate names `localhost` only: reached as
//! `localhost` it passes `verify-full`; reached as `127.0.0.1` it passes
//! `verify-ca` (chain only) and fails `verify-full` (wrong host name).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::datastore::{Backend, datastore_args};
use common::pki::TestCa;
use common::{command, eventually, leader, route_to, upstream};
use store::{PostgresStore, RemoteSettings, Store, StoreError};
use testkit::postgres::PostgresServer;

const SOON: Duration = Duration::from_secs(5);

/// A TLS-only PostgreSQL, the CA that signed its certificate, and the CA's
/// certificate and another CA's, as files.
struct TlsPostgres {
    server: PostgresServer,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    _files: tempfile::TempDir,
}

impl TlsPostgres {
    fn start() -> Option<TlsPostgres> {
        Self::start_with(|ca| ca.server(&["localhost"]))
    }

    /// As `start`, with the server certificate `leaf` makes.
    fn start_with(leaf: impl FnOnce(&TestCa) -> common::pki::Leaf) -> Option<TlsPostgres> {
        let ca = TestCa::new("komainu test PostgreSQL CA");
        let leaf = leaf(&ca);
        let server = PostgresServer::start_tls(&leaf.cert_pem, &leaf.key_pem)?;
        let files = tempfile::tempdir().unwrap();
        let ca_file = files.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.cert_pem).unwrap();
        let other_ca_file = files.path().join("other-ca.pem");
        std::fs::write(&other_ca_file, TestCa::new("another CA").cert_pem).unwrap();
        Some(TlsPostgres {
            server,
            ca_file,
            other_ca_file,
            _files: files,
        })
    }

    /// The server's URI through `host`, with `query` (TLS options) added.
    fn uri(&self, host: &str, query: &str) -> String {
        format!(
            "postgresql://postgres@{host}:{}/postgres?{query}",
            self.server.port()
        )
    }
}

fn file(path: &Path) -> String {
    path.display().to_string()
}

async fn connect(uri: &str) -> Result<PostgresStore, String> {
    let root = testkit::unique_name("komainu_tls");
    PostgresStore::connect(RemoteSettings::new(uri, root))
        .await
        .map_err(|error| match error {
            StoreError::Unavailable { backend, message } => {
                assert_eq!(backend, "postgresql");
                error_text(backend, &message)
            }
            other => panic!("expected Unavailable, got {other:?}"),
        })
}

fn error_text(backend: &str, message: &str) -> String {
    format!("datastore '{backend}' unavailable: {message}")
}

/// Runs a leader that must fail to start; returns what it printed. Bounded,
/// so that a leader that wrongly starts fails the test instead of hanging it.
fn refused_start(args: &[String]) -> String {
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut child = command()
        .arg("-Dcluster.mode=leader")
        .arg(format!("-Dapp.filedb.path={}", logs.path().display()))
        .args(["-Dhttp.port=0", "-Dhttp.address=127.0.0.1"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "the leader did not give up: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "the leader must refuse to start");
    std::fs::read_to_string(&out).unwrap_or_default() + &std::fs::read_to_string(&err).unwrap()
}

/// A leader on `verify-full` with the CA's file serves a route it stored:
/// every connection went over TLS (the server takes no other) and the
/// certificate was checked, host name included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_on_postgres_over_tls_with_verify_full() {
    let Some(pg) = TlsPostgres::start() else {
        return;
    };
    let uri = pg.uri(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", file(&pg.ca_file)),
    );
    let args = datastore_args(Backend::Postgres, &uri, "komainu_tls");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (node, _dir) = leader(&args);
    let up = upstream::start("up").await;
    node.create_route(&route_to("tls", "tls.oto.tools", &[up.port]))
        .await;
    assert_eq!(node.get_json("/api/routes/tls").await.0, 200);
    assert!(
        eventually(SOON, || async {
            node.status_of("tls.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "the route stored over TLS is served"
    );
    let (_, health) = node.health().await;
    let connection = &health["datastore_connection"];
    assert_eq!(connection["tls"], true, "{connection}");
    let endpoint = format!("localhost:{}/postgres", pg.server.port());
    assert_eq!(connection["endpoint"], endpoint.as_str(), "{connection}");
}

/// `sslmode=disable` meets a server that takes TLS only: the leader does
/// not start, and says the server refused a plain connection.
#[tokio::test]
async fn plain_connection_is_refused_by_a_tls_only_server() {
    let Some(pg) = TlsPostgres::start() else {
        return;
    };
    let uri = pg.uri("127.0.0.1", "sslmode=disable");
    let printed = refused_start(&datastore_args(Backend::Postgres, &uri, "komainu_tls"));
    assert!(printed.contains("postgresql"), "{printed}");
    assert!(
        printed.contains("pg_hba.conf") && printed.contains("no encryption"),
        "{printed}"
    );
}

/// `verify-full` to an address the certificate does not name is refused,
/// saying so; `verify-ca` through the same address checks the chain only
/// and connects; `require` encrypts without checking.
#[tokio::test]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some(pg) = TlsPostgres::start() else {
        return;
    };
    let ca = file(&pg.ca_file);
    let error = connect(&pg.uri(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .err()
    .expect("verify-full refuses a certificate for another host");
    assert!(error.contains("wrong host name"), "{error}");
    assert!(error.contains("127.0.0.1"), "names the server: {error}");

    let store = connect(&pg.uri("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")))
        .await
        .unwrap();
    store.ping().await.unwrap();
    let store = connect(&pg.uri("127.0.0.1", "sslmode=require"))
        .await
        .unwrap();
    store.ping().await.unwrap();
    // prefer (the default) takes the TLS the server offers.
    let store = connect(&pg.uri("127.0.0.1", "")).await.unwrap();
    store.ping().await.unwrap();
}

/// A certificate signed by a CA other than `sslrootcert`'s is refused by
/// `verify-ca` and `verify-full` alike (and by `require` once a root file is
/// named, as libpq does); the leader does not start, naming the cause.
#[tokio::test]
async fn an_untrusted_ca_is_refused() {
    let Some(pg) = TlsPostgres::start() else {
        return;
    };
    let other = file(&pg.other_ca_file);
    for mode in ["verify-ca", "verify-full", "require"] {
        let error = connect(&pg.uri("localhost", &format!("sslmode={mode}&sslrootcert={other}")))
            .await
            .err()
            .unwrap_or_else(|| panic!("{mode} with the wrong CA connected"));
        assert!(error.contains("untrusted certificate"), "{mode}: {error}");
    }
    let uri = pg.uri(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={other}"),
    );
    let printed = refused_start(&datastore_args(Backend::Postgres, &uri, "komainu_tls"));
    assert!(
        printed.contains("postgresql") && printed.contains("untrusted certificate"),
        "{printed}"
    );
}

/// A server whose certificate has expired (signed by the trusted CA, for
/// the right name) is refused under `verify-full`, saying "expired".
#[tokio::test]
async fn an_expired_postgres_certificate_is_refused() {
    let Some(pg) = TlsPostgres::start_with(|ca| ca.expired_server(&["localhost"])) else {
        return;
    };
    let ca = file(&pg.ca_file);
    let error = connect(&pg.uri(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .err()
    .expect("verify-full refuses an expired certificate");
    assert!(error.contains("postgresql"), "{error}");
    assert!(error.contains("expired"), "{error}");
    assert!(
        error.contains(&format!("localhost:{}", pg.server.port())),
        "names the server: {error}"
    );
}

/// Options the store cannot honour are refused before connecting, naming
/// them.
#[tokio::test]
async fn bad_tls_options_are_named() {
    let error = connect("postgresql://postgres@127.0.0.1:1/x?sslmode=verify-everything")
        .await
        .err()
        .unwrap();
    assert!(
        error.contains("sslmode") && error.contains("verify-full"),
        "{error}"
    );
    let error = connect(
        "postgresql://postgres@127.0.0.1:1/x?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
    )
    .await
    .err()
    .unwrap();
    assert!(
        error.contains("sslrootcert") && error.contains("/nonexistent/ca.pem"),
        "{error}"
    );
}

/// A leader on `rediss://` trusting the test CA through `REDIS_TLS_CA_FILE`
/// stores and serves a route; without the CA it does not start, naming the
/// datastore and the untrusted certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_on_redis_over_tls() {
    let ca = TestCa::new("komainu test Redis CA");
    let leaf = ca.server(&["127.0.0.1"]);
    let Some(redis) =
        testkit::redis::RedisServer::start_tls(&leaf.cert_pem, &leaf.key_pem, &ca.cert_pem, false)
    else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let url = redis.tls_url().unwrap();
    let args = datastore_args(Backend::Redis, &url, "komainu_tls");

    let printed = refused_start(&args);
    assert!(
        printed.contains("redis") && printed.contains("UnknownIssuer"),
        "{printed}"
    );

    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (node, _dir) = common::Node::start_with_env(
        &[&["-Dcluster.mode=leader"], args.as_slice()].concat(),
        &[("REDIS_TLS_CA_FILE", &file(&ca_file))],
    );
    let up = upstream::start("up").await;
    node.create_route(&route_to("tls", "tls.oto.tools", &[up.port]))
        .await;
    assert!(
        eventually(SOON, || async {
            node.status_of("tls.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "the route stored over rediss is served"
    );
    let (_, health) = node.health().await;
    let connection = &health["datastore_connection"];
    assert_eq!(connection["kind"], "redis", "{connection}");
    assert_eq!(connection["tls"], true, "{connection}");
}

/// `rediss://` to a server whose certificate has expired (signed by the
/// trusted CA, for the right address): refused, naming the datastore, the
/// server and "expired".
#[tokio::test]
async fn an_expired_redis_certificate_is_refused() {
    let ca = TestCa::new("komainu test Redis CA");
    let leaf = ca.expired_server(&["127.0.0.1"]);
    let Some(redis) =
        testkit::redis::RedisServer::start_tls(&leaf.cert_pem, &leaf.key_pem, &ca.cert_pem, false)
    else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let mut settings = RemoteSettings::new(redis.tls_url().unwrap(), "komainu_tls");
    settings.tls.ca_file = Some(ca_file);
    let error = match store::RedisStore::connect(settings).await {
        Ok(_) => panic!("an expired certificate was accepted"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("redis"), "{error}");
    assert!(error.contains("expired"), "{error}");
    let port = redis.tls_url().unwrap();
    let address = port.trim_start_matches("rediss://");
    assert!(error.contains(address), "names the server: {error}");
}
