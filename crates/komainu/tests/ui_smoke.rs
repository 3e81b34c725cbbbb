//! The browser harness itself: a real node's health page seen through
//! headless Chromium on the admin host (`*.oto.tools` mapped to 127.0.0.1),
//! screenshots at desktop and phone width, a keyboard-only form, failure
//! artifacts, and no process left behind, even after a panic.
//!
//! Skipped (loudly) without chromium/chromedriver unless
//! `KOMAINU_REQUIRE_BROWSER=1`, as in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::Node;
use common::browser::{
    API_HOST, Browser, Key, MAX_BROWSERS, alive, peak, processes_using, running,
};

const HEALTH: &str = "/.well-known/otoroshi/monitoring/health";

fn assert_png(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
}

/// The PNG's width and height, from its IHDR chunk.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test]
async fn health_page_on_the_admin_host_at_desktop_and_phone_width() {
    let Some(browser) = Browser::start("health_page").await else {
        return;
    };
    let (node, _dir) = Node::start(&[]);

    let started = Instant::now();
    let url = format!("http://{API_HOST}:{}{HEALTH}", node.port);
    browser.goto(&url).await;
    // The host-resolver rule took the browser to the local node.
    assert_eq!(browser.current_url().await, url);
    browser
        .wait_for_text("body", "\"otoroshi\"", Duration::from_secs(5))
        .await;
    let text = browser.page_text().await;
    let json_start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON on the page: {text:?}"));
    let health: serde_json::Value = serde_json::from_str(text[json_start..].trim())
        .unwrap_or_else(|e| panic!("page is not the health JSON ({e}): {text:?}"));
    assert_eq!(health["otoroshi"], "healthy", "{health}");
    assert_eq!(health["datastore"], "healthy", "{health}");

    let (w, h) = browser.viewport().await;
    assert_eq!((w, h), (1280, 800), "initial viewport");
    let desktop = browser.screenshot("desktop").await;

    browser.set_size(390, 844).await;
    assert_eq!(browser.viewport().await, (390, 844), "phone viewport");
    let phone = browser.screenshot("phone").await;

    assert!(
        desktop.ends_with("health_page/01-desktop.png"),
        "{desktop:?}"
    );
    assert!(phone.ends_with("health_page/02-phone.png"), "{phone:?}");
    assert_png(&desktop);
    assert_png(&phone);
    assert_eq!(png_size(&desktop), (1280, 800));
    assert_eq!(png_size(&phone), (390, 844));
    eprintln!(
        "health page: chromedriver {} ms, session {} ms, page + 2 screenshots {} ms",
        browser.driver_ready_in.as_millis(),
        browser.session_ready_in.as_millis(),
        started.elapsed().as_millis()
    );
}

const FORM: &str = r#"<!doctype html><html><head><title>form</title></head><body>
<form id="f" onsubmit="event.preventDefault();
  document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!';">
  <label>Name <input id="name" value="placeholder"></label>
  <button id="go" type="submit">Greet</button>
</form>
<p id="out">nobody yet</p>
</body></html>"#;

fn data_url(html: &str) -> String {
    let mut url = String::from("data:text/html;charset=utf-8,");
    for byte in html.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[tokio::test]
async fn form_filled_and_submitted_with_the_keyboard() {
    let Some(browser) = Browser::start("keyboard_form").await else {
        return;
    };
    browser.goto(&data_url(FORM)).await;
    assert_eq!(browser.text("#out").await, "nobody yet");
    assert_eq!(
        browser.attr("#name", "value").await.as_deref(),
        Some("placeholder")
    );
    assert_eq!(browser.attr("#go", "type").await.as_deref(), Some("submit"));

    // fill clears the old value first.
    browser.fill("#name", "Komainu").await;
    // The attribute keeps the initial value; the property is the live one.
    assert_eq!(
        browser.prop("#name", "value").await.as_deref(),
        Some("Komainu")
    );
    assert_eq!(browser.focused().await, "input#name");

    // Keyboard only: Tab to the button, Enter submits.
    browser.press(Key::Tab).await;
    assert_eq!(browser.focused().await, "button#go");
    browser.press(Key::Enter).await;
    browser
        .wait_for_text("#out", "Hello, Komainu!", Duration::from_secs(3))
        .await;
    assert_eq!(browser.text("#out").await, "Hello, Komainu!");

    // Typing goes to whatever has the focus.
    browser.click("#name").await;
    browser.send_keys("!").await;
    let value = browser
        .eventually(
            "document.getElementById('name').value === 'Komainu!' && 'ok'",
            Duration::from_secs(2),
        )
        .await;
    assert_eq!(value, "ok");
    browser.screenshot("submitted").await;
}

#[tokio::test]
async fn failed_wait_saves_screenshot_and_source_and_explains_itself() {
    let Some(browser) = Browser::start("failed_wait").await else {
        return;
    };
    browser
        .goto(&data_url(
            "<html><body><h1>Nothing to see</h1></body></html>",
        ))
        .await;
    let shots = common::browser::screenshot_dir("failed_wait");
    let profile = browser.profile_dir().to_path_buf();
    let driver = browser.driver_pid();
    // The panic unwinds through a task holding the browser: its Drop must
    // still kill chromedriver and Chromium.
    let outcome = tokio::spawn(async move {
        browser
            .wait_for("#never-there", Duration::from_millis(300))
            .await;
    })
    .await;
    let error = outcome.expect_err("a wait for a missing element must fail");
    let message = match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
        Err(e) => panic!("not a panic: {e}"),
    };
    assert!(message.contains("`#never-there`"), "{message}");
    assert!(message.contains("url: data:text/html"), "{message}");
    assert!(message.contains("Nothing to see"), "{message}");
    let png = shots.join("01-failed.png");
    assert_png(&png);
    let html = std::fs::read_to_string(shots.join("01-failed.html")).unwrap();
    assert!(html.contains("<h1>Nothing to see</h1>"), "{html}");

    assert!(!alive(driver), "chromedriver {driver} survived the panic");
    let left = processes_using(&profile);
    assert!(left.is_empty(), "Chromium processes left: {left:?}");
}

#[tokio::test]
async fn dropping_the_browser_leaves_no_process() {
    let Some(browser) = Browser::start("drop").await else {
        return;
    };
    browser.goto("about:blank").await;
    let profile = browser.profile_dir().to_path_buf();
    let driver = browser.driver_pid();
    let before = processes_using(&profile);
    assert!(!before.is_empty(), "no Chromium found using {profile:?}");
    assert!(
        (1..=MAX_BROWSERS).contains(&running()),
        "{} running",
        running()
    );
    let dropping = Instant::now();
    drop(browser);
    eprintln!("browser dropped in {} ms", dropping.elapsed().as_millis());
    assert!(peak() <= MAX_BROWSERS, "{} browsers ran at once", peak());
    assert!(!alive(driver), "chromedriver {driver} survived");
    let left: Vec<u32> = before.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(left.is_empty(), "Chromium processes left: {left:?}");
    assert!(processes_using(&profile).is_empty());
}
