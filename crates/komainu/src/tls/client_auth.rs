//! `https.clientAuth`: how the listener asks for client certificates.
//! A bad CA bundle stops the node at start, naming the key: starting with no
//! trusted CA would refuse every worker (need) or silently accept none (want).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use config::ClientAuth;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoClientAuth, WebPkiClientVerifier};

/// The verifier for `mode`, trusting the CAs of the PEM bundle at `ca_path`.
pub fn verifier(
    mode: ClientAuth,
    ca_path: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    if mode == ClientAuth::None {
        return Ok(Arc::new(NoClientAuth));
    }
    let path = ca_path.ok_or_else(|| {
        anyhow!("https.clientCAPath is required when https.clientAuth is want or need")
    })?;
    let roots =
        load_roots(path).with_context(|| format!("https.clientCAPath = {}", path.display()))?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    // `want`: a client may present no certificate, but one it presents must
    // chain to the CAs (an invalid one still fails the handshake).
    let builder = match mode {
        ClientAuth::Want => builder.allow_unauthenticated(),
        _ => builder,
    };
    builder
        .build()
        .map_err(|e| anyhow!("https.clientCAPath: unusable CA bundle: {e}"))
}

fn load_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let bytes = std::fs::read(path).context("cannot read the file")?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("not a PEM bundle: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(anyhow!(
            "no usable CA certificate in the file ({ignored} unparsable)"
        ));
    }
    Ok(roots)
}
