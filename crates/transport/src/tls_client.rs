//! rustls client pieces shared by the proxy (TLS to backends) and the
//! cluster worker (HTTPS to leaders): the crypto provider, the system roots
//! loaded once, PEM files, the opt-in "trust all" verifier, and a readable
//! reason for a refused certificate.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::WantsClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The ring provider, named explicitly: `ClientConfig::builder()` would
/// panic if another dependency ever enabled a second provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A client config builder on [`provider`] with rustls's safe protocol
/// versions (TLS 1.2 and 1.3).
pub fn builder_with_roots(
    roots: impl Into<Arc<RootCertStore>>,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots))
}

/// A config that accepts any server certificate (Otoroshi's `trust_all`):
/// the handshake signatures are still checked, so the peer must hold the
/// key of the certificate it shows, but who signed it is not.
pub fn trust_all_config() -> Result<ClientConfig, String> {
    Ok(trust_all_builder()?.with_no_client_auth())
}

/// [`trust_all_config`] before the client certificate is chosen, for
/// callers that present one (PostgreSQL's `sslmode=require` with `sslcert`).
pub fn trust_all_builder() -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider()))))
}

/// The operating system's trusted roots, read once per process (a file
/// read of a few hundred certificates: never on every connection). Empty
/// when none can be loaded; the reasons are logged once.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::warn!(%error, "some system root certificates could not be loaded");
            }
            let mut roots = RootCertStore::empty();
            let (_, ignored) = roots.add_parsable_certificates(loaded.certs);
            if ignored > 0 {
                tracing::warn!(
                    ignored,
                    "system root certificates that do not parse were ignored"
                );
            }
            Arc::new(roots)
        })
        .clone()
}

/// Every certificate of a PEM file; an error (naming the file) when it
/// cannot be read or holds none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::Io(e) => format!("cannot read {}: {e}", path.display()),
        e => format!("{}: no usable PEM private key: {e}", path.display()),
    })
}

/// If a certificate was refused somewhere in `error`'s causes, what was
/// wrong with it, e.g. `UnknownIssuer` or `Expired`.
pub fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = as_rustls(e) {
            return match found {
                rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
                _ => None,
            };
        }
        current = e.source();
    }
    None
}

/// If the peer ended the handshake with an alert somewhere in `error`'s
/// causes (e.g. it did not accept our client certificate), which alert.
pub fn alert_received(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(rustls::Error::AlertReceived(alert)) = as_rustls(e) {
            return Some(format!("{alert:?}"));
        }
        current = e.source();
    }
    None
}

/// `io::Error::source` skips the error it wraps, and hyper-rustls wraps
/// tokio-rustls's `io::Error` in another one: those are opened by hand.
fn as_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: &(dyn std::error::Error + 'static) = error;
    // A few levels at most; the bound only guards against a cycle.
    for _ in 0..8 {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        let inner = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        current = inner;
    }
    None
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
