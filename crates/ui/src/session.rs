//! Login sessions. The cookie is a signed token (`payload.signature`, both
//! base64url; HMAC-SHA256 with the datastore's UI key) naming the session id,
//! who signed in, when the session ends and a fingerprint of the password or
//! key secret it was opened with. Nothing else is stored per session, so any
//! leader of the datastore accepts it; what makes it end early is stored:
//! signing out records the session id as revoked (a counter that expires
//! with the session), and a changed password or secret, a deleted user or a
//! disabled key no longer match the session's fingerprint.
//!
//! Writes also need the session's CSRF token (a header the pages' script
//! sends, or a form field), derived from the session id with the same key:
//! another site can make the browser send the cookie (where SameSite does
//! not stop it) but cannot read the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::context::UiContext;
use crate::error::UiError;
use crate::signing_key::SigningKey;
use crate::users;

pub const COOKIE: &str = "komainu-session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Counters that mark a signed-out session.
const REVOKED_PREFIX: &str = "ui-session-revoked:";

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Principal {
    /// An admin user (name and password).
    User,
    /// An admin API key (client id and secret).
    Key,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    /// The user name or the key's client id.
    pub sub: String,
    pub by: Principal,
    /// Fingerprint of the password hash or key secret at sign-in.
    pub fp: String,
    /// End of the session, ms since the epoch.
    pub exp: u64,
    pub ro: bool,
}

/// The signed-in session of a page request, with its CSRF token.
#[derive(Debug, Clone)]
pub struct Signed {
    pub session: Arc<Session>,
    pub csrf: String,
}

/// The cookie value of a session.
pub fn encode(key: &SigningKey, session: &Session) -> String {
    let payload = serde_json::to_vec(session).unwrap_or_default();
    let signature = key.sign(&[b"session", &payload]);
    format!("{}.{}", B64.encode(&payload), B64.encode(signature))
}

/// The session a token names, if its signature holds and it has not
/// ended. Says nothing of revocation (see `check_live`).
pub fn decode(key: &SigningKey, token: &str, now: u64) -> Option<Session> {
    let (payload, signature) = token.split_once('.')?;
    let payload = B64.decode(payload).ok()?;
    let signature = B64.decode(signature).ok()?;
    let expected = key.sign(&[b"session", &payload]);
    if !bool::from(expected.as_slice().ct_eq(&signature)) {
        return None;
    }
    let session: Session = serde_json::from_slice(&payload).ok()?;
    (session.exp > now).then_some(session)
}

impl UiContext {
    /// A short keyed hash that changes when `secret` does: what sessions
    /// carry instead of the secret (keyed, so a weak secret cannot be
    /// guessed offline from a cookie).
    pub(crate) fn fingerprint(&self, secret: &[u8]) -> String {
        hex::encode(&self.key.sign(&[b"fingerprint", secret])[..8])
    }

    pub(crate) fn token(&self, session: &Session) -> String {
        encode(&self.key, session)
    }

    pub(crate) fn csrf_token(&self, session: &Session) -> String {
        B64.encode(self.key.sign(&[b"csrf", session.sid.as_bytes()]))
    }

    /// Whether a well-signed session still stands (not signed out, its user
    /// or key still there with the same password or secret), and if so
    /// whether its principal is read-only now: a demotion applies at once.
    async fn check_live(&self, session: &Session) -> Result<Option<bool>, UiError> {
        let revoked = self
            .admin
            .store
            .counters(&[format!("{REVOKED_PREFIX}{}", session.sid)])
            .await?;
        if revoked.first().is_some_and(Option::is_some) {
            return Ok(None);
        }
        Ok(match session.by {
            Principal::User => users::find(self.admin.store.as_ref(), &session.sub)
                .await?
                .filter(|user| self.fingerprint(user.password.as_bytes()) == session.fp)
                .map(|user| user.read_only),
            Principal::Key => {
                let state = self.admin.state.load();
                state
                    .apikey(&session.sub)
                    .filter(|key| {
                        key.enabled
                            && key.is_admin()
                            // A key narrowed to the worker role ends its sessions.
                            && key.role() == model::apikey::Role::Admin
                            && !key.expired(crate::now_ms())
                            && self.fingerprint(key.client_secret.as_bytes()) == session.fp
                    })
                    .map(|key| key.read_only)
            }
        })
    }

