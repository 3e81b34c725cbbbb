//! SimpleBasicAuth: a route for the users of its config, by Basic auth.
//! Without an `Authorization: Basic` header naming a user with the right
//! password the call is answered 401 with `WWW-Authenticate: Basic
//! realm="..."` (and an empty body, as Otoroshi). Passwords are given clear
//! or as bcrypt hashes (`$2a$`, `$2b$`, `$2y$`). Clear passwords are
//! compared in constant time (their SHA-256 digests, so not even the length
//! shows); bcrypt checks run off the async workers, bounded and remembered
//! (see [`crate::password_checks`]); too many at once answer 429.
//!
//! Like Otoroshi, the Authorization header still goes upstream. Unlike
//! Otoroshi, a bcrypt entry is only ever checked as a hash: sending the
//! hash itself as the password does not pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::password_checks::{self, Checked, Verified};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.SimpleBasicAuth",
    name: "Basic Auth",
    description: "Protects a route with Basic auth for the users of `users` (name to password, clear or a bcrypt hash); other calls get 401 with `WWW-Authenticate: Basic realm=\"<realm>\"`.",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<SimpleBasicAuthConfig>,
    config_schema: config::schema::<SimpleBasicAuthConfig>,
};

/// The highest bcrypt cost accepted: each step doubles a check's time, and
/// a cost of 17 would already take seconds per call.
const MAX_COST: u32 = 16;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct SimpleBasicAuthConfig {
    /// Shown by browsers in their login prompt.
    pub realm: String,
    /// User name to password, clear or a bcrypt hash.
    pub users: BTreeMap<String, String>,
}

impl Default for SimpleBasicAuthConfig {
    fn default() -> Self {
        Self {
            realm: "authentication".into(),
            users: BTreeMap::new(),
        }
    }
}

enum Secret {
    /// SHA-256 of the clear password.
    Clear([u8; 32]),
    Bcrypt(Arc<str>),
}

struct SimpleBasicAuth {
    users: HashMap<String, Secret>,
    challenge: HeaderValue,
    verified: Arc<Verified>,
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: SimpleBasicAuthConfig = config::parse(value)?;
    let mut errors = Vec::new();
    let challenge = if config
        .realm
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        None
    } else {
        HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm)).ok()
    };
    if challenge.is_none() {
        errors.push(ConfigError::new(
            "realm",
            "the realm may not hold quotes, backslashes or control characters",
        ));
    }
    let mut users = HashMap::new();
    for (name, password) in config.users {
        let path = format!("users.{name}");
        if name.is_empty() || name.contains(':') {
            errors.push(ConfigError::new(
                path,
                "a user name is not empty and has no ':'",
            ));
            continue;
        }
        let secret = if looks_like_bcrypt(&password) {
            match password.parse::<bcrypt::HashParts>() {
                Ok(parts) if parts.get_cost() <= MAX_COST => Secret::Bcrypt(password.into()),
                Ok(_) => {
                    errors.push(ConfigError::new(
                        path,
                        format!("the bcrypt cost is at most {MAX_COST}"),
                    ));
                    continue;
                }
                Err(e) => {
                    errors.push(ConfigError::new(
                        path,
                        format!("starts like a bcrypt hash but is not one: {e}"),
                    ));
                    continue;
                }
            }
        } else {
            Secret::Clear(Sha256::digest(password.as_bytes()).into())
        };
        users.insert(name, secret);
    }
    match challenge {
        Some(challenge) if errors.is_empty() => Ok(Arc::new(SimpleBasicAuth {
            users,
            challenge,
            verified: Arc::new(Verified::new()),
        })),
        _ => Err(errors),
    }
}

fn looks_like_bcrypt(password: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| password.starts_with(prefix))
}

/// The user and password of an `Authorization: Basic` header; none for
/// anything else, or an empty password (Otoroshi refuses those too).
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if password.is_empty() {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

fn refusal(challenge: &HeaderValue) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, challenge.clone());
    response
}

fn busy() -> Response<Bytes> {
    let mut response = json_answer(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "too many password checks in progress, retry shortly",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

impl Plugin for SimpleBasicAuth {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        let deny = || Flow::Answer(refusal(&self.challenge));
        let Some((user, password)) = credentials(request.headers) else {
            return deny();
        };
        match self.users.get(&user) {
            None => deny(),
            Some(Secret::Clear(digest)) => {
                let given: [u8; 32] = Sha256::digest(password.as_bytes()).into();
                if bool::from(given.ct_eq(digest)) {
                    Flow::Continue
                } else {
                    deny()
                }
            }
            Some(Secret::Bcrypt(hash)) => {
                let tag = self.verified.tag(&user, &password);
                if self.verified.contains(&tag) {
                    return Flow::Continue;
                }
                let (hash, verified, challenge) =
                    (hash.clone(), self.verified.clone(), self.challenge.clone());
                Flow::Await(Box::pin(async move {
                    match password_checks::verify(password, hash).await {
                        Checked::Match => {
                            verified.insert(tag);
                            Flow::Continue
                        }
                        Checked::NoMatch => Flow::Answer(refusal(&challenge)),
                        Checked::Busy => Flow::Answer(busy()),
                    }
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn basic(user_password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn credentials_are_read_from_basic_headers_only() {
        assert_eq!(
            credentials(&basic("alice:pa:ss")),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(credentials(&basic("alice:")), None);
        assert_eq!(credentials(&basic("alice")), None);
        let mut bearer = HeaderMap::new();
        bearer.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(credentials(&bearer), None);
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let errors = build(&serde_json::json!({
            "realm": "a\"b",
            "users": {"a:b": "x", "bob": "$2b$04$notahash", "ok": "clear"}
        }))
        .err()
        .unwrap();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["realm", "users.a:b", "users.bob"]);
    }
}
