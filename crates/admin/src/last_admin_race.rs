//! The race of issue 12 item 10: two admins remove the last two admin keys
//! at the same moment. Each check passes on what it read; the store must
//! still let at most one of the writes through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use store::testing::Lockstep;
use store::{Condition, MemoryStore, Op, Store};
use tower::ServiceExt;

use crate::auth::SessionGrant;
use crate::context::{AdminContext, NodeInfo};

fn admin_key(id: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"clientId": id, "clientSecret": "s", "clientName": id,
        "authorizedEntities": ["group_admin-api-group"]}),
    )
    .unwrap()
}

async fn context() -> AdminContext {
    let inner = MemoryStore::new();
    let put = |id: &str| Op::Put {
        kind: "apikeys".into(),
        id: id.into(),
        value: admin_key(id),
        condition: Condition::Any,
    };
    inner.write(vec![put("a"), put("b")]).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(Lockstep::lockstep(inner));
    let state = Arc::new(model::StateHandle::new(model::State::builder(0).build()));
    let info = NodeInfo {
        name: "t".into(),
        version: "0",
        mode: "off",
        started_at_ms: 0,
    };
    let ctx = AdminContext::new(store, state, info, 1 << 20);
    ctx.publisher.publish_up_to(1).await.unwrap();
    ctx
}

async fn send(ctx: &AdminContext, method: Method, path: &str, body: Option<Value>) -> StatusCode {
    let mut request = Request::builder().method(method).uri(path);
    request = request.header("content-type", "application/json");
    let mut request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    request.extensions_mut().insert(SessionGrant {
        subject: "someone".into(),
        read_only: false,
    });
    crate::router(ctx.clone())
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

async fn usable_admin_keys(ctx: &AdminContext) -> usize {
    let keys = ctx.store.scan("apikeys", None, 10).await.unwrap();
    keys.iter()
        .filter(|(_, bytes)| {
            serde_json::from_slice::<model::apikey::ApiKey>(bytes)
                .is_ok_and(|k| k.can_administer(crate::now_ms()))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deletes_of_the_last_two_admin_keys_leave_one() {
    let ctx = context().await;
    let (first, second) = tokio::join!(
        send(&ctx, Method::DELETE, "/api/apikeys/a", None),
        send(&ctx, Method::DELETE, "/api/apikeys/b", None),
    );
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(answers, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(usable_admin_keys(&ctx).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_and_a_disable_at_once_leave_one_admin_key() {
    let ctx = context().await;
    let disabled = json!({"clientId": "b", "clientSecret": "s", "clientName": "b",
        "authorizedEntities": ["group_admin-api-group"], "enabled": false});
    let (first, second) = tokio::join!(
        send(&ctx, Method::DELETE, "/api/apikeys/a", None),
        send(&ctx, Method::PUT, "/api/apikeys/b", Some(disabled)),
    );
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(answers, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(usable_admin_keys(&ctx).await, 1);
}
