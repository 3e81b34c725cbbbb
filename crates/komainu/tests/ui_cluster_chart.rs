//! The leader's home page in headless Chromium: with traffic through a
//! worker only, the cluster row's tiles and its charts (inline SVG drawn
//! from the leader's cluster-wide `/api/live`) rise, while the leader's own
//! tiles stay at zero. Screenshots land in `target/ui-screenshots/cluster_chart/`.
//!
//! Skipped (loudly) without chromium/chromedriver unless
//! `KOMAINU_REQUIRE_BROWSER=1`, as in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::browser::{Browser, sign_in, ui_url};
use common::ui::admin_user_args;
use common::{eventually, leader, route_to, upstream, worker};
use reqwest::Method;

const WAIT: Duration = Duration::from_secs(20);
const RATE_CHART: &str = "#cluster-charts [data-chart='rate']";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaders_home_charts_the_whole_clusters_traffic() {
    let Some(browser) = Browser::start("cluster_chart").await else {
        return;
    };
    let up = upstream::start("up").await;
    let (leader, _dir) = leader(&[&admin_user_args()]);
    leader
        .create_route(&route_to("charted", "charted.oto.tools", &[up.port]))
        .await;
    let w = Arc::new(worker(&[leader.base_url()], &[]));
    assert!(
        eventually(WAIT, || async {
            w.status_of("charted.oto.tools", "/").await == 200
        })
        .await
        .is_some()
    );

    sign_in(&browser, &leader).await;
    browser.goto(&ui_url(&leader, "/")).await;
    browser.wait_for(RATE_CHART, WAIT).await;
    for field in ["duration", "dataInRate", "dataOutRate"] {
        browser
            .wait_for(&format!("#cluster-charts [data-chart='{field}'] svg"), WAIT)
            .await;
    }

    // Steady traffic through the worker while the page watches.
    let running = Arc::new(AtomicBool::new(true));
    let traffic = {
        let (w, running) = (w.clone(), running.clone());
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let response = w
                    .through(Method::POST, "charted.oto.tools", "/upload")
                    .body(vec![b'c'; 1500])
                    .send()
                    .await;
                if let Ok(response) = response {
                    let _ = response.bytes().await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The cluster row rises: tiles, then a drawn line with a peak above 0.
    browser
        .eventually(
            "(() => { const v = document.querySelector(\"[data-tile='cluster-rps'] .tile-value\").textContent; return v !== '–' && Number(v) > 0; })()",
            WAIT,
        )
        .await;
    browser
        .eventually(
            &format!(
                "Number(document.querySelector(\"{RATE_CHART}\").dataset.points) >= 2 && Number(document.querySelector(\"{RATE_CHART}\").dataset.peak) > 0"
            ),
            WAIT,
        )
        .await;
    let line = browser
        .attr(&format!("{RATE_CHART} .chart-line"), "points")
        .await
        .unwrap();
    assert!(line.split(' ').count() >= 2, "{line}");
    let peak = browser.text(&format!("{RATE_CHART} .chart-peak")).await;
    assert_ne!(peak, "–", "{peak}");
    let data_in = browser
        .text("[data-tile='cluster-data-in'] .tile-value")
        .await;
    assert!(
        !data_in.starts_with('0') && data_in.ends_with("/s"),
        "{data_in}"
    );
    let latency = browser
        .text("[data-tile='cluster-latency'] .tile-value")
        .await;
    assert!(
        latency.ends_with("ms") || latency.ends_with(" s"),
        "{latency}"
    );
    // The leader proxied nothing itself: its own row stays at zero.
    assert_eq!(
        browser
            .text("#node-tiles [data-tile='rps'] .tile-value")
            .await,
        "0"
    );
    browser.screenshot("cluster-chart").await;

    running.store(false, Ordering::Relaxed);
    traffic.await.unwrap();
}
