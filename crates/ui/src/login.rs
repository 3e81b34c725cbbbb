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
use serde::Deserialize;
use transport::conn::ConnInfo;

use crate::context::UiContext;
use crate::error::UiError;
use crate::pages::layout::{self, logo};
use crate::session::{self, Principal, Session, csrf_matches};
use crate::throttle::{self, ClientAddr};
use crate::users;

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

/// Only a path of this site, in plain URL characters: never `//elsewhere`,
/// `https://...`, nor anything a browser would clean up into one (tabs,
/// newlines, backslashes).
fn safe_next(next: Option<&str>) -> &str {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/?=&%+:@,;".contains(c);
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.chars().all(plain) => n,
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

/// Whether the session cookie is marked Secure: when the request came over
/// HTTPS (the listener says so), or always with `ui.secureCookies`.
pub(crate) fn secure(ctx: &UiContext, conn: &Option<Extension<ConnInfo>>) -> bool {
    ctx.settings.secure_cookies || conn.as_ref().is_some_and(|c| c.tls)
}

pub async fn submit(
    State(ctx): State<UiContext>,
    headers: HeaderMap,
    conn: Option<Extension<ConnInfo>>,
    client: Option<Extension<ClientAddr>>,
    login: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    check_origin(&headers, &ctx.settings.host)?;
    let secure = secure(&ctx, &conn);
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
    let attempt = throttle::attempt(&ctx, &name, client.map(|Extension(c)| c.0)).await?;
    let Some((sub, by, fp, read_only)) = authenticate(&ctx, &name, login.password).await? else {
        // The name, not in clear: people type their password there by mistake.
        tracing::info!(name = %ctx.fingerprint(name.as_bytes()), "UI sign-in refused");
        return Ok(form(
            &next,
            &name,
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    attempt.succeeded(&ctx).await?;
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
    let checked = users::check(user.clone(), password.clone()).await?;
    if let Some(user) = user.filter(|_| checked) {
        return Ok(Some((
            user.username.clone(),
            Principal::User,
            ctx.fingerprint(user.password.as_bytes()),
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
            ctx.fingerprint(key.client_secret.as_bytes()),
            key.read_only,
        )
    }))
}

/// A browser always says where a form was posted from: refuse other sites
/// (login CSRF), accept clients that send no Origin (curl, scripts). The
/// Origin's host must be the UI host (ports aside: HTTP/2 requests carry no
/// Host header, and proxies may or may not add the default port).
fn check_origin(headers: &HeaderMap, ui_host: &str) -> Result<(), UiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    if model::router::strip_port(authority).eq_ignore_ascii_case(ui_host) {
        Ok(())
    } else {
        Err(UiError::Csrf)
    }
}

pub async fn logout(
    State(ctx): State<UiContext>,
    headers: HeaderMap,
    conn: Option<Extension<ConnInfo>>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, UiError> {
    let secure = secure(&ctx, &conn);
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
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n")), "/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn foreign_origins_are_refused() {
        let host = "otoroshi.oto.tools";
        let mut headers = HeaderMap::new();
        assert!(
            check_origin(&headers, host).is_ok(),
            "no origin: not a browser"
        );
        // No Host header at all (HTTP/2): the Origin alone decides.
        for ok in [
            "http://otoroshi.oto.tools:8080",
            "https://OTOROSHI.oto.tools",
        ] {
            headers.insert(header::ORIGIN, ok.parse().unwrap());
            assert!(check_origin(&headers, host).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://otoroshi.oto.tools.evil.example",
        ] {
            headers.insert(header::ORIGIN, bad.parse().unwrap());
            assert!(check_origin(&headers, host).is_err(), "{bad}");
        }
    }
}
