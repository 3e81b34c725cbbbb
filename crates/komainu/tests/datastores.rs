#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Leaders on Redis and PostgreSQL, with real servers and real processes:
//! many leaders on one datastore, counters exact across them, a datastore
//! lost and back under traffic, and data moved between datastores.
//!
//! Shared-server tests use the machine's Redis (127.0.0.1:6379) and
//! PostgreSQL (127.0.0.1:5432), each test under its own `app.storageRoot`;
//! tests that kill a datastore start a private one. A missing server skips
//! (loudly) unless `KOMAINU_REQUIRE_DATASTORES=1`, as in CI.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::datastore::{Backend, SharedRoot, datastore_args};
use common::upstream;
use common::{Node, command, eventually, leader, route_to, worker};
use reqwest::Method;
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(5);

fn leader_on(args: &[String]) -> (Node, tempfile::TempDir) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    leader(&args)
}

async fn synced(node: &Node) {
    assert!(
        eventually(SOON, || async { node.health().await.0 == 200 })
            .await
            .is_some(),
        "worker synced"
    );
}

/// A write on one leader reaches the workers of the other leader, and the
/// other leader's own admin API and proxy, through the shared datastore.
async fn two_leaders_share_writes(backend: Backend) {
    let Some(shared) = SharedRoot::new(backend) else {
        return;
    };
    let up = upstream::start("up").await;
    let (first, _d1) = leader_on(&shared.args());
    let (second, _d2) = leader_on(&shared.args());
    let first_worker = worker(&[first.base_url()], &[]);
    let second_worker = worker(&[second.base_url()], &[]);
    synced(&first_worker).await;
    synced(&second_worker).await;

    first
        .create_route(&route_to("shared", "shared.oto.tools", &[up.port]))
        .await;
    let took = eventually(SOON, || async {
        second_worker.status_of("shared.oto.tools", "/").await == 200
    })
    .await
    .expect("a write on the first leader reaches the second leader's worker");
    eprintln!(
        "{backend:?}: first leader write served by the second leader's worker after {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "{backend:?}: {took:?}");
    assert_eq!(second.get_json("/api/routes/shared").await.0, 200);
    assert!(
        eventually(SOON, || async {
            second.status_of("shared.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "the second leader's own proxy serves it"
    );

    // And back: a delete on the second reaches the first's worker.
    let (status, _) = common::json(
        second
            .admin(Method::DELETE, "/api/routes/shared")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        eventually(SOON, || async {
            first_worker.status_of("shared.oto.tools", "/").await == 404
        })
        .await
        .is_some(),
        "a delete on the second leader reaches the first leader's worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_on_redis_share_writes() {
    two_leaders_share_writes(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_on_postgres_share_writes() {
    two_leaders_share_writes(Backend::Postgres).await;
}

/// One quota push in the cluster wire format.
fn push(batch: &str, key: &str, by: i64) -> String {
    let expiry = u64::MAX / 2;
    format!(
        "{}\n{}\n",
        json!({"typ": "batch", "id": batch}),
        json!({"typ": "quotaincr", "k": key, "i": by, "e": expiry})
    )
}

async fn send_push(node: &Node, body: String) -> Value {
    let (status, answer) = common::json(
        node.admin(Method::PUT, "/api/cluster/quotas")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Workers pushing to two leaders at once (and retrying a push on the other
/// leader) leave the exact total: counters are atomic in the datastore.
async fn counters_exact_across_leaders(backend: Backend) {
    let Some(shared) = SharedRoot::new(backend) else {
        return;
    };
    let (first, _d1) = leader_on(&shared.args());
    let (second, _d2) = leader_on(&shared.args());
    // Leaders take pushes only for counters of API keys they know.
    let hammered = json!({"clientId": "hammered", "clientSecret": "s"});
    assert_eq!(
        first
            .send_json(Method::POST, "/api/apikeys", &hammered)
            .await
            .0,
        201
    );
    let month = proxy::quota::monthly_window(model::clock::now_ms()).id;
    let probe = format!("quotas:hammered:monthly:{month}");
    let mut n = 0;
    let known = eventually(Duration::from_secs(10), || {
        n += 1;
        let body = push(&format!("probe:{n}"), &probe, 1);
        let second = &second;
        async move { send_push(second, body).await["counters"][0]["n"] != 0 }
    })
    .await;
    assert!(
        known.is_some(),
        "{backend:?}: the second leader never saw the key"
    );
    let leaders = Arc::new([first, second]);
    let day = proxy::quota::daily_window(model::clock::now_ms()).id;
    let key: Arc<str> = format!("quotas:hammered:daily:{day}").into();
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let leaders = leaders.clone();
            let key = key.clone();
            tokio::spawn(async move {
                for n in 0..25 {
                    let batch = format!("w{task}:{n}");
                    let body = push(&batch, &key, 3);
                    send_push(&leaders[task % 2], body.clone()).await;
                    // A worker that timed out retries on the other leader:
                    // the same batch must not count twice.
                    send_push(&leaders[(task + 1) % 2], body).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let answer = send_push(&leaders[1], push("reader", &key, 0)).await;
    assert_eq!(
        answer["counters"][0]["n"], 300,
        "{backend:?}: 4 workers × 25 pushes × 3, each push sent to both leaders: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_across_leaders_on_redis() {
    counters_exact_across_leaders(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_across_leaders_on_postgres() {
    counters_exact_across_leaders(Backend::Postgres).await;
}

/// A private datastore server that the test may kill and restart.
enum Private {
    Redis(testkit::redis::RedisServer),
    Postgres(testkit::postgres::PostgresServer),
}

impl Private {
    fn start(backend: Backend) -> Option<Private> {
        Some(match backend {
            Backend::Redis => Private::Redis(testkit::redis::RedisServer::start_persistent()?),
            Backend::Postgres => Private::Postgres(testkit::postgres::PostgresServer::start()?),
        })
    }

    fn url(&self) -> String {
        match self {
            Private::Redis(server) => server.url(),
            Private::Postgres(server) => server.uri(),
        }
    }

    fn kill(&mut self) {
        match self {
            Private::Redis(server) => server.kill(),
            Private::Postgres(server) => server.kill(),
        }
    }

    fn restart(&mut self) {
        match self {
            Private::Redis(server) => server.restart(),
            Private::Postgres(server) => server.restart(),
        }
    }
}

/// Counts failed calls through both proxies until stopped.
fn keep_calling(
    nodes: Vec<Arc<Node>>,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, f) = (calls.clone(), failures.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for node in &nodes {
                c.fetch_add(1, Ordering::Relaxed);
                if node.status_of("live.oto.tools", "/").await != 200 {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (calls, failures)
}

/// The datastore dies under traffic: the leader's proxy and its worker keep
/// serving, admin writes get a 503 naming the datastore, health says so, a
/// worker started meanwhile still gets the state; when the datastore comes
/// back, writes work again without restarting anything.
async fn leader_rides_out_datastore_loss(backend: Backend) {
    let Some(mut server) = Private::start(backend) else {
        return;
    };
    let name = match backend {
        Backend::Redis => "redis",
        Backend::Postgres => "postgresql",
    };
    let up = upstream::start("up").await;
    let (leader, _dir) = leader_on(&datastore_args(backend, &server.url(), "komainu"));
    let leader = Arc::new(leader);
    leader
        .create_route(&route_to("live", "live.oto.tools", &[up.port]))
        .await;
    let first_worker = Arc::new(worker(&[leader.base_url()], &[]));
    synced(&first_worker).await;
    assert!(
        eventually(SOON, || async {
            first_worker.status_of("live.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures) = keep_calling(vec![leader.clone(), first_worker.clone()], stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let (status, body) = leader
        .send_json(
            Method::POST,
            "/api/routes",
            &route_to("later", "later.oto.tools", &[up.port]),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "datastore_unavailable", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains(name),
        "the error names the datastore: {body}"
    );
    let (status, health) = leader.health().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["datastore"], "unhealthy", "{health}");

    // A worker that starts now still gets the last state the leader built.
    let late_worker = worker(&[leader.base_url()], &[]);
    synced(&late_worker).await;
    assert_eq!(late_worker.status_of("live.oto.tools", "/").await, 200);

    server.restart();
    let back = eventually(Duration::from_secs(20), || async {
        leader
            .send_json(
                Method::POST,
                "/api/routes",
                &route_to("later", "later.oto.tools", &[up.port]),
            )
            .await
            .0
            == 201
    })
    .await;
    assert!(
        back.is_some(),
        "{backend:?}: writes work again once the datastore is back"
    );
    assert!(
        eventually(SOON, || async {
            first_worker.status_of("later.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "the write made after the outage reaches the worker"
    );
    assert_eq!(leader.health().await.0, 200);

    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (calls, failures) = (
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    eprintln!(
        "{backend:?}: {calls} calls through the leader and its worker during the outage, {failures} failed"
    );
    assert!(calls > 20, "traffic kept flowing: {calls}");
    assert_eq!(failures, 0, "no call failed while the datastore was away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_on_redis_rides_out_datastore_loss() {
    leader_rides_out_datastore_loss(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_on_postgres_rides_out_datastore_loss() {
    leader_rides_out_datastore_loss(Backend::Postgres).await;
}

/// `komainu copy-datastore` moves a standalone node's embedded data to
/// PostgreSQL; a node started on PostgreSQL then serves it with the same
/// admin key. A non-empty target is refused unless `--replace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_datastore_moves_embedded_data_to_postgres() {
    let Some(shared) = SharedRoot::new(Backend::Postgres) else {
        return;
    };
    let up = upstream::start("up").await;
    let (node, dir) = Node::start(&[]);
    node.create_route(&route_to("moved", "moved.oto.tools", &[up.port]))
        .await;
    let key = json!({"clientId": "moved-key", "clientSecret": "s", "authorizedEntities": ["route_moved"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &key).await.0,
        201
    );
    assert!(node.terminate().success());

    let copy = |replace: bool| {
        let mut cmd = command();
        cmd.arg(format!("-Dapp.filedb.path={}", dir.path().display()))
            .arg("copy-datastore");
        for pair in [
            "app.storage=postgresql".to_string(),
            format!("app.pg.uri={}", shared.url),
            format!("app.storageRoot={}", shared.root),
        ] {
            cmd.args(["--to", &pair]);
        }
        if replace {
            cmd.arg("--replace");
        }
        cmd.output().unwrap()
    };
    let first = copy(false);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("copied 1 routes, 2 apikeys"), "{stdout}");
    assert!(
        stdout.contains("1 simple-admins, 1 ui-secrets"),
        "admin users and the UI key move too: {stdout}"
    );

    let again = copy(false);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(
        stderr.contains("already holds") && stderr.contains("--replace"),
        "{stderr}"
    );
    assert!(copy(true).status.success());

    let args = shared.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (moved, _d) = Node::start(&args);
    assert!(
        moved
            .stdout
            .iter()
            .any(|l| l.contains("datastore: postgresql")),
        "{:?}",
        moved.stdout
    );
    assert!(
        !moved
            .stdout
            .iter()
            .any(|l| l.starts_with("admin user created")),
        "the copied admin user is kept: {:?}",
        moved.stdout
    );
    assert_eq!(moved.get_json("/api/routes/moved").await.0, 200);
    assert_eq!(moved.get_json("/api/apikeys/moved-key").await.0, 200);
    assert_eq!(moved.status_of("moved.oto.tools", "/").await, 200);
}

/// Every leader lists the whole cluster: the other leaders and the workers
/// polling them, shared through the datastore; a worker that stops leaves
/// every list.
async fn members_are_shared_between_leaders(backend: Backend) {
    let Some(shared) = SharedRoot::new(backend) else {
        return;
    };
    // A short member timeout (1 × 1 s) on every node, as the cluster config
    // must be shared.
    let quick = [
        "-Dcluster.worker.retries=1".to_string(),
        "-Dcluster.worker.state.pollEvery=1000".to_string(),
    ];
    let args: Vec<String> = shared.args().into_iter().chain(quick.clone()).collect();
    let (first, _d1) = leader_on(&args);
    let (second, _d2) = leader_on(&args);
    let quick: Vec<&str> = quick.iter().map(String::as_str).collect();
    let mut first_args = quick.clone();
    first_args.push("-Dcluster.worker.name=worker-of-first");
    let mut second_args = quick.clone();
    second_args.push("-Dcluster.worker.name=worker-of-second");
    let first_worker = worker(&[first.base_url()], &first_args);
    let second_worker = worker(&[second.base_url()], &second_args);
    synced(&first_worker).await;
    synced(&second_worker).await;

    let listed = |node: &Node| {
        let client = reqwest::Client::new();
        let url = node.url("/api/cluster/members");
        async move {
            let members: Value = client
                .get(url)
                .header("Host", common::ADMIN_HOST)
                .basic_auth(common::ADMIN_ID, Some(common::ADMIN_SECRET))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut names: Vec<(String, String)> = members
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["type"].as_str().unwrap().to_string(),
                        m["name"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            names.sort();
            names
        }
    };
    for leader in [&first, &second] {
        let everyone = eventually(SOON, || async {
            let names = listed(leader).await;
            names.iter().filter(|(t, _)| t == "Leader").count() == 2
                && names.contains(&("Worker".into(), "worker-of-first".into()))
                && names.contains(&("Worker".into(), "worker-of-second".into()))
        })
        .await;
        assert!(
            everyone.is_some(),
            "{backend:?}: {:?}",
            listed(leader).await
        );
    }
    drop(second_worker);
    let gone = eventually(SOON, || async {
        !listed(&first)
            .await
            .contains(&("Worker".into(), "worker-of-second".into()))
    })
    .await;
    assert!(
        gone.is_some(),
        "{backend:?}: a stopped worker leaves the other leader's list"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_shared_between_leaders_on_redis() {
    members_are_shared_between_leaders(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_shared_between_leaders_on_postgres() {
    members_are_shared_between_leaders(Backend::Postgres).await;
}

/// A quota reset made through one leader reaches the admission of another
/// leader sharing the datastore within about one flush (it re-reads the
/// totals of the windows it serves), rather than at the end of the day.
async fn a_quota_reset_reaches_the_other_leader(backend: Backend) {
    let Some(shared) = SharedRoot::new(backend) else {
        return;
    };
    let up = upstream::start("up").await;
    let (first, _d1) = leader_on(&shared.args());
    let (second, _d2) = leader_on(&shared.args());
    let mut route = route_to("secure", "q.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    first.create_route(&route).await;
    let key = json!({"clientId": "k5", "clientSecret": "s", "dailyQuota": 5,
        "authorizedEntities": ["route_secure"]});
    assert_eq!(
        first.send_json(Method::POST, "/api/apikeys", &key).await.0,
        201
    );
    let call = || async {
        second
            .through(Method::GET, "q.oto.tools", "/")
            .basic_auth("k5", Some("s"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert!(
        eventually(SOON, || async { call().await == 200 })
            .await
            .is_some(),
        "{backend:?}: the second leader serves the key"
    );
    for _ in 0..4 {
        assert_eq!(call().await, 200);
    }
    assert_eq!(call().await, 429);
    // The first leader sees the second's calls once they are flushed.
    assert!(
        eventually(SOON, || async {
            first.get_json("/api/apikeys/k5/quotas").await.1["currentCallsPerDay"] == 5
        })
        .await
        .is_some(),
        "{backend:?}: the first leader counts the second's calls"
    );
    let (status, zeroed) = first
        .send_json(Method::DELETE, "/api/apikeys/k5/quotas", &json!({}))
        .await;
    assert_eq!(status, 200, "{zeroed}");
    let took = eventually(SOON, || async { call().await == 200 })
        .await
        .expect("the second leader admits again after the reset");
    eprintln!("{backend:?}: second leader admitted again {took:?} after the reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_reset_reaches_the_other_leader_on_redis() {
    a_quota_reset_reaches_the_other_leader(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_reset_reaches_the_other_leader_on_postgres() {
    a_quota_reset_reaches_the_other_leader(Backend::Postgres).await;
}
