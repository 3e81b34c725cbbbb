//! The shared behaviour suite on `RedisStore`, each test under a root of its
//! own on the shared server, plus what only a shared, networked backend has
//! to show: several nodes on one root, and a server that dies and returns.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{Counter, Increment, Once, RedisStore, RemoteSettings, Store, StoreError};
use testkit::redis::{RedisServer, connected_clients, delete_keys, shared_url};
use testkit::unique_name;
use tokio::time::timeout;

use suite::{keys, now_ms, put};

/// Per call. Short, so that the outage tests stay fast.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a reconnect may take once the server is back.
const RECOVERY: Duration = Duration::from_secs(10);

fn settings(url: &str, root: &str) -> RemoteSettings {
    RemoteSettings {
        revision_poll: Duration::from_millis(500),
        timeout: CALL_TIMEOUT,
        ..RemoteSettings::new(url, root)
    }
}

/// Settings whose revision poll never fires during a test: what wakes a
/// store then is pub/sub alone.
fn pubsub_only(url: &str, root: &str) -> RemoteSettings {
    RemoteSettings {
        revision_poll: Duration::from_secs(3600),
        ..settings(url, root)
    }
}

/// A root on the shared server whose keys go when the test ends (passing
/// or not).
struct Root {
    url: String,
    name: String,
}

impl Root {
    fn new(url: String) -> Self {
        Self {
            url,
            name: unique_name("test"),
        }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Err(error) = delete_keys(&self.url, &format!("{{{}}}:*", self.name)) {
            eprintln!("could not delete root {}: {error}", self.name);
        }
    }
}

async fn fresh() -> Option<(Arc<dyn Store>, Root)> {
    let root = Root::new(shared_url()?);
    let store = RedisStore::connect(settings(&root.url, &root.name))
        .await
        .unwrap();
    Some((Arc::new(store), root))
}

suite::store_suite!(fresh);

fn inc(key: &str, by: i64) -> Increment {
    Increment {
        key: key.to_owned(),
        by,
        expires_at_ms: None,
    }
}

fn assert_unavailable(error: &StoreError) {
    assert!(
        matches!(
            error,
            StoreError::Unavailable {
                backend: "redis",
                ..
            }
        ),
        "expected Unavailable from redis, got {error:?}"
    );
}

/// Retries `call` until it succeeds or `RECOVERY` passes.
async fn eventually<T, F: Future<Output = Result<T, StoreError>>>(
    mut call: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match call().await {
            Ok(value) => return value,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("still failing after {RECOVERY:?}: {error:?}"),
        }
    }
}

