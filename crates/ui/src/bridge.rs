//! The pages' calls to the admin API. A request to `/api/...` or
//! `/apis/...` on the UI host is handed to the admin API's own router, with
//! the session standing in for an admin key: same handlers, same
//! validation, same errors. Writes must carry the session's CSRF token.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use admin::auth::SessionGrant;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::context::UiContext;
use crate::error::UiError;
use crate::session::{CSRF_HEADER, csrf_matches};

/// Of the endpoints workers call, those a page may use (the members list
/// and its live stream); state exports and quota pushes are for workers.
const CLUSTER_PREFIX: &str = "/api/cluster/";
const CLUSTER_FOR_PAGES: [&str; 2] = ["/api/cluster/members", "/api/cluster/live"];

/// `/api/...` and `/apis/...` go to the admin API; anything else is no page.
pub async fn forward_or_not_found(ctx: State<UiContext>, request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/apis/") {
        forward(ctx, request).await
    } else {
        crate::error::not_found(request.uri().clone())
            .await
            .into_response()
    }
}

async fn forward(State(ctx): State<UiContext>, mut request: Request) -> Response {
    let signed = match ctx.session_of(request.headers()).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return UiError::SignInFirstApi.json(),
        Err(e) => return e.json(),
    };
    let reading = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !reading {
        let token = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if !csrf_matches(&signed, token) {
            return UiError::Csrf.json();
        }
    }
    let path = request.uri().path();
    let live = path == "/api/cluster/live";
    if path.starts_with(CLUSTER_PREFIX) && !CLUSTER_FOR_PAGES.contains(&path) {
        return UiError::NotFound(format!("{path} is for workers, not pages")).json();
    }
    // The admin API needs neither: the grant says who is calling.
    request.headers_mut().remove(header::COOKIE);
    request.headers_mut().remove(header::AUTHORIZATION);
    request.extensions_mut().insert(SessionGrant {
        subject: signed.session.sub.clone(),
        read_only: signed.session.ro,
    });
    let ends = signed.session.exp;
    let response = match ctx.api.clone().oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    if live {
        // A stream checked the session once, when it opened: end it now and
        // then so that the browser reconnects through a fresh check (a
        // signed-out or demoted session then stops receiving).
        let now = crate::now_ms();
        let lasts = Duration::from_millis(ends.saturating_sub(now)).min(STREAM_RECHECK);
        return response.map(|body| Body::new(Deadline::new(body, lasts)));
    }
    response
}

/// How long a live stream runs before the browser must reconnect.
const STREAM_RECHECK: Duration = Duration::from_secs(120);

/// A body that ends at a deadline (checked whenever a frame is asked for;
/// the live stream sends one at least every few seconds).
struct Deadline {
    inner: Body,
    until: Instant,
}

impl Deadline {
    fn new(inner: Body, lasts: Duration) -> Self {
        Deadline {
            inner,
            until: Instant::now() + lasts,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if Instant::now() >= self.until {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_stream_ends_at_its_deadline() {
        let ended = Deadline::new(Body::from("event"), Duration::ZERO);
        assert!(ended.collect().await.unwrap().to_bytes().is_empty());
        let open = Deadline::new(Body::from("event"), Duration::from_secs(60));
        assert_eq!(open.collect().await.unwrap().to_bytes(), "event");
    }
}
