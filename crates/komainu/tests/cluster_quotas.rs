#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Quotas shared by workers, and the members view, with real processes.

mod common;

use std::time::Duration;

use common::upstream;
use common::{Node, eventually, leader, route_to, worker};
use reqwest::Method;
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(5);

async fn secured_cluster(
    quota: u64,
    workers: usize,
    push_every: &str,
) -> (Node, tempfile::TempDir, Vec<Node>, upstream::Upstream) {
    let up = upstream::start("up").await;
    let (leader, dir) = leader(&[]);
    let mut route = route_to("secure", "q.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    leader.create_route(&route).await;
    let key = json!({"clientId": "shared", "clientSecret": "s", "dailyQuota": quota, "authorizedEntities": ["route_secure"]});
    assert_eq!(
        leader.send_json(Method::POST, "/api/apikeys", &key).await.0,
        201
    );
    let nodes: Vec<Node> = (0..workers)
        .map(|_| {
            worker(
                &[leader.base_url()],
                &[&format!("-Dcluster.worker.quotas.pushEvery={push_every}")],
            )
        })
        .collect();
    for w in &nodes {
        assert!(
            eventually(SOON, || async {
                w.status_of("q.oto.tools", "/").await == 401
            })
            .await
            .is_some()
        );
    }
    (leader, dir, nodes, up)
}

async fn call(node: &Node) -> u16 {
    node.through(Method::GET, "q.oto.tools", "/")
        .basic_auth("shared", Some("s"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_quota_is_shared_by_two_workers() {
    let (leader, _dir, workers, _up) = secured_cluster(10, 2, "100").await;
    // Four calls on the first worker, pushed to the leader...
    for _ in 0..4 {
        assert_eq!(call(&workers[0]).await, 200);
    }
    let _ = &leader;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // ...and the second worker learns of them from its own pushes' answers.
    assert_eq!(call(&workers[1]).await, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut admitted = 5;
    for _ in 0..10 {
        if call(&workers[1]).await == 200 {
            admitted += 1;
        }
    }
    assert_eq!(
        admitted, 10,
        "the second worker stopped at the shared quota of 10"
    );
    // Within a push period or two (100 ms each; generous for a loaded CI
    // machine), the first worker hears of those calls too.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        call(&workers[0]).await,
        429,
        "and so does the first, once it has heard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_admission_under_concurrent_load_is_bounded() {
    const QUOTA: u64 = 200;
    for count in [2usize, 3] {
        let (_leader, _dir, workers, _up) = secured_cluster(QUOTA, count, "200").await;
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for w in &workers {
            for _ in 0..4 {
                let (client, url) = (client.clone(), w.url("/"));
                tasks.push(tokio::spawn(async move {
                    let mut ok = 0u64;
                    for _ in 0..150 {
                        let response = client
                            .get(&url)
                            .header("Host", "q.oto.tools")
                            .basic_auth("shared", Some("s"))
                            .send()
                            .await
                            .unwrap();
                        if response.status() == 200 {
                            ok += 1;
                        }
                        // Paced (about 400 calls/s per worker): unpaced, a fast
                        // machine spends the whole quota on each worker before
                        // the first push, and the test would measure the
                        // machine's speed instead of the sharing.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    ok
                }));
            }
        }
        let mut admitted = 0;
        for task in tasks {
            admitted += task.await.unwrap();
        }
        let over = admitted.saturating_sub(QUOTA);
        println!(
            "{count} workers, quota {QUOTA}, {} calls: admitted {admitted}, over-admission {over}",
            count * 600
        );
        assert!(
            admitted >= QUOTA,
            "the quota was usable in full ({admitted})"
        );
        // Each worker can admit at most the whole remaining quota before it
        // hears of the others: the documented bound is (workers - 1) x quota.
        assert!(
            over <= (count as u64 - 1) * QUOTA,
            "over-admission {over} out of bounds"
        );
        // Without sharing, every worker would admit the whole quota.
        assert!(
            admitted < count as u64 * QUOTA,
            "the workers shared the quota ({admitted})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_listed_in_sync_and_expire() {
    // A 1.5 s member timeout (retries 1 x pollEvery 1500) on every node.
    let shared = [
        "-Dcluster.worker.retries=1",
        "-Dcluster.worker.state.pollEvery=1500",
    ];
    let (leader, _dir) = leader(&shared);
    let w = worker(
        &[leader.base_url()],
        &[shared[0], shared[1], "-Dcluster.worker.name=w-1"],
    );
    let listed = eventually(SOON, || async {
        let (_, members) = leader.get_json("/api/cluster/members").await;
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "w-1" && m["inSync"] == true)
    })
    .await;
    assert!(listed.is_some(), "the worker is listed and in sync");
    let (_, members) = leader.get_json("/api/cluster/members").await;
    let me: &Value = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "w-1")
        .unwrap();
    assert_eq!(me["type"], "Worker");
    assert_eq!(me["health"], "green");
    assert_eq!(me["httpPort"], w.port);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "Leader"),
        "the leader lists itself"
    );

    w.kill_hard();
    let gone = eventually(Duration::from_secs(6), || async {
        let (_, members) = leader.get_json("/api/cluster/members").await;
        !members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "w-1")
    })
    .await;
    assert!(gone.is_some(), "an expired member leaves the list");

    // The live view streams server-sent events.
    let mut live = leader
        .admin(Method::GET, "/api/cluster/live?every=250")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert!(
        live.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = tokio::time::timeout(SOON, live.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("data:"),
        "{first:?}"
    );
}
