#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Faults between leaders and workers, with real processes.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::upstream::{self, dead_port};
use common::{Node, command, eventually, leader, route_to, worker, worker_args};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SOON: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_keep_serving_when_the_leader_dies_and_resync_when_it_returns() {
    let up = upstream::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let leader = Node::start_in(dir.path(), &["-Dcluster.mode=leader"]);
    let leader_port = leader.port;
    leader
        .create_route(&route_to("r", "ha.oto.tools", &[up.port]))
        .await;
    let w = worker(
        &[leader.base_url()],
        &[
            "-Dcluster.retryDelay=50",
            "-Dcluster.worker.state.pollEvery=1000",
        ],
    );
    assert!(
        eventually(SOON, || async {
            w.status_of("ha.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );

    // Under load, the leader is killed: not one request may fail.
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let (failures, done) = (failures.clone(), done.clone());
        let url = w.url("/");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut sent = 0;
            while !done.load(Ordering::SeqCst) {
                let ok = client
                    .get(&url)
                    .header("Host", "ha.oto.tools")
                    .send()
                    .await
                    .map(|r| r.status() == 200);
                if !matches!(ok, Ok(true)) {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                sent += 1;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    leader.kill_hard();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    done.store(true, Ordering::SeqCst);
    let sent = load.await.unwrap();
    assert!(sent > 50, "load ran ({sent} requests)");
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no request failed while the leader was down"
    );

    // The leader comes back on the same port and data; a change reaches the worker again.
    let leader = Node::start_in(
        dir.path(),
        &[
            "-Dcluster.mode=leader",
            &format!("-Dhttp.port={leader_port}"),
        ],
    );
    leader
        .create_route(&route_to("r2", "back.oto.tools", &[up.port]))
        .await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            w.status_of("back.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "the worker resynced with the restarted leader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_restarted_while_every_leader_is_down_serves_from_its_snapshot() {
    let up = upstream::start("up").await;
    let snapshots = tempfile::tempdir().unwrap();
    let dbpath = snapshots.path().join("worker-state.ndjson");
    let dbpath_arg = format!("-Dcluster.worker.dbpath={}", dbpath.display());
    let (leader, _dir) = leader(&[]);
    leader
        .create_route(&route_to("r", "snap.oto.tools", &[up.port]))
        .await;
    let w = worker(&[leader.base_url()], &[&dbpath_arg]);
    assert!(
        eventually(SOON, || async {
            w.status_of("snap.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );
    assert!(
        eventually(SOON, || async { dbpath.exists() })
            .await
            .is_some(),
        "snapshot written"
    );
    let leader_url = leader.base_url();
    drop(w);
    leader.kill_hard();

    let w = worker(std::slice::from_ref(&leader_url), &[&dbpath_arg]);
    assert_eq!(
        w.status_of("snap.oto.tools", "/").await,
        200,
        "served at once from the snapshot"
    );
    let (status, health) = w.health().await;
    assert_eq!(status, 200);
    assert_eq!(health["state"]["source"], "snapshot", "{health}");

    // Too old a snapshot is not used: 503 "no state yet".
    drop(w);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let w = worker(
        &[leader_url],
        &[&dbpath_arg, "-Dcluster.worker.dataStaleAfter=1000"],
    );
    assert_eq!(w.status_of("snap.oto.tools", "/").await, 503);
    assert_eq!(w.health().await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_without_crash_loop_and_with_few_log_lines() {
    let (leader, _dir) = leader(&[]);
    let logs = tempfile::NamedTempFile::new().unwrap();
    let mut args = worker_args(&[leader.base_url()]);
    args.retain(|a| !a.starts_with("-Dcluster.leader.clientSecret"));
    args.extend([
        "-Dcluster.leader.clientSecret=wrong".to_string(),
        "-Dcluster.retryDelay=10".to_string(),
        "-Dcluster.worker.state.pollEvery=100".to_string(),
    ]);
    let mut cmd = command();
    cmd.args(&args)
        .env("LOG_LEVEL", "info")
        .stderr(Stdio::from(logs.reopen().unwrap()));
    let w = Node::spawn(&mut cmd, std::path::Path::new("/nonexistent"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _) = w.health().await;
    assert_eq!(status, 503, "still loading, still alive");
    assert_eq!(w.status_of("anything.oto.tools", "/").await, 503);
    let text = std::fs::read_to_string(logs.path()).unwrap();
    let complaints = text
        .lines()
        .filter(|l| l.contains("clientSecret") || l.to_lowercase().contains("credentials"))
        .count();
    assert!(complaints >= 1, "the error is explained: {text}");
    assert!(
        text.lines().count() < 20,
        "bounded log rate over 3 s of failures:\n{text}"
    );
}

/// A TCP relay to the leader that, when `corrupt` is set, flips one byte of
/// every response body it carries.
async fn relay(target: u16, corrupt: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let corrupt = corrupt.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut buffer = vec![0u8; 64 * 1024];
                    let mut seen_head = false;
                    loop {
                        let n = server_read.read(&mut buffer).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        let chunk = &mut buffer[..n];
                        if corrupt.load(Ordering::SeqCst) {
                            if let Some(end) = chunk.windows(4).position(|w| w == b"\r\n\r\n") {
                                seen_head = true;
                                // Past gzip's unchecked header fields, into the data.
                                let body = end + 4;
                                if body + 64 < n {
                                    chunk[body + (n - body) / 2] ^= 0x01;
                                }
                            } else if seen_head {
                                chunk[n / 2] ^= 0x01;
                            }
                        }
                        client_write.write_all(chunk).await?;
                    }
                };
                let _ = tokio::join!(upstream, downstream);
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_state_is_refused_and_the_current_one_kept() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    for compression in ["-1", "5"] {
        let (leader, _dir) = leader(&[&format!("-Dcluster.compression={compression}")]);
        leader
            .create_route(&route_to("r", "c.oto.tools", &[a.port]))
            .await;
        let corrupt = Arc::new(AtomicBool::new(false));
        let relay_port = relay(leader.port, corrupt.clone()).await;
        let w = worker(
            &[format!("http://127.0.0.1:{relay_port}")],
            &[
                "-Dcluster.retryDelay=20",
                "-Dcluster.worker.state.pollEvery=1000",
            ],
        );
        assert!(
            eventually(SOON, || async {
                w.status_of("c.oto.tools", "/").await == 200
            })
            .await
            .is_some()
        );

        corrupt.store(true, Ordering::SeqCst);
        leader
            .send_json(
                Method::PUT,
                "/api/routes/r",
                &route_to("r", "c.oto.tools", &[b.port]),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let response = w
            .through(Method::GET, "c.oto.tools", "/")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["x-upstream"],
            "a",
            "the corrupted update was refused (compression {compression})"
        );

        let (_, health) = w.health().await;
        let error = health["state"]["sync"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            !error.is_empty(),
            "the refusal is reported in health: {health}"
        );

        corrupt.store(false, Ordering::SeqCst);
        let healed = eventually(Duration::from_secs(10), || async {
            w.served_by("c.oto.tools", "/").await.as_deref() == Some("b")
        })
        .await;
        assert!(
            healed.is_some(),
            "the clean state is applied once the link heals"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_no_leader_and_no_snapshot_answers_503() {
    let w = worker(&[format!("http://127.0.0.1:{}", dead_port())], &[]);
    assert_eq!(w.status_of("any.oto.tools", "/").await, 503);
    let (status, health) = w.health().await;
    assert_eq!(status, 503);
    assert_eq!(health["otoroshi"], "loading");
}
