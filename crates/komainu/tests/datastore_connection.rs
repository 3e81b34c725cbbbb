#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Health, metrics and the Cluster View name the datastore server a leader
//! uses and since when: a private Redis (which the test restarts, and the
//! "since" moves), the machine's PostgreSQL, and the embedded store.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::datastore::{Backend, SharedRoot, datastore_args};
use common::ui::{UiClient, admin_user_args};
use common::{Node, eventually, leader};
use serde_json::Value;
use testkit::redis::RedisServer;

/// Reconnection is noticed by the next call after the server is back: the
/// revision poll (every 500 ms at least) or the health check's own ping.
const SOON: Duration = Duration::from_secs(15);

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn reported(node: &Node) -> (u16, Value) {
    let (status, health) = node.health().await;
    (status, health["datastore_connection"].clone())
}

fn since(connection: &Value) -> u64 {
    connection["connected_since"]
        .as_u64()
        .unwrap_or_else(|| panic!("no connected_since in {connection}"))
}

/// The sample of `name` for this datastore in the Prometheus text.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_moves_connected_since_in_health_and_metrics() {
    // Persistent: a restart keeps the admin key the metrics are read with.
    let Some(mut redis) = RedisServer::start_persistent() else {
        return;
    };
    let before_start = now_ms();
    let args = datastore_args(Backend::Redis, &redis.url(), "komainu_conn");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (node, _dir) = leader(&args);

    let endpoint = format!("127.0.0.1:{}", redis.port());
    let (status, connection) = reported(&node).await;
    assert_eq!(status, 200);
    assert_eq!(connection["kind"], "redis");
    assert_eq!(connection["endpoint"], endpoint.as_str());
    assert_eq!(connection["tls"], false);
    assert_eq!(connection["connected"], true);
    let first = since(&connection);
    assert!(
        (before_start..=now_ms()).contains(&first),
        "connected since {first}, leader started at {before_start}"
    );

    let labels = format!("kind=\"redis\",endpoint=\"{endpoint}\",tls=\"false\"");
    let metrics = node.get_text("/metrics").await;
    assert_eq!(
        sample(&metrics, "komainu_datastore_connected", &labels),
        Some(1.0),
        "{metrics}"
    );
    let metric_since = sample(
        &metrics,
        "komainu_datastore_connected_since_seconds",
        &labels,
    )
    .unwrap_or_else(|| panic!("no since gauge in {metrics}"));
    assert!(
        (metric_since - first as f64 / 1000.0).abs() < 0.002,
        "{metric_since} vs {first}"
    );

    // Down: health says so, and that there is no connection to date.
    redis.kill();
    let down = eventually(SOON, || async {
        let (status, connection) = reported(&node).await;
        status == 503 && connection["connected"] == false && connection["connected_since"].is_null()
    })
    .await;
    assert!(down.is_some(), "{:?}", reported(&node).await);
    let metrics = node.get_text("/metrics").await;
    assert_eq!(
        sample(&metrics, "komainu_datastore_connected", &labels),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "komainu_datastore_connected_since_seconds",
            &labels
        ),
        None,
        "no date while disconnected: {metrics}"
    );

    // Back: a new connection, dated after the restart.
    let restarted_at = now_ms();
    redis.restart();
    let back = eventually(SOON, || async {
        let (status, connection) = reported(&node).await;
        status == 200 && connection["connected_since"].as_u64() >= Some(restarted_at)
    })
    .await;
    assert!(back.is_some(), "{:?}", reported(&node).await);
    let (_, connection) = reported(&node).await;
    assert_eq!(connection["endpoint"], endpoint.as_str());
    let metrics = node.get_text("/metrics").await;
    let after = reported(&node).await;
    let metric_since = sample(
        &metrics,
        "komainu_datastore_connected_since_seconds",
        &labels,
    )
    .unwrap_or_else(|| panic!("{metrics}\n{after:?}"));
    assert!(metric_since * 1000.0 >= restarted_at as f64, "{metrics}");
}

/// PostgreSQL reports `host:port/database` (from the parsed URI: the
/// password never shows) and, on a server without TLS, `tls: false` under
/// the default `sslmode=prefer`. The Cluster View shows the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_endpoint_in_health_metrics_and_the_cluster_view() {
    let Some(shared) = SharedRoot::new(Backend::Postgres) else {
        return;
    };
    let before_start = now_ms();
    let mut args = shared.args();
    args.push(admin_user_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (node, _dir) = leader(&args);

    let (status, connection) = reported(&node).await;
    assert_eq!(status, 200);
    assert_eq!(connection["kind"], "postgresql");
    let endpoint = connection["endpoint"].as_str().unwrap().to_owned();
    assert!(
        endpoint.contains(':') && endpoint.contains('/'),
        "{endpoint}"
    );
    assert!(!endpoint.contains('@'), "no credentials: {endpoint}");
    if let Some(password) = url_password(&shared.url) {
        assert!(!endpoint.contains(&password), "{endpoint}");
    }
    assert_eq!(connection["connected"], true);
    assert!(since(&connection) >= before_start);

    let metrics = node.get_text("/metrics").await;
    let tls = connection["tls"].as_bool().unwrap();
    let labels = format!("kind=\"postgresql\",endpoint=\"{endpoint}\",tls=\"{tls}\"");
    assert_eq!(
        sample(&metrics, "komainu_datastore_connected", &labels),
        Some(1.0),
        "{metrics}"
    );

    let mut ui = UiClient::new(&node);
    ui.sign_in_as_admin().await;
    let page = ui.get("/cluster").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("postgresql"), "{}", page.text);
    assert!(page.text.contains(&endpoint), "{}", page.text);
    assert!(page.text.contains("<time datetime="), "{}", page.text);
}

/// The embedded store names its file; it is open since the node started.
#[tokio::test]
async fn the_embedded_store_names_its_file() {
    let (node, dir) = Node::start(&[]);
    let (_, connection) = reported(&node).await;
    assert_eq!(connection["kind"], "embedded");
    let endpoint = connection["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with(&dir.path().display().to_string()) && endpoint.ends_with(".redb"),
        "{endpoint}"
    );
    assert_eq!(connection["tls"], false);
    assert!(since(&connection) <= now_ms());
}

fn url_password(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let credentials = authority.rsplit_once('@')?.0;
    let password = credentials.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_owned())
}
