//! The admin UI in headless Chromium against real nodes: sign in, create a
//! route and see traffic reach its backend, create an API key and watch its
//! quota bar move, watch a worker join the Cluster View, turn red when
//! killed, then leave; keyboard-only use and phone width. Screenshots of
//! every step land in `target/ui-screenshots/<test>/`.
//!
//! Skipped (loudly) without chromium/chromedriver unless
//! `KOMAINU_REQUIRE_BROWSER=1`, as in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::browser::{Browser, Key, editor_ready, sign_in, ui_url};
use common::ui::{ADMIN_LOGIN, ADMIN_PASSWORD, admin_user_args};
use common::{Node, eventually, leader, upstream, worker};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn sign_in_create_a_route_in_the_ui_and_traffic_reaches_its_backend() {
    let Some(browser) = Browser::start("create_route").await else {
        return;
    };
    let (node, _dir) = Node::start(&[&admin_user_args()]);
    let backend = upstream::start("ui-backend").await;
    sign_in(&browser, &node).await;
    browser.screenshot("home").await;

    browser.goto(&ui_url(&node, "/routes")).await;
    browser.wait_for("#routes-empty", WAIT).await;
    browser.screenshot("routes-empty").await;
    browser.click("#new-entity").await;
    editor_ready(&browser).await;
    browser.fill("[name='name']", "shop").await;
    browser
        .fill("[name='frontend.domains']", "shop.oto.tools")
        .await;
    // A bad port first: the API's message shows next to the targets field.
    browser
        .fill("[name='backend.targets']", "127.0.0.1:0")
        .await;
    browser.click("#save").await;
    let error = browser
        .wait_for(".field-error[data-for='backend.targets']", WAIT)
        .await;
    assert!(
        error.text().await.unwrap().contains("65535"),
        "{:?}",
        error.text().await
    );
    assert_eq!(
        browser
            .attr("[name='backend.targets']", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    browser.screenshot("validation-error").await;
    browser
        .fill(
            "[name='backend.targets']",
            &format!("127.0.0.1:{}", backend.port),
        )
        .await;
    browser.click("#save").await;
    browser.wait_for_text("#flash", "Saved", WAIT).await;
    let row = browser.wait_for("#routes-table tr[data-id]", WAIT).await;
    let id = row.attr("data-id").await.unwrap().unwrap();
    browser.screenshot("route-saved").await;

    let served = eventually(WAIT, || async {
        node.served_by("shop.oto.tools", "/hello").await.as_deref() == Some("ui-backend")
    })
    .await;
    assert!(served.is_some(), "the route made in the UI does not serve");
    let stored = node.get_json(&format!("/api/routes/{id}")).await.1;
    assert_eq!(stored["name"], "shop");
    assert_eq!(stored["backend"]["targets"][0]["port"], backend.port);

    // Disable from the list: traffic stops; enable again: it comes back.
    browser
        .click(&format!("tr[data-id='{id}'] button.toggle"))
        .await;
    browser
        .wait_for_text(&format!("tr[data-id='{id}'] .state"), "disabled", WAIT)
        .await;
    assert!(
        eventually(WAIT, || async {
            node.status_of("shop.oto.tools", "/").await == 404
        })
        .await
        .is_some()
    );
    browser
        .click(&format!("tr[data-id='{id}'] button.toggle"))
        .await;
    browser
        .wait_for_text(&format!("tr[data-id='{id}'] .state"), "enabled", WAIT)
        .await;

    // Delete asks first; cancelling keeps it, confirming removes it.
    browser
        .click(&format!("tr[data-id='{id}'] button.delete"))
        .await;
    browser.wait_for("#confirm-dialog[open]", WAIT).await;
    browser.screenshot("delete-confirm").await;
    browser.click("#confirm-no").await;
    assert_eq!(node.get_json(&format!("/api/routes/{id}")).await.0, 200);
    browser
        .click(&format!("tr[data-id='{id}'] button.delete"))
        .await;
    browser.click("#confirm-yes").await;
    browser.wait_for_text("#flash", "Deleted", WAIT).await;
    assert_eq!(node.get_json(&format!("/api/routes/{id}")).await.0, 404);
    assert!(backend.hits() >= 1);

    // The traffic shows on the home page's tiles.
    browser.goto(&ui_url(&node, "/")).await;
    browser
        .eventually(
            "parseFloat(document.querySelector(\"[data-tile='rps'] .tile-value\").textContent) > 0",
            WAIT,
        )
        .await;
    let p99 = browser.text("[data-tile='latency-p99'] .tile-value").await;
    assert!(p99.ends_with(" ms") || p99.ends_with(" s"), "{p99}");
    browser.screenshot("home-after-traffic").await;
}

#[tokio::test]
async fn an_api_key_made_in_the_ui_calls_its_route_and_its_quota_bar_moves() {
    let Some(browser) = Browser::start("apikey_quota").await else {
        return;
    };
    let (node, _dir) = Node::start(&[&admin_user_args()]);
    let backend = upstream::start("keyed").await;
    let mut route = common::route_to("keyed", "keyed.oto.tools", &[backend.port]);
    route["plugins"] = json!([{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    node.create_route(&route).await;
    sign_in(&browser, &node).await;

    browser.goto(&ui_url(&node, "/apikeys/new")).await;
    editor_ready(&browser).await;
    let client_id = browser.prop("[name='clientId']", "value").await.unwrap();
    let secret = browser
        .prop("[name='clientSecret']", "value")
        .await
        .unwrap();
    assert!(
        !client_id.is_empty() && !secret.is_empty(),
        "the template gives an id and a secret"
    );
    browser.fill("[name='clientName']", "mobile app").await;
    browser
        .fill("[name='authorizedEntities']", "route_keyed")
        .await;
    browser.fill("[name='dailyQuota']", "10").await;
    browser.click("#save").await;
    browser.wait_for_text("#flash", "Saved", WAIT).await;
    browser
        .wait_for(&format!("#apikeys-table tr[data-id='{client_id}']"), WAIT)
        .await;

    let call = || {
        node.through(Method::GET, "keyed.oto.tools", "/")
            .header("Otoroshi-Client-Id", &client_id)
            .header("Otoroshi-Client-Secret", &secret)
            .send()
    };
    assert!(
        eventually(WAIT, || async { call().await.unwrap().status() == 200 })
            .await
            .is_some(),
        "the key made in the UI does not call its route"
    );
    for _ in 0..2 {
        assert_eq!(call().await.unwrap().status(), 200);
    }
    browser
        .goto(&ui_url(&node, &format!("/apikeys/{client_id}")))
        .await;
    let daily = "#quota-usage .quota-bar[data-quota='daily']";
    browser
        .eventually(
            &format!("document.querySelector(\"{daily}\").dataset.used === '3'"),
            WAIT,
        )
        .await;
    assert!(
        browser
            .text("#quota-usage .quota-text[data-quota='daily']")
            .await
            .starts_with("3 / 10")
    );
    browser.screenshot("quota-used").await;
    browser.click("#reset-quotas").await;
    browser.wait_for_text("#flash", "Quotas reset", WAIT).await;
    browser
        .eventually(
            &format!("document.querySelector(\"{daily}\").dataset.used === '0'"),
            WAIT,
        )
        .await;
    browser.screenshot("quota-reset").await;
}

#[tokio::test]
async fn a_worker_joins_the_cluster_view_in_sync_turns_red_when_killed_then_leaves() {
    let Some(browser) = Browser::start("cluster_view").await else {
        return;
    };
    // Shared cluster settings: member timeout = retries × pollEvery = 9 s,
    // so red (past 3/4 of it) lasts over 2 s before the member leaves: time
    // enough for the 500 ms live stream to show it on a loaded CI machine.
    let shared = [
        "-Dcluster.worker.state.pollEvery=3000",
        "-Dcluster.worker.retries=3",
    ];
    let mut args = vec![admin_user_args()];
    args.extend(shared.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (leader, _dir) = leader(&args);
    sign_in(&browser, &leader).await;
    browser.goto(&ui_url(&leader, "/cluster")).await;
    browser
        .wait_for("#members-table tr[data-type='Leader']", WAIT)
        .await;
    browser.wait_for("#members-empty", WAIT).await;
    browser.screenshot("leader-alone").await;

    let worker = worker(&[leader.base_url()], &shared);
    let row = "#members-table tr[data-type='Worker']";
    browser
        .wait_for(
            &format!("{row}[data-health='green'][data-in-sync='true']"),
            WAIT,
        )
        .await;
    assert!(
        browser
            .text(&format!("{row} .state"))
            .await
            .contains("in sync")
    );
    browser.screenshot("worker-in-sync").await;
    browser.goto(&ui_url(&leader, "/")).await;
    browser
        .wait_for_text("[data-tile='workers-up'] .tile-value", "1", WAIT)
        .await;
    browser.screenshot("home-cluster-tiles").await;

    browser.goto(&ui_url(&leader, "/cluster")).await;
    browser.wait_for(row, WAIT).await;
    worker.kill_hard();
    browser
        .wait_for_present(
            &format!("{row}[data-health='red']"),
            Duration::from_secs(15),
        )
        .await;
    browser.screenshot("worker-red").await;
    browser
        .eventually(
            "document.querySelector(\"#members-table tr[data-type='Worker']\") === null",
            WAIT,
        )
        .await;
    browser.wait_for("#members-empty", WAIT).await;
    browser.screenshot("worker-gone").await;
}

#[tokio::test]
async fn keyboard_only_sign_in_and_pages_fit_a_phone() {
    let Some(browser) = Browser::start("keyboard_phone").await else {
        return;
    };
    let (node, _dir) = Node::start(&[&admin_user_args()]);
    node.create_route(&common::route("phone", "phone.oto.tools"))
        .await;
    browser.goto(&ui_url(&node, "/login")).await;
    browser.wait_for("#username", WAIT).await;
    // The name field has the focus on arrival; Tab to the password, Enter to send.
    assert_eq!(browser.focused().await, "input#username");
    browser.send_keys(ADMIN_LOGIN).await;
    browser.press(Key::Tab).await;
    browser.send_keys(ADMIN_PASSWORD).await;
    browser.press(Key::Enter).await;
    browser.wait_for("#node-tiles", WAIT).await;

    browser.set_size(390, 844).await;
    for (path, name) in [
        ("/", "home-phone"),
        ("/routes", "routes-phone"),
        ("/routes/phone", "editor-phone"),
    ] {
        browser.goto(&ui_url(&node, path)).await;
        browser.wait_for("main", WAIT).await;
        if path == "/routes/phone" {
            editor_ready(&browser).await;
        }
        let fits = browser
            .execute("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await;
        browser.screenshot(name).await;
        assert_eq!(fits, json!(true), "{path} scrolls sideways at phone width");
    }
    // The editor loaded the route it was opened for.
    assert_eq!(
        browser.prop("[name='name']", "value").await.as_deref(),
        Some("route phone")
    );
}

#[tokio::test]
async fn an_admin_user_made_in_the_ui_signs_in_and_a_read_only_one_sees_no_write_button() {
    let Some(browser) = Browser::start("admin_users").await else {
        return;
    };
    let (node, _dir) = Node::start(&[&admin_user_args()]);
    sign_in(&browser, &node).await;
    browser.goto(&ui_url(&node, "/admins")).await;
    browser
        .wait_for(&format!("#admins-table tr[data-id='{ADMIN_LOGIN}']"), WAIT)
        .await;
    browser.click("#new-entity").await;
    editor_ready(&browser).await;
    browser
        .fill("[name='username']", "viewer@example.com")
        .await;
    browser.fill("[name='password']", "short").await;
    browser.click("[name='readOnly']").await;
    browser.click("#save").await;
    let error = browser
        .wait_for(".field-error[data-for='password']", WAIT)
        .await;
    assert!(error.text().await.unwrap().contains("at least 8"));
    browser.fill("[name='password']", "viewer-password").await;
    browser.click("#save").await;
    browser.wait_for_text("#flash", "Saved", WAIT).await;
    browser
        .wait_for("#admins-table tr[data-id='viewer@example.com']", WAIT)
        .await;
    browser.screenshot("admin-users").await;

    browser.click("#logout").await;
    browser.wait_for("#login-form", WAIT).await;
    browser.fill("#username", "viewer@example.com").await;
    browser.fill("#password", "viewer-password").await;
    browser.click("#login-submit").await;
    browser.wait_for("#read-only-notice", WAIT).await;
    node.create_route(&common::route("seen", "seen.oto.tools"))
        .await;
    browser.goto(&ui_url(&node, "/routes")).await;
    browser
        .wait_for("#routes-table tr[data-id='seen']", WAIT)
        .await;
    let hidden = browser
        .execute("return getComputedStyle(document.querySelector('#new-entity')).display === 'none' && getComputedStyle(document.querySelector('button.delete')).display === 'none';")
        .await;
    assert_eq!(hidden, json!(true), "read-only users see no write control");
    browser.screenshot("read-only-routes").await;
}
