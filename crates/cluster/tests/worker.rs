#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The worker side against a fake leader: a real HTTP server on
//! 127.0.0.1:0 that serves canned exports (per wire.rs, right or
//! deliberately wrong) and records every request it gets.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use base64::Engine;
use cluster::wire::{self, PushLine};
use cluster::worker::{Worker, WorkerSettings};
use http::{HeaderMap, Response};
use live::{LiveCounters, LiveStats};
use model::apikey::ApiKey;
use model::{State, StateHandle};
use prometheus_client::metrics::counter::Counter;
use proxy::quota::{QuotaTracker, Window, counter_key, daily_window};
use serde_json::{Value, json};

// ---------------------------------------------------------------- fake leader

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// How long the server holds the request before answering.
    hold: Duration,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            hold: Duration::ZERO,
        }
    }

    fn set(mut self, name: &str, value: impl ToString) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(self.body)).unwrap()
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct FakeLeader {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeLeader {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeLeader {
        let handler: Arc<Handler> = Arc::new(handler);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let handler = handler.clone();
            let record = record.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let seen = Seen {
                    method: parts.method.to_string(),
                    path: parts
                        .uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: parts.headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                };
                record.lock().unwrap().push(seen.clone());
                let reply = handler(&seen);
                tokio::time::sleep(reply.hold).await;
                reply.into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLeader { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn gets(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "GET")
            .collect()
    }

    /// Quota batches pushed (stats-only pushes left out).
    fn puts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "PUT" && !is_stats_only(&s.body))
            .collect()
    }

    fn stats_only_puts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "PUT" && is_stats_only(&s.body))
            .collect()
    }
}

/// A URL where nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

// ---------------------------------------------------------------- exports

