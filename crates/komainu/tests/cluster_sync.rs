#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Whole-cluster tests: real leader and worker processes on ephemeral ports.

mod common;

use std::time::Duration;

use common::upstream::{self, dead_port};
use common::{ADMIN_ID, ADMIN_SECRET, Node, command, eventually, json, leader, route_to, worker};
use reqwest::Method;
use serde_json::json;

const SOON: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_delete_propagate_fast_with_compression_on_and_off() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    for compression in ["-1", "6"] {
        let (leader, _dir) = leader(&[&format!("-Dcluster.compression={compression}")]);
        // pollEvery stays at its 10 s default: propagation must not wait for it.
        let workers = [
            worker(&[leader.base_url()], &[]),
            worker(&[leader.base_url()], &[]),
        ];
        for w in &workers {
            assert!(
                eventually(SOON, || async { w.health().await.0 == 200 })
                    .await
                    .is_some(),
                "worker synced"
            );
        }

        leader
            .create_route(&route_to("r", "sync.oto.tools", &[a.port]))
            .await;
        for w in &workers {
            let took = eventually(SOON, || async {
                w.status_of("sync.oto.tools", "/").await == 200
            })
            .await;
            assert!(
                took.expect("created route reaches the worker") < Duration::from_secs(2),
                "{took:?}"
            );
        }
        leader
            .send_json(
                Method::PUT,
                "/api/routes/r",
                &route_to("r", "sync.oto.tools", &[b.port]),
            )
            .await;
        for w in &workers {
            let served_by_b = eventually(SOON, || async {
                w.served_by("sync.oto.tools", "/").await.as_deref() == Some("b")
            })
            .await;
            assert!(
                served_by_b.is_some(),
                "update propagated (compression {compression})"
            );
        }
        let (status, _) = json(
            leader
                .admin(Method::DELETE, "/api/routes/r")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        for w in &workers {
            assert!(
                eventually(SOON, || async {
                    w.status_of("sync.oto.tools", "/").await == 404
                })
                .await
                .is_some()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fails_over_to_the_second_leader_url() {
    let up = upstream::start("up").await;
    let (leader, _dir) = leader(&["-Dcluster.retryDelay=50"]);
    leader
        .create_route(&route_to("r", "fo.oto.tools", &[up.port]))
        .await;
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let w = worker(&[dead, leader.base_url()], &[]);
    assert!(
        eventually(SOON, || async {
            w.status_of("fo.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_configured_by_environment_variables_only() {
    let up = upstream::start("up").await;
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader_cmd = command();
    leader_cmd.envs([
        ("CLUSTER_MODE", "leader"),
        ("HTTP_PORT", "0"),
        ("FILEDB_PATH", leader_dir.path().to_str().unwrap()),
        ("CLUSTER_LEADER_CLIENT_ID", ADMIN_ID),
        ("CLUSTER_LEADER_CLIENT_SECRET", ADMIN_SECRET),
    ]);
    let leader = Node::spawn(&mut leader_cmd, leader_dir.path());
    leader
        .create_route(&route_to("r", "env.oto.tools", &[up.port]))
        .await;

    let leader_url = leader.base_url();
    let mut worker_cmd = command();
    worker_cmd.envs([
        ("CLUSTER_MODE", "worker"),
        ("HTTP_PORT", "0"),
        (
            "CLUSTER_LEADER_URL",
            &format!("http://127.0.0.1:{},{leader_url}", dead_port()),
        ),
        ("CLUSTER_LEADER_CLIENT_ID", ADMIN_ID),
        ("CLUSTER_LEADER_CLIENT_SECRET", ADMIN_SECRET),
        ("CLUSTER_WORKER_NAME", "env-worker"),
        ("CLUSTER_RETRY_DELAY", "50"),
    ]);
    let w = Node::spawn(&mut worker_cmd, leader_dir.path());
    assert!(
        eventually(SOON, || async {
            w.status_of("env.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );
    let (_, health) = w.health().await;
    assert_eq!(health["cluster"]["name"], "env-worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_on_a_worker_name_the_leaders() {
    let (leader, _dir) = leader(&[]);
    let w = worker(&[leader.base_url()], &[]);
    let (status, body) = w
        .send_json(
            Method::POST,
            "/api/routes",
            &route_to("r", "x.oto.tools", &[1]),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "not_a_leader");
    assert_eq!(body["leaders"], json!([leader.base_url()]));
    // Metrics on a worker take the admin key its leader synced.
    assert!(
        eventually(SOON, || async { w.health().await.0 == 200 })
            .await
            .is_some()
    );
    assert_eq!(
        w.admin(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        w.anonymous(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
