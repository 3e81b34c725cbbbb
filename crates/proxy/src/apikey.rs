//! Finding and checking the API key of a proxied request (routes with the
//! `ApikeyCalls` plugin).
//!
//! Credentials are looked for in Otoroshi's order:
//!
//! 1. **Client id alone** ([`KeySource::ClientIdOnly`]): header `x-api-key`,
//!    else query parameter `apikey`. Taken only when the key it names exists
//!    and has `allowClientIdOnly`; otherwise the search goes on (the header
//!    may mean something else to the backend), and if nothing else is found
//!    the request fails with [`KeyError::Invalid`]. `Otoroshi-Client-Id`
//!    alone is *not* client-id-only: it needs its secret.
//! 2. **Headers** ([`KeySource::Headers`]): `Otoroshi-Client-Id` +
//!    `Otoroshi-Client-Secret`.
//! 3. **Bearer** ([`KeySource::Bearer`]): `Authorization: Bearer <JWT>`,
//!    HS256-signed with the key's client secret, the client id in the
//!    `clientId`, `client_id`, `cid` or `iss` claim (first found; Otoroshi
//!    puts it in `iss`); `exp` / `nbf` checked when present.
//! 4. **Basic** ([`KeySource::Basic`]): `Authorization: Basic
//!    base64(clientId:clientSecret)`, padding optional. Client ids may
//!    contain `:`, so when the text has several colons the first split whose
//!    left side names a known key is used.
//!
//! The first source present decides (except a refused client-id-only, see
//! above): a wrong secret there is [`KeyError::Invalid`], the next sources
//! are not tried. Secrets are compared in constant time, and an unknown
//! client id costs the same comparison (or HMAC) as a wrong secret. Only a
//! client that proved the key learns it is disabled or expired. An expired
//! or not-yet-valid *token* is `Invalid` (the key itself is fine);
//! `Expired` is the key's `validUntil`.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName, StatusCode, header};
use model::State;
use model::apikey::ApiKey;
use model::route::Route;
use subtle::ConstantTimeEq;

use crate::jwt;

/// Client id alone (when the key allows it).
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
/// Query parameter carrying the client id alone (when the key allows it).
pub const API_KEY_QUERY_PARAM: &str = "apikey";
pub const CLIENT_ID_HEADER: HeaderName = HeaderName::from_static("otoroshi-client-id");
pub const CLIENT_SECRET_HEADER: HeaderName = HeaderName::from_static("otoroshi-client-secret");

const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checked against when the client id is unknown, so that an unknown id and
/// a wrong secret take the same time.
const DECOY_SECRET: &[u8] = b"komainu-decoy-secret-komainu-decoy-secret-komainu-decoy-secret-x";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    ClientIdOnly,
    Headers,
    Bearer,
    Basic,
}

/// Credentials as found in a request, not checked yet (for a bearer token,
/// the client id it claims and no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub source: KeySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no API key in the request")]
    Missing,
    #[error("invalid API key")]
    Invalid,
    #[error("API key disabled")]
    Disabled,
    #[error("API key expired")]
    Expired,
    #[error("API key not authorized on this route")]
    NotAuthorized,
}

