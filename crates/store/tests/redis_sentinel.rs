//! `RedisStore` behind Redis Sentinel: the shared behaviour suite on a
//! master + replica + three sentinels of each test's own, and what Sentinel
//! is for: the store follows a failover (the master killed, the replica
//! promoted) without being rebuilt, and loses no write it acknowledged.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{RedisStore, RedisTopology, RemoteSettings, Store};
use testkit::redis::{MASTER_NAME, RedisSentinels};

use suite::put;

/// Per call: short, so that calls to a dead master fail fast.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Killed master to writes answered again: the sentinels call the master
/// down after 1 s, then elect one of them to promote the replica.
const FAILOVER: Duration = Duration::from_secs(30);

fn settings(sentinels: &RedisSentinels, password: Option<&str>) -> RemoteSettings {
    RemoteSettings {
        revision_poll: Duration::from_millis(200),
        timeout: CALL_TIMEOUT,
        redis: RedisTopology::Sentinel {
            master: MASTER_NAME.to_owned(),
            members: sentinels.members(),
            password: password.map(str::to_owned),
        },
        // The URL's host is not used under Sentinel: the sentinels name it.
        ..RemoteSettings::new("redis://ignored.invalid:1", testkit::unique_name("test"))
    }
}

async fn fresh() -> Option<(Arc<dyn Store>, RedisSentinels)> {
    let sentinels = RedisSentinels::start()?;
    let store = RedisStore::connect(settings(&sentinels, None))
        .await
        .unwrap();
    Some((Arc::new(store), sentinels))
}

suite::store_suite!(fresh);

async fn connect_error(settings: RemoteSettings) -> String {
    match RedisStore::connect(settings).await {
        Ok(_) => panic!("the store must not connect"),
        Err(error) => suite::unavailable_message(error),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_with_a_password_are_asked_with_it() {
    let Some(sentinels) = RedisSentinels::start_with_password(Some("s3ntinel")) else {
        return;
    };
    let store = RedisStore::connect(settings(&sentinels, Some("s3ntinel")))
        .await
        .unwrap();
    assert_eq!(store.write(vec![put("route", "r", b"v")]).await.unwrap(), 1);

    let refused = connect_error(settings(&sentinels, Some("wrong"))).await;
    assert!(refused.contains("no master found"), "{refused}");
    assert!(refused.contains(MASTER_NAME), "{refused}");
    assert!(
        !refused.contains("wrong"),
        "the password is not shown: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_master_name_or_no_sentinel_is_a_clear_error() {
    let Some(sentinels) = RedisSentinels::start() else {
        return;
    };
    let mut unknown = settings(&sentinels, None);
    unknown.redis = RedisTopology::Sentinel {
        master: "nosuchmaster".to_owned(),
        members: sentinels.members(),
        password: None,
    };
    let error = connect_error(unknown).await;
    assert!(error.contains("\"nosuchmaster\""), "{error}");
    assert!(error.contains("no master found"), "{error}");

    let mut nobody = settings(&sentinels, None);
    nobody.redis = RedisTopology::Sentinel {
        master: MASTER_NAME.to_owned(),
        members: vec!["127.0.0.1:1".to_owned()],
        password: None,
    };
    let error = connect_error(nobody).await;
    assert!(error.contains("127.0.0.1:1"), "{error}");

    let mut tls = settings(&sentinels, None);
    tls.url = "rediss://ignored.invalid:1".to_owned();
    let error = connect_error(tls).await;
    assert!(error.contains("not supported"), "{error}");
}

/// A writer keeps writing while the master is killed: writes fail
/// (Unavailable) during the failover and succeed again on the promoted
/// replica, with the same store. Every write that was acknowledged is
/// there afterwards, and a second node sees the new writes (its
/// subscription moved to the new master too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_failover_and_keeps_every_acknowledged_write() {
    let Some(mut sentinels) = RedisSentinels::start() else {
        return;
    };
    let shared = settings(&sentinels, None);
    let writer = RedisStore::connect(shared.clone()).await.unwrap();
    let reader = RedisStore::connect(RemoteSettings {
        // Pub/sub alone must wake the reader: no poll during the test.
        revision_poll: Duration::from_secs(3600),
        ..shared
    })
    .await
    .unwrap();

    let mut acknowledged = Vec::new();
    let mut failed = 0_u32;
    for n in 0..20 {
        let id = format!("before-{n}");
        suite::failover::acknowledge(&writer, &id, FAILOVER).await;
        acknowledged.push(id);
    }
    let old_master = sentinels.kill_master();
    let started = Instant::now();
    let mut n = 0;
    let resumed = loop {
        let id = format!("during-{n}");
        n += 1;
        match writer.write(vec![put("route", &id, b"v")]).await {
            Ok(_) => {
                acknowledged.push(id);
                if failed > 0 {
                    break started.elapsed();
                }
            }
            Err(error) => {
                let text = suite::unavailable_message(error);
                assert!(text.contains(MASTER_NAME), "errors name the master: {text}");
                failed += 1;
            }
        }
        assert!(
            started.elapsed() < FAILOVER,
            "writes did not resume within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let new_master = sentinels.master_port().unwrap();
    assert_ne!(new_master, old_master, "the replica was promoted");
    assert!(failed > 0, "writes to a dead master fail");
    eprintln!("writes resumed {resumed:?} after the kill; {failed} answered Unavailable");

    suite::failover::every_acknowledged_write_survived(&writer, &reader, &acknowledged, FAILOVER)
        .await;
}
