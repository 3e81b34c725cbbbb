//! The route editor's plugin list in headless Chromium: add a plugin from
//! the registry and edit its default config as JSON, see its effect on a
//! real proxied call; a bad config shown next to its plugin with nothing
//! changed; reorder; remove; the list at phone width. Screenshots land in
//! `target/ui-screenshots/plugin_list/`.
//!
//! Skipped (loudly) without chromium/chromedriver unless
//! `KOMAINU_REQUIRE_BROWSER=1`, as in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::browser::{Browser, Key, editor_ready, sign_in, ui_url};
use common::plugins::{P, plugin};
use common::ui::admin_user_args;
use common::{Node, eventually, route_to, upstream};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "plugged.oto.tools";

/// The short names of the route's plugins, in order, as the API has them.
async fn stored_plugins(node: &Node) -> Vec<String> {
    let (status, route) = node.get_json("/api/routes/plugged").await;
    assert_eq!(status, 200, "{route}");
    route["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["plugin"]
                .as_str()
                .unwrap()
                .trim_start_matches(P)
                .to_string()
        })
        .collect()
}

/// The short names of the plugins the editor lists, in order.
async fn listed_plugins(browser: &Browser) -> Vec<String> {
    let value = browser
        .execute(
            "return Array.from(document.querySelectorAll('#plugin-list > li')).map(li => li.querySelector('.plugin-name').textContent);",
        )
        .await;
    serde_json::from_value(value).unwrap()
}

/// The CSS selector of the listed plugin `name` (short name).
fn item(name: &str) -> String {
    format!("#plugin-list > li[data-plugin='{P}{name}']")
}

async fn open_editor(browser: &Browser, node: &Node) {
    browser.goto(&ui_url(node, "/routes/plugged")).await;
    editor_ready(browser).await;
    browser.wait_for("#plugin-list > li", WAIT).await;
}

async fn save(browser: &Browser) {
    browser.click("#save").await;
    browser.wait_for_text("#flash", "Saved plugged", WAIT).await;
}

