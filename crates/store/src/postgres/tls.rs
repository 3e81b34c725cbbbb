//! TLS to PostgreSQL on rustls: the client configuration each `sslmode`
//! calls for, and the glue the driver needs (`MakeTlsConnect`).
//!
//! The glue is written here rather than taken from `tokio-postgres-rustls`:
//! it is a few lines over `tokio-rustls`, which the workspace already has,
//! and `verify-ca` needs a verifier of our own anyway. Channel binding
//! (`SCRAM-SHA-256-PLUS`) is not offered: SCRAM without it still works over
//! TLS, `channel_binding=require` does not.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::TlsConnector;
use transport::tls_client;

use super::errors::unavailable;
use super::tls_options::{Mode, Roots, TlsOptions};
use crate::StoreError;

/// The connector every connection of a store uses. With `sslmode=disable`
/// the driver never calls it.
#[derive(Clone)]
pub(crate) struct PgTls {
    config: Arc<ClientConfig>,
    /// Set when a handshake of this connector completes: with
    /// `sslmode=prefer` only the server's answer says whether the
    /// connection is encrypted, and the driver does not tell.
    encrypted: Option<Arc<AtomicBool>>,
}

impl PgTls {
    /// The rustls configuration `options` call for: roots and client
    /// certificate read now, so that a missing file fails the start, not
    /// every connection.
    pub(crate) fn new(options: &TlsOptions) -> Result<PgTls, StoreError> {
        let mode = options.effective_mode();
        let config = match mode {
            Mode::Disable | Mode::Prefer | Mode::Require => {
                // libpq's meaning: encrypted, nobody checked.
                let builder = tls_client::trust_all_builder().map_err(unavailable)?;
                client_auth(builder, options)?
            }
            Mode::VerifyCa | Mode::VerifyFull => {
                let roots = roots(options.root_cert.as_ref())?;
                let verifier = WebPkiServerVerifier::builder_with_provider(
                    Arc::clone(&roots),
                    tls_client::provider(),
                )
                .build()
                .map_err(|error| unavailable(format!("TLS setup: {error}")))?;
                let builder = tls_client::builder_with_roots(roots).map_err(unavailable)?;
                let mut config = client_auth(builder, options)?;
                if mode == Mode::VerifyCa {
                    config
                        .dangerous()
                        .set_certificate_verifier(Arc::new(ChainOnly(verifier)));
                }
                config
            }
        };
        Ok(PgTls {
            config: Arc::new(config),
            encrypted: None,
        })
    }

    /// This connector for one connection, and a flag that its TLS
    /// handshake sets once done (it stays false on a plain connection).
    pub(crate) fn observed(&self) -> (PgTls, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        let tls = PgTls {
            config: Arc::clone(&self.config),
            encrypted: Some(Arc::clone(&flag)),
        };
        (tls, flag)
    }
}

fn roots(root_cert: Option<&Roots>) -> Result<Arc<RootCertStore>, StoreError> {
    let path = match root_cert {
        None | Some(Roots::System) => return Ok(tls_client::system_roots()),
        Some(Roots::File(path)) => path,
    };
    let certificates = tls_client::read_certificates(path)
        .map_err(|error| unavailable(format!("sslrootcert: {error}")))?;
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        return Err(unavailable(format!(
            "sslrootcert: {}: none of its {ignored} certificates can be a trust root",
            path.display()
        )));
    }
    Ok(Arc::new(roots))
}

fn client_auth(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    options: &TlsOptions,
) -> Result<ClientConfig, StoreError> {
    match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let chain = tls_client::read_certificates(cert)
                .map_err(|error| unavailable(format!("sslcert: {error}")))?;
            let key = tls_client::read_private_key(key)
                .map_err(|error| unavailable(format!("sslkey: {error}")))?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                unavailable(format!(
                    "sslcert/sslkey: unusable client certificate: {error}"
                ))
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `verify-ca`: the chain must lead to a trusted root and be valid now; the
/// name in the certificate is not compared with the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last, so a name
        // mismatch means everything else passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<PgTlsConnect> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{domain:?} is not a host name TLS can check"),
            )
        })?;
        Ok(PgTlsConnect {
            connector: TlsConnector::from(Arc::clone(&self.config)),
            name,
            encrypted: self.encrypted.clone(),
        })
    }
}

/// One connection's handshake.
pub(crate) struct PgTlsConnect {
    connector: TlsConnector,
    name: ServerName<'static>,
    encrypted: Option<Arc<AtomicBool>>,
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let stream = self.connector.connect(self.name, stream).await?;
            if let Some(encrypted) = &self.encrypted {
                encrypted.store(true, Ordering::Release);
            }
            Ok(PgTlsStream(stream))
        })
    }
}

/// The encrypted stream, as the driver wants it.
pub(crate) struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
