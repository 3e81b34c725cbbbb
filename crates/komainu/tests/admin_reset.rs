//! Recovering lost admin credentials with the node stopped:
//! `komainu admin reset-key` and `komainu admin reset-password`, on the
//! embedded datastore, Redis and PostgreSQL. The data stays.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::datastore::{Backend, SharedRoot};
use common::ui::{ADMIN_LOGIN, UiClient};
use common::{ADMIN_HOST, Node, command, route};
use reqwest::{Method, StatusCode};

/// Runs `komainu <args> admin <action>`; its stdout, or the failure.
fn admin(args: &[String], action: &[&str]) -> Result<String, String> {
    let out = command()
        .args(args)
        .arg("admin")
        .args(action)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}

/// `id:secret` from the reset-key line.
fn key_of(line: &str) -> (String, String) {
    let pair = line
        .trim()
        .strip_prefix("admin API key created: ")
        .and_then(|rest| rest.strip_suffix(" (shown once, keep it)"))
        .unwrap_or_else(|| panic!("{line}"));
    let (id, secret) = pair.split_once(':').unwrap();
    (id.to_string(), secret.to_string())
}

fn password_of(line: &str) -> String {
    line.trim()
        .strip_prefix(&format!("admin user password set: {ADMIN_LOGIN} / "))
        .and_then(|rest| rest.strip_suffix(" (shown once, keep it)"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string()
}

/// A node on `args` that holds one route, stopped; then both resets, then
/// the node again: the route is there and the new credentials work.
async fn recovers(args: Vec<String>, data: &Path) {
    let mut start_args: Vec<String> = vec![
        "-Dhttp.address=127.0.0.1".into(),
        "-Dhttp.port=0".into(),
        "-Dhttps.port=0".into(),
    ];
    start_args.extend(args.iter().cloned());
    let start = |extra: &[String]| {
        let mut all = start_args.clone();
        all.extend_from_slice(extra);
        Node::spawn(command().args(&all), data)
    };
    // First start: random admin key and password, printed and "lost".
    let node = start(&[]);
    let lost = node
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("admin API key created: "))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .expect("the first start creates an admin key");
    let (lost_id, lost_secret) = lost.split_once(':').unwrap();
    let created = node
        .anonymous(Method::POST, "/api/routes")
        .basic_auth(lost_id, Some(lost_secret))
        .json(&route("kept", "kept.oto.tools"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let embedded = !args.iter().any(|a| a.starts_with("-Dapp.storage="));
    if embedded {
        // The embedded datastore is locked by the running node: a clear refusal.
        let refused = admin(&args, &["reset-key"]).unwrap_err();
        assert!(refused.contains("datastore"), "{refused}");
    }
    assert!(node.terminate().success());

    let (id, secret) = key_of(&admin(&args, &["reset-key"]).unwrap());
    assert_ne!(id, lost_id);
    let password = password_of(&admin(&args, &["reset-password"]).unwrap());

    let node = start(&[]);
    let routes = node
        .anonymous(Method::GET, "/api/routes/kept")
        .header("Host", ADMIN_HOST)
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(
        routes.status(),
        200,
        "the new key works and the data stayed"
    );
    let mut ui = UiClient::new(&node);
    let page = ui.login(ADMIN_LOGIN, &password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
}

#[tokio::test]
async fn reset_on_the_embedded_datastore() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec![format!("-Dapp.filedb.path={}", dir.path().display())];
    recovers(args, dir.path()).await;
}

#[tokio::test]
async fn reset_on_redis() {
    let Some(shared) = SharedRoot::new(Backend::Redis) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    recovers(shared.args(), dir.path()).await;
}

#[tokio::test]
async fn reset_on_postgres() {
    let Some(shared) = SharedRoot::new(Backend::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    recovers(shared.args(), dir.path()).await;
}
