//! Signing in with an admin user's name and password, or with an admin API
//! key's client id and secret (one form: the name is tried as a user first),
//! and signing out. Failed attempts are counted per name in the datastore
//! (so every leader sees them); past `MAX_FAILURES` within the window the
//! name is refused for the rest of it, whatever the password.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use model::id::random_token;
use proxy::conn::ConnInfo;
use serde::Deserialize;

use crate::context::UiContext;
use crate::error::UiError;
use crate::pages::layout::{self, logo};
use crate::session::{self, Principal, Session, csrf_matches, fingerprint};
use crate::users;

const MAX_FAILURES: i64 = 10;
const FAILURE_WINDOW_MS: u64 = 15 * 60 * 1000;
const FAILURES_PREFIX: &str = "ui-login-failures:";
/// Longer names are nobody's: refused before any work.
const MAX_NAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Only a path of this site: never `//elsewhere` or `https://...`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/",
    }
}

pub async fn page(
    State(ctx): State<UiContext>,
    headers: HeaderMap,
    Query(params): Query<NextParam>,
) -> Result<Response, UiError> {
    let next = safe_next(params.next.as_deref()).to_string();
    if ctx.session_of(&headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(form(&next, "", None, StatusCode::OK))
}

fn form(next: &str, username: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        main.narrow.login {
            h1 { (logo()) " komainu" }
            p.muted { "Sign in with an admin user, or with an admin API key (client id and secret)." }
            @if let Some(error) = error {
                p #login-error .error-text role="alert" { (error) }
            }
            form #login-form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="username" { "Name or client id" }
                input #username name="username" type="text" autocomplete="username" required autofocus value=(username);
                label for="password" { "Password or client secret" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button #login-submit .primary type="submit" { "Sign in" }
            }
        }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

/// Whether the request came over HTTPS (the listener says so).
pub(crate) fn over_tls(conn: &Option<Extension<ConnInfo>>) -> bool {
    conn.as_ref().is_some_and(|c| c.tls)
}

pub async fn submit(
    State(ctx): State<UiContext>,
    headers: HeaderMap,
    conn: Option<Extension<ConnInfo>>,
    login: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    check_origin(&headers)?;
    let secure = over_tls(&conn);
    let Form(login) = login.map_err(|e| UiError::BadRequest(e.body_text()))?;
    let next = safe_next(login.next.as_deref()).to_string();
    let name = login.username.trim().to_string();
    if name.is_empty()
        || login.password.is_empty()
        || name.len() > MAX_NAME
        || login.password.len() > MAX_PASSWORD
    {
        return Ok(form(
            &next,
            &name,
            Some("Give a name and a password."),
            StatusCode::BAD_REQUEST,
        ));
    }
    let store = ctx.admin.store.clone();
    let failures_key = format!(
        "{FAILURES_PREFIX}{}",
        fingerprint(name.to_lowercase().as_bytes())
    );
    let failures = store.counters(std::slice::from_ref(&failures_key)).await?;
    if let Some(Some(counter)) = failures.first()
        && counter.value >= MAX_FAILURES
    {
        let now = crate::now_ms();
        let retry_after_secs = counter
            .expires_at_ms
            .map_or(FAILURE_WINDOW_MS, |at| at.saturating_sub(now))
            .div_ceil(1000);
        return Err(UiError::TooManyAttempts { retry_after_secs });
    }
    let Some((sub, by, fp, read_only)) = authenticate(&ctx, &name, login.password).await? else {
        store
            .incr(&failures_key, 1, Some(crate::now_ms() + FAILURE_WINDOW_MS))
            .await?;
        tracing::info!(name = %name, "UI sign-in refused");
        return Ok(form(
            &next,
            &name,
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    store.reset_counters(&[failures_key]).await?;
    let max_age = ctx.settings.session_max_age;
    let session = Session {
        sid: random_token(32),
        sub,
        by,
        fp,
        exp: crate::now_ms() + max_age.as_millis() as u64,
        ro: read_only,
    };
    tracing::info!(name = %session.sub, by = ?session.by, "UI sign-in");
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&ctx.token(&session), max_age.as_secs(), secure),
    );
    Ok(response)
}

/// Who `name` and `password` sign in as: (subject, kind, fingerprint, read-only).
async fn authenticate(
    ctx: &UiContext,
    name: &str,
    password: String,
) -> Result<Option<(String, Principal, String, bool)>, UiError> {
    let user = users::find(ctx.admin.store.as_ref(), name).await?;
    // bcrypt takes tens of ms of CPU: off the async workers that serve traffic.
    let checked = {
        let user = user.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || match &user {
            Some(user) => user.verify(&password),
            None => {
                users::burn_time(&password);
                false
            }
        })
        .await
        .map_err(|e| UiError::Internal(format!("password check: {e}")))?
    };
    if let Some(user) = user.filter(|_| checked) {
        return Ok(Some((
            user.username.clone(),
            Principal::User,
            user.fingerprint(),
            user.read_only,
        )));
    }
    let state = ctx.admin.state.load();
    let credentials = admin::auth::Credentials {
        client_id: name.to_string(),
        client_secret: password,
    };
    Ok(admin::auth::admin_key(&state, &credentials).map(|key| {
        (
            key.client_id.clone(),
            Principal::Key,
            fingerprint(key.client_secret.as_bytes()),
            key.read_only,
        )
    }))
}

/// A browser always says where a form was posted from: refuse other sites
/// (login CSRF), accept clients that send no Origin (curl, scripts).
fn check_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
        return Err(UiError::Csrf);
    }
    Ok(())
}

pub async fn logout(
    State(ctx): State<UiContext>,
    headers: HeaderMap,
    conn: Option<Extension<ConnInfo>>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, UiError> {
    let secure = over_tls(&conn);
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    if let Some(signed) = ctx.session_of(&headers).await? {
        if !csrf_matches(&signed, Some(&form.csrf)) {
            return Err(UiError::Csrf);
        }
        ctx.revoke(&signed.session).await?;
        tracing::info!(name = %signed.session.sub, "UI sign-out");
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(secure));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/routes?q=a")), "/routes?q=a");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn foreign_origins_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "otoroshi.oto.tools:8080".parse().unwrap());
        assert!(check_origin(&headers).is_ok(), "no origin: not a browser");
        headers.insert(
            header::ORIGIN,
            "http://otoroshi.oto.tools:8080".parse().unwrap(),
        );
        assert!(check_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(check_origin(&headers).is_err());
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(check_origin(&headers).is_err());
    }
}
