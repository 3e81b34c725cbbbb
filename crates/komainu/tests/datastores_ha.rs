#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Leaders on highly available Redis: a real leader process on a Sentinel
//! deployment (master + replica + three sentinels) or a Redis Cluster
//! (three masters with a replica each) of the test's own, following a
//! failover (the master killed, a replica promoted) without a restart while
//! an admin client keeps writing.

mod common;

use std::time::{Duration, Instant};

use common::{Node, eventually, leader, route_to, upstream};
use reqwest::Method;
use testkit::redis::{MASTER_NAME, RedisCluster, RedisSentinels};

/// The sentinels (or the cluster's nodes) call a master down after 1 s,
/// then promote its replica: a few seconds in all; this only bounds a
/// failover that never comes.
const FAILOVER: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_follows_a_sentinel_failover_under_writes() {
    let Some(mut sentinels) = RedisSentinels::start() else {
        return;
    };
    let root = testkit::unique_name("komainu_ha");
    let (node, _dir) = leader_on(&[
        format!("-Dapp.storageRoot={root}"),
        format!("-Dapp.redis.sentinels.master={MASTER_NAME}"),
        format!(
            "-Dapp.redis.sentinels.members={}",
            sentinels.members().join(",")
        ),
    ]);
    // Sentinel: the calls in flight on the dead master fail (503).
    creates_survive_a_failover(&node, true, || {
        let old = sentinels.kill_master();
        move || sentinels.master_port().is_ok_and(|port| port != old)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_follows_a_cluster_failover_under_writes() {
    let Some(mut cluster) = RedisCluster::start(1) else {
        return;
    };
    let root = testkit::unique_name("komainu_ha");
    let slot = cluster.slot_of(&format!("{{{root}}}:revision")).unwrap();
    let (node, _dir) = leader_on(&[
        format!("-Dapp.storageRoot={root}"),
        format!(
            "-Dapp.redis.cluster.members={}",
            cluster.members().join(",")
        ),
    ]);
    creates_survive_a_failover(&node, false, || {
        let old = cluster.kill_master_of(slot);
        move || cluster.master_of(slot).is_ok_and(|port| port != old)
    })
    .await;
}

fn leader_on(args: &[String]) -> (Node, tempfile::TempDir) {
    let mut all = vec!["-Dapp.storage=redis"];
    all.extend(args.iter().map(String::as_str));
    leader(&all)
}

/// Creates routes one after another while `kill` kills the master: every
/// create answers 201 or 503 (the datastore unavailable, nothing else; some
/// 503 when `expect_unavailable`), creates resume once a replica took over
/// (`kill`'s answer says when),
/// and every route that was answered 201 is still there afterwards and
/// served by the proxy.
async fn creates_survive_a_failover<Promoted: Fn() -> bool>(
    node: &Node,
    expect_unavailable: bool,
    kill: impl FnOnce() -> Promoted,
) {
    let up = upstream::start("up").await;
    let create = |n: usize| {
        let route = route_to(&format!("r{n}"), &format!("r{n}.oto.tools"), &[up.port]);
        async move { node.send_json(Method::POST, "/api/routes", &route).await }
    };
    let mut created = Vec::new();
    for n in 0..10 {
        let (status, body) = create(n).await;
        assert_eq!(status, 201, "{body}");
        created.push(n);
    }

    let promoted = kill();
    let killed = Instant::now();
    let mut unavailable = 0;
    let mut n = 10;
    let resumed = loop {
        let (status, body) = create(n).await;
        match status {
            201 => {
                created.push(n);
                // Resumed: written while a replica holds the master's role.
                // (The cluster client may retry through the whole failover
                // within one call, so a 503 is not required first.)
                if promoted() {
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
    if expect_unavailable {
        assert!(unavailable > 0, "creates on a dead master answer 503");
    }
    eprintln!("creates resumed {resumed:?} after the kill; {unavailable} answered 503");

    for n in 0..3 {
        let (status, body) = create(1000 + n).await;
        assert_eq!(status, 201, "{body}");
        created.push(1000 + n);
    }
    for n in &created {
        let (status, body) = node.get_json(&format!("/api/routes/r{n}")).await;
        assert_eq!(
            status, 200,
            "route r{n} was acknowledged, then lost: {body}"
        );
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
