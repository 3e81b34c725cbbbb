//! The race of issue 12 item 10 for admin users: the last two users who may
//! write are removed at the same moment. The store must let at most one of
//! the writes through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use admin::AdminContext;
use admin::auth::SessionGrant;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use store::testing::Lockstep;
use store::{Condition, MemoryStore, Op, Store};
use tower::ServiceExt;

use crate::users::{AdminUser, KIND};

async fn context() -> AdminContext {
    let inner = MemoryStore::new();
    let put = |name: &str| Op::Put {
        kind: KIND.into(),
        id: name.into(),
        value: serde_json::to_vec(&AdminUser::new(name, "$2b$10$x".into(), "", false)).unwrap(),
        condition: Condition::Any,
    };
    inner.write(vec![put("u1"), put("u2")]).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(Lockstep::lockstep(inner));
    let state = Arc::new(model::StateHandle::new(model::State::builder(0).build()));
    let info = admin::NodeInfo {
        name: "t".into(),
        version: "0",
        mode: "off",
        started_at_ms: 0,
    };
    AdminContext::new(store, state, info, 1 << 20)
}

async fn send(ctx: &AdminContext, method: Method, path: &str, body: Option<Value>) -> StatusCode {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    request.extensions_mut().insert(SessionGrant {
        subject: "someone".into(),
        read_only: false,
    });
    crate::admin_users::router(ctx.clone())
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

async fn writers(ctx: &AdminContext) -> usize {
    crate::users::all(ctx.store.as_ref())
        .await
        .unwrap()
        .iter()
        .filter(|u| !u.read_only)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deletes_of_the_last_two_writers_leave_one() {
    let ctx = context().await;
    let (first, second) = tokio::join!(
        send(&ctx, Method::DELETE, "/api/admins/simple/u1", None),
        send(&ctx, Method::DELETE, "/api/admins/simple/u2", None),
    );
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(answers, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(writers(&ctx).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_and_a_demotion_at_once_leave_one_writer() {
    let ctx = context().await;
    let (first, second) = tokio::join!(
        send(&ctx, Method::DELETE, "/api/admins/simple/u1", None),
        send(
            &ctx,
            Method::PUT,
            "/api/admins/simple/u2",
            Some(json!({"username": "u2", "readOnly": true}))
        ),
    );
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(answers, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(writers(&ctx).await, 1);
}
