//! `RedisStore` over TLS (`rediss://`): the shared behaviour suite on a
//! private redis-server that takes TLS with a certificate from a test CA,
//! and the refusals: a server signed by a CA not trusted, a server that
//! wants a client certificate and gets none.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use store::{RedisStore, RemoteSettings, Store, StoreError, TlsFiles};
use tempfile::TempDir;
use testkit::redis::RedisServer;
use testkit::unique_name;

use suite::{keys, put};

/// A CA and what it signs, PEM.
struct Ca {
    cert_pem: String,
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: two CAs named alike would look like one to a
        // verifier (a bad signature rather than an unknown issuer).
        params
            .distinguished_name
            .push(DnType::CommonName, unique_name("test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert_pem = params.self_signed(&key).unwrap().pem();
        Ca {
            cert_pem,
            params,
            key,
        }
    }

    /// `(certificate, key)` for `name`, for `usage`.
    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A TLS redis-server, the CA that signed its certificate, and files.
struct TlsRedis {
    server: RedisServer,
    ca: Ca,
    files: TempDir,
}

impl TlsRedis {
    fn start(clients_must_prove: bool) -> Option<TlsRedis> {
        let ca = Ca::new();
        let (cert, key) = ca.issue("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
        let server = RedisServer::start_tls(&cert, &key, &ca.cert_pem, clients_must_prove)?;
        Some(TlsRedis {
            server,
            ca,
            files: tempfile::tempdir().unwrap(),
        })
    }

    fn write(&self, name: &str, pem: &str) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }

    fn settings(&self, tls: TlsFiles) -> RemoteSettings {
        RemoteSettings {
            revision_poll: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            tls,
            ..RemoteSettings::new(self.server.tls_url().unwrap(), unique_name("tls"))
        }
    }

    fn trusting_its_ca(&self) -> TlsFiles {
        TlsFiles {
            ca_file: Some(self.write("ca.pem", &self.ca.cert_pem)),
            ..TlsFiles::default()
        }
    }
}

async fn fresh() -> Option<(Arc<dyn Store>, TlsRedis)> {
    let redis = TlsRedis::start(false)?;
    let store = RedisStore::connect(redis.settings(redis.trusting_its_ca()))
        .await
        .unwrap();
    Some((Arc::new(store), redis))
}

suite::store_suite!(fresh);

fn unavailable(result: Result<RedisStore, StoreError>) -> String {
    match result {
        Err(StoreError::Unavailable { backend, message }) => {
            assert_eq!(backend, "redis", "{message}");
            StoreError::Unavailable { backend, message }.to_string()
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("connected"),
    }
}

/// A server whose certificate no trusted CA signed is refused, with an
/// error naming the datastore and the server; never a plain fallback.
#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused() {
    let Some(redis) = TlsRedis::start(false) else {
        return;
    };
    let other = redis.write("other-ca.pem", &Ca::new().cert_pem);
    let error = unavailable(
        RedisStore::connect(redis.settings(TlsFiles {
            ca_file: Some(other),
            ..TlsFiles::default()
        }))
        .await,
    );
    assert!(error.contains("datastore 'redis'"), "{error}");
    assert!(error.contains("127.0.0.1"), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(
        error.contains("app.redis.tls.caFile"),
        "says what to fix: {error}"
    );
    // Nor do the system roots know a test CA.
    let error = unavailable(RedisStore::connect(redis.settings(TlsFiles::default())).await);
    assert!(error.contains("UnknownIssuer"), "{error}");
}

/// A server that asks for client certificates takes the store with one
/// (signed by its CA) and refuses it without.
#[tokio::test]
async fn a_client_certificate_is_presented() {
    let Some(redis) = TlsRedis::start(true) else {
        return;
    };
    let (cert, key) = redis
        .ca
        .issue("komainu", ExtendedKeyUsagePurpose::ClientAuth);
    let files = TlsFiles {
        cert_file: Some(redis.write("client.pem", &cert)),
        key_file: Some(redis.write("client.key", &key)),
        ..redis.trusting_its_ca()
    };
    let store = RedisStore::connect(redis.settings(files)).await.unwrap();
    store.write(vec![put("routes", "r1", b"{}")]).await.unwrap();
    assert_eq!(store.count("routes").await.unwrap(), 1);
    assert!(store.counters(&keys(&["x"])).await.unwrap()[0].is_none());
    let error = unavailable(RedisStore::connect(redis.settings(redis.trusting_its_ca())).await);
    assert!(error.contains("datastore 'redis'"), "{error}");
}

/// Files that cannot serve are refused before connecting, naming the key.
#[tokio::test]
async fn broken_files_are_named_by_their_key() {
    let Some(redis) = TlsRedis::start(false) else {
        return;
    };
    let error = unavailable(
        RedisStore::connect(redis.settings(TlsFiles {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        }))
        .await,
    );
    assert!(error.contains("app.redis.tls.caFile"), "{error}");
    let not_a_key = redis.write("nokey.pem", &redis.ca.cert_pem);
    let error = unavailable(
        RedisStore::connect(redis.settings(TlsFiles {
            cert_file: Some(not_a_key.clone()),
            key_file: Some(not_a_key),
            ..redis.trusting_its_ca()
        }))
        .await,
    );
    assert!(error.contains("app.redis.tls.keyFile"), "{error}");
}
