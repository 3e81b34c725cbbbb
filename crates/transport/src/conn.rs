//! What the listener knows about the connection a request came on, carried
//! as a request extension: whether it was TLS (X-Forwarded-Proto, the
//! ForceHttpsTraffic redirect) and whether the client presented a verified
//! certificate (the cluster endpoints under `https.clientAuth`).

/// A request without this extension came over plain HTTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnInfo {
    pub tls: bool,
    /// A client certificate was presented and verified against
    /// `https.clientCAPath` during the handshake.
    pub client_certificate: bool,
}

impl ConnInfo {
    pub const PLAIN: ConnInfo = ConnInfo {
        tls: false,
        client_certificate: false,
    };

    pub fn of<B>(request: &http::Request<B>) -> ConnInfo {
        request
            .extensions()
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_default()
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}
