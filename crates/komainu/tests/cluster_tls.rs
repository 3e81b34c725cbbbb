//! Workers reaching their leader over HTTPS: the leader's certificate is
//! verified against `cluster.mtls.trustedCAPath` (never skipped, never
//! traded for plain HTTP), and with `https.clientAuth` the worker presents
//! `cluster.mtls.certPath`/`keyPath`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::pki::TestCa;
use common::{Node, leader, route_to, upstream, worker};
use reqwest::Method;
use serde_json::Value;

const SYNC: Duration = Duration::from_secs(10);

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Imports a certificate for `localhost` signed by `ca` on the leader: the
/// HTTPS listener serves it to workers that send SNI `localhost`.
async fn serve_localhost(leader: &Node, ca: &TestCa) {
    let entity = ca.server(&["localhost"]).entity("leader-cert");
    let (status, body) = leader
        .send_json(Method::POST, "/api/certificates", &entity)
        .await;
    assert_eq!(status, 201, "{body}");
}

fn https_url(leader: &Node) -> String {
    let port = leader
        .https_port
        .expect("the leader printed no HTTPS listening line");
    format!("https://localhost:{port}")
}

fn flag(name: &str, path: &Path) -> String {
    format!("-D{name}={}", path.display())
}

async fn last_sync_error(worker: &Node) -> String {
    let (_, health) = worker.health().await;
    health["state"]["sync"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits for a first sync failure and checks the worker still has no state.
async fn never_syncs(worker: &Node) -> String {
    let failed =
        common::eventually(SYNC, || async { !last_sync_error(worker).await.is_empty() }).await;
    assert!(failed.is_some(), "no sync failure reported");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, health): (u16, Value) = worker.health().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["otoroshi"], "loading", "{health}");
    last_sync_error(worker).await
}

#[tokio::test]
async fn a_worker_syncs_over_verified_https_including_later_changes() {
    let ca = TestCa::new("cluster CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert_pem);
    let backend = upstream::start("backend").await;
    let (leader, _data) = leader(&[]);
    serve_localhost(&leader, &ca).await;
    leader
        .create_route(&route_to("first", "first.oto.tools", &[backend.port]))
        .await;

    let worker = worker(
        &[https_url(&leader)],
        &[&flag("cluster.mtls.trustedCAPath", &ca_pem)],
    );
    let served = common::eventually(SYNC, || async {
        worker.served_by("first.oto.tools", "/").await.as_deref() == Some("backend")
    })
    .await;
    assert!(
        served.is_some(),
        "worker never synced: {}",
        last_sync_error(&worker).await
    );

    // A change on the leader reaches the worker through the HTTPS long-poll.
    leader
        .create_route(&route_to("second", "second.oto.tools", &[backend.port]))
        .await;
    let served = common::eventually(SYNC, || async {
        worker.served_by("second.oto.tools", "/").await.as_deref() == Some("backend")
    })
    .await;
    assert!(served.is_some(), "{}", last_sync_error(&worker).await);
    let (_, health) = worker.health().await;
    assert_eq!(
        health["state"]["sync"]["leader"],
        https_url(&leader),
        "{health}"
    );
}

#[tokio::test]
async fn a_leader_signed_by_another_ca_is_never_trusted() {
    let ca = TestCa::new("cluster CA");
    let other = TestCa::new("someone else");
    let dir = tempfile::tempdir().unwrap();
    let other_pem = write(dir.path(), "other.pem", &other.cert_pem);
    let (leader, _data) = leader(&[]);
    serve_localhost(&leader, &ca).await;

    let worker = worker(
        &[https_url(&leader)],
        &[&flag("cluster.mtls.trustedCAPath", &other_pem)],
    );
    let error = never_syncs(&worker).await;
    assert!(error.contains("not trusted"), "{error}");
}

#[tokio::test]
async fn with_client_auth_only_a_worker_with_a_client_certificate_syncs() {
    let ca = TestCa::new("cluster CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert_pem);
    let client = ca.client("worker-1");
    let cert = write(dir.path(), "worker.pem", &client.cert_pem);
    let key = write(dir.path(), "worker.key", &client.key_pem);
    let backend = upstream::start("backend").await;
    let (leader, _data) = leader(&[
        "-Dhttps.clientAuth=want",
        &flag("https.clientCAPath", &ca_pem),
    ]);
    serve_localhost(&leader, &ca).await;
    leader
        .create_route(&route_to("mtls", "mtls.oto.tools", &[backend.port]))
        .await;

    let with_cert = worker(
        &[https_url(&leader)],
        &[
            &flag("cluster.mtls.trustedCAPath", &ca_pem),
            &flag("cluster.mtls.certPath", &cert),
            &flag("cluster.mtls.keyPath", &key),
        ],
    );
    let served = common::eventually(SYNC, || async {
        with_cert.served_by("mtls.oto.tools", "/").await.as_deref() == Some("backend")
    })
    .await;
    assert!(served.is_some(), "{}", last_sync_error(&with_cert).await);

    let without = worker(
        &[https_url(&leader)],
        &[&flag("cluster.mtls.trustedCAPath", &ca_pem)],
    );
    let error = never_syncs(&without).await;
    assert!(error.contains("client certificate"), "{error}");

    // A client certificate the leader does not trust ends the handshake.
    let stranger = TestCa::new("stranger CA").client("worker-2");
    let cert = write(dir.path(), "stranger.pem", &stranger.cert_pem);
    let key = write(dir.path(), "stranger.key", &stranger.key_pem);
    let untrusted = worker(
        &[https_url(&leader)],
        &[
            &flag("cluster.mtls.trustedCAPath", &ca_pem),
            &flag("cluster.mtls.certPath", &cert),
            &flag("cluster.mtls.keyPath", &key),
        ],
    );
    let error = never_syncs(&untrusted).await;
    assert!(error.contains("TLS handshake"), "{error}");
}

#[tokio::test]
async fn a_worker_with_unreadable_tls_files_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.pem", "not a certificate");
    let missing = dir.path().join("missing.pem");
    for (args, key, file) in [
        (
            vec![flag("cluster.mtls.trustedCAPath", &missing)],
            "cluster.mtls.trustedCAPath",
            missing.clone(),
        ),
        (
            vec![
                flag("cluster.mtls.certPath", &junk),
                flag("cluster.mtls.keyPath", &junk),
            ],
            "cluster.mtls.certPath",
            junk.clone(),
        ),
    ] {
        let mut all = common::worker_args(&["https://localhost:1".to_string()]);
        all.extend(args);
        let output = common::command().args(&all).output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "{stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}
