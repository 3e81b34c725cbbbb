//! The shared behaviour suite on `PostgresStore`, plus what only a store
//! that several nodes share over the network has to show: migrations that
//! tolerate nodes starting together, changes heard across nodes, counters
//! exact across nodes, and surviving a server crash.
//!
//! Suite tests run on the shared server (see `testkit::postgres`), each in a
//! schema of its own that is dropped afterwards; crash tests run a private
//! server they can kill.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::{
    Condition, Counter, Increment, Once, PostgresStore, RemoteSettings, Store, StoreError,
};
use testkit::postgres::{PostgresServer, SchemaGuard, shared_uri};
use testkit::unique_name;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tokio_postgres::NoTls;

use suite::{keys, now_ms, put, put_if};

fn settings(uri: &str, root: &str) -> RemoteSettings {
    let mut settings = RemoteSettings::new(uri, root);
    settings.pool_size = 4;
    settings
}

/// A store on a fresh schema of the shared server, and the guard that drops
/// the schema once the test is done (made first, so that it also cleans up
/// after a connect that panics).
async fn rooted(settings: RemoteSettings) -> Option<(PostgresStore, SchemaGuard)> {
    let guard = SchemaGuard::new(&settings.url, &settings.root);
    let store = PostgresStore::connect(settings).await.unwrap();
    Some((store, guard))
}

async fn fresh() -> Option<(Arc<dyn Store>, SchemaGuard)> {
    let uri = shared_uri()?;
    let (store, guard) = rooted(settings(&uri, &unique_name("komainu_test"))).await?;
    Some((Arc::new(store), guard))
}

suite::store_suite!(fresh);

