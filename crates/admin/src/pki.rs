//! `POST /api/pki/certs` and `POST /api/pki/cas`: generate a key pair and a
//! certificate (self-signed, or signed by a stored CA certificate) and store
//! it as a certificate entity, and the self-signed certificate a fresh node
//! makes for its admin host so that HTTPS works from the first start.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use model::Kind;
use model::certificate::Certificate;
use model::normalize::{decode_value, normalize};
use model::{FieldError, ValidationErrors};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Condition, Op, Store, StoreError};

use crate::context::AdminContext;
use crate::entities;
use crate::error::{AdminError, AdminResult};

/// Id of the certificate a node generates for its admin host.
pub const ADMIN_CERTIFICATE_ID: &str = "komainu-admin-certificate";
/// Id of the certificate a node generates for its admin UI host.
pub const UI_CERTIFICATE_ID: &str = "komainu-ui-certificate";
const DEFAULT_DAYS: u32 = 365;
/// 100 years: beyond that a typo is likelier than intent.
const MAX_DAYS: u32 = 36_500;
const DAY_MS: u64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    hosts: Vec<String>,
    subject: Option<String>,
    days: Option<u32>,
    ca_ref: Option<String>,
    #[serde(default)]
    client: bool,
}

/// Generates and stores a certificate (`ca` for `/api/pki/cas`); answers the
/// entity as `POST /api/certificates` would, without its private key.
pub async fn generate(
    ctx: &AdminContext,
    body: Value,
    ca: bool,
) -> AdminResult<(StatusCode, Json<Value>)> {
    let request: GenerateRequest = decode_value(body)?;
    let issuer = match &request.ca_ref {
        Some(id) => Some(load_ca(ctx, id).await?),
        None => None,
    };
    let entity = build(&request, ca, issuer.as_ref())?;
    entities::create(ctx, Kind::Certificate, entity).await
}

/// Makes sure some stored server certificate covers `admin_host`, generating a
/// self-signed one when none does. Returns whether it created one.
pub async fn ensure_admin_certificate(
    store: &Arc<dyn Store>,
    admin_host: &str,
) -> Result<bool, AdminError> {
    ensure_host_certificate(
        store,
        ADMIN_CERTIFICATE_ID,
        "komainu admin host (self-signed)",
        admin_host,
    )
    .await
}

/// The same for the admin UI's host, under an id of its own.
pub async fn ensure_ui_certificate(
    store: &Arc<dyn Store>,
    ui_host: &str,
) -> Result<bool, AdminError> {
    ensure_host_certificate(
        store,
        UI_CERTIFICATE_ID,
        "komainu admin UI host (self-signed)",
        ui_host,
    )
    .await
}