impl KeyError {
    /// 401 for every failure to authenticate, 403 for a valid key that is
    /// not authorized on the route.
    pub fn status(&self) -> StatusCode {
        match self {
            KeyError::NotAuthorized => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Which credential sources are looked at (the ApikeyCalls plugin's
/// `extractors`); a source switched off is as if absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    pub client_id: bool,
    pub headers: bool,
    pub bearer: bool,
    pub basic: bool,
}

impl Sources {
    pub const ALL: Sources = Sources {
        client_id: true,
        headers: true,
        bearer: true,
        basic: true,
    };
}

/// Authenticates the request's API key and checks it may call `route`.
pub fn check(
    headers: &HeaderMap,
    query: Option<&str>,
    state: &State,
    route: &Route,
    now_ms: u64,
) -> Result<Arc<ApiKey>, KeyError> {
    check_from(headers, query, state, route, now_ms, Sources::ALL)
}

/// [`check`], looking only at `sources`.
pub fn check_from(
    headers: &HeaderMap,
    query: Option<&str>,
    state: &State,
    route: &Route,
    now_ms: u64,
    sources: Sources,
) -> Result<Arc<ApiKey>, KeyError> {
    let (key, _) = authenticate_from(headers, query, state, now_ms, sources)?;
    if !key.enabled {
        return Err(KeyError::Disabled);
    }
    if key.expired(now_ms) {
        return Err(KeyError::Expired);
    }
    if !key.authorizes(&route.id, &route.groups) {
        return Err(KeyError::NotAuthorized);
    }
    Ok(key)
}

/// Finds the key and proves the client holds it (secret or signature); does
/// not look at `enabled`, `validUntil` or authorizations.
pub fn authenticate(
    headers: &HeaderMap,
    query: Option<&str>,
    state: &State,
    now_ms: u64,
) -> Result<(Arc<ApiKey>, KeySource), KeyError> {
    authenticate_from(headers, query, state, now_ms, Sources::ALL)
}

fn authenticate_from(
    headers: &HeaderMap,
    query: Option<&str>,
    state: &State,
    now_ms: u64,
    sources: Sources,
) -> Result<(Arc<ApiKey>, KeySource), KeyError> {
    let found = find(headers, query, state, sources);
    match &found {
        Found::Nothing { refused: false } => Err(KeyError::Missing),
        Found::Nothing { refused: true } => Err(KeyError::Invalid),
        Found::ClientIdOnly(key) => Ok((Arc::clone(key), KeySource::ClientIdOnly)),
        Found::Pair { .. } | Found::Basic { .. } => {
            let (client_id, secret, source) = found.pair().ok_or(KeyError::Invalid)?;
            let key = state.apikey(client_id);
            let expected = key.map_or(DECOY_SECRET, |k| k.client_secret.as_bytes());
            let matches: bool = expected.ct_eq(secret.as_bytes()).into();
            match key {
                Some(key) if matches => Ok((Arc::clone(key), source)),
                _ => Err(KeyError::Invalid),
            }
        }
        Found::Bearer(token) => {
            let token = token.as_ref().map_err(|_| KeyError::Invalid)?;
            let client_id = token.client_id().map_err(|_| KeyError::Invalid)?;
            let key = state.apikey(client_id);
            let secret = key.map_or(DECOY_SECRET, |k| k.client_secret.as_bytes());
            let verified = token.verify(secret, now_ms);
            match key {
                Some(key) if verified.is_ok() => Ok((Arc::clone(key), KeySource::Bearer)),
                _ => Err(KeyError::Invalid),
            }
        }
    }
}

/// The credentials [`check`] would use, as found (for logs and tools).
pub fn presented(headers: &HeaderMap, query: Option<&str>, state: &State) -> Option<Presented> {
    let found = find(headers, query, state, Sources::ALL);
    match &found {
        Found::Nothing { .. } => None,
        Found::ClientIdOnly(key) => Some(Presented {
            client_id: key.client_id.clone(),
            secret: None,
            source: KeySource::ClientIdOnly,
        }),
        Found::Pair { .. } | Found::Basic { .. } => {
            let (client_id, secret, source) = found.pair()?;
            Some(Presented {
                client_id: client_id.to_string(),
                secret: Some(secret.to_string()),
                source,
            })
        }
        Found::Bearer(token) => {
            let token = token.as_ref().ok()?;
            Some(Presented {
                client_id: token.client_id().ok()?.to_string(),
                secret: None,
                source: KeySource::Bearer,
            })
        }
    }
}

/// Removes every header an API key can travel in before the request goes
/// upstream: `x-api-key`, `Otoroshi-Client-Id`, `Otoroshi-Client-Secret`,
/// and `Authorization` when it is `Basic` or `Bearer`. (The `apikey` query
/// parameter is in the URI: see [`strip_query_credentials`].)
pub fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(API_KEY_HEADER);
    headers.remove(CLIENT_ID_HEADER);
    headers.remove(CLIENT_SECRET_HEADER);
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| split_scheme(v))
        .is_some_and(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer")
        });
    if credential {
        headers.remove(header::AUTHORIZATION);
    }
}

