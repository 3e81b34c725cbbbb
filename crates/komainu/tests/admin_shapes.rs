#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Otoroshi's shapes of the node endpoints, against real nodes: health,
//! version, infos, the monitoring metrics, the node API, the cluster-wide
//! `/api/live` of a leader (real leader, worker and upstream) and
//! `DELETE /api/cluster/members`.

mod common;

use std::time::{Duration, Instant};

use common::datastore::{Backend, SharedRoot};
use common::{Node, eventually, json, leader, route_to, upstream, worker};
use reqwest::Method;
use serde_json::Value;

const SOON: Duration = Duration::from_secs(15);
const METRICS: &str = "/.well-known/otoroshi/monitoring/metrics";

fn assert_component(health: &Value, part: &str) {
    assert!(
        health[part]["initialized"].is_boolean() && health[part]["status"].is_string(),
        "{part} is not {{initialized, status}}: {health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_version_and_infos_have_otoroshi_shapes() {
    let (node, _dir) = Node::start(&[]);

    let (status, health) = node.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["otoroshi"], "healthy");
    assert_eq!(health["datastore"], "healthy");
    for part in ["proxy", "storage", "eventstore", "certificates", "scripts"] {
        assert_component(&health, part);
    }
    assert_eq!(health["proxy"]["status"], "healthy");
    assert_eq!(health["storage"]["status"], "healthy");
    assert_eq!(health["storage"]["kind"], "embedded");
    assert_eq!(health["certificates"]["status"], "loaded");
    // komainu's own fields stay.
    assert!(
        health["certificates"]["count"].as_u64().unwrap() >= 2,
        "{health}"
    );
    assert!(health["certificates"]["expired"].is_array(), "{health}");
    assert!(health["state"]["revision"].is_u64(), "{health}");
    assert_eq!(health["cluster"]["mode"], "off");

    let (status, version) = node.get_json("/api/version").await;
    assert_eq!(status, 200, "{version}");
    let raw = env!("CARGO_PKG_VERSION");
    let numbers: Vec<u64> = raw
        .split(['.', '-'])
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(version["major"], numbers[0], "{version}");
    assert_eq!(version["minor"], numbers[1], "{version}");
    assert_eq!(version["patch"], numbers[2], "{version}");
    assert_eq!(version["raw"], raw);
    assert_eq!(version["version"], raw);
    assert_eq!(version["version_raw"], raw);
    for field in ["build", "suffix_version"] {
        assert!(version.get(field).is_some(), "{field} missing: {version}");
    }

    let (status, infos) = node.get_json("/api/infos").await;
    assert_eq!(status, 200, "{infos}");
    assert_eq!(infos["otoroshi_version"], raw);
    assert_eq!(infos["otoroshi_version_sem"]["major"], numbers[0]);
    assert_eq!(infos["datastore"], "embedded");
    assert_eq!(infos["env"], "prod");
    assert!(infos["os"]["name"].is_string() && infos["os"]["arch"].is_string());
    assert!(infos["otoroshi_cluster_id"].is_string());

    // The node API answers the same, behind the admin key.
    assert_eq!(node.get_json("/apis/cluster/node/version").await.1, version);
    let (status, node_infos) = node.get_json("/apis/cluster/node/infos").await;
    assert_eq!(
        (status, &node_infos["datastore"]),
        (200, &infos["datastore"])
    );
    let (status, node_health) = node.get_json("/apis/cluster/node/health").await;
    assert_eq!(status, 200, "{node_health}");
    assert_component(&node_health, "storage");
    for path in [
        "/apis/cluster/node/health",
        "/apis/cluster/node/version",
        "/apis/cluster/node/infos",
        "/apis/cluster/node/metrics",
    ] {
        let response = node.anonymous(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without a key");
    }

    // No cluster on a standalone node: nothing to clear.
    let (status, body) = node
        .send_json(Method::DELETE, "/api/cluster/members", &Value::Null)
        .await;
    assert_eq!(status, 404, "{body}");
}

/// The value of the sample `name` of a route's 2xx answers, in the JSON form.
fn json_sample(samples: &Value, name: &str, route: &str) -> Option<f64> {
    samples.as_array()?.iter().find(|s| {
        s["name"] == name && s["labels"]["route"] == route && s["labels"]["class"] == "2xx"
    })?["value"]
        .as_f64()
}

/// The same in the Prometheus text.
fn text_sample(text: &str, name: &str, route: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| l.contains("class=\"2xx\""))
        .find(|l| l.contains(&format!("route=\"{route}\"")))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_json_or_prometheus_text_with_the_same_figures() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("m1", "m1.oto.tools", &[up.port]))
        .await;
    for _ in 0..7 {
        assert_eq!(node.status_of("m1.oto.tools", "/").await, 200);
    }
    let client = reqwest::Client::new();

    // On any host, without credentials (no access key is configured).
    let response = client
        .get(node.url(METRICS))
        .header("Host", "anything.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let (status, samples) = json(response).await;
    assert_eq!(status, 200, "{samples}");
    let counted = json_sample(&samples, "komainu_requests_total", "m1");
    assert_eq!(counted, Some(7.0), "{samples}");
    let typed = samples
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "komainu_requests_total")
        .unwrap();
    assert_eq!(typed["type"], "counters");

    let text_of = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        (kind, response.text().await.unwrap())
    };
    let (kind, text) = text_of(client.get(node.url(METRICS)).header("Accept", "text/plain")).await;
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert_eq!(
        text_sample(&text, "komainu_requests_total", "m1"),
        Some(7.0)
    );
    // The same figures as /metrics.
    let admin_text = node.get_text("/metrics").await;
    assert_eq!(
        text_sample(&admin_text, "komainu_requests_total", "m1"),
        Some(7.0)
    );
    // ?format= decides before Accept.
    let (kind, _) = text_of(
        client
            .get(node.url(&format!("{METRICS}?format=prometheus")))
            .header("Accept", "application/json"),
    )
    .await;
    assert!(kind.starts_with("text/plain"), "{kind}");

    // The node API's metrics: the same, behind the admin key.
    let (status, node_samples) = node.get_json("/apis/cluster/node/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        json_sample(&node_samples, "komainu_requests_total", "m1"),
        Some(7.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_key_closes_the_metrics_path() {
    let (node, _dir) = Node::start(&["-Dmetrics.accessKey=let-me-see"]);
    let status_of = |path: &str| {
        let request = reqwest::Client::new().get(node.url(path));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status_of(METRICS).await, 401);
    assert_eq!(status_of(&format!("{METRICS}?access_key=wrong")).await, 401);
    assert_eq!(
        status_of(&format!("{METRICS}?access_key=let-me-see")).await,
        200
    );
    // An admin key opens it too; health stays open.
    let (status, samples) = node.get_json(METRICS).await;
    assert_eq!(status, 200);
    assert!(samples.is_array(), "{samples}");
    assert_eq!(node.health().await.0, 200);
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(since.unwrap().as_millis()).unwrap()
}

fn member<'a>(members: &'a Value, kind: &str) -> Option<&'a Value> {
    members.as_array()?.iter().find(|m| m["type"] == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_live_figures_are_cluster_wide_and_its_members_can_be_cleared() {
    let up = upstream::start("up").await;
    let (leader, _dir) = leader(&[]);
    leader
        .create_route(&route_to("wide", "wide.oto.tools", &[up.port]))
        .await;
    let w = worker(&[leader.base_url()], &[]);
    assert!(
        eventually(SOON, || async {
            w.status_of("wide.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );

    let (status, before) = leader.get_json("/api/live").await;
    assert_eq!(status, 200, "{before}");
    let calls_before = before["calls"].as_u64().unwrap();
    assert!(before["cluster"]["history"].is_array(), "{before}");

    // Traffic through the worker only, with bodies both ways.
    for _ in 0..40 {
        let response = w
            .through(Method::POST, "wide.oto.tools", "/upload")
            .body(vec![b'x'; 2000])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }

    // The worker's next push carries its figures to the leader.
    let waited = Instant::now();
    let live = loop {
        let (_, live) = leader.get_json("/api/live").await;
        if live["rate"].as_f64().unwrap_or(0.0) > 0.0
            && live["calls"].as_u64().unwrap_or(0) >= calls_before + 40
        {
            break live;
        }
        assert!(
            waited.elapsed() < SOON,
            "the worker's traffic never reached the leader's figures: {live}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Cluster-wide figures at the top, the leader's own beside them: the
    // leader proxied nothing itself.
    assert_eq!(live["requests"], 0, "{live}");
    assert_eq!(live["requestsPerSec"], 0.0, "{live}");
    assert!(live["dataInRate"].as_f64().unwrap() > 0.0, "{live}");
    assert!(live["dataOutRate"].as_f64().unwrap() > 0.0, "{live}");
    assert!(live["dataIn"].as_u64().unwrap() >= 40 * 2000, "{live}");
    assert!(live["duration"].as_f64().unwrap() > 0.0, "{live}");
    assert!(live["concurrentHandledRequests"].is_u64(), "{live}");
    assert_eq!(live["cluster"]["members"], 2, "{live}");
    assert_eq!(live["cluster"]["health"], "healthy", "{live}");
    let history = live["cluster"]["history"].as_array().unwrap();
    let newest = history.last().unwrap();
    assert_eq!(
        newest["rate"], live["rate"],
        "the chart ends at the answer: {live}"
    );
    assert!(history.len() <= 121, "{}", history.len());

    // The worker's own /api/live speaks for itself only, in both shapes.
    let (_, own) = w.get_json("/api/live").await;
    assert!(own["calls"].as_u64().unwrap() >= 40, "{own}");
    assert_eq!(own["calls"], own["requests"], "{own}");
    assert!(own.get("cluster").is_none(), "{own}");

    // Health says how the cluster is.
    let (_, health) = leader.health().await;
    assert_eq!(health["cluster"]["health"], "healthy", "{health}");
    assert_eq!(health["cluster"]["mode"], "leader", "{health}");
    let (status, worker_health) = w.health().await;
    assert_eq!(status, 200, "{worker_health}");
    for part in ["proxy", "storage", "eventstore", "certificates", "scripts"] {
        assert_component(&worker_health, part);
    }
    assert_eq!(worker_health["cluster"]["worker"]["status"], "loaded");
    // A worker answers the node API about itself, with a synced admin key.
    let (status, node_health) = w.get_json("/apis/cluster/node/health").await;
    assert_eq!(status, 200, "{node_health}");
    assert_eq!(node_health["cluster"]["mode"], "worker", "{node_health}");
    let (_, node_infos) = w.get_json("/apis/cluster/node/infos").await;
    assert_eq!(node_infos["cluster_mode"], "worker", "{node_infos}");
    assert_eq!(node_infos["datastore"], "memory", "{node_infos}");
    let (_, node_version) = w.get_json("/apis/cluster/node/version").await;
    assert_eq!(node_version["raw"], env!("CARGO_PKG_VERSION"));
    let (_, node_metrics) = w.get_json("/apis/cluster/node/metrics").await;
    assert!(node_metrics.is_array(), "{node_metrics}");
    let anonymous = w
        .anonymous(Method::GET, "/apis/cluster/node/health")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // A worker serves the monitoring metrics too.
    let response = reqwest::get(w.url(METRICS)).await.unwrap();
    let (status, samples) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        json_sample(&samples, "komainu_requests_total", "wide").map(|n| n >= 40.0),
        Some(true),
        "{samples}"
    );

    // Clearing the members leaves the leader alone until the worker syncs again.
    let (_, members) = leader.get_json("/api/cluster/members").await;
    assert!(member(&members, "Worker").is_some(), "{members}");
    let cleared_at = now_ms();
    let (status, cleared) = leader
        .send_json(Method::DELETE, "/api/cluster/members", &Value::Null)
        .await;
    assert_eq!(
        (status, &cleared["done"]),
        (200, &Value::Bool(true)),
        "{cleared}"
    );
    let (_, members) = leader.get_json("/api/cluster/members").await;
    // Gone, unless it synced again in the few ms since (its held long-poll
    // or a push): then it was seen after the clear.
    if let Some(again) = member(&members, "Worker") {
        assert!(
            again["lastSeen"].as_u64().unwrap() >= cleared_at,
            "the worker was not forgotten: {members}"
        );
    }
    assert!(member(&members, "Leader").is_some(), "{members}");
    assert!(
        eventually(SOON, || async {
            let (_, members) = leader.get_json("/api/cluster/members").await;
            member(&members, "Worker").is_some()
        })
        .await
        .is_some(),
        "the worker never came back"
    );
}

/// With leaders sharing Redis, a leader whose workers poll another leader
/// still sums their traffic: the member list it adds up is the whole
/// cluster's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_counts_the_workers_of_another_leader_on_redis() {
    let Some(shared) = SharedRoot::new(Backend::Redis) else {
        return;
    };
    let up = upstream::start("up").await;
    let args = |name: &str| {
        let mut args = shared.args();
        args.push(format!("-Dcluster.leader.name={name}"));
        args
    };
    let first_args = args("first");
    let second_args = args("second");
    let (first, _d1) = leader(&first_args.iter().map(String::as_str).collect::<Vec<_>>());
    let (second, _d2) = leader(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    first
        .create_route(&route_to("shared", "shared.oto.tools", &[up.port]))
        .await;
    let w = worker(&[first.base_url()], &[]);
    assert!(
        eventually(SOON, || async {
            w.status_of("shared.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );
    for _ in 0..30 {
        assert_eq!(w.status_of("shared.oto.tools", "/").await, 200);
    }
    let waited = Instant::now();
    let live = loop {
        let (_, live) = second.get_json("/api/live").await;
        if live["cluster"]["members"] == 3 && live["calls"].as_u64().unwrap_or(0) >= 30 {
            break live;
        }
        assert!(
            waited.elapsed() < SOON,
            "the other leader never counted the worker: {live}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(live["rate"].as_f64().unwrap() > 0.0, "{live}");
    assert_eq!(
        live["requests"], 0,
        "the second leader proxied nothing: {live}"
    );
}
