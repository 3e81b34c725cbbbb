#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Leaders on highly available Redis: a real leader process on a master +
//! replica + three sentinels of the test's own, following a failover (the
//! master killed, the replica promoted) without a restart while an admin
//! client keeps writing.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, leader, route_to, upstream};
use reqwest::Method;
use testkit::redis::{MASTER_NAME, RedisSentinels};

/// The sentinels call a master down after 1 s, then promote the replica:
/// a few seconds in all; this only bounds a failover that never comes.
const FAILOVER: Duration = Duration::from_secs(30);

/// Creates routes one after another while the master is killed: every
/// create answers 201 or 503 (the datastore unavailable, nothing else),
/// creates resume on the promoted replica, and every route that was
/// answered 201 is still there afterwards and served by the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_follows_a_sentinel_failover_under_writes() {
    let Some(mut sentinels) = RedisSentinels::start() else {
        return;
    };
    let root = testkit::unique_name("komainu_ha");
    let args = [
        "-Dapp.storage=redis".to_owned(),
        format!("-Dapp.storageRoot={root}"),
        format!("-Dapp.redis.sentinels.master={MASTER_NAME}"),
        format!(
            "-Dapp.redis.sentinels.members={}",
            sentinels.members().join(",")
        ),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (node, _dir) = leader(&args);
    let up = upstream::start("up").await;

    let create = |n: usize| {
        let route = route_to(&format!("r{n}"), &format!("r{n}.oto.tools"), &[up.port]);
        let node = &node;
        async move { node.send_json(Method::POST, "/api/routes", &route).await }
    };
    let mut created = Vec::new();
    for n in 0..10 {
        let (status, body) = create(n).await;
        assert_eq!(status, 201, "{body}");
        created.push(n);
    }

    let old_master = sentinels.kill_master();
    let killed = Instant::now();
    let mut unavailable = 0;
    let mut n = 10;
    let resumed = loop {
        let (status, body) = create(n).await;
        match status {
            201 => {
                created.push(n);
                if unavailable > 0 {
                    break killed.elapsed();
                }
            }
            503 => unavailable += 1,
            other => panic!("a create during the failover answered {other}: {body}"),
        }
        assert!(
            killed.elapsed() < FAILOVER,
            "creates did not resume within {FAILOVER:?}"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(unavailable > 0, "creates on a dead master answer 503");
    assert_ne!(sentinels.master_port().unwrap(), old_master);
    eprintln!("creates resumed {resumed:?} after the kill; {unavailable} answered 503");

    for n in 0..3 {
        let (status, body) = create(1000 + n).await;
        assert_eq!(status, 201, "{body}");
        created.push(1000 + n);
    }
    for n in &created {
        let (status, body) = node.get_json(&format!("/api/routes/r{n}")).await;
        assert_eq!(status, 200, "route r{n} was acknowledged, then lost: {body}");
    }
    let last = created.last().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            node.status_of(&format!("r{last}.oto.tools"), "/").await == 200
        })
        .await
        .is_some(),
        "the leader serves what it wrote on the new master"
    );
}
