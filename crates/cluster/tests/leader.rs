#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The leader's cluster endpoints against a real `MemoryStore`, driven
//! through the router as the admin host would.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use bytes::Bytes;
use cluster::leader::{Leader, LeaderSettings};
use cluster::wire::{self, StateLine};
use flate2::read::GzDecoder;
use http_body_util::BodyExt;
use live::{LiveCounters, LiveStats};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use store::{Condition, MemoryStore, Op, Store};
use tower::ServiceExt;

/// Long-poll, cache and dump.
#[path = "leader/freshness.rs"]
mod freshness;
/// The member list and the live events.
#[path = "leader/members.rs"]
mod members;
/// Quota pushes (`PUT /api/cluster/quotas`).
#[path = "leader/quotas.rs"]
mod quotas;

fn settings() -> LeaderSettings {
    LeaderSettings {
        name: "leader-1".into(),
        version: "9.9.9",
        compression: -1,
        cache_state_for: Duration::ZERO,
        grouping_by: 2,
        state_dump_path: None,
        member_timeout: Duration::from_secs(30),
        http_port: 8091,
        https_port: 9091,
        location: "eu".into(),
    }
}

fn setup(settings: LeaderSettings) -> (Arc<MemoryStore>, Arc<Leader>, Router) {
    let store = Arc::new(MemoryStore::new());
    let leader = Leader::new(
        store.clone(),
        settings,
        live(),
        any_key(),
        Counter::default(),
    );
    let router = leader.router();
    (store, leader, router)
}

