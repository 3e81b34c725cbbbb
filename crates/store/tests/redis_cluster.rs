//! `RedisStore` on a Redis Cluster: the shared behaviour suite on three
//! masters of each test's own, the root's keys all in one slot, commands
//! sent to any member redirected (MOVED) where the slot lives, and a
//! failover (the slot's master killed, its replica promoted) followed with
//! no acknowledged write lost.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{RedisStore, RedisTopology, RemoteSettings, Store};
use testkit::redis::RedisCluster;

use suite::put;

/// Per call: short, so that calls to a dead node fail fast.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Killed master to writes answered again: the other nodes call it failed
/// after 1 s, then its replica takes over.
const FAILOVER: Duration = Duration::from_secs(30);

fn settings(members: Vec<String>, root: &str) -> RemoteSettings {
    RemoteSettings {
        revision_poll: Duration::from_millis(200),
        timeout: CALL_TIMEOUT,
        redis: RedisTopology::Cluster { members },
        // Under Cluster the URL's host is not used: the members are.
        ..RemoteSettings::new("redis://ignored.invalid:1", root)
    }
}

async fn fresh() -> Option<(Arc<dyn Store>, RedisCluster)> {
    let cluster = RedisCluster::start(0)?;
    let root = testkit::unique_name("test");
    let store = RedisStore::connect(settings(cluster.members(), &root))
        .await
        .unwrap();
    Some((Arc::new(store), cluster))
}

suite::store_suite!(fresh);

/// The store is given one member only, which does not serve the root's
/// slot: every command is redirected (MOVED) and still works, and the
/// root's keys all sit in one slot on one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirections_are_followed_and_a_root_keeps_to_one_slot() {
    let Some(cluster) = RedisCluster::start(0) else {
        return;
    };
    let root = testkit::unique_name("test");
    let slot = cluster.slot_of(&format!("{{{root}}}:revision")).unwrap();
    let home = cluster.master_of(slot).unwrap();
    let elsewhere = cluster
        .members()
        .into_iter()
        .find(|member| !member.ends_with(&format!(":{home}")))
        .unwrap();
    let store = RedisStore::connect(settings(vec![elsewhere], &root))
        .await
        .unwrap();
    for n in 0..20 {
        store
            .write(vec![put(&format!("kind{n}"), "id", b"v")])
            .await
            .unwrap();
        store.incr(&format!("counter{n}"), 1, None).await.unwrap();
    }
    assert_eq!(store.revision().await.unwrap(), 20);
    let keys = match cluster
        .server(home)
        .unwrap()
        .command(&[b"KEYS", format!("{{{root}}}:*").as_bytes()])
        .unwrap()
    {
        testkit::redis::resp::Reply::Array(Some(keys)) => keys.len(),
        other => panic!("KEYS answered {other:?}"),
    };
    // revision, epoch, 20 kinds × 2, 20 counters, the counter index.
    assert_eq!(keys, 2 + 40 + 20 + 1, "every key lives on the slot's node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_url_with_a_database_or_tls_is_refused() {
    let Some(cluster) = RedisCluster::start(0) else {
        return;
    };
    let mut db = settings(cluster.members(), "test_db");
    db.url = "redis://ignored.invalid:1/2".to_owned();
    let error = suite::unavailable_message(RedisStore::connect(db).await.err().unwrap());
    assert!(error.contains("database 0 only"), "{error}");
    let mut tls = settings(cluster.members(), "test_tls");
    tls.url = "rediss://ignored.invalid:1".to_owned();
    let error = suite::unavailable_message(RedisStore::connect(tls).await.err().unwrap());
    assert!(error.contains("not supported"), "{error}");
    let nobody = settings(vec!["127.0.0.1:1".to_owned()], "test_nobody");
    let error = suite::unavailable_message(RedisStore::connect(nobody).await.err().unwrap());
    assert!(error.contains("cluster via 127.0.0.1:1"), "{error}");
}

/// A writer keeps writing while the master of the root's slot is killed:
/// writes fail (Unavailable) until its replica takes over, then succeed
/// with the same store; every acknowledged write is there afterwards, and
/// a second node hears the new writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_cluster_failover_and_keeps_every_acknowledged_write() {
    let Some(mut cluster) = RedisCluster::start(1) else {
        return;
    };
    let root = testkit::unique_name("test");
    let slot = cluster.slot_of(&format!("{{{root}}}:revision")).unwrap();
    let shared = settings(cluster.members(), &root);
    let writer = RedisStore::connect(shared.clone()).await.unwrap();
    let reader = RedisStore::connect(shared).await.unwrap();

    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let id = format!("before-{n}");
        suite::failover::acknowledge(&writer, &id, FAILOVER).await;
        acknowledged.push(id);
    }
    let old_master = cluster.kill_master_of(slot);
    let started = Instant::now();
    let mut failed = 0_u32;
    let mut n = 0;
    let resumed = loop {
        let id = format!("during-{n}");
        n += 1;
        match writer.write(vec![put("route", &id, b"v")]).await {
            Ok(_) => {
                acknowledged.push(id);
                // Resumed: written while a replica holds the slot. (The
                // cluster client may retry through the whole failover
                // within one call, so a failure is not required first.)
                if cluster.master_of(slot).is_ok_and(|port| port != old_master) {
                    break started.elapsed();
                }
            }
            Err(error) => {
                let text = suite::unavailable_message(error);
                assert!(
                    text.contains("cluster via"),
                    "errors name the cluster: {text}"
                );
                failed += 1;
            }
        }
        assert!(
            started.elapsed() < FAILOVER,
            "writes did not resume within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(cluster.master_of(slot).unwrap(), old_master);
    eprintln!("writes resumed {resumed:?} after the kill; {failed} answered Unavailable");

    suite::failover::every_acknowledged_write_survived(&writer, &reader, &acknowledged, FAILOVER)
        .await;
}

/// The replica of the root's master dies. Until the master's own view of
/// the cluster calls it failed, the master cannot tell a dead replica from
/// one that left to become master (a failover it has not heard of yet,
/// after which whatever it acknowledged is thrown away): writes are refused
/// (Unavailable). Once the replica is called failed the master is alone for
/// good, and writes are acknowledged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_whose_replica_vanished_refuses_writes_until_the_replica_is_called_failed() {
    let Some(mut cluster) = RedisCluster::start(1) else {
        return;
    };
    let root = testkit::unique_name("test");
    let slot = cluster.slot_of(&format!("{{{root}}}:revision")).unwrap();
    let store = RedisStore::connect(settings(cluster.members(), &root))
        .await
        .unwrap();
    suite::failover::acknowledge(&store, "first", FAILOVER).await;

    cluster.kill(cluster.replica_of(slot).unwrap());
    let killed = Instant::now();
    let refused = store.write(vec![put("route", "right-after", b"v")]).await;
    let text = suite::unavailable_message(refused.expect_err("a master without its replica"));
    assert!(text.contains("cluster via"), "{text}");

    suite::failover::acknowledge(&store, "later", FAILOVER).await;
    eprintln!(
        "writes acknowledged again {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(
        store.get("route", "later").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}