async fn header_through(node: &Node, name: &str) -> Option<String> {
    let response = node
        .through(Method::GET, HOST, "/hello")
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn plugins_are_added_configured_refused_reordered_and_removed_in_the_editor() {
    let Some(browser) = Browser::start("plugin_list").await else {
        return;
    };
    let (node, _dir) = Node::start(&[&admin_user_args()]);
    let backend = upstream::start("plugged-backend").await;
    let mut route = route_to("plugged", HOST, &[backend.port]);
    route["plugins"] = json!([plugin("Cors", json!({})), plugin("OverrideHost", json!({}))]);
    node.create_route(&route).await;
    sign_in(&browser, &node).await;

    // The route's plugins, in order; every registered plugin can be added.
    open_editor(&browser, &node).await;
    assert_eq!(listed_plugins(&browser).await, ["Cors", "OverrideHost"]);
    let offered = browser
        .execute("return document.querySelectorAll('#plugin-add option').length;")
        .await;
    let (_, catalog) = node.get_json("/api/plugins").await;
    assert_eq!(offered, json!(catalog.as_array().unwrap().len()));
    browser.screenshot("editor").await;

    // Add AdditionalHeadersOut: it comes last with the registry's default
    // config, and the focus is on that config.
    let select = browser.wait_for("#plugin-add", WAIT).await;
    select
        .select_by_value(&format!("{P}AdditionalHeadersOut"))
        .await
        .unwrap();
    browser
        .wait_for_text("#plugin-add-help", "response sent to the client", WAIT)
        .await;
    browser.click("#plugin-add-button").await;
    let config_css = format!("{} .plugin-config", item("AdditionalHeadersOut"));
    browser.wait_for(&config_css, WAIT).await;
    assert_eq!(
        listed_plugins(&browser).await,
        ["Cors", "OverrideHost", "AdditionalHeadersOut"]
    );
    let shown: Value =
        serde_json::from_str(&browser.prop(&config_css, "value").await.unwrap()).unwrap();
    let defaults = catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == format!("{P}AdditionalHeadersOut"))
        .unwrap()["default_config"]
        .clone();
    assert_eq!(shown, defaults);
    assert_eq!(
        browser
            .execute("return document.activeElement.classList.contains('plugin-config') && document.activeElement.closest('li').dataset.plugin;")
            .await,
        json!(format!("{P}AdditionalHeadersOut"))
    );

    // JSON that does not parse is caught in the page, next to the config,
    // and the form is not sent.
    browser.fill(&config_css, "{\"headers\": ").await;
    let json_error = format!("{} .plugin-json-error", item("AdditionalHeadersOut"));
    browser
        .wait_for_text(&json_error, "Not valid JSON", WAIT)
        .await;
    browser.click("#save").await;
    browser
        .wait_for_text("#form-error", "not valid JSON", WAIT)
        .await;
    browser.screenshot("config-not-json").await;
    assert_eq!(stored_plugins(&node).await, ["Cors", "OverrideHost"]);

    // The defaults edited into a header: saved, and sent on a proxied call.
    browser
        .fill(&config_css, r#"{"headers": {"X-Plugged": "from-the-ui"}}"#)
        .await;
    assert_eq!(
        browser
            .execute(&format!(
                "return document.querySelector(\"{json_error}\").hidden;"
            ))
            .await,
        json!(true)
    );
    save(&browser).await;
    let header = eventually(WAIT, || async {
        header_through(&node, "x-plugged").await.as_deref() == Some("from-the-ui")
    })
    .await;
    assert!(header.is_some(), "the header added in the UI is not sent");
    assert_eq!(
        stored_plugins(&node).await,
        ["Cors", "OverrideHost", "AdditionalHeadersOut"]
    );

    // A bad config: the API's message next to the plugin, nothing changed.
    let before = node.get_json("/api/routes/plugged").await.1;
    open_editor(&browser, &node).await;
    let cors_config = format!("{} .plugin-config", item("Cors"));
    browser.fill(&cors_config, r#"{"max_age": "x"}"#).await;
    browser.click("#save").await;
    let error = browser
        .wait_for(&format!("{} .plugin-api-error", item("Cors")), WAIT)
        .await;
    let text = error.text().await.unwrap();
    assert!(text.contains("config.max_age"), "{text}");
    assert_eq!(
        browser.attr(&cors_config, "aria-invalid").await.as_deref(),
        Some("true")
    );
    // Only next to Cors.
    assert_eq!(
        browser
            .execute("return document.querySelectorAll('.plugin-api-error:not([hidden])').length;")
            .await,
        json!(1)
    );
    browser.screenshot("config-refused").await;
    assert_eq!(node.get_json("/api/routes/plugged").await.1, before);

    // Reorder with the keyboard: Cors's "Move down" focused, Enter.
    open_editor(&browser, &node).await;
    browser
        .execute(&format!(
            "document.querySelector(\"{} .plugin-down\").focus(); return true;",
            item("Cors")
        ))
        .await;
    browser.press(Key::Enter).await;
    assert_eq!(
        listed_plugins(&browser).await,
        ["OverrideHost", "Cors", "AdditionalHeadersOut"]
    );
    // The focus followed the moved plugin.
    assert_eq!(
        browser
            .execute("return document.activeElement.closest('li').dataset.plugin;")
            .await,
        json!(format!("{P}Cors"))
    );
    browser.screenshot("reordered").await;
    save(&browser).await;
    assert_eq!(
        stored_plugins(&node).await,
        ["OverrideHost", "Cors", "AdditionalHeadersOut"]
    );

    // Remove OverrideHost: gone from the route, the header still comes back.
    open_editor(&browser, &node).await;
    browser
        .click(&format!("{} .plugin-remove", item("OverrideHost")))
        .await;
    assert_eq!(
        listed_plugins(&browser).await,
        ["Cors", "AdditionalHeadersOut"]
    );
    save(&browser).await;
    assert_eq!(
        stored_plugins(&node).await,
        ["Cors", "AdditionalHeadersOut"]
    );
    assert_eq!(
        header_through(&node, "x-plugged").await.as_deref(),
        Some("from-the-ui")
    );

    // At phone width the list fits without sideways scrolling.
    browser.set_size(390, 844).await;
    open_editor(&browser, &node).await;
    let fits = browser
        .execute("return document.documentElement.scrollWidth <= window.innerWidth;")
        .await;
    browser
        .execute("document.querySelector('#plugins').scrollIntoView(); return true;")
        .await;
    browser.screenshot("editor-phone").await;
    assert_eq!(
        fits,
        json!(true),
        "the plugin list scrolls sideways at phone width"
    );
}