    /// The live session of a request, if any. Every cookie of the name is
    /// tried: another site under the same domain may plant one of its own.
    pub(crate) async fn session_of(&self, headers: &HeaderMap) -> Result<Option<Signed>, UiError> {
        let now = crate::now_ms();
        for token in cookies(headers, COOKIE) {
            let Some(mut session) = decode(&self.key, token, now) else {
                continue;
            };
            let Some(read_only) = self.check_live(&session).await? else {
                continue;
            };
            session.ro = read_only;
            let csrf = self.csrf_token(&session);
            return Ok(Some(Signed {
                session: Arc::new(session),
                csrf,
            }));
        }
        Ok(None)
    }

    /// Records a session as signed out until it would have ended anyway.
    pub(crate) async fn revoke(&self, session: &Session) -> Result<(), UiError> {
        self.admin
            .store
            .incr(
                &format!("{REVOKED_PREFIX}{}", session.sid),
                1,
                Some(session.exp),
            )
            .await?;
        Ok(())
    }
}

/// Whether `given` is the session's CSRF token (constant time).
pub fn csrf_matches(signed: &Signed, given: Option<&str>) -> bool {
    given.is_some_and(|given| bool::from(signed.csrf.as_bytes().ct_eq(given.as_bytes())))
}

/// The values of every cookie called `name` in the request's `Cookie` headers.
pub fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a new session: HttpOnly (scripts never see it),
/// SameSite=Lax (other sites' forms and scripts do not carry it; a link
/// followed from elsewhere does, so it lands signed in), Secure
/// when the page came over HTTPS.
pub fn set_cookie(token: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "komainu-session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static("komainu-session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// Middleware of the pages: without a live session, off to the login page
/// (back to this page after it); with one, the handlers get `Signed`.
pub async fn require_page_session(
    State(ctx): State<UiContext>,
    mut request: Request,
    next: Next,
) -> Result<Response, UiError> {
    let Some(signed) = ctx.session_of(request.headers()).await? else {
        let next = request
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        return Err(UiError::SignInFirst { next });
    };
    request.extensions_mut().insert(signed);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; komainu-session=abc.def; b=2"),
        );
        assert_eq!(cookies(&headers, COOKIE).collect::<Vec<_>>(), ["abc.def"]);
        assert_eq!(cookies(&headers, "missing").next(), None);
    }

    fn session(exp: u64) -> Session {
        Session {
            sid: "s1".into(),
            sub: "admin".into(),
            by: Principal::User,
            fp: "f".into(),
            exp,
            ro: false,
        }
    }

    #[test]
    fn tokens_verify_only_with_their_key_and_before_they_end() {
        let key = SigningKey::for_tests(1);
        let token = encode(&key, &session(1_000));
        assert_eq!(decode(&key, &token, 999).unwrap().sub, "admin");
        assert!(decode(&key, &token, 1_000).is_none(), "ended");
        assert!(
            decode(&SigningKey::for_tests(2), &token, 0).is_none(),
            "other key"
        );
        // A payload changed by the client (longer session, other user) fails.
        let (_, signature) = token.split_once('.').unwrap();
        let forged = B64.encode(serde_json::to_vec(&session(u64::MAX)).unwrap());
        assert!(decode(&key, &format!("{forged}.{signature}"), 0).is_none());
        assert!(decode(&key, "garbage", 0).is_none());
        assert!(decode(&key, "a.b.c", 0).is_none());
    }

    #[test]
    fn session_cookie_attributes() {
        let value = set_cookie("t", 60, true);
        let text = value.to_str().unwrap();
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Max-Age=60", "Path=/"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(
            !set_cookie("t", 60, false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
