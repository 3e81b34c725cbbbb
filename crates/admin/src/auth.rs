//! Admin API authentication: an API key authorized on Otoroshi's
//! `admin-api-group`, sent as Basic auth (base64 with or without padding) or as
//! the `Otoroshi-Client-Id` / `Otoroshi-Client-Secret` headers. A failure never
//! says which part was wrong, and secrets are compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use model::apikey::{ROLE_METADATA, Role};
use subtle::ConstantTimeEq;

use crate::context::AdminContext;
use crate::error::AdminError;

const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Compared against when the client id is unknown, so that an unknown id and
/// a wrong secret take the same time.
const DECOY_SECRET: &[u8] = b"komainu-decoy-secret-komainu-decoy-secret-komainu-decoy-secret-x";

/// Credentials as sent by a client, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let (Some(client_id), Some(client_secret)) = (
        header("Otoroshi-Client-Id"),
        header("Otoroshi-Client-Secret"),
    ) {
        return Some(Credentials {
            client_id,
            client_secret,
        });
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = LENIENT_BASE64.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (client_id, client_secret) = decoded.split_once(':')?;
    Some(Credentials {
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
    })
}

/// Set as a request extension by the admin UI once it has checked a login
/// session (extensions cannot come from the network, unlike headers): the
/// request then needs no admin key.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    /// The admin user's name, or the client id of the admin key logged in with.
    pub subject: String,
    pub read_only: bool,
}

/// Middleware: lets the request through only with a valid admin key (or a
/// UI session grant); a read-only key may only read, a worker-role key may
/// only call the cluster endpoints a worker needs.
pub async fn require_admin(
    State(ctx): State<AdminContext>,
    request: Request,
    next: Next,
) -> Result<Response, AdminError> {
    let read_only = match request.extensions().get::<SessionGrant>() {
        Some(grant) => {
            check_writes(
                grant.read_only,
                &format!("admin '{}'", grant.subject),
                request.method(),
            )?;
            grant.read_only
        }
        None => authorize_call(
            &ctx.state.load(),
            request.headers(),
            request.method(),
            request.uri().path(),
        )?,
    };
    if !read_only {
        return Ok(next.run(request).await);
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    if crate::redact::forbidden_to_readers(&path) {
        return Err(AdminError::Forbidden(format!(
            "{path} holds every secret: read-only admins may not read it"
        )));
    }
    Ok(crate::redact::for_reader(&method, next.run(request).await).await)
}

/// The calls a worker makes to its leaders: pull the state (which also
/// registers it as a member) and push quotas and stats. Nothing else.
fn worker_may(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (&Method::GET | &Method::HEAD, "/api/cluster/state")
            | (&Method::PUT, "/api/cluster/quotas")
    )
}

fn check_writes(read_only: bool, who: &str, method: &Method) -> Result<(), AdminError> {
    let reading = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if read_only && !reading {
        return Err(AdminError::Forbidden(format!("{who} is read-only")));
    }
    Ok(())
}

/// The admin key these credentials name, if they are a valid admin key's
/// (enabled, not expired, right secret: compared in constant time) with the
/// full admin role. Worker-role keys are left out: they open no session and
/// call no admin endpoint.
pub fn admin_key<'a>(
    state: &'a model::State,
    credentials: &Credentials,
) -> Option<&'a std::sync::Arc<model::apikey::ApiKey>> {
    checked_key(state, credentials).filter(|k| k.role() == Role::Admin)
}

/// Any valid admin key these credentials name, whatever its role.
fn checked_key<'a>(
    state: &'a model::State,
    credentials: &Credentials,
) -> Option<&'a std::sync::Arc<model::apikey::ApiKey>> {
    let key = state.apikey(&credentials.client_id);
    let expected = key
        .map(|k| k.client_secret.as_bytes())
        .unwrap_or(DECOY_SECRET);
    let secret_ok: bool = expected.ct_eq(credentials.client_secret.as_bytes()).into();
    key.filter(|k| secret_ok && k.enabled && k.is_admin() && !k.expired(crate::now_ms()))
}

/// The check itself, against the keys of a state snapshot (a worker node
/// has no store, but it has the admin keys its leaders synced). Says
/// whether the key is read-only. No cluster endpoint is behind it, so a
/// worker-role key is refused.
pub fn authorize(
    state: &model::State,
    headers: &HeaderMap,
    method: &Method,
) -> Result<bool, AdminError> {
    authorize_call(state, headers, method, "")
}

/// [`authorize`] for a call on `path`: a worker-role key passes only on the
/// worker's own cluster endpoints (whatever its `readOnly`), and gets 403
/// elsewhere.
pub fn authorize_call(
    state: &model::State,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
) -> Result<bool, AdminError> {
    let credentials = credentials(headers).ok_or(AdminError::Unauthorized)?;
    let key = checked_key(state, &credentials).ok_or(AdminError::Unauthorized)?;
    if key.role() == Role::Worker {
        if worker_may(method, path) {
            return Ok(false);
        }
        return Err(AdminError::Forbidden(format!(
            "admin key '{}' has the worker role ({ROLE_METADATA}): it may only pull the cluster state and push quotas",
            key.client_id
        )));
    }
    check_writes(
        key.read_only,
        &format!("admin key '{}'", key.client_id),
        method,
    )?;
    Ok(key.read_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn basic_with_and_without_padding() {
        let padded = base64::engine::general_purpose::STANDARD.encode("ab:c");
        assert!(padded.ends_with('='));
        let expected = Some(Credentials {
            client_id: "ab".into(),
            client_secret: "c".into(),
        });
        assert_eq!(credentials(&basic(&format!("Basic {padded}"))), expected);
        assert_eq!(
            credentials(&basic(&format!("basic {}", padded.trim_end_matches('=')))),
            expected
        );
    }

    #[test]
    fn malformed_authorization_gives_nothing() {
        assert_eq!(credentials(&basic("Basic !!!")), None);
        assert_eq!(credentials(&basic("Bearer abc")), None);
        assert_eq!(credentials(&basic("Basic")), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("abc");
        assert_eq!(credentials(&basic(&format!("Basic {no_colon}"))), None);
    }
}
