//! Picks the server certificate per handshake from the CURRENT state, so a
//! certificate added through the admin API (or synced from a leader) is
//! served by the next handshake, without a restart or a listener reload.

use std::sync::Arc;

use model::StateHandle;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub struct StateResolver {
    state: Arc<StateHandle>,
    /// The default certificate is the admin host's: a client that sends no
    /// SNI (an IP address in the URL) or a name no certificate covers gets
    /// it, as Otoroshi does with its own auto-generated certificate.
    admin_host: String,
}

impl StateResolver {
    pub fn new(state: Arc<StateHandle>, admin_host: &str) -> Self {
        Self {
            state,
            admin_host: admin_host.to_ascii_lowercase(),
        }
    }

    /// The certificate for `server_name`, else the admin host's, else none
    /// (rustls then fails the handshake with an alert).
    pub fn pick(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let state = self.state.load();
        server_name
            .and_then(|name| state.tls.resolve(Some(name)))
            .or_else(|| state.tls.resolve(Some(&self.admin_host)))
    }
}

impl std::fmt::Debug for StateResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateResolver")
            .field("admin_host", &self.admin_host)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for StateResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let picked = self.pick(client_hello.server_name());
        if picked.is_none() {
            tracing::debug!(
                sni = client_hello.server_name().unwrap_or(""),
                "no certificate for this name and none for the admin host"
            );
        }
        picked
    }
}