async fn ensure_host_certificate(
    store: &Arc<dyn Store>,
    id: &str,
    name: &str,
    admin_host: &str,
) -> Result<bool, AdminError> {
    let mut covered = false;
    store::scan_each(
        store.as_ref(),
        Kind::Certificate.store_key(),
        500,
        |_, bytes| {
            covered = serde_json::from_slice::<Certificate>(bytes)
                .is_ok_and(|c| !c.ca && !c.client && c.covers(admin_host));
            Ok::<_, StoreError>(if covered {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        },
    )
    .await?;
    if covered {
        return Ok(false);
    }
    let request = GenerateRequest {
        id: Some(id.to_string()),
        name: Some(name.to_string()),
        description: "generated at first start; replace it with a certificate clients trust"
            .to_string(),
        hosts: vec![admin_host.to_string()],
        subject: None,
        days: Some(DEFAULT_DAYS),
        ca_ref: None,
        client: false,
    };
    let entity = normalize(Kind::Certificate, build(&request, false, None)?, None)?;
    let value =
        serde_json::to_vec(&entity.value).map_err(|e| AdminError::Internal(e.to_string()))?;
    let op = Op::Put {
        kind: Kind::Certificate.store_key().into(),
        id: entity.id,
        value,
        condition: Condition::MustNotExist,
    };
    match store.write(vec![op]).await {
        Ok(_) => Ok(true),
        // Another node sharing the datastore made it first, or an older one
        // (for another admin host) is kept: never overwrite a certificate.
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The CA entity named by `caRef`, which must be a CA with its private key.
async fn load_ca(ctx: &AdminContext, id: &str) -> AdminResult<Certificate> {
    let bad = |message: String| AdminError::from(ValidationErrors::single("caRef", message));
    let Some(bytes) = ctx.store.get(Kind::Certificate.store_key(), id).await? else {
        return Err(bad(format!("no certificate '{id}'")));
    };
    let cert: Certificate = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("certificate '{id}' does not decode: {e}")))?;
    if !cert.ca {
        return Err(bad(format!("certificate '{id}' is not a CA (ca: false)")));
    }
    if cert.private_key.trim().is_empty() {
        return Err(bad(format!("certificate '{id}' has no private key")));
    }
    Ok(cert)
}

/// The certificate entity (JSON, not yet normalized) for `request`.
fn build(request: &GenerateRequest, ca: bool, issuer: Option<&Certificate>) -> AdminResult<Value> {
    let mut errors = ValidationErrors::default();
    let days = request.days.unwrap_or(DEFAULT_DAYS);
    if days == 0 || days > MAX_DAYS {
        errors.push("days", format!("must be between 1 and {MAX_DAYS}"));
    }
    if !ca && request.hosts.is_empty() && request.subject.is_none() {
        errors.push("hosts", "must name at least one host (or give a subject)");
    }
    let mut params = match CertificateParams::new(request.hosts.clone()) {
        Ok(params) => params,
        Err(e) => {
            errors.push("hosts", format!("invalid host name: {e}"));
            CertificateParams::default()
        }
    };
    let default_cn = request
        .hosts
        .first()
        .or(request.name.as_ref())
        .cloned()
        .unwrap_or_else(|| if ca { "komainu CA" } else { "komainu" }.to_string());
    match parse_subject(request.subject.as_deref(), &default_cn) {
        Ok(dn) => params.distinguished_name = dn,
        Err(message) => errors.push("subject", message),
    }
    errors.into_result()?;

    let now = crate::now_ms();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    // A minute of slack for clocks slightly behind ours.
    params.not_before = epoch + Duration::from_millis(now.saturating_sub(60_000));
    params.not_after = epoch + Duration::from_millis(now + u64::from(days) * DAY_MS);
    params.serial_number = Some(SerialNumber::from_slice(
        model::id::random_token(16).as_bytes(),
    ));
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if request.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
    }

    let internal = |e: rcgen::Error| AdminError::Internal(format!("generating a certificate: {e}"));
    let key = KeyPair::generate().map_err(internal)?;
    let chain = match issuer {
        None => params.self_signed(&key).map_err(internal)?.pem(),
        Some(ca_cert) => {
            let bad_ca = |e: rcgen::Error| {
                AdminError::from(ValidationErrors(vec![FieldError {
                    path: "caRef".into(),
                    message: format!("certificate '{}' cannot sign: {e}", ca_cert.id),
                }]))
            };
            let ca_key = KeyPair::from_pem(&ca_cert.private_key).map_err(bad_ca)?;
            let ca_issuer = Issuer::from_ca_cert_pem(&ca_cert.chain, ca_key).map_err(bad_ca)?;
            params.use_authority_key_identifier_extension = true;
            let leaf = params.signed_by(&key, &ca_issuer).map_err(internal)?;
            // Leaf first, then the CA's own chain, so clients can build the path.
            format!("{}{}", leaf.pem(), ca_cert.chain)
        }
    };
    let mut entity = json!({
        "description": request.description,
        "chain": chain,
        "privateKey": key.serialize_pem(),
        "caRef": request.ca_ref,
        "ca": ca,
        "client": request.client,
        "selfSigned": issuer.is_none(),
    });
    if let Some(id) = &request.id {
        entity["id"] = json!(id);
    }
    if let Some(name) = &request.name {
        entity["name"] = json!(name);
    }
    Ok(entity)
}

/// `CN=a, O=b, OU=c, C=FR, ST=d, L=e` (any order); without one, `CN=<default>`.
fn parse_subject(subject: Option<&str>, default_cn: &str) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    let Some(subject) = subject else {
        dn.push(DnType::CommonName, default_cn);
        return Ok(dn);
    };
    for part in subject.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((attr, value)) = part.split_once('=') else {
            return Err(format!("'{part}' is not ATTRIBUTE=value"));
        };
        let ty = match attr.trim().to_ascii_uppercase().as_str() {
            "CN" => DnType::CommonName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            other => {
                return Err(format!(
                    "unsupported attribute '{other}' (use CN, O, OU, C, ST, L)"
                ));
            }
        };
        dn.push(ty, value.trim());
    }
    if dn.iter().next().is_none() {
        return Err("must not be empty".to_string());
    }
    Ok(dn)
}
