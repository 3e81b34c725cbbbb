//! The HTTPS listener's TLS side: the rustls server configuration (TLS 1.2
//! and 1.3, ALPN h2 then http/1.1, the certificate chosen per handshake from
//! the current state, optional client certificates) and the handshake of one
//! accepted connection under `https.handshakeTimeout`.

mod client_auth;
mod resolver;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use config::HttpsConfig;
use model::StateHandle;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use transport::conn::ConnInfo;

pub use resolver::StateResolver;

/// What the accept loop needs to turn a TCP connection into a TLS one.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl Tls {
    pub fn new(
        https: &HttpsConfig,
        client_auth: ClientAuthVerifier,
        state: Arc<StateHandle>,
        admin_host: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            acceptor: TlsAcceptor::from(server_config(client_auth, state, admin_host)?),
            handshake_timeout: https.handshake_timeout,
        })
    }

    /// The handshake of one connection. A client that stalls (half-open
    /// connections, slowloris on the handshake) is dropped after the timeout.
    pub async fn handshake(
        &self,
        stream: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, ConnInfo), String> {
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                // The verifier has already checked any certificate the
                // client presented against the CAs: present means verified.
                let client_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|chain| !chain.is_empty());
                Ok((
                    stream,
                    ConnInfo {
                        tls: true,
                        client_certificate,
                    },
                ))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no handshake within {} ms",
                self.handshake_timeout.as_millis()
            )),
        }
    }
}

/// The client-certificate side, built before anything else at start: a
/// missing or unusable `https.clientCAPath` (named in the error) must stop
/// the node before a first start creates its admin key, which is shown once.
pub struct ClientAuthVerifier {
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ClientCertVerifier>,
}

pub fn client_auth(https: &HttpsConfig) -> anyhow::Result<ClientAuthVerifier> {
    // The provider is named rather than taken from the process default: two
    // providers (ring, aws-lc) in the dependency graph would make the
    // default ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_auth::verifier(
        https.client_auth,
        https.client_ca_path.as_deref(),
        &provider,
    )?;
    Ok(ClientAuthVerifier { provider, verifier })
}

fn server_config(
    client_auth: ClientAuthVerifier,
    state: Arc<StateHandle>,
    admin_host: &str,
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(client_auth.provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("configuring TLS 1.2 and 1.3")?
        .with_client_cert_verifier(client_auth.verifier)
        .with_cert_resolver(Arc::new(StateResolver::new(state, admin_host)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