/// The query string without its `apikey` parameters; borrowed unchanged when
/// there are none. An empty result means "no query".
pub fn strip_query_credentials(query: &str) -> Cow<'_, str> {
    let is_key = |pair: &&str| pair.split('=').next() == Some(API_KEY_QUERY_PARAM);
    if !query.split('&').any(|pair| is_key(&pair)) {
        return Cow::Borrowed(query);
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_key(pair))
        .collect();
    Cow::Owned(kept.join("&"))
}

/// The first credentials present, in Otoroshi's order.
enum Found<'a> {
    /// `refused`: something was presented but cannot be used (a client id
    /// alone for a key that does not allow it, an unknown one, or
    /// `Otoroshi-Client-Id` without its secret).
    Nothing {
        refused: bool,
    },
    ClientIdOnly(&'a Arc<ApiKey>),
    Pair {
        client_id: &'a str,
        secret: &'a str,
        source: KeySource,
    },
    /// Decoded `clientId:clientSecret`, split at `split`.
    Basic {
        text: String,
        split: usize,
    },
    Bearer(Result<jwt::Unverified<'a>, jwt::JwtError>),
}

impl Found<'_> {
    /// Client id and secret of a pair (headers or Basic).
    fn pair(&self) -> Option<(&str, &str, KeySource)> {
        match self {
            Found::Pair {
                client_id,
                secret,
                source,
            } => Some((client_id, secret, *source)),
            Found::Basic { text, split } => Some((
                text.get(..*split)?,
                text.get(*split + 1..)?,
                KeySource::Basic,
            )),
            _ => None,
        }
    }
}

fn find<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    state: &'a State,
    sources: Sources,
) -> Found<'a> {
    let mut refused = false;
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());

    let alone = header(&API_KEY_HEADER)
        .map(Cow::Borrowed)
        .or_else(|| query.and_then(query_api_key))
        .filter(|_| sources.client_id);
    if let Some(client_id) = alone {
        match state.apikey(client_id.trim()) {
            Some(key) if key.allow_client_id_only => return Found::ClientIdOnly(key),
            _ => refused = true,
        }
    }

    let pair = if sources.headers {
        (header(&CLIENT_ID_HEADER), header(&CLIENT_SECRET_HEADER))
    } else {
        (None, None)
    };
    match pair {
        (Some(client_id), Some(secret)) => {
            return Found::Pair {
                client_id: client_id.trim(),
                secret,
                source: KeySource::Headers,
            };
        }
        (Some(_), None) | (None, Some(_)) => refused = true,
        (None, None) => {}
    }

    if let Some((scheme, value)) = header(&header::AUTHORIZATION).and_then(split_scheme) {
        if scheme.eq_ignore_ascii_case("bearer") && sources.bearer {
            return Found::Bearer(jwt::decode(value));
        }
        if scheme.eq_ignore_ascii_case("basic") && sources.basic {
            return match basic(value, state) {
                Some((text, split)) => Found::Basic { text, split },
                None => Found::Nothing { refused: true },
            };
        }
    }
    Found::Nothing { refused }
}

/// `(scheme, credentials)`; credentials are empty when only a scheme is given.
fn split_scheme(authorization: &str) -> Option<(&str, &str)> {
    let authorization = authorization.trim();
    match authorization.split_once(' ') {
        Some((scheme, value)) => Some((scheme, value.trim())),
        None if !authorization.is_empty() => Some((authorization, "")),
        None => None,
    }
}

/// Decodes Basic credentials into the text and the index of the colon
/// that ends the client id.
fn basic(encoded: &str, state: &State) -> Option<(String, usize)> {
    let text = String::from_utf8(LENIENT_BASE64.decode(encoded).ok()?).ok()?;
    // Ids are at most MAX_ID_LEN long: only colons within reach can end one,
    // which keeps the lookups bounded whatever the header's length.
    let split = text
        .match_indices(':')
        .map(|(i, _)| i)
        .take_while(|&i| i <= model::id::MAX_ID_LEN)
        .find(|&i| text.get(..i).is_some_and(|id| state.apikey(id).is_some()))
        .or_else(|| text.find(':'))?;
    Some((text, split))
}

/// The `apikey` query parameter, percent-decoded.
fn query_api_key(query: &str) -> Option<Cow<'_, str>> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == API_KEY_QUERY_PARAM && !value.is_empty()).then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> Cow<'_, str> {
    if !value.contains('%') && !value.contains('+') {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}
