//! The certificates of a state, ready for the TLS handshake: signing keys
//! built once per state (not per connection) and indexed by SAN, exact names
//! and `*.` wildcards apart.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::certificate::Certificate;

#[derive(Debug, Clone)]
struct Served {
    key: Arc<CertifiedKey>,
    from: u64,
    to: u64,
}

#[derive(Debug, Default)]
pub struct TlsIndex {
    /// Lower-cased exact SAN → candidates.
    exact: HashMap<String, Vec<Served>>,
    /// Lower-cased wildcard suffix (`example.com` for `*.example.com`) → candidates.
    wildcard: HashMap<String, Vec<Served>>,
    /// Every certificate entity whose chain parses, by id.
    chains: HashMap<String, Vec<CertificateDer<'static>>>,
    /// (id, name, to) of every certificate entity.
    validity: Vec<(String, String, u64)>,
}

impl TlsIndex {
    /// Builds the index. A certificate that does not load is left out and
    /// reported in the second element (id, reason), never failing the whole
    /// index: one bad entity must not take TLS down for every host.
    pub fn build<'a>(
        certificates: impl IntoIterator<Item = &'a Certificate>,
    ) -> (Self, Vec<(String, String)>) {
        let mut index = TlsIndex::default();
        let mut skipped = Vec::new();
        for cert in certificates {
            index
                .validity
                .push((cert.id.clone(), cert.name.clone(), cert.to));
            match cert.chain_der() {
                Ok(chain) => {
                    index.chains.insert(cert.id.clone(), chain);
                }
                Err(reason) => {
                    skipped.push((cert.id.clone(), reason));
                    continue;
                }
            }
            if cert.ca || cert.client {
                continue;
            }
            let key = match cert.certified_key() {
                Ok(key) => Arc::new(key),
                Err(reason) => {
                    skipped.push((cert.id.clone(), reason));
                    continue;
                }
            };
            let served = Served {
                key,
                from: cert.from,
                to: cert.to,
            };
            for san in &cert.sans {
                let san = san.trim_end_matches('.').to_ascii_lowercase();
                match san.strip_prefix("*.") {
                    Some(suffix) => index
                        .wildcard
                        .entry(suffix.to_string())
                        .or_default()
                        .push(served.clone()),
                    None => index.exact.entry(san).or_default().push(served.clone()),
                }
            }
        }
        index.validity.sort();
        (index, skipped)
    }

    /// The certificate to present for an SNI name: an exact SAN match first,
    /// then a wildcard covering exactly one left label. Among candidates, one
    /// valid now wins, then the one expiring last.
    pub fn resolve(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let name = server_name?.trim_end_matches('.').to_ascii_lowercase();
        if let Some(found) = self.exact.get(&name).and_then(|c| best(c)) {
            return Some(found);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).and_then(|c| best(c))
    }

    /// The DER chain of any certificate entity, for use as trusted roots.
    pub fn chain(&self, id: &str) -> Option<Vec<CertificateDer<'static>>> {
        self.chains.get(id).cloned()
    }

    /// (id, name, to) of the certificates expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> Vec<(String, String, u64)> {
        self.validity
            .iter()
            .filter(|(_, _, to)| *to <= now_ms)
            .cloned()
            .collect()
    }

    /// How many certificate entities the index was built from.
    pub fn len(&self) -> usize {
        self.validity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validity.is_empty()
    }
}

fn best(candidates: &[Served]) -> Option<Arc<CertifiedKey>> {
    let now = now_ms();
    candidates
        .iter()
        .max_by_key(|c| (c.from <= now && now < c.to, c.to))
        .map(|c| c.key.clone())
}

use crate::clock::now_ms;
