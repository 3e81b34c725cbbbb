//! A TLS certificate in Otoroshi's shape (`pki.otoroshi.io/v1/certificates`):
//! a PEM chain (leaf first) and its PEM private key. The descriptive fields
//! (`subject`, `issuer`, `sans`, `from`, `to`, `serialNumber`) are read from
//! the leaf at normalize time, so what a client sends for them is ignored and
//! they always describe the chain actually stored.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ValidationErrors;
use crate::validate;

/// The JSON field that carries the private key: redacted by the admin API.
pub const PRIVATE_KEY_FIELD: &str = "privateKey";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// PEM certificates, leaf first.
    #[serde(default)]
    pub chain: String,
    /// PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub private_key: String,
    /// Id of the CA certificate entity that signed this one, if known.
    #[serde(default)]
    pub ca_ref: Option<String>,
    #[serde(default)]
    pub ca: bool,
    #[serde(default)]
    pub client: bool,
    #[serde(default)]
    pub self_signed: bool,
    // Derived from the leaf certificate; see `normalize`.
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub sans: Vec<String>,
    /// Not-before, ms since the Unix epoch.
    #[serde(default)]
    pub from: u64,
    /// Not-after, ms since the Unix epoch.
    #[serde(default)]
    pub to: u64,
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the leaf certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub from: u64,
    pub to: u64,
    pub serial_number: String,
}

impl Certificate {
    /// Fills defaults, checks the chain and key, and recomputes the derived
    /// fields from the leaf.
    pub fn normalize(&mut self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validate::id(&mut errors, "id", &self.id);
        if let Some(ca_ref) = &self.ca_ref {
            validate::id(&mut errors, "caRef", ca_ref);
        }
        let chain = match parse_chain(&self.chain) {
            Ok(chain) => Some(chain),
            Err(message) => {
                errors.push("chain", message);
                None
            }
        };
        let key = match parse_key(&self.private_key) {
            _ if crate::secret::is_mask(&self.private_key) => {
                errors.push(PRIVATE_KEY_FIELD, crate::secret::REFUSED);
                None
            }
            Ok(key) => Some(key),
            Err(message) => {
                errors.push(PRIVATE_KEY_FIELD, message);
                None
            }
        };
        if let Some(chain) = &chain {
            match leaf_info(&chain[0]) {
                Ok(info) => {
                    if self.name.trim().is_empty() {
                        self.name = info
                            .sans
                            .first()
                            .cloned()
                            .unwrap_or_else(|| self.id.clone());
                    }
                    self.subject = info.subject;
                    self.issuer = info.issuer;
                    self.sans = info.sans;
                    self.from = info.from;
                    self.to = info.to;
                    self.serial_number = info.serial_number;
                }
                Err(message) => errors.push("chain", message),
            }
            if let Some(key) = &key
                && let Err(message) = key_matches(key.as_ref(), &chain[0])
            {
                errors.push(PRIVATE_KEY_FIELD, message);
            }
        }
        if self.name.trim().is_empty() {
            self.name = self.id.clone();
        }
        // Computed by the admin API at read time; a stored copy would go stale.
        self.extra.remove("expired");
        errors.into_result()
    }

    /// The chain and signing key, ready for rustls. Fails with the reason when
    /// the stored entity no longer loads.
    pub fn certified_key(&self) -> Result<CertifiedKey, String> {
        let chain = parse_chain(&self.chain)?;
        let key = parse_key(&self.private_key)?;
        key_matches(key.as_ref(), &chain[0])?;
        Ok(CertifiedKey::new(chain, key))
    }

    /// Whether this certificate would be served for `host`: an exact SAN or a
    /// `*.` wildcard covering exactly one left label (case-insensitive).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let parent = host.split_once('.').map(|(_, parent)| parent);
        self.sans.iter().any(|san| {
            let san = san.trim_end_matches('.').to_ascii_lowercase();
            match san.strip_prefix("*.") {
                Some(suffix) => parent == Some(suffix),
                None => san == host,
            }
        })
    }

    /// The DER certificates of the chain, leaf first.
    pub fn chain_der(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        parse_chain(&self.chain)
    }
}

/// Parses a PEM chain: at least one certificate, each a valid X.509.
pub fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err("is not a PEM certificate: no CERTIFICATE block found".to_string());
    }
    for (i, der) in chain.iter().enumerate() {
        X509Certificate::from_der(der)
            .map_err(|e| format!("is not a PEM certificate: block {i} is not X.509: {e}"))?;
    }
    Ok(chain)
}

/// Parses a PEM private key into a rustls signing key.
pub fn parse_key(pem: &str) -> Result<Arc<dyn SigningKey>, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("is not a PEM private key: {e}"))?;
    any_supported_type(&der).map_err(|e| format!("is not a PEM private key: {e}"))
}

fn key_matches(key: &dyn SigningKey, leaf: &CertificateDer<'_>) -> Result<(), String> {
    const MISMATCH: &str = "does not match the certificate (chain[0])";
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| MISMATCH.to_string())?;
    match key.public_key() {
        Some(spki) if spki.as_ref() == cert.public_key().raw => Ok(()),
        _ => Err(MISMATCH.to_string()),
    }
}

/// Reads subject, issuer, SANs, validity and serial from one DER certificate.
pub fn leaf_info(der: &CertificateDer<'_>) -> Result<LeafInfo, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("is not a PEM certificate: not X.509: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(dns) => sans.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if sans.is_empty() {
        // Old certificates name their host only in the subject CN.
        if let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
        {
            sans.push(cn.to_string());
        }
    }
    let validity = cert.validity();
    Ok(LeafInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        from: seconds_to_ms(validity.not_before.timestamp()),
        to: seconds_to_ms(validity.not_after.timestamp()),
        serial_number: cert.tbs_certificate.serial.to_string(),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn seconds_to_ms(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or(0).saturating_mul(1000)
}