/// A plain driver connection, to look at (or tamper with) what the store
/// left in the database.
async fn sql(uri: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(uri, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn unavailable_message(error: StoreError) -> String {
    match error {
        StoreError::Unavailable { backend, message } => {
            assert_eq!(backend, "postgresql", "{message}");
            message
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn backend_is_named_postgresql() {
    let Some((store, _guard)) = fresh().await else {
        return;
    };
    assert_eq!(store.backend(), "postgresql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_even_when_nodes_start_together() {
    let Some(uri) = shared_uri() else { return };
    let root = unique_name("komainu_test");
    let _guard = SchemaGuard::new(&uri, &root);

    // Four nodes meet a database without the schema at the same moment.
    let mut starting = JoinSet::new();
    for _ in 0..4 {
        let settings = settings(&uri, &root);
        starting.spawn(async move { PostgresStore::connect(settings).await });
    }
    let mut stores = Vec::new();
    while let Some(started) = starting.join_next().await {
        stores.push(started.unwrap().unwrap());
    }
    // And a later one finds everything in place.
    stores.push(PostgresStore::connect(settings(&uri, &root)).await.unwrap());

    let client = sql(&uri).await;
    let versions: Vec<i32> = client
        .query(
            &format!("SELECT version FROM \"{root}\".komainu_migrations ORDER BY version"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!versions.is_empty());
    let expected: Vec<i32> = (1..=i32::try_from(versions.len()).unwrap()).collect();
    assert_eq!(versions, expected, "one row per migration, in order");

    // Every node works on the one schema.
    stores[0]
        .write(vec![put("route", "a", b"A")])
        .await
        .unwrap();
    for store in &stores {
        assert_eq!(
            store.get("route", "a").await.unwrap().as_deref(),
            Some(&b"A"[..])
        );
    }
}

#[tokio::test]
async fn a_schema_from_a_newer_komainu_is_refused() {
    let Some(uri) = shared_uri() else { return };
    let Some((store, guard)) = rooted(settings(&uri, &unique_name("komainu_test"))).await else {
        return;
    };
    drop(store);
    let root = guard.schema().to_owned();
    sql(&uri)
        .await
        .execute(
            &format!(
                "INSERT INTO \"{root}\".komainu_migrations (version, name) \
                 VALUES (9999, 'from the future')"
            ),
            &[],
        )
        .await
        .unwrap();

    let Err(error) = PostgresStore::connect(settings(&uri, &root)).await else {
        panic!("a schema at an unknown version must be refused");
    };
    let message = unavailable_message(error);
    assert!(message.contains("9999"), "{message}");
    assert!(message.contains("newer komainu"), "{message}");
}

#[tokio::test]
async fn an_invalid_root_is_refused() {
    for root in ["", "1abc", "a-b", "a.b", &"a".repeat(64)] {
        let Err(error) =
            PostgresStore::connect(settings("postgresql://postgres@127.0.0.1/test", root)).await
        else {
            panic!("root {root:?} must be refused");
        };
        let message = unavailable_message(error);
        assert!(message.contains("storage root"), "{message}");
    }
}

/// `sslmode=require` never falls back to a plain connection: a server
/// without TLS is refused, saying so. (TLS itself: `komainu`'s
/// `datastores_tls.rs`, on a server with a test CA.)
#[tokio::test]
async fn require_refuses_a_server_without_tls() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let url = format!("{}?sslmode=require", server.uri());
    let Err(error) = PostgresStore::connect(settings(&url, "komainu_tls")).await else {
        panic!("sslmode=require must not connect in plain text");
    };
    let message = unavailable_message(error);
    assert!(message.contains("TLS"), "{message}");
    assert!(message.contains(&server.port().to_string()), "{message}");
}

#[tokio::test]
async fn a_wrong_port_fails_fast_and_keeps_the_password_out() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://komainu:hunter2-secret@127.0.0.1:{port}/test");
    let mut settings = settings(&url, "komainu_nowhere");
    settings.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let Err(error) = PostgresStore::connect(settings).await else {
        panic!("nothing listens on port {port}");
    };
    let elapsed = started.elapsed();
    let shown = error.to_string();
    eprintln!("{shown}");
    let message = unavailable_message(error);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!format!("{message:?}").contains("hunter2"), "{message}");
}

#[tokio::test]
async fn counters_saturate_at_the_bigint_bounds() {
    let Some((store, _guard)) = fresh().await else {
        return;
    };
    assert_eq!(
        store.incr("max", i64::MAX - 1, None).await.unwrap(),
        i64::MAX - 1
    );
    assert_eq!(store.incr("max", 10, None).await.unwrap(), i64::MAX);
    assert_eq!(store.incr("max", 1, None).await.unwrap(), i64::MAX);
    assert_eq!(store.incr("max", -1, None).await.unwrap(), i64::MAX - 1);
    assert_eq!(store.incr("min", i64::MIN, None).await.unwrap(), i64::MIN);
    assert_eq!(store.incr("min", -1, None).await.unwrap(), i64::MIN);
    // Expiries past what a bigint holds are clamped, and still in the future.
    assert_eq!(store.incr("far", 1, Some(u64::MAX)).await.unwrap(), 1);
    assert_eq!(store.incr("far", 1, None).await.unwrap(), 2);
    assert_eq!(
        store.counters(&keys(&["far"])).await.unwrap(),
        [Some(Counter {
            value: 2,
            expires_at_ms: Some(u64::try_from(i64::MAX).unwrap())
        })]
    );
}

#[tokio::test]
async fn entities_are_queryable_as_json() {
    let Some(uri) = shared_uri() else { return };
    let Some((store, guard)) = rooted(settings(&uri, &unique_name("komainu_test"))).await else {
        return;
    };
    store
        .write(vec![
            put("route", "r1", br#"{"name": "one", "paths": ["/a"]}"#),
            put("blob", "b", &[0xFF, 0x00, 0x01]),
            put("text", "t", b"not json"),
        ])
        .await
        .unwrap();
    let client = sql(&uri).await;
    let root = guard.schema();
    let name: Option<String> = client
        .query_one(
            &format!("SELECT doc->>'name' FROM \"{root}\".entities WHERE kind = $1 AND id = $2"),
            &[&&b"route"[..], &&b"r1"[..]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(name.as_deref(), Some("one"));
    let without_doc: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{root}\".entities WHERE doc IS NULL"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        without_doc, 2,
        "values that are not JSON store, with no doc"
    );
    // The bytes, not the JSON, are what the store hands back.
    assert_eq!(
        store.get("route", "r1").await.unwrap().as_deref(),
        Some(&br#"{"name": "one", "paths": ["/a"]}"#[..])
    );
}

#[tokio::test]
async fn ephemeral_records_are_shared_and_expire() {
    let Some(uri) = shared_uri() else { return };
    let root = unique_name("komainu_test");
    let (a, _guard) = rooted(settings(&uri, &root)).await.unwrap();
    let b = PostgresStore::connect(settings(&uri, &root)).await.unwrap();
    suite::ephemeral::shared_and_expire(&a, &b).await;
    // The rows of the records that went are gone too.
    let keys: Vec<Vec<u8>> = sql(&uri)
        .await
        .query(
            &format!("SELECT key FROM \"{root}\".ephemeral ORDER BY key"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<&[u8]> = vec![
        b"members",
        b"members/a",
        b"members/b",
        "members/é".as_bytes(),
        b"members0",
    ];
    assert_eq!(keys, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_wakes_the_other_within_a_second() {
    let Some(uri) = shared_uri() else { return };
    let mut settings = settings(&uri, &unique_name("komainu_test"));
    // Polling alone would take a minute: only LISTEN/NOTIFY can pass this.
    settings.revision_poll = Duration::from_secs(60);
    let Some((writer, _guard)) = rooted(settings.clone()).await else {
        return;
    };
    let reader = PostgresStore::connect(settings).await.unwrap();

    let mut changes = reader.changes();
    for round in 0..3 {
        let id = format!("r{round}");
        let started = Instant::now();
        let revision = writer
            .write(vec![put("route", &id, id.as_bytes())])
            .await
            .unwrap();
        timeout(
            Duration::from_secs(1),
            changes.wait_for(|seen| *seen >= revision),
        )
        .await
        .expect("the other node hears of the write within a second")
        .unwrap();
        eprintln!(
            "round {round}: heard on the other node after {:?}",
            started.elapsed()
        );
        assert_eq!(
            reader.get("route", &id).await.unwrap().as_deref(),
            Some(id.as_bytes())
        );
    }

    // And the other way round.
    let mut changes = writer.changes();
    let revision = reader
        .write(vec![put("route", "back", b"b")])
        .await
        .unwrap();
    timeout(
        Duration::from_secs(1),
        changes.wait_for(|seen| *seen == revision),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_notify_does_not_move_the_revision() {
    let Some(uri) = shared_uri() else { return };
    let settings = settings(&uri, &unique_name("komainu_test"));
    let Some((store, guard)) = rooted(settings.clone()).await else {
        return;
    };
    assert_eq!(store.write(vec![put("route", "a", b"A")]).await.unwrap(), 1);
    let mut changes = store.changes();
    changes.borrow_and_update();

    let channel = format!("{}_changes", guard.schema());
    sql(&uri)
        .await
        .batch_execute(&format!("NOTIFY \"{channel}\", '999999'"))
        .await
        .unwrap();
    sleep(Duration::from_millis(300)).await;
    assert_eq!(*changes.borrow_and_update(), 1);

    // Real writes from elsewhere still wake it.
    let other = PostgresStore::connect(settings).await.unwrap();
    let revision = other.write(vec![put("route", "b", b"B")]).await.unwrap();
    assert_eq!(revision, 2);
    timeout(Duration::from_secs(1), changes.wait_for(|seen| *seen == 2))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_count_exactly_and_apply_a_marked_batch_once() {
    let Some(uri) = shared_uri() else { return };
    let settings = settings(&uri, &unique_name("komainu_test"));
    let Some((first, _guard)) = rooted(settings.clone()).await else {
        return;
    };
    let nodes: [Arc<dyn Store>; 2] = [
        Arc::new(first),
        Arc::new(PostgresStore::connect(settings).await.unwrap()),
    ];

    let mut hammering = JoinSet::new();
    for task in 0..8 {
        let node = Arc::clone(&nodes[task % 2]);
        hammering.spawn(async move {
            for _ in 0..100 {
                node.incr("hits", 1, None).await.unwrap();
            }
        });
    }
    while let Some(done) = hammering.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        nodes[1].counters(&keys(&["hits"])).await.unwrap(),
        [Some(Counter {
            value: 800,
            expires_at_ms: None
        })]
    );

    let window = now_ms() + 3_600_000;
    let marker = Once {
        key: "batch:w1:7".to_owned(),
        expires_at_ms: window,
    };
    let batch = vec![
        Increment {
            key: "quota:a".to_owned(),
            by: 5,
            expires_at_ms: Some(window),
        },
        Increment {
            key: "quota:b".to_owned(),
            by: 1,
            expires_at_ms: Some(window),
        },
    ];
    let mut pushing = JoinSet::new();
    for task in 0..8 {
        let node = Arc::clone(&nodes[task % 2]);
        let (marker, batch) = (marker.clone(), batch.clone());
        pushing.spawn(async move { node.incr_batch(Some(&marker), &batch).await.unwrap() });
    }
    let mut applied = 0;
    while let Some(done) = pushing.join_next().await {
        if done.unwrap() {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "one push counts, on whichever node");
    let values: Vec<Option<i64>> = nodes[0]
        .counters(&keys(&["quota:a", "quota:b"]))
        .await
        .unwrap()
        .into_iter()
        .map(|counter| counter.map(|counter| counter.value))
        .collect();
    assert_eq!(values, [Some(5), Some(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stuck_behind_a_lock_gives_up_at_the_timeout_and_leaves_nothing_behind() {
    let Some(uri) = shared_uri() else { return };
    let mut settings = settings(&uri, &unique_name("komainu_test"));
    settings.timeout = Duration::from_secs(1);
    let Some((store, guard)) = rooted(settings).await else {
        return;
    };
    assert_eq!(store.write(vec![put("route", "a", b"A")]).await.unwrap(), 1);

    // Someone else sits on the revision lock, as a stalled writer would.
    let mut blocker = sql(&uri).await;
    let held = blocker.transaction().await.unwrap();
    held.query(
        &format!("SELECT * FROM \"{}\".revision FOR UPDATE", guard.schema()),
        &[],
    )
    .await
    .unwrap();
    let started = Instant::now();
    let error = store
        .write(vec![put("route", "b", b"B")])
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("after {elapsed:?}: {error}");
    unavailable_message(error);
    assert!(
        elapsed >= Duration::from_millis(900),
        "gave up after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "gave up after {elapsed:?}"
    );
    // Readers are not held up by a writer's lock.
    assert_eq!(store.revision().await.unwrap(), 1);
    assert_eq!(store.get("route", "b").await.unwrap(), None);
    held.rollback().await.unwrap();

    // The abandoned attempt holds nothing: the next write goes through at once.
    let started = Instant::now();
    assert_eq!(store.write(vec![put("route", "b", b"B")]).await.unwrap(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        store.get("route", "b").await.unwrap().as_deref(),
        Some(&b"B"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_store_closes_its_connections() {
    let Some(uri) = shared_uri() else { return };
    let app = unique_name("komainu_drop");
    let separator = if uri.contains('?') { '&' } else { '?' };
    let url = format!("{uri}{separator}application_name={app}");
    let Some((store, _guard)) = rooted(settings(&url, &unique_name("komainu_test"))).await else {
        return;
    };
    store.write(vec![put("route", "a", b"A")]).await.unwrap();
    let client = sql(&uri).await;
    let connections = async || -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0)
    };
    // The pool's connection and the listener's.
    assert!(connections().await >= 2);
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(5);
    while connections().await > 0 {
        assert!(Instant::now() < deadline, "connections outlived the store");
        sleep(Duration::from_millis(20)).await;
    }
}

/// Everything this test saw of the writer running through the crash.
#[derive(Default)]
struct WriterLog {
    acknowledged: Vec<String>,
    failures: Vec<(Duration, StoreError)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_server_crash_and_the_store_recovers() {
    let Some(mut server) = tokio::task::block_in_place(PostgresServer::start) else {
        return;
    };
    let call_timeout = Duration::from_secs(2);
    let mut settings = settings(&server.uri(), "komainu_crash");
    settings.timeout = call_timeout;
    // Only a reconnected LISTEN can wake the observer quickly after restart.
    settings.revision_poll = Duration::from_secs(60);
    let store = Arc::new(PostgresStore::connect(settings.clone()).await.unwrap());
    let observer = PostgresStore::connect(settings).await.unwrap();

    let log = Arc::new(Mutex::new(WriterLog::default()));
    let writer = {
        let (store, log) = (Arc::clone(&store), Arc::clone(&log));
        tokio::spawn(async move {
            for n in 0_u32.. {
                let id = format!("{n:06}");
                let started = Instant::now();
                let outcome = store
                    .write(vec![put_if(
                        "route",
                        &id,
                        id.as_bytes(),
                        Condition::MustNotExist,
                    )])
                    .await;
                let failures = {
                    let mut log = log.lock().unwrap();
                    match outcome {
                        Ok(_) => log.acknowledged.push(id),
                        Err(error) => log.failures.push((started.elapsed(), error)),
                    }
                    log.failures.len()
                };
                match failures {
                    0 => {}
                    3 => return,
                    _ => sleep(Duration::from_millis(100)).await,
                }
            }
        })
    };

    let wait_for = async |what: &str, done: &dyn Fn(&WriterLog) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&log.lock().unwrap()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            sleep(Duration::from_millis(10)).await;
        }
    };
    wait_for("acknowledged writes", &|log| log.acknowledged.len() >= 50).await;
    tokio::task::block_in_place(|| server.kill());
    let killed_at = Instant::now();
    wait_for("failing writes", &|log| log.failures.len() >= 3).await;
    writer.await.unwrap();

    // Every call fails as unavailable, within its timeout, without hanging.
    let log = std::mem::take(&mut *log.lock().unwrap());
    if let Some((_, error)) = log.failures.first() {
        eprintln!("while the server is down: {error}");
    }
    for (elapsed, error) in log.failures {
        assert!(
            elapsed <= call_timeout + Duration::from_millis(500),
            "took {elapsed:?}"
        );
        unavailable_message(error);
    }
    let started = Instant::now();
    unavailable_message(store.get("route", "000000").await.unwrap_err());
    unavailable_message(store.ping().await.unwrap_err());
    assert!(started.elapsed() <= 2 * call_timeout + Duration::from_millis(500));
    eprintln!(
        "{} writes acknowledged before the kill; outage seen {:?} after it",
        log.acknowledged.len(),
        killed_at.elapsed()
    );

    tokio::task::block_in_place(|| server.restart());
    let restarted = Instant::now();
    let mut observed = observer.changes();
    // The same store, not a new one: the first calls may still meet a
    // connection that died with the server, then the pool opens new ones.
    let revision = loop {
        match store.write(vec![put("route", "after", b"after")]).await {
            Ok(revision) => break revision,
            Err(error) => {
                unavailable_message(error);
                assert!(
                    restarted.elapsed() < Duration::from_secs(10),
                    "the store did not recover"
                );
                sleep(Duration::from_millis(50)).await;
            }
        }
    };
    eprintln!(
        "first write after restart succeeded {:?} after it",
        restarted.elapsed()
    );
    assert_eq!(*store.changes().borrow(), revision);
    timeout(
        Duration::from_secs(10),
        observed.wait_for(|seen| *seen >= revision),
    )
    .await
    .expect("the other store hears again after the restart")
    .unwrap();
    eprintln!(
        "the observer heard it {:?} after the restart",
        restarted.elapsed()
    );
    // The crashed-through store's own listener is back too.
    let mut changes = store.changes();
    let theirs = observer
        .write(vec![put("route", "observer", b"o")])
        .await
        .unwrap();
    timeout(
        Duration::from_secs(10),
        changes.wait_for(|seen| *seen >= theirs),
    )
    .await
    .expect("the store hears the other one again after the restart")
    .unwrap();

    // No acknowledged write went missing.
    let mut stored = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan("route", after.as_deref(), 500).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        stored.extend(page.into_iter().map(|(id, _)| id));
    }
    let missing: Vec<_> = log
        .acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(revision > u64::try_from(log.acknowledged.len()).unwrap());
    assert_eq!(store.revision().await.unwrap(), theirs);
}