#[derive(Debug, Clone)]
struct Export {
    body: Vec<u8>,
    etag: String,
    revision: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn route(id: &str, domain: &str) -> Value {
    json!({"id": id, "name": id, "frontend": {"domains": [domain]},
           "backend": {"targets": [{"hostname": "up.internal", "port": 8080}]}})
}

fn apikey(client_id: &str, daily: u64) -> Value {
    json!({"clientId": client_id, "clientSecret": "secret", "clientName": client_id,
           "dailyQuota": daily})
}

fn export(
    revision: u64,
    entities: &[(&str, &str, Value)],
    counters: &[(String, u64, u64)],
) -> Export {
    let mut entities: Vec<_> = entities.to_vec();
    entities.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut body = Vec::new();
    for (k, id, v) in entities {
        body.extend(serde_json::to_vec(&json!({"k": k, "id": id, "v": v})).unwrap());
        body.push(b'\n');
    }
    let etag = wire::sha256_hex(&body);
    for (c, n, e) in counters {
        body.extend(serde_json::to_vec(&json!({"c": c, "n": n, "e": e})).unwrap());
        body.push(b'\n');
    }
    Export {
        body,
        etag,
        revision,
    }
}

fn lines(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

/// The 200 a correct leader sends.
fn ok(export: &Export) -> Reply {
    let now = now_ms();
    Reply {
        status: 200,
        headers: Vec::new(),
        body: export.body.clone(),
        hold: Duration::ZERO,
    }
    .set("ETag", format!("\"{}\"", export.etag))
    .set(wire::HEADER_COUNT, lines(&export.body))
    .set(wire::HEADER_DIGEST, wire::sha256_hex(&export.body))
    .set(wire::HEADER_FROM, now - 1000)
    .set(wire::HEADER_NOW, now)
    .set(wire::HEADER_REVISION, export.revision)
    .set(wire::HEADER_FORMAT, wire::FORMAT)
    .set("Content-Type", "application/x-ndjson")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(4));
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gzipped(export: &Export) -> Reply {
    let mut reply = ok(export).set("Content-Encoding", "gzip");
    reply.body = gzip(&export.body);
    reply
}

fn wait_param(seen: &Seen) -> u64 {
    seen.path
        .split_once("wait=")
        .and_then(|(_, w)| w.split('&').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// A long-polling leader: 304 after holding for `wait` when the worker runs
/// the current export, the export otherwise.
fn long_poll(current: &Mutex<Export>, seen: &Seen) -> Reply {
    let export = current.lock().unwrap().clone();
    let tag = seen
        .header("if-none-match")
        .map(|t| t.trim_matches('"').to_string());
    if tag.as_deref() == Some(export.etag.as_str()) {
        let mut reply = Reply::status(304).set("ETag", format!("\"{}\"", export.etag));
        reply.hold = Duration::from_millis(wait_param(seen).min(1000));
        return reply;
    }
    ok(&export)
}

// ---------------------------------------------------------------- worker

fn settings(urls: &[String]) -> WorkerSettings {
    WorkerSettings {
        id: "w1".to_string(),
        name: "worker-one".to_string(),
        version: "0.1.0-test",
        location: "eu-west-1".to_string(),
        http_port: 8092,
        https_port: 9092,
        leader_urls: urls.to_vec(),
        leader_host: "otoroshi-api.oto.tools".to_string(),
        client_id: "cid".to_string(),
        client_secret: "csecret".to_string(),
        state_retries: 2,
        state_timeout: Duration::from_millis(1000),
        poll_every: Duration::from_millis(300),
        quota_retries: 0,
        quota_timeout: Duration::from_millis(1000),
        push_every: Duration::from_millis(100),
        retry_delay: Duration::from_millis(20),
        retry_factor: 2,
        dbpath: None,
        data_stale_after: Duration::from_secs(600),
        leader_tls: None,
    }
}

struct Node {
    worker: Arc<Worker>,
    state: Arc<StateHandle>,
    quotas: Arc<QuotaTracker>,
}

fn node(settings: WorkerSettings) -> Node {
    let state = Arc::new(StateHandle::new(State::default()));
    let quotas = Arc::new(QuotaTracker::default());
    let worker = Worker::new(
        settings,
        state.clone(),
        quotas.clone(),
        LiveStats::new(Arc::new(LiveCounters::default())),
    );
    Node {
        worker,
        state,
        quotas,
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn route_ids(state: &StateHandle) -> Vec<String> {
    state.load().routes.iter().map(|r| r.id.clone()).collect()
}

fn key(value: Value) -> ApiKey {
    serde_json::from_value(value).unwrap()
}

fn daily_key(client_id: &str) -> String {
    counter_key(client_id, Window::Daily, daily_window(now_ms()).id)
}

fn export_a() -> Export {
    export(
        7,
        &[
            ("routes", "r2", route("r2", "b.oto.tools")),
            ("routes", "r1", route("r1", "a.oto.tools")),
            ("apikeys", "k1", apikey("k1", 10)),
        ],
        &[(daily_key("k1"), 10, now_ms() + 86_400_000)],
    )
}

// ---------------------------------------------------------------- state sync

#[tokio::test]
async fn applies_a_state_and_sends_identity_and_if_none_match() {
    let current = Arc::new(Mutex::new(export_a()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();

    eventually("the state", || n.state.load().loaded).await;
    let state = n.state.load();
    assert_eq!(route_ids(&n.state), ["r1", "r2"]);
    assert!(state.apikey("k1").is_some());
    assert_eq!(state.digest, export_a().etag);
    assert_eq!(state.revision, 7);
    // The counter line reached the quota tracker: k1 has used its 10 calls.
    let k1 = key(apikey("k1", 10));
    let refused = n.quotas.admit(&k1, now_ms()).unwrap_err();
    assert_eq!(refused.which, Window::Daily);

    eventually("a second poll", || leader.gets().len() >= 2).await;
    let gets = leader.gets();
    let (first, second) = (&gets[0], &gets[1]);
    assert!(
        first.path.starts_with("/api/cluster/state?wait=300"),
        "{}",
        first.path
    );
    assert_eq!(first.header("if-none-match"), None);
    assert_eq!(first.header("otoroshi-worker-state-digest"), None);
    let basic = base64::engine::general_purpose::STANDARD.encode("cid:csecret");
    for req in [first, second] {
        assert_eq!(req.header("host"), Some("otoroshi-api.oto.tools"));
        assert_eq!(
            req.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        assert_eq!(req.header("otoroshi-worker-id"), Some("w1"));
        assert_eq!(req.header("otoroshi-worker-name"), Some("worker-one"));
        assert_eq!(req.header("otoroshi-worker-version"), Some("0.1.0-test"));
        assert_eq!(req.header("otoroshi-worker-location"), Some("eu-west-1"));
        assert_eq!(req.header("otoroshi-worker-http-port"), Some("8092"));
        assert_eq!(req.header("otoroshi-worker-https-port"), Some("9092"));
        assert_eq!(req.header("accept-encoding"), Some("gzip"));
    }
    let etag = format!("\"{}\"", export_a().etag);
    assert_eq!(second.header("if-none-match"), Some(etag.as_str()));
    assert_eq!(
        second.header("otoroshi-worker-state-digest"),
        Some(export_a().etag.as_str())
    );
    assert_eq!(second.header("otoroshi-worker-state-revision"), Some("7"));

    let status = n.worker.status();
    assert_eq!(status["state"], "synced");
    assert_eq!(status["digest"], export_a().etag.as_str());
    assert_eq!(status["revision"], 7);
    assert_eq!(status["leader"], leader.url.as_str());
    assert_eq!(status["consecutive_failures"], 0);
    assert!(status["age_ms"].as_u64().unwrap() < 60_000);
}

#[tokio::test]
async fn a_304_keeps_the_state_and_a_change_arrives_on_the_next_poll() {
    let current = Arc::new(Mutex::new(export_a()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    let before = n.state.load();
    eventually("three 304s", || leader.gets().len() >= 4).await;
    assert!(
        Arc::ptr_eq(&before, &n.state.load()),
        "a 304 must not republish"
    );
    assert_eq!(n.worker.status()["state"], "synced");
    assert_eq!(n.worker.status()["consecutive_failures"], 0);

    let b = export(8, &[("routes", "r3", route("r3", "c.oto.tools"))], &[]);
    *current.lock().unwrap() = b.clone();
    let changed = Instant::now();
    eventually("the new state", || route_ids(&n.state) == ["r3"]).await;
    // Held polls last 300 ms here: the change is in by the next one.
    assert!(changed.elapsed() < Duration::from_millis(1500));
    assert_eq!(n.state.load().digest, b.etag);
    assert_eq!(n.state.load().revision, 8);
}

#[tokio::test]
async fn a_gzipped_export_is_applied() {
    let a = export_a();
    let leader = FakeLeader::start(move |seen| {
        if seen.header("if-none-match").is_some() {
            let mut r = Reply::status(304);
            r.hold = Duration::from_millis(300);
            return r;
        }
        gzipped(&a)
    })
    .await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    assert_eq!(route_ids(&n.state), ["r1", "r2"]);
    assert_eq!(n.state.load().digest, export_a().etag);
}

/// Serves export A once, then `bad` forever: the worker must keep A.
async fn refused_keeps_the_state(bad: Reply, expected_error: &str) {
    let a = export_a();
    let served = Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    let leader = FakeLeader::start(move |_| {
        if s.fetch_add(1, Ordering::SeqCst) == 0 {
            ok(&a)
        } else {
            bad.clone()
        }
    })
    .await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    let before = n.state.load();
    eventually("refusals", || {
        n.worker.status()["consecutive_failures"].as_u64().unwrap() >= 2
    })
    .await;
    let status = n.worker.status();
    let error = status["last_error"].as_str().unwrap();
    assert!(error.contains(expected_error), "{error}");
    assert!(error.contains("current state kept"), "{error}");
    assert!(Arc::ptr_eq(&before, &n.state.load()));
    assert_eq!(route_ids(&n.state), ["r1", "r2"]);
    assert_eq!(status["state"], "synced");
}

fn export_b() -> Export {
    export(9, &[("routes", "r9", route("r9", "z.oto.tools"))], &[])
}

#[tokio::test]
async fn refuses_a_digest_mismatch() {
    let bad = ok(&export_b()).set(wire::HEADER_DIGEST, wire::sha256_hex(b"something else"));
    refused_keeps_the_state(bad, "digest mismatch").await;
}

#[tokio::test]
async fn refuses_a_count_mismatch() {
    let bad = ok(&export_b()).set(wire::HEADER_COUNT, 2);
    refused_keeps_the_state(bad, "count mismatch").await;
}

#[tokio::test]
async fn refuses_bad_gzip() {
    let bad = ok(&export_b()).set("Content-Encoding", "gzip");
    refused_keeps_the_state(bad, "bad gzip").await;
}

#[tokio::test]
async fn refuses_a_bad_json_line() {
    let mut b = export_b();
    b.body.extend_from_slice(b"{\"k\": \"routes\", not json\n");
    refused_keeps_the_state(ok(&b), "bad export line: line 2").await;
}

#[tokio::test]
async fn refuses_a_stale_export() {
    let now = now_ms();
    let bad = ok(&export_b())
        .set(wire::HEADER_FROM, now - 700_000)
        .set(wire::HEADER_NOW, now);
    refused_keeps_the_state(bad, "stale export").await;
}

#[tokio::test]
async fn stale_is_judged_on_the_leader_clock() {
    // The leader's clock is a day behind the worker's: the export is 1 s old
    // by the leader's own clock, so it is fresh.
    let a = export_a();
    let leader = FakeLeader::start(move |_| {
        let leader_now = now_ms() - 86_400_000;
        ok(&a)
            .set(wire::HEADER_FROM, leader_now - 1000)
            .set(wire::HEADER_NOW, leader_now)
    })
    .await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
}

#[tokio::test]
async fn a_leader_without_etags_is_polled_every_poll_every() {
    // An Otoroshi-style leader answers 200 at once to every poll: no tight
    // loop, one poll per pollEvery.
    let a = export_a();
    let leader = FakeLeader::start(move |_| {
        let mut reply = ok(&a);
        reply.headers.retain(|(n, _)| n != "ETag");
        reply
    })
    .await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    // the digest is the body's when there is no ETag
    let digest = n.state.load().digest.clone();
    assert_eq!(digest.len(), 64);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let polls = leader.gets().len();
    assert!((3..=6).contains(&polls), "{polls} polls in ~1 s at 300 ms");
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn fails_over_to_the_second_leader_and_stays_there() {
    let dead = dead_url().await;
    let current = Arc::new(Mutex::new(export_a()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let n = node(settings(&[dead.clone(), leader.url.clone()]));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    eventually("more polls", || leader.gets().len() >= 3).await;
    let status = n.worker.status();
    assert_eq!(status["leader"], leader.url.as_str());
    assert_eq!(status["state"], "synced");
    assert_eq!(status["consecutive_failures"], 0);
}

#[tokio::test]
async fn backoff_grows_between_retries_then_waits_poll_every() {
    let leader = FakeLeader::start(|_| Reply::status(500)).await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.state_retries = 3;
    s.retry_delay = Duration::from_millis(60);
    s.retry_factor = 2;
    s.poll_every = Duration::from_millis(1500);
    let n = node(s);
    n.worker.spawn();
    eventually("two rounds of attempts", || leader.gets().len() >= 5).await;
    let at: Vec<Instant> = leader.gets().iter().map(|s| s.at).collect();
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // 60, 120, 240 ms between the retries, then pollEvery.
    assert!(gaps[0] >= 55, "{gaps:?}");
    assert!(gaps[1] >= 115 && gaps[1] > gaps[0], "{gaps:?}");
    assert!(gaps[2] >= 235 && gaps[2] > gaps[1], "{gaps:?}");
    assert!(gaps[3] >= 1450, "{gaps:?}");
    let status = n.worker.status();
    assert_eq!(status["state"], "loading");
    assert!(status["consecutive_failures"].as_u64().unwrap() >= 4);
    assert!(status["last_error"].as_str().unwrap().contains("500"));
    assert!(!n.state.load().loaded);
}

#[tokio::test]
async fn a_401_is_a_failure_not_a_crash() {
    let leader = FakeLeader::start(|_| Reply::status(401)).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("failures", || {
        n.worker.status()["consecutive_failures"].as_u64().unwrap() >= 3
    })
    .await;
    let status = n.worker.status();
    let error = status["last_error"].as_str().unwrap();
    assert!(
        error.contains("the leader refused our credentials"),
        "{error}"
    );
    assert!(
        error.contains("cluster.leader.clientId/clientSecret"),
        "{error}"
    );
    // and the loop keeps going
    let polls = leader.gets().len();
    eventually("more polls", || leader.gets().len() > polls).await;
}

// ---------------------------------------------------------------- snapshot

/// Syncs a worker with `dbpath` from a live fake leader; returns once the
/// snapshot file is written; returns the export it served.
async fn write_snapshot(path: &std::path::Path) -> Export {
    let a = export_a();
    let current = Arc::new(Mutex::new(a.clone()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.dbpath = Some(path.to_path_buf());
    let n = node(s);
    n.worker.spawn();
    eventually("the snapshot file", || path.exists()).await;
    a
}

fn snapshot_header(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[tokio::test]
async fn the_snapshot_is_written_and_served_at_restart_with_leaders_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("worker-state.ndjson");
    let a = write_snapshot(&path).await;
    let header = snapshot_header(&path);
    assert_eq!(header["komainu_snapshot"], 1);
    assert_eq!(header["etag"], format!("\"{}\"", export_a().etag).as_str());
    assert_eq!(header["revision"], 7);
    assert!(header["from_age_ms"].as_u64().unwrap() >= 1000);
    let saved_at = header["saved_at"].as_u64().unwrap();
    assert!(saved_at <= now_ms() && saved_at + 60_000 > now_ms());
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text.split_once('\n').unwrap().1;
    assert_eq!(body.as_bytes(), a.body.as_slice());
    // no temporary file left behind, and API key secrets readable by us only
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // Restart with every leader down.
    let mut s = settings(&[dead_url().await]);
    s.dbpath = Some(path.clone());
    let n = node(s);
    let age = n
        .worker
        .load_snapshot()
        .expect("a fresh snapshot is served");
    assert!(
        age >= Duration::from_millis(1000) && age < Duration::from_secs(60),
        "{age:?}"
    );
    let state = n.state.load();
    assert!(state.loaded);
    assert_eq!(route_ids(&n.state), ["r1", "r2"]);
    assert_eq!(state.digest, export_a().etag);
    assert_eq!(state.revision, 7);
    // its counters reached the quota tracker
    let k1 = key(apikey("k1", 10));
    assert!(n.quotas.admit(&k1, now_ms()).is_err());
    assert_eq!(n.worker.status()["state"], "snapshot");

    n.worker.spawn();
    eventually("failed polls", || {
        n.worker.status()["consecutive_failures"].as_u64().unwrap() >= 2
    })
    .await;
    let status = n.worker.status();
    assert_eq!(status["state"], "snapshot");
    assert!(n.state.load().loaded);
}

#[tokio::test]
async fn a_snapshot_is_replaced_by_the_first_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.ndjson");
    write_snapshot(&path).await;

    let b = export(11, &[("routes", "r3", route("r3", "c.oto.tools"))], &[]);
    let current = Arc::new(Mutex::new(b.clone()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.dbpath = Some(path.clone());
    let n = node(s);
    assert!(n.worker.load_snapshot().is_some());
    assert_eq!(route_ids(&n.state), ["r1", "r2"]);
    n.worker.spawn();
    eventually("the leader's state", || route_ids(&n.state) == ["r3"]).await;
    // The first poll after a snapshot asks for the full state.
    assert_eq!(leader.gets()[0].header("if-none-match"), None);
    assert_eq!(n.worker.status()["state"], "synced");
    eventually("the new snapshot", || {
        snapshot_header(&path)["revision"] == 11
    })
    .await;
}

#[tokio::test]
async fn a_304_keeps_the_snapshot_fresh() {
    // A state that does not change for longer than dataStaleAfter is still
    // the leader's: the file's age is reset on 304s (every quarter of it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.ndjson");
    let current = Arc::new(Mutex::new(export_a()));
    let c = current.clone();
    let leader = FakeLeader::start(move |seen| long_poll(&c, seen)).await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.dbpath = Some(path.clone());
    s.data_stale_after = Duration::from_millis(2000);
    let n = node(s);
    n.worker.spawn();
    eventually("the snapshot file", || path.exists()).await;
    let first = snapshot_header(&path);
    assert!(first["from_age_ms"].as_u64().unwrap() >= 1000);
    eventually("a refreshed header", || {
        let h = snapshot_header(&path);
        h["from_age_ms"] == 0 && h["saved_at"].as_u64() > first["saved_at"].as_u64()
    })
    .await;
    assert_eq!(snapshot_header(&path)["etag"], first["etag"]);
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text.split_once('\n').unwrap().1;
    assert_eq!(body.as_bytes(), current.lock().unwrap().body.as_slice());
}

#[tokio::test]
async fn a_stale_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.ndjson");
    write_snapshot(&path).await;
    let mut s = settings(&[dead_url().await]);
    s.dbpath = Some(path.clone());
    // from_age_ms is ≥ 1 s in these exports
    s.data_stale_after = Duration::from_millis(500);
    let n = node(s);
    assert_eq!(n.worker.load_snapshot(), None);
    assert!(!n.state.load().loaded);
    assert_eq!(n.worker.status()["state"], "loading");

    // Old by the worker's clock: saved 11 minutes ago.
    let text = std::fs::read_to_string(&path).unwrap();
    let (first, body) = text.split_once('\n').unwrap();
    let mut header: Value = serde_json::from_str(first).unwrap();
    header["saved_at"] = json!(now_ms() - 660_000);
    std::fs::write(&path, format!("{header}\n{body}")).unwrap();
    let mut s = settings(&[dead_url().await]);
    s.dbpath = Some(path);
    let n = node(s);
    assert_eq!(n.worker.load_snapshot(), None);
    assert!(!n.state.load().loaded);
}

#[tokio::test]
async fn a_corrupt_or_missing_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.ndjson");
    let load = |path: &std::path::Path| {
        let mut s = settings(&["http://127.0.0.1:9".to_string()]);
        s.dbpath = Some(path.to_path_buf());
        let n = node(s);
        let age = n.worker.load_snapshot();
        (age, n.state.load().loaded)
    };
    assert_eq!(load(&path), (None, false), "missing");

    write_snapshot(&path).await;
    let good = std::fs::read(&path).unwrap();
    assert!(load(&path).0.is_some());

    // truncated body
    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert_eq!(load(&path), (None, false), "truncated");
    // a flipped byte in the body
    let mut flipped = good.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    assert_eq!(load(&path), (None, false), "flipped");
    // garbage
    std::fs::write(&path, b"not a snapshot at all").unwrap();
    assert_eq!(load(&path), (None, false), "garbage");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(load(&path), (None, false), "empty");
}

// ---------------------------------------------------------------- quotas

/// The leader's side of quota pushes: counts each batch id once, answers
/// the totals plus `others` (other workers' use).
#[derive(Default)]
struct Ledger {
    totals: Mutex<HashMap<String, u64>>,
    batches: Mutex<Vec<String>>,
    /// PUTs to answer 503 before accepting.
    fail_next: AtomicUsize,
    others: u64,
}

fn parse_push(body: &[u8]) -> Vec<PushLine> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn is_stats_only(body: &[u8]) -> bool {
    matches!(parse_push(body).as_slice(), [PushLine::Stats(_)])
}

fn batch_id(lines: &[PushLine]) -> String {
    match &lines[0] {
        PushLine::Batch { id } => id.clone(),
        other => panic!("first line is not a batch: {other:?}"),
    }
}

impl Ledger {
    fn handle(&self, seen: &Seen, current: &Mutex<Export>) -> Reply {
        if seen.method == "GET" {
            return long_poll(current, seen);
        }
        assert_eq!(seen.path, "/api/cluster/quotas");
        let lines = parse_push(&seen.body);
        if let [PushLine::Stats(_)] = lines.as_slice() {
            // A stats-only push: nothing to count (and no failure to fake).
            let mut reply = Reply::status(200).set("Content-Type", "application/json");
            reply.body = br#"{"done":true,"counters":[]}"#.to_vec();
            return reply;
        }
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Reply::status(503);
        }
        let id = batch_id(&lines);
        assert!(matches!(lines.last(), Some(PushLine::Stats(_))));
        let first_time = {
            let mut batches = self.batches.lock().unwrap();
            let first = !batches.contains(&id);
            if first {
                batches.push(id.clone());
            }
            first
        };
        let mut totals = self.totals.lock().unwrap();
        let mut counters = Vec::new();
        for line in &lines {
            if let PushLine::Increment {
                counter,
                calls,
                expires_at_ms,
            } = line
            {
                let total = totals.entry(counter.clone()).or_insert(self.others);
                if first_time {
                    *total += calls;
                }
                counters.push(json!({"k": counter, "n": *total, "e": expires_at_ms}));
            }
        }
        let mut reply = Reply::status(200).set("Content-Type", "application/json");
        reply.body = serde_json::to_vec(&json!({"done": true, "counters": counters})).unwrap();
        reply
    }
}

async fn quota_leader(ledger: Arc<Ledger>) -> FakeLeader {
    let current = Arc::new(Mutex::new(export(
        1,
        &[("apikeys", "k2", apikey("k2", 106))],
        &[],
    )));
    FakeLeader::start(move |seen| ledger.handle(seen, &current)).await
}

#[tokio::test]
async fn pushes_increments_in_a_batch_and_observes_the_totals() {
    let ledger = Arc::new(Ledger {
        others: 100,
        ..Ledger::default()
    });
    let leader = quota_leader(ledger.clone()).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    let k2 = key(apikey("k2", 106));
    for _ in 0..5 {
        n.quotas.admit(&k2, now_ms()).unwrap();
    }
    eventually("a push", || !leader.puts().is_empty()).await;
    let put = &leader.puts()[0];
    assert_eq!(put.header("host"), Some("otoroshi-api.oto.tools"));
    assert_eq!(put.header("otoroshi-worker-id"), Some("w1"));
    assert!(put.header("authorization").unwrap().starts_with("Basic "));
    let lines = parse_push(&put.body);
    let id = batch_id(&lines);
    assert!(id.starts_with("w1:"), "{id}");
    let increments: HashMap<String, u64> = lines
        .iter()
        .filter_map(|l| match l {
            PushLine::Increment { counter, calls, .. } => Some((counter.clone(), *calls)),
            _ => None,
        })
        .collect();
    assert_eq!(increments.len(), 3, "{increments:?}");
    assert_eq!(increments[&daily_key("k2")], 5);
    match lines.last().unwrap() {
        PushLine::Stats(stats) => assert!(stats.get("cpu_usage").is_some()),
        other => panic!("{other:?}"),
    }
    // The leader answered 105 for the day (100 from other workers): one
    // call left of 106.
    eventually("the answer observed", || {
        n.worker.status()["quotas"]["last_push_at"].is_u64()
    })
    .await;
    n.quotas.admit(&k2, now_ms()).unwrap();
    assert_eq!(
        n.quotas.admit(&k2, now_ms()).unwrap_err().which,
        Window::Daily
    );
}

#[tokio::test]
async fn a_worker_with_nothing_to_count_still_pushes_its_stats() {
    let ledger = Arc::new(Ledger::default());
    let leader = quota_leader(ledger.clone()).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("a stats push", || !leader.stats_only_puts().is_empty()).await;
    let put = &leader.stats_only_puts()[0];
    match parse_push(&put.body).as_slice() {
        [PushLine::Stats(stats)] => {
            for field in ["rate", "duration", "p50", "p99", "error_rate", "heap_used"] {
                assert!(stats.get(field).is_some(), "{field} in {stats}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(leader.puts().is_empty());
    assert!(ledger.batches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_push_is_resent_with_the_same_batch_id_and_nothing_is_lost() {
    let ledger = Arc::new(Ledger {
        fail_next: AtomicUsize::new(2),
        ..Ledger::default()
    });
    let leader = quota_leader(ledger.clone()).await;
    let n = node(settings(std::slice::from_ref(&leader.url)));
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    let k2 = key(apikey("k2", 106));
    for _ in 0..3 {
        n.quotas.admit(&k2, now_ms()).unwrap();
    }
    eventually("a failed push", || !leader.puts().is_empty()).await;
    assert!(n.worker.status()["quotas"]["pending_batch"].is_string());
    // Calls made while the batch is pending go in the next batch.
    for _ in 0..2 {
        n.quotas.admit(&k2, now_ms()).unwrap();
    }
    eventually("two batches delivered", || {
        ledger.batches.lock().unwrap().len() >= 2
    })
    .await;

    let puts = leader.puts();
    let ids: Vec<String> = puts
        .iter()
        .map(|p| batch_id(&parse_push(&p.body)))
        .collect();
    // 503, 503, then the same batch delivered, byte for byte.
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_eq!(puts[0].body, puts[2].body);
    assert_ne!(ids[3], ids[0]);
    assert_eq!(ledger.totals.lock().unwrap()[&daily_key("k2")], 5);
    eventually("the answer taken", || {
        n.worker.status()["quotas"]["pending_batch"].is_null()
    })
    .await;
    assert_eq!(n.worker.status()["quotas"]["consecutive_failures"], 0);
}

#[tokio::test]
async fn a_batch_answered_twice_is_counted_once() {
    // The first delivery is applied but its answer never arrives in time;
    // the resent batch (same id) is acknowledged, not counted again.
    let ledger = Arc::new(Ledger::default());
    let applied_late = Arc::new(AtomicUsize::new(1));
    let current = Arc::new(Mutex::new(export(
        1,
        &[("apikeys", "k2", apikey("k2", 106))],
        &[],
    )));
    let l = ledger.clone();
    let late = applied_late.clone();
    let leader = FakeLeader::start(move |seen| {
        let mut reply = l.handle(seen, &current);
        if seen.method == "PUT"
            && !is_stats_only(&seen.body)
            && late
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            reply.hold = Duration::from_secs(3);
        }
        reply
    })
    .await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.quota_timeout = Duration::from_millis(300);
    let n = node(s);
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    let k2 = key(apikey("k2", 106));
    for _ in 0..4 {
        n.quotas.admit(&k2, now_ms()).unwrap();
    }
    eventually("a second delivery", || leader.puts().len() >= 2).await;
    eventually("acknowledged", || {
        n.worker.status()["quotas"]["pending_batch"].is_null()
    })
    .await;
    let puts = leader.puts();
    assert_eq!(
        batch_id(&parse_push(&puts[0].body)),
        batch_id(&parse_push(&puts[1].body))
    );
    assert_eq!(ledger.totals.lock().unwrap()[&daily_key("k2")], 4);
}

#[tokio::test]
async fn final_push_sends_what_is_left() {
    let ledger = Arc::new(Ledger::default());
    let leader = quota_leader(ledger.clone()).await;
    let mut s = settings(std::slice::from_ref(&leader.url));
    s.push_every = Duration::from_secs(3600);
    let n = node(s);
    let k2 = key(apikey("k2", 106));
    for _ in 0..7 {
        n.quotas.admit(&k2, now_ms()).unwrap();
    }
    n.worker.final_push().await;
    assert_eq!(leader.puts().len(), 1);
    assert_eq!(ledger.totals.lock().unwrap()[&daily_key("k2")], 7);

    // With every leader down it returns within quota_timeout.
    let mut s = settings(&[dead_url().await]);
    s.quota_timeout = Duration::from_millis(300);
    let n = node(s);
    n.quotas.admit(&k2, now_ms()).unwrap();
    let started = Instant::now();
    n.worker.final_push().await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------- real leader

/// The worker against the real leader side (in process, over HTTP): the
/// wire format both sides read from wire.rs really is the same.
#[tokio::test]
async fn against_the_real_leader() {
    use cluster::leader::{Leader, LeaderSettings};
    use store::{Condition, MemoryStore, Op, Store};

    let store = Arc::new(MemoryStore::new());
    let put = |kind: &str, id: &str, v: Value| Op::Put {
        kind: kind.into(),
        id: id.into(),
        value: serde_json::to_vec(&v).unwrap(),
        condition: Condition::Any,
    };
    store
        .write(vec![
            put("routes", "r1", route("r1", "a.oto.tools")),
            put("apikeys", "k1", apikey("k1", 1000)),
        ])
        .await
        .unwrap();
    let leader = Leader::new(
        store.clone(),
        LeaderSettings {
            name: "leader-1".into(),
            version: "9.9.9",
            compression: 4,
            cache_state_for: Duration::ZERO,
            grouping_by: 50,
            state_dump_path: None,
            member_timeout: Duration::from_secs(30),
            http_port: 8091,
            https_port: 9091,
            location: "eu".into(),
        },
        LiveStats::new(Arc::new(LiveCounters::default())),
        Arc::new(|id: &str| (id == "k1").then(|| Arc::new(key(apikey("k1", 1000))))),
        Counter::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = leader.router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut s = settings(std::slice::from_ref(&url));
    s.poll_every = Duration::from_secs(5);
    let n = node(s);
    n.worker.spawn();
    eventually("the state", || n.state.load().loaded).await;
    assert_eq!(route_ids(&n.state), ["r1"]);
    // give the worker time to start its long-poll, then write
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = Instant::now();
    store
        .write(vec![put("routes", "r2", route("r2", "b.oto.tools"))])
        .await
        .unwrap();
    eventually("the new route", || route_ids(&n.state) == ["r1", "r2"]).await;
    assert!(
        written.elapsed() < Duration::from_secs(2),
        "{:?}",
        written.elapsed()
    );

    let k1 = key(apikey("k1", 1000));
    for _ in 0..3 {
        n.quotas.admit(&k1, now_ms()).unwrap();
    }
    eventually("the push", || {
        n.worker.status()["quotas"]["last_push_at"].is_u64()
    })
    .await;
    let counters = store.counters(&[daily_key("k1")]).await.unwrap();
    assert_eq!(counters[0].as_ref().unwrap().value, 3);

    let members = leader.members().await;
    let me = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "w1")
        .unwrap()
        .clone();
    assert_eq!(me["stateDigest"], n.state.load().digest.as_str());
    assert_eq!(me["inSync"], true, "{me}");
}
