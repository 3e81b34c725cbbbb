#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! A compromised worker (issue 12, item 6): what its key lets it do on the
//! leader. A worker-role key pulls state and pushes quotas, nothing else;
//! a push cannot put a consumer on 429 with an absurd count.

mod common;

use std::path::Path;
use std::time::Duration;

use common::upstream;
use common::{Node, command, eventually, leader, route_to, status};
use proxy::quota::{Window, counter_key, daily_window};
use reqwest::Method;
use serde_json::json;

const SOON: Duration = Duration::from_secs(8);
const WORKER_ID: &str = "worker-key";
const WORKER_SECRET: &str = "worker-key-secret";

/// A leader with a route on `w.oto.tools` and a worker-role key.
async fn leader_with_worker_key() -> (Node, tempfile::TempDir, upstream::Upstream) {
    let up = upstream::start("up").await;
    let (leader, dir) = leader(&[]);
    leader
        .create_route(&route_to("r", "w.oto.tools", &[up.port]))
        .await;
    let key = json!({"clientId": WORKER_ID, "clientSecret": WORKER_SECRET,
        "authorizedEntities": ["group_admin-api-group"],
        "metadata": {"komainu.role": "worker"}});
    let (code, body) = leader.send_json(Method::POST, "/api/apikeys", &key).await;
    assert_eq!(code, 201, "{body}");
    (leader, dir, up)
}

fn as_worker(leader: &Node, method: Method, path: &str) -> reqwest::RequestBuilder {
    leader
        .anonymous(method, path)
        .basic_auth(WORKER_ID, Some(WORKER_SECRET))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_key_syncs_a_worker_but_cannot_administer() {
    let (leader, _dir, _up) = leader_with_worker_key().await;
    let worker = Node::spawn(
        command().args([
            "-Dhttp.address=127.0.0.1",
            "-Dhttp.port=0",
            "-Dhttps.port=0",
            "-Dcluster.mode=worker",
            &format!("-Dcluster.leader.clientId={WORKER_ID}"),
            &format!("-Dcluster.leader.clientSecret={WORKER_SECRET}"),
            &format!("-Dcluster.leader.urls.0={}", leader.base_url()),
        ]),
        Path::new("/nonexistent"),
    );
    assert!(
        eventually(SOON, || async {
            worker.status_of("w.oto.tools", "/").await == 200
        })
        .await
        .is_some(),
        "a worker with a worker-role key never synced"
    );

    // The attack: the worker's key writes a route, reads the keys, imports.
    let route = route_to("evil", "w.oto.tools", &[1]);
    let put = as_worker(&leader, Method::PUT, "/api/routes/r")
        .json(&route)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 403);
    let error: serde_json::Value = put.json().await.unwrap();
    assert_eq!(error["error"], "forbidden", "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("worker role"),
        "{error}"
    );
    for (method, path) in [
        (Method::POST, "/api/routes"),
        (Method::GET, "/api/apikeys"),
        (Method::GET, "/api/otoroshi.json"),
        (Method::GET, "/api/cluster/members"),
        (Method::GET, "/api/admins/simple"),
    ] {
        let answer = status(as_worker(&leader, method.clone(), path).json(&route)).await;
        assert_eq!(answer, 403, "{method} {path}");
    }
    let (_, current) = leader.get_json("/api/routes/r").await;
    assert_eq!(current["name"], "r", "the route changed: {current}");
    // Nor does it sign in to the UI, where a full admin key does.
    let mut ui = common::ui::UiClient::new(&leader);
    let page = ui.login(WORKER_ID, WORKER_SECRET).await;
    assert_ne!(
        page.status.as_u16(),
        303,
        "a worker key signed in to the UI"
    );
    let page = ui.login(common::ADMIN_ID, common::ADMIN_SECRET).await;
    assert_eq!(page.status.as_u16(), 303, "{}", page.text);
    // What a worker needs still works with it.
    assert_eq!(
        status(as_worker(&leader, Method::GET, "/api/cluster/state")).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_of_i64_max_on_a_victim_key_is_refused() {
    let (leader, _dir, up) = leader_with_worker_key().await;
    let mut route = route_to("secure", "q.oto.tools", &[up.port]);
    route["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    leader.create_route(&route).await;
    let victim = json!({"clientId": "victim", "clientSecret": "s", "dailyQuota": 100,
        "authorizedEntities": ["route_secure"]});
    assert_eq!(
        leader
            .send_json(Method::POST, "/api/apikeys", &victim)
            .await
            .0,
        201
    );
    let call = || async {
        leader
            .through(Method::GET, "q.oto.tools", "/")
            .basic_auth("victim", Some("s"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call().await, 200);

    let now = model::clock::now_ms();
    let day = daily_window(now);
    let daily = counter_key("victim", Window::Daily, day.id);
    let push = format!(
        "{{\"typ\":\"batch\",\"id\":\"evil:1\"}}\n\
         {{\"typ\":\"quotaincr\",\"k\":\"{daily}\",\"i\":9223372036854775807,\"e\":{}}}\n\
         {{\"typ\":\"quotaincr\",\"k\":\"quotas:ghost:daily:{}\",\"i\":1,\"e\":{}}}\n",
        day.end_ms, day.id, day.end_ms
    );
    let answer = as_worker(&leader, Method::PUT, "/api/cluster/quotas")
        .body(push)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    // The leader re-reads the store's totals every flush (1 s): were the
    // push counted, the victim would be on 429 by then.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(call().await, 200, "the victim was put on 429");
    let (_, quotas) = leader.get_json("/api/apikeys/victim/quotas").await;
    assert!(
        quotas["currentCallsPerDay"].as_u64().unwrap() <= 2,
        "{quotas}"
    );
    let metrics = leader.get_text("/metrics").await;
    assert!(
        metrics.contains("komainu_cluster_refused_quota_increments_total 2"),
        "{metrics}"
    );
}
