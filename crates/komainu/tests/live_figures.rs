#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Live figures (`/api/live`, the members' stats, `/api/cluster/live`) and
//! API key quotas (`/api/apikeys/{id}/quotas`) with real processes.

mod common;

use std::time::{Duration, Instant};

use common::upstream;
use common::{Node, eventually, leader, route_to, status, worker};
use reqwest::Method;
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(10);
const APIKEY_PLUGIN: &str = "cp:otoroshi.next.plugins.ApikeyCalls";

fn f64_of(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_figures_count_requests_bytes_latency_and_errors() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("live", "live.oto.tools", &[up.port]))
        .await;
    node.create_route(&route_to(
        "dead",
        "dead.oto.tools",
        &[upstream::dead_port()],
    ))
    .await;

    let (status, before) = node.get_json("/api/live").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["node"]["mode"], "off");
    assert!(before["node"]["name"].is_string());
    assert_eq!(before["requests"], 0, "{before}");
    assert_eq!(before["p50Ms"], 0.0, "no request yet: {before}");

    // 20 uploads of 1000 bytes, 10 downloads of 5000 bytes, 3 calls to a dead target.
    let mut received = 0usize;
    for _ in 0..20 {
        let response = node
            .through(Method::POST, "live.oto.tools", "/upload")
            .body(vec![b'u'; 1000])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["body_len"], 1000);
        received += bytes.len();
    }
    for _ in 0..10 {
        let response = node
            .through(Method::GET, "live.oto.tools", "/bytes/5000")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        received += response.bytes().await.unwrap().len();
    }
    for _ in 0..3 {
        assert_eq!(node.status_of("dead.oto.tools", "/").await, 502);
    }

    let (status, live) = node.get_json("/api/live").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["requests"], 33, "{live}");
    assert_eq!(live["errors"], 3, "{live}");
    assert!(live["bytesIn"].as_u64().unwrap() >= 20 * 1000, "{live}");
    assert!(
        live["bytesOut"].as_u64().unwrap() >= received as u64,
        "sent {received}: {live}"
    );
    assert!(f64_of(&live, "requestsPerSec") > 0.0, "{live}");
    assert!(f64_of(&live, "errorsPerSec") > 0.0, "{live}");
    assert!(f64_of(&live, "dataInPerSec") > 0.0, "{live}");
    assert!(f64_of(&live, "dataOutPerSec") > 0.0, "{live}");
    let (p50, p99) = (f64_of(&live, "p50Ms"), f64_of(&live, "p99Ms"));
    assert!(p50 > 0.0 && p99 >= p50, "{live}");
    assert!(f64_of(&live, "meanMs") > 0.0, "{live}");
    assert!(f64_of(&live, "memoryMb") > 1.0, "{live}");
    assert!(live["openConnections"].as_i64().unwrap() >= 1, "{live}");
    assert!(live["at"].as_u64().unwrap() > 1_700_000_000_000, "{live}");
    assert!(live["windowSecs"].as_f64().is_some(), "{live}");

    // A read-only admin key may read the figures, not reset quotas.
    let ro = json!({"clientId": "ro", "clientSecret": "ro-secret", "readOnly": true,
        "authorizedEntities": ["group_admin-api-group"]});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &ro).await.0,
        201
    );
    let as_ro = |method: Method, path: &str| {
        node.anonymous(method, path)
            .basic_auth("ro", Some("ro-secret"))
    };
    assert_eq!(common::status(as_ro(Method::GET, "/api/live")).await, 200);
    assert_eq!(
        common::status(as_ro(Method::GET, "/api/apikeys/ro/quotas")).await,
        200
    );
    assert_eq!(
        common::status(as_ro(Method::DELETE, "/api/apikeys/ro/quotas")).await,
        403
    );
    assert_eq!(
        common::status(node.anonymous(Method::GET, "/api/live")).await,
        401
    );
}

