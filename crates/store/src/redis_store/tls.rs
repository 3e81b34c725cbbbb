//! The Redis client for a URL: plain for `redis://`; for `rediss://`, TLS
//! on rustls with the server verified against `app.redis.tls.caFile` (or
//! the system roots) and, when configured, a client certificate.
//!
//! The files are read and parsed here, once, so that a missing or broken
//! file fails the start naming its key instead of every connection failing
//! inside the client.

use std::path::Path;

use redis::{Client, ClientTlsConfig, TlsCertificates};
use transport::tls_client;

use super::endpoint::{Endpoint, unavailable};
use crate::{StoreError, TlsFiles};

pub(super) fn client(endpoint: &Endpoint, files: &TlsFiles) -> Result<Client, StoreError> {
    let invalid = |error: redis::RedisError| endpoint.error(format!("invalid URL: {error}"));
    if !endpoint.tls {
        if files.ca_file.is_some() || files.cert_file.is_some() {
            return Err(endpoint.error(
                "app.redis.tls.* is set but app.redis.url is a plain redis:// URL; \
                 use rediss:// for TLS",
            ));
        }
        return Client::open(endpoint.url.as_str()).map_err(invalid);
    }
    let root_cert = match &files.ca_file {
        Some(path) => Some(pem("app.redis.tls.caFile", path, Kind::Certificates)?),
        None => None,
    };
    let client_tls = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: pem("app.redis.tls.certFile", cert, Kind::Certificates)?,
            client_key: pem("app.redis.tls.keyFile", key, Kind::Key)?,
        }),
        (None, None) => None,
        _ => {
            return Err(unavailable(
                "app.redis.tls.certFile and app.redis.tls.keyFile go together".to_owned(),
            ));
        }
    };
    let certificates = TlsCertificates {
        client_tls,
        root_cert,
    };
    Client::build_with_tls(endpoint.url.as_str(), certificates).map_err(invalid)
}

enum Kind {
    Certificates,
    Key,
}

/// The file's bytes, once checked to hold what `key` promises.
fn pem(key: &str, path: &Path, kind: Kind) -> Result<Vec<u8>, StoreError> {
    let checked = match kind {
        Kind::Certificates => tls_client::read_certificates(path).map(drop),
        Kind::Key => tls_client::read_private_key(path).map(drop),
    };
    checked
        .and_then(|()| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .map_err(|error| unavailable(format!("{key}: {error}")))
}
