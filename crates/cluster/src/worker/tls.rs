//! The TLS client config for `https://` leader URLs, from `cluster.mtls.*`:
//! the roots are the PEM bundle `trustedCAPath` when set (only those: a
//! private cluster CA), else the system roots; `certPath` + `keyPath` are
//! presented as a client certificate (mutual TLS). Built once at start, so
//! a bad file stops the worker there rather than failing every sync.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use transport::tls_client;

/// `cluster.mtls.*` as configured.
#[derive(Debug, Clone, Default)]
pub struct LeaderTlsFiles {
    pub trusted_ca_path: Option<PathBuf>,
    pub cert_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
}

/// The config for calls to the leaders; `None` when no leader URL is
/// `https://` and no `cluster.mtls.*` file is set (plain HTTP only, and
/// nothing to load). Errors name the configuration key and the file.
pub fn leader_tls(
    files: &LeaderTlsFiles,
    leader_urls: &[String],
) -> Result<Option<Arc<ClientConfig>>, String> {
    let https = leader_urls
        .iter()
        .any(|u| u.trim().to_ascii_lowercase().starts_with("https://"));
    let any_file =
        files.trusted_ca_path.is_some() || files.cert_path.is_some() || files.key_path.is_some();
    if !https && !any_file {
        return Ok(None);
    }
    let roots = match &files.trusted_ca_path {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in tls_client::read_certificates(path)
                .map_err(|e| format!("cluster.mtls.trustedCAPath: {e}"))?
            {
                roots.add(cert).map_err(|e| {
                    format!(
                        "cluster.mtls.trustedCAPath: {}: a certificate cannot be a root: {e}",
                        path.display()
                    )
                })?;
            }
            Arc::new(roots)
        }
        None => tls_client::system_roots(),
    };
    if https && roots.is_empty() {
        return Err(
            "a leader URL is https:// but no trusted root could be loaded: no system \
                    root certificates found; set cluster.mtls.trustedCAPath"
                .to_string(),
        );
    }
    let builder = tls_client::builder_with_roots(roots)?;
    let config = match (&files.cert_path, &files.key_path) {
        (Some(cert_path), Some(key_path)) => {
            let chain = tls_client::read_certificates(cert_path)
                .map_err(|e| format!("cluster.mtls.certPath: {e}"))?;
            let key = tls_client::read_private_key(key_path)
                .map_err(|e| format!("cluster.mtls.keyPath: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "cluster.mtls.certPath/keyPath: {} and {} do not make a client certificate: {e}",
                    cert_path.display(),
                    key_path.display()
                )
            })?
        }
        // The configuration checks refuse one without the other.
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(
                "cluster.mtls.certPath and cluster.mtls.keyPath must be set together".to_string(),
            );
        }
    };
    // No ALPN set here: hyper-rustls sets it from the enabled versions
    // (and refuses a config that already has one).
    Ok(Some(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn plain_leaders_need_no_tls() {
        let urls = vec!["http://127.0.0.1:8091".to_string()];
        assert!(
            leader_tls(&LeaderTlsFiles::default(), &urls)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unreadable_files_name_the_key_and_the_file() {
        let urls = vec!["https://leader:8443".to_string()];
        let files = LeaderTlsFiles {
            trusted_ca_path: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..LeaderTlsFiles::default()
        };
        let error = leader_tls(&files, &urls).unwrap_err();
        assert!(error.contains("cluster.mtls.trustedCAPath"), "{error}");
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let files = LeaderTlsFiles {
            trusted_ca_path: Some(junk.clone()),
            ..LeaderTlsFiles::default()
        };
        let error = leader_tls(&files, &urls).unwrap_err();
        assert!(error.contains("junk.pem"), "{error}");
    }
}