async fn secured(node: &Node, up: &upstream::Upstream, daily: u64) {
    let mut route = route_to("secure", "q.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": APIKEY_PLUGIN}]);
    node.create_route(&route).await;
    let key = json!({"clientId": "k5", "clientSecret": "s", "dailyQuota": daily,
        "authorizedEntities": ["route_secure"]});
    let (status, body) = node.send_json(Method::POST, "/api/apikeys", &key).await;
    assert_eq!(status, 201, "{body}");
}

async fn call(node: &Node) -> u16 {
    status(
        node.through(Method::GET, "q.oto.tools", "/")
            .basic_auth("k5", Some("s")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_are_read_and_reset_on_a_standalone_node() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    secured(&node, &up, 5).await;

    let (status, quotas) = node.get_json("/api/apikeys/k5/quotas").await;
    assert_eq!(status, 200, "{quotas}");
    assert_eq!(quotas["authorizedCallsPerDay"], 5);
    assert_eq!(quotas["currentCallsPerDay"], 0);
    for _ in 0..3 {
        assert_eq!(call(&node).await, 200);
    }
    // Right away (calls not flushed yet) and after a flush, the same count.
    for wait in [0, 1500] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (status, quotas) = node.get_json("/api/apikeys/k5/quotas").await;
        assert_eq!(status, 200);
        assert_eq!(quotas["currentCallsPerDay"], 3, "after {wait} ms: {quotas}");
        assert_eq!(quotas["remainingCallsPerDay"], 2, "{quotas}");
        assert_eq!(quotas["currentCallsPerMonth"], 3, "{quotas}");
        // The 10 s throttling window may have rolled in between.
        assert!(
            quotas["throttlingCallsPerWindow"].as_u64().unwrap() <= 3,
            "{quotas}"
        );
        for field in [
            "authorizedCallsPerWindow",
            "remainingCallsPerWindow",
            "authorizedCallsPerMonth",
            "remainingCallsPerMonth",
        ] {
            assert!(quotas[field].is_u64(), "{field}: {quotas}");
        }
    }
    // The generic path answers the same.
    let (status, generic) = node
        .get_json("/apis/apim.otoroshi.io/v1/apikeys/k5/quotas")
        .await;
    assert_eq!(status, 200);
    assert_eq!(generic["currentCallsPerDay"], 3, "{generic}");

    let (status, zeroed) = node
        .send_json(Method::DELETE, "/api/apikeys/k5/quotas", &json!({}))
        .await;
    assert_eq!(status, 200, "{zeroed}");
    assert_eq!(zeroed["currentCallsPerDay"], 0, "{zeroed}");
    assert_eq!(zeroed["remainingCallsPerDay"], 5, "{zeroed}");
    assert_eq!(zeroed["throttlingCallsPerWindow"], 0, "{zeroed}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, after) = node.get_json("/api/apikeys/k5/quotas").await;
    assert_eq!(
        after["currentCallsPerDay"], 0,
        "a flush brings nothing back: {after}"
    );

    // Driven to 429, then admitted again at once after a reset.
    for _ in 0..5 {
        assert_eq!(call(&node).await, 200);
    }
    assert_eq!(call(&node).await, 429);
    let (status, _) = node
        .send_json(
            Method::DELETE,
            "/apis/apim.otoroshi.io/v1/apikeys/k5/quotas",
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(call(&node).await, 200);

    let (status, missing) = node.get_json("/api/apikeys/nobody/quotas").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"], "not_found");
    let (status, missing) = node
        .send_json(Method::DELETE, "/api/apikeys/nobody/quotas", &json!({}))
        .await;
    assert_eq!(status, 404, "{missing}");
}

fn member<'a>(members: &'a Value, kind: &str) -> &'a Value {
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {members}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_leaders_report_their_figures_and_a_reset_reaches_a_worker() {
    let up = upstream::start("up").await;
    let (leader, _dir) = leader(&[]);
    leader
        .create_route(&route_to("open", "open.oto.tools", &[up.port]))
        .await;
    secured(&leader, &up, 5).await;
    let w = worker(&[leader.base_url()], &[]);
    assert!(
        eventually(SOON, || async {
            w.status_of("open.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );
    for _ in 0..30 {
        assert_eq!(w.status_of("open.oto.tools", "/").await, 200);
    }
    let (status, figures) = w.get_json("/api/live").await;
    assert_eq!(status, 200, "{figures}");
    assert_eq!(figures["node"]["mode"], "worker");
    assert!(figures["requests"].as_u64().unwrap() >= 30, "{figures}");

    // The worker's pushes carry its figures (stats-only when it has nothing
    // to count), and the leader shows its own.
    let waited = Instant::now();
    let last = loop {
        let (_, members) = leader.get_json("/api/cluster/members").await;
        let stats = &member(&members, "Worker")["stats"];
        if stats["rate"].as_f64().is_some_and(|r| r > 0.0)
            && stats["heap_used"].as_u64().is_some_and(|h| h > 0)
        {
            break members;
        }
        assert!(
            waited.elapsed() < SOON,
            "worker stats never arrived: {members}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let worker_stats = &member(&last, "Worker")["stats"];
    for field in [
        "duration",
        "overhead",
        "data_in_rate",
        "data_out_rate",
        "concurrent_handled_requests",
        "cpu_usage",
        "load_average",
        "p50",
        "p99",
        "error_rate",
    ] {
        assert!(worker_stats[field].is_number(), "{field}: {worker_stats}");
    }
    assert!(worker_stats["p99"].as_f64().unwrap() >= worker_stats["p50"].as_f64().unwrap());
    assert!(worker_stats["data_out_rate"].as_f64().unwrap() > 0.0);
    let leader_stats = &member(&last, "Leader")["stats"];
    assert!(leader_stats["rate"].is_number(), "{leader_stats}");
    assert!(
        leader_stats["heap_used"].as_u64().unwrap() > 0,
        "{leader_stats}"
    );

    // The SSE event names the state's build time next to its revision.
    let mut events = leader
        .admin(Method::GET, "/api/cluster/live?every=250")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut text = String::new();
    let event: Value = loop {
        let chunk = tokio::time::timeout(SOON, events.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(data) = text
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .filter(|_| text.contains("\n\n"))
        {
            break serde_json::from_str(data.trim()).unwrap();
        }
    };
    let built = event["stateBuiltAt"].as_u64().unwrap_or(0);
    assert!(built > 1_700_000_000_000, "{event}");
    assert!(built <= common_now_ms(), "{event}");
    assert!(event["revision"].is_u64(), "{event}");
    assert!(member(&event["members"], "Leader")["stats"]["rate"].is_number());
    drop(events);

    // A key driven to 429 through the worker admits again once the reset on
    // the leader reaches the worker (its next push, default every 2 s).
    let mut admitted = 0;
    for _ in 0..8 {
        if call(&w).await == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "the worker stops at the quota");
    assert_eq!(call(&w).await, 429);
    // The leader hears of the 5 calls on the worker's next push.
    assert!(
        eventually(SOON, || async {
            leader.get_json("/api/apikeys/k5/quotas").await.1["currentCallsPerDay"] == 5
        })
        .await
        .is_some()
    );
    let (status, zeroed) = leader
        .send_json(Method::DELETE, "/api/apikeys/k5/quotas", &json!({}))
        .await;
    assert_eq!(status, 200, "{zeroed}");
    assert_eq!(zeroed["currentCallsPerDay"], 0, "{zeroed}");
    let reset_at = Instant::now();
    let converged = eventually(SOON, || async { call(&w).await == 200 }).await;
    let took = reset_at.elapsed();
    assert!(converged.is_some(), "the worker never admitted again");
    eprintln!(
        "worker admitted again {} ms after the reset",
        took.as_millis()
    );
    // Once admitted again it counts from zero: 4 more calls pass, not fewer.
    let mut more = 0;
    for _ in 0..4 {
        if call(&w).await == 200 {
            more += 1;
        }
    }
    assert_eq!(more, 4);
}

fn common_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
