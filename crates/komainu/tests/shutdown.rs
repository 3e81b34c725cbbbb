#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::upstream;
use common::{Node, route_to};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let up = upstream::start("slow").await;
    let (node, _dir) = Node::start(&[]);
    node.create_route(&route_to("slow", "slow.oto.tools", &[up.port]))
        .await;
    let in_flight = node
        .through(Method::GET, "slow.oto.tools", "/slow/1500")
        .send();
    let in_flight = tokio::spawn(in_flight);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let port = node.port;
    let stopped = tokio::task::spawn_blocking(move || node.terminate());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .header("Host", "slow.oto.tools")
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "no new connection is accepted once stopping"
    );
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the request in flight finished");
    assert!(
        stopped.await.unwrap().success(),
        "then the node exited cleanly"
    );
}