#[tokio::test]
async fn backend_is_named_redis_and_roots_stay_apart() {
    let Some(url) = shared_url() else { return };
    let (first, second) = (Root::new(url.clone()), Root::new(url));
    let a = RedisStore::connect(settings(&first.url, &first.name))
        .await
        .unwrap();
    let b = RedisStore::connect(settings(&second.url, &second.name))
        .await
        .unwrap();
    assert_eq!(a.backend(), "redis");
    a.write(vec![put("route", "r", b"A")]).await.unwrap();
    a.incr("hits", 5, None).await.unwrap();
    assert_eq!(b.get("route", "r").await.unwrap(), None);
    assert_eq!(b.revision().await.unwrap(), 0);
    assert_eq!(b.counters(&keys(&["hits"])).await.unwrap(), [None]);
    assert!(b.scan_counters("", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn ephemeral_records_are_shared_and_expire() {
    let Some(url) = shared_url() else { return };
    let root = Root::new(url);
    let a = RedisStore::connect(settings(&root.url, &root.name))
        .await
        .unwrap();
    let b = RedisStore::connect(settings(&root.url, &root.name))
        .await
        .unwrap();
    suite::ephemeral::shared_and_expire(&a, &b).await;
    // The index entries of the records that went are gone too.
    let mut index = redis::Client::open(root.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let entries: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{{{}}}:ephemeral-index", root.name))
        .arg(0)
        .arg(-1)
        .query_async(&mut index)
        .await
        .unwrap();
    assert_eq!(
        entries,
        ["members", "members/a", "members/b", "members/é", "members0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_wakes_the_other() {
    let Some(url) = shared_url() else { return };
    let root = Root::new(url);
    let writer = RedisStore::connect(pubsub_only(&root.url, &root.name))
        .await
        .unwrap();
    let reader = RedisStore::connect(pubsub_only(&root.url, &root.name))
        .await
        .unwrap();
    let mut changes = reader.changes();
    for n in 1..=3_u64 {
        let revision = writer
            .write(vec![put("route", &n.to_string(), b"v")])
            .await
            .unwrap();
        assert_eq!(revision, n);
        timeout(
            Duration::from_secs(1),
            changes.wait_for(|seen| *seen >= revision),
        )
        .await
        .expect("the other node wakes within 1 s")
        .unwrap();
        assert_eq!(
            reader
                .get("route", &n.to_string())
                .await
                .unwrap()
                .as_deref(),
            Some(&b"v"[..])
        );
    }
    assert_eq!(reader.count("route").await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_hammering_one_counter_lose_nothing() {
    let Some(url) = shared_url() else { return };
    let root = Root::new(url);
    let window = now_ms() + 3_600_000;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = Arc::new(
            RedisStore::connect(settings(&root.url, &root.name))
                .await
                .unwrap(),
        );
        for _ in 0..4 {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                for _ in 0..250 {
                    store.incr("shared", 1, Some(window)).await.unwrap();
                }
            });
        }
    }
    tasks.join_all().await;
    let check = RedisStore::connect(settings(&root.url, &root.name))
        .await
        .unwrap();
    assert_eq!(
        check.counters(&keys(&["shared"])).await.unwrap(),
        [Some(Counter {
            value: 2000,
            expires_at_ms: Some(window)
        })]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_marked_batches_apply_each_once() {
    let Some(url) = shared_url() else { return };
    let root = Root::new(url);
    let window = now_ms() + 3_600_000;
    const MARKERS: u32 = 40;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = Arc::new(
            RedisStore::connect(settings(&root.url, &root.name))
                .await
                .unwrap(),
        );
        for _ in 0..2 {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                let mut applied = 0_u32;
                for marker in 0..MARKERS {
                    let once = Once {
                        key: format!("batch:{marker}"),
                        expires_at_ms: window,
                    };
                    if store
                        .incr_batch(Some(&once), &[inc("total", 1), inc("double", 2)])
                        .await
                        .unwrap()
                    {
                        applied += 1;
                    }
                }
                applied
            });
        }
    }
    let applied: u32 = tasks.join_all().await.into_iter().sum();
    assert_eq!(applied, MARKERS, "each marker's batch applies exactly once");
    let check = RedisStore::connect(settings(&root.url, &root.name))
        .await
        .unwrap();
    let values: Vec<_> = check
        .counters(&keys(&["total", "double"]))
        .await
        .unwrap()
        .into_iter()
        .map(|counter| counter.unwrap().value)
        .collect();
    assert_eq!(values, [i64::from(MARKERS), 2 * i64::from(MARKERS)]);
}

#[tokio::test]
async fn counters_saturate_at_the_i64_bounds_and_stay_exact() {
    let Some((store, _root)) = fresh().await else {
        return;
    };
    // Beyond 2^53, where a double would round: Redis keeps integers exact.
    let big = (1_i64 << 53) + 1;
    assert_eq!(store.incr("big", big, None).await.unwrap(), big);
    assert_eq!(store.incr("big", 2, None).await.unwrap(), big + 2);
    assert_eq!(
        store.incr("top", i64::MAX - 1, None).await.unwrap(),
        i64::MAX - 1
    );
    assert_eq!(store.incr("top", 5, None).await.unwrap(), i64::MAX);
    assert_eq!(store.incr("top", -1, None).await.unwrap(), i64::MAX - 1);
    assert_eq!(
        store.incr("bottom", i64::MIN, None).await.unwrap(),
        i64::MIN
    );
    assert_eq!(store.incr("bottom", -1, None).await.unwrap(), i64::MIN);
    assert!(
        store
            .incr_batch(None, &[inc("top", i64::MAX), inc("bottom", i64::MIN)])
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .counters(&keys(&["top", "bottom"]))
            .await
            .unwrap()
            .into_iter()
            .map(|counter| counter.unwrap().value)
            .collect::<Vec<_>>(),
        [i64::MAX, i64::MIN]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_calls_fast_and_a_restart_recovers() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::connect(settings(&server.url(), "node"))
        .await
        .unwrap();
    store.write(vec![put("route", "a", b"A")]).await.unwrap();
    store.incr("hits", 1, None).await.unwrap();

    server.kill();
    let started = Instant::now();
    let failures = [
        store.get("route", "a").await.map(drop),
        store.write(vec![put("route", "b", b"B")]).await.map(drop),
        store.revision().await.map(drop),
        store.incr("hits", 1, None).await.map(drop),
        store.counters(&keys(&["hits"])).await.map(drop),
        store.scan("route", None, 10).await.map(drop),
        store.ping().await,
    ];
    for failure in &failures {
        assert_unavailable(failure.as_ref().unwrap_err());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < CALL_TIMEOUT * 7,
        "each call fails within its timeout; all took {elapsed:?}"
    );

    server.restart();
    // The same store reconnects by itself; the restarted server is empty.
    eventually(|| store.ping()).await;
    assert_eq!(eventually(|| store.get("route", "a")).await, None);
    let mut changes = store.changes();
    changes.borrow_and_update();

    // Another node writes: this one wakes and sees it. (Its revision was
    // ahead of the emptied server's; the store heals that, which may wake
    // it once before the write lands.)
    let other = RedisStore::connect(settings(&server.url(), "node"))
        .await
        .unwrap();
    other
        .write(vec![put("route", "after", b"1")])
        .await
        .unwrap();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        timeout(left, changes.changed())
            .await
            .expect("changes() wakes again after the restart")
            .unwrap();
        if store.get("route", "after").await.unwrap().is_some() {
            break;
        }
    }
    assert!(*changes.borrow() >= 2, "the revision never goes backwards");
}

#[tokio::test]
async fn a_wrong_port_fails_connect_quickly_without_the_password() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://user:hunter2secret@127.0.0.1:{port}/0");
    let started = Instant::now();
    let Err(error) = RedisStore::connect(settings(&url, "node")).await else {
        panic!("nothing listens on port {port}");
    };
    assert!(started.elapsed() <= CALL_TIMEOUT + Duration::from_millis(500));
    assert_unavailable(&error);
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2secret"), "{message}");
}

#[tokio::test]
async fn unsupported_urls_and_roots_are_refused_clearly() {
    for (url, root, says) in [
        ("rediss://127.0.0.1:6379#insecure", "node", "verified"),
        (
            "redis+sentinel://127.0.0.1:26379/mymaster",
            "node",
            "app.redis.sentinels.master",
        ),
        (
            "redis+cluster://127.0.0.1:7000",
            "node",
            "app.redis.cluster.members",
        ),
        ("postgresql://127.0.0.1/db", "node", "redis://"),
        ("redis://127.0.0.1:6379", "bad}root", "storage root"),
    ] {
        let Err(error) = RedisStore::connect(settings(url, root)).await else {
            panic!("{url} under {root} must be refused");
        };
        assert_unavailable(&error);
        assert!(error.to_string().contains(says), "{url}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_store_closes_its_connections() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // This check's own connection is one of the clients it counts.
    let idle = connected_clients(&server.url()).unwrap();
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(
            RedisStore::connect(settings(&server.url(), "node"))
                .await
                .unwrap(),
        );
    }
    let settled = |want: u64| {
        let url = server.url();
        async move {
            let deadline = Instant::now() + RECOVERY;
            loop {
                let now = connected_clients(&url).unwrap();
                if now == want || Instant::now() > deadline {
                    return now;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // A command connection and a pub/sub one per store.
    assert_eq!(settled(idle + 16).await, idle + 16);
    drop(stores);
    assert_eq!(
        settled(idle).await,
        idle,
        "background tasks and connections end"
    );
}