async fn put_entity(store: &MemoryStore, kind: &str, id: &str) {
    let value = serde_json::to_vec(&json!({"id": id, "name": format!("name of {id}")})).unwrap();
    let op = Op::Put {
        kind: kind.into(),
        id: id.into(),
        value,
        condition: Condition::Any,
    };
    store.write(vec![op]).await.unwrap();
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The body with any gzip undone.
    fn plain(&self) -> Vec<u8> {
        if self.header("content-encoding") == "gzip" {
            let mut out = Vec::new();
            GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.to_vec()
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(router: &Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(router, request.body(Body::empty()).unwrap()).await
}

async fn push(router: &Router, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::put("/api/cluster/quotas");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(router, request.body(Body::from(body.to_string())).unwrap()).await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(4));
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Where the entity lines end in an export body.
fn entity_part(body: &[u8]) -> &[u8] {
    let lines = wire::parse_state(body).unwrap();
    let entities = lines
        .iter()
        .filter(|l| matches!(l, StateLine::Entity(_)))
        .count();
    let end = body
        .split_inclusive(|b| *b == b'\n')
        .take(entities)
        .map(<[u8]>::len)
        .sum();
    &body[..end]
}

#[tokio::test]
async fn export_has_every_entity_then_the_quota_counters_and_describes_itself() {
    let (store, _leader, router) = setup(settings());
    for id in ["r3", "r1", "r2"] {
        put_entity(&store, "routes", id).await;
    }
    put_entity(&store, "apikeys", "k1").await;
    let expiry = now_ms() + 60_000;
    store
        .incr("quotas:k1:daily:1", 5, Some(expiry))
        .await
        .unwrap();
    store.incr("other:x", 1, None).await.unwrap();
    let before = now_ms();
    let answer = get(&router, "/api/cluster/state", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-encoding"), "");
    let body = answer.plain();
    let lines = wire::parse_state(&body).unwrap();
    let ids: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| match l {
            StateLine::Entity(e) => Some((e.kind.clone(), e.id.clone())),
            StateLine::Counter(_) => None,
        })
        .collect();
    let expected = [
        ("apikeys", "k1"),
        ("routes", "r1"),
        ("routes", "r2"),
        ("routes", "r3"),
    ];
    assert_eq!(ids, expected.map(|(k, i)| (k.to_string(), i.to_string())));
    let StateLine::Counter(counter) = &lines[4] else {
        panic!("no counter line: {lines:?}")
    };
    assert_eq!(
        (
            counter.counter.as_str(),
            counter.value,
            counter.expires_at_ms
        ),
        ("quotas:k1:daily:1", 5, expiry)
    );
    assert_eq!(lines.len(), 5, "the non-quota counter stays out");
    assert_eq!(answer.header("x-data-count"), "5");
    assert_eq!(answer.header("x-data-digest"), wire::sha256_hex(&body));
    assert_eq!(
        answer.header("etag"),
        format!("\"{}\"", wire::sha256_hex(entity_part(&body)))
    );
    let from: u64 = answer.header("x-data-from").parse().unwrap();
    let now: u64 = answer.header("x-data-now").parse().unwrap();
    assert!(before <= from && from <= now && now <= now_ms());
    assert_eq!(
        answer.header("x-data-revision"),
        store.revision().await.unwrap().to_string()
    );
    assert_eq!(answer.header("komainu-cluster-format"), "1");
    assert_eq!(answer.header("otoroshi-leader-node-name"), "leader-1");
    assert_eq!(answer.header("otoroshi-leader-node-version"), "9.9.9");
    assert_eq!(answer.header("content-type"), "application/x-ndjson");
}

#[tokio::test]
async fn etag_moves_with_entities_not_with_counters() {
    let (store, _leader, router) = setup(settings());
    put_entity(&store, "routes", "r1").await;
    let first = get(&router, "/api/cluster/state", &[]).await;
    let again = get(&router, "/api/cluster/state", &[]).await;
    assert_eq!(first.header("etag"), again.header("etag"));
    store
        .incr("quotas:a:daily:1", 1, Some(now_ms() + 60_000))
        .await
        .unwrap();
    let counted = get(&router, "/api/cluster/state", &[]).await;
    assert_eq!(counted.header("etag"), first.header("etag"));
    assert_ne!(
        counted.header("x-data-digest"),
        first.header("x-data-digest")
    );
    put_entity(&store, "routes", "r2").await;
    let written = get(&router, "/api/cluster/state", &[]).await;
    assert_ne!(written.header("etag"), first.header("etag"));
}

#[tokio::test]
async fn gzip_when_compressing_and_plain_for_a_client_that_refuses_it() {
    let (store, _leader, router) = setup(LeaderSettings {
        compression: 4,
        ..settings()
    });
    put_entity(&store, "routes", "r1").await;
    let zipped = get(&router, "/api/cluster/state", &[]).await;
    assert_eq!(zipped.header("content-encoding"), "gzip");
    let body = zipped.plain();
    assert_eq!(zipped.header("x-data-digest"), wire::sha256_hex(&body));
    assert_eq!(wire::parse_state(&body).unwrap().len(), 1);
    let plain = get(
        &router,
        "/api/cluster/state",
        &[("accept-encoding", "identity")],
    )
    .await;
    assert_eq!(plain.header("content-encoding"), "");
    assert_eq!(plain.body.to_vec(), body);
    let asked = get(
        &router,
        "/api/cluster/state",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(asked.header("content-encoding"), "gzip");
}

#[tokio::test]
async fn if_none_match_on_the_current_etag_is_a_304() {
    let (store, _leader, router) = setup(settings());
    put_entity(&store, "routes", "r1").await;
    let etag = get(&router, "/api/cluster/state", &[]).await.header("etag");
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let answer = get(&router, "/api/cluster/state", &[("if-none-match", &tag)]).await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(answer.header("etag"), etag);
        assert!(answer.body.is_empty());
    }
    let stale = get(
        &router,
        "/api/cluster/state",
        &[("if-none-match", "\"old\"")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
}

/// A sampler nobody ticks: the leader's own stats, from zero.
/// Every client id names a key with unlimited quotas: the pushes of these
/// tests are about batches and totals, not the bound.
fn any_key() -> cluster::leader::ApiKeys {
    Arc::new(|id: &str| {
        let mut key: model::apikey::ApiKey = serde_json::from_value(json!({})).unwrap();
        key.client_id = id.to_string();
        Some(Arc::new(key))
    })
}

fn live() -> Arc<LiveStats> {
    LiveStats::new(Arc::new(LiveCounters::default()))
}
