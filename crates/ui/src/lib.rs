//! The web admin UI of standalone and leader nodes, served on its own host
//! (`ui.host`, Otoroshi's backoffice host) next to the admin API.
//!
//! This crate owns the admin users and their login sessions, the HTML pages
//! (rendered on the server with maud), the small script and style sheet they
//! load (shipped inside the binary: a gateway often runs offline), and the
//! bridge that lets a signed-in browser call the admin API. Every write a page
//! makes goes through that bridge to the admin API's own handlers, so the UI
//! validates and publishes exactly as the API does: there is no side door.

/// The admin API's endpoints for admin users (`/api/admins/simple`).
pub mod admin_users;
/// The script and style sheet, compiled into the binary.
mod assets;
/// Calls from the pages to the admin API, authorised by the session.
mod bridge;
/// The settings and shared handles the UI runs with.
pub mod context;
/// UI errors and their HTTP answers (pages or JSON).
mod error;
/// The last admin user who may write, under concurrent removals.
#[cfg(test)]
mod last_writer_race;
/// Sign-in, sign-out and the throttle on failed attempts.
mod login;
/// The HTML pages.
mod pages;
/// Login sessions: signed cookies, revocation, CSRF tokens.
mod session;
/// The key sessions are signed with, shared by every node of a datastore.
mod signing_key;
/// Limits on sign-in attempts.
mod throttle;
/// Admin users (Otoroshi's "simple admins"), their passwords and bootstrap.
pub mod users;

pub use context::{UiContext, UiSettings};

/// Store kinds the UI keeps besides the entity kinds (admin users, the
/// session key): a datastore copy must take them too.
pub const STORED_KINDS: [&str; 2] = [users::KIND, signing_key::KIND];
pub use signing_key::load_or_create as signing_key;
pub use throttle::ClientAddr;
pub use users::{UserBootstrap, ensure_admin_user};

use axum::Router;
use axum::routing::{get, post};

/// The UI's router for requests whose host is `ui.host`.
pub fn router(ctx: UiContext) -> Router {
    let pages = pages::router().layer(axum::middleware::from_fn_with_state(
        ctx.clone(),
        session::require_page_session,
    ));
    Router::new()
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets/{file}", get(assets::serve))
        .merge(pages)
        // The bridge is the fallback rather than a `/api/{*rest}` route, so
        // that no path parameter of ours reaches the admin API's handlers.
        .fallback(bridge::forward_or_not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(ctx)
}

/// Pages load only their own script and style (no inline script can run),
/// may not be framed (clickjacking), and never leak their URL to others.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

pub(crate) use model::clock::now_ms;

/// What a worker answers on the UI host: it serves no UI, and must not pass
/// the browser's session cookie on to a backend as if it were traffic.
pub fn leaders_only(leaders: Vec<String>) -> Router {
    let page = pages::layout::bare(
        "Served by the leaders",
        maud::html! {
            main.narrow {
                h1 { "This node is a cluster worker" }
                p { "Workers serve traffic only. The admin UI is on the cluster leaders:" }
                ul { @for url in &leaders { li { code { (url) } } } }
            }
        },
    );
    let answer = move || {
        let page = page.clone();
        async move { (axum::http::StatusCode::NOT_FOUND, page) }
    };
    Router::new()
        .fallback(answer)
        .layer(axum::middleware::map_response(security_headers))
}
