#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::upstream::{self, dead_port};
use common::{Node, json};
use reqwest::Method;
use serde_json::{Value, json};

fn balanced(id: &str, policy: &str, targets: Value) -> Value {
    json!({
        "id": id, "name": id,
        "frontend": {"domains": [format!("{id}.oto.tools")]},
        "backend": {"targets": targets, "load_balancing": {"type": policy}},
    })
}

fn target(port: u16, weight: u32, backup: bool) -> Value {
    json!({"hostname": "127.0.0.1", "port": port, "weight": weight, "backup": backup})
}

async fn spread(node: &Node, host: &str, calls: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..calls {
        let (status, body) = json(node.through(Method::GET, host, "/").send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        *seen
            .entry(body["name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_random_and_power_of_two() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    let (node, _dir) = Node::start(&[]);
    for policy in [
        "RoundRobin",
        "Random",
        "PowerOfTwoRandomChoices",
        "LeastConnections",
    ] {
        let id = policy.to_lowercase();
        node.create_route(&balanced(
            &id,
            policy,
            json!([target(a.port, 3, false), target(b.port, 1, false)]),
        ))
        .await;
    }
    let rr = spread(&node, "roundrobin.oto.tools", 400).await;
    assert_eq!(
        (rr["a"], rr["b"]),
        (300, 100),
        "weighted round robin is exact over whole cycles"
    );
    let random = spread(&node, "random.oto.tools", 400).await;
    assert!(
        (240..=360).contains(&random["a"]),
        "random respects weights: {random:?}"
    );
    // Sequential calls leave no request in flight: both policies must still use both targets.
    let p2c = spread(&node, "poweroftworandomchoices.oto.tools", 200).await;
    assert!(p2c.len() == 2, "{p2c:?}");
    let least = spread(&node, "leastconnections.oto.tools", 200).await;
    assert!(least.len() == 2, "{least:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_hash_and_sticky_keep_a_client_on_one_target() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    let (node, _dir) = Node::start(&[]);
    let targets = json!([target(a.port, 1, false), target(b.port, 1, false)]);
    node.create_route(&balanced("iphash", "IpAddressHash", targets.clone()))
        .await;
    node.create_route(&balanced("sticky", "Sticky", targets))
        .await;
    assert_eq!(spread(&node, "iphash.oto.tools", 50).await.len(), 1);

    let first = node
        .through(Method::GET, "sticky.oto.tools", "/")
        .send()
        .await
        .unwrap();
    let cookie = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let chosen = json(first).await.1["name"].clone();
    for _ in 0..20 {
        let response = node
            .through(Method::GET, "sticky.oto.tools", "/")
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(json(response).await.1["name"], chosen);
    }
}

/// Behind a trusted load balancer every request comes from the same peer:
/// the hash must use the client the balancer names, or every client lands
/// on one target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_hash_behind_a_trusted_proxy_hashes_the_named_client() {
    let (a, b) = (upstream::start("a").await, upstream::start("b").await);
    let (node, _dir) = Node::start(&["-Dproxy.trustedProxies.0=127.0.0.0/8"]);
    let targets = json!([target(a.port, 1, false), target(b.port, 1, false)]);
    node.create_route(&balanced("iphash", "IpAddressHash", targets))
        .await;
    let mut chosen: HashMap<String, String> = HashMap::new();
    for n in 1..=40 {
        let client = format!("198.51.100.{n}");
        for _ in 0..2 {
            let response = node
                .through(Method::GET, "iphash.oto.tools", "/")
                .header("x-forwarded-for", &client)
                .send()
                .await
                .unwrap();
            let (status, body) = json(response).await;
            assert_eq!(status, 200, "{body}");
            let name = body["name"].as_str().unwrap().to_string();
            let first = chosen.entry(client.clone()).or_insert_with(|| name.clone());
            assert_eq!(*first, name, "client {client} moved between targets");
        }
    }
    let used: std::collections::HashSet<&String> = chosen.values().collect();
    assert_eq!(
        used.len(),
        2,
        "40 named clients all hashed alike: {chosen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_targets_are_skipped_and_backups_take_over() {
    let (live, backup) = (
        upstream::start("live").await,
        upstream::start("backup").await,
    );
    let (node, _dir) = Node::start(&[]);
    let dead = dead_port();
    node.create_route(&balanced(
        "skip",
        "RoundRobin",
        json!([target(dead, 1, false), target(live.port, 1, false)]),
    ))
    .await;
    let seen = spread(&node, "skip.oto.tools", 20).await;
    assert_eq!(
        seen.get("live"),
        Some(&20),
        "a refused connection goes to the next target: {seen:?}"
    );

    node.create_route(&balanced(
        "failover",
        "RoundRobin",
        json!([target(dead_port(), 1, false), target(backup.port, 1, true)]),
    ))
    .await;
    assert_eq!(
        spread(&node, "failover.oto.tools", 10).await.get("backup"),
        Some(&10)
    );

    // With every target dead: a JSON 502 carrying the request id.
    node.create_route(&balanced(
        "dead",
        "RoundRobin",
        json!([target(dead_port(), 1, false)]),
    ))
    .await;
    let response = node
        .through(Method::GET, "dead.oto.tools", "/")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["otoroshi-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (status, body) = json(response).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "bad_gateway");
    assert_eq!(body["request_id"], request_id.as_str());
}
