//! A headless Chromium driven over WebDriver (chromedriver + fantoccini), for
//! the admin UI's end-to-end tests.
//!
//! `Browser::start(test)` finds chromedriver and chromium (`/usr/bin/...`,
//! or `KOMAINU_CHROMEDRIVER` / `KOMAINU_CHROMIUM`), starts chromedriver on an
//! ephemeral port in a process group of its own and opens one headless
//! session with a throwaway profile. `*.oto.tools` resolves to 127.0.0.1
//! inside that browser, so `http://otoroshi.oto.tools:PORT/` reaches a
//! local node. Dropping the `Browser` (also while a test panics) kills
//! chromedriver's whole process group and any process still using the
//! profile folder.
//!
//! Missing binaries skip the test with the `!!!!! SKIPPED` banner, or fail
//! it under `KOMAINU_REQUIRE_BROWSER=1` (CI): `start` returns `None` after
//! the banner and the test returns.
//!
//! Helpers panic on failure (this is test code). A wait that times out
//! saves a screenshot and the page source under
//! `<target>/ui-screenshots/<test>/` and puts the page's URL and visible
//! text in the panic message.
//!
//! At most `MAX_BROWSERS` browsers run at once in one test binary.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

pub use fantoccini::key::Key;

/// The UI host and the admin API host, as a browser addresses a local node.
pub const UI_HOST: &str = "otoroshi.oto.tools";
pub const API_HOST: &str = "otoroshi-api.oto.tools";

/// How many browsers may run at once in one test binary (2 cores).
pub const MAX_BROWSERS: usize = 2;

/// What helpers without an explicit timeout wait for an element.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

pub const CHROMEDRIVER_ENV: &str = "KOMAINU_CHROMEDRIVER";
pub const CHROMIUM_ENV: &str = "KOMAINU_CHROMIUM";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// How many browsers of this test binary are running now.
pub fn running() -> usize {
    RUNNING.load(Ordering::SeqCst)
}

/// The most browsers this test binary has run at once so far.
pub fn peak() -> usize {
    PEAK.load(Ordering::SeqCst)
}

/// One of the `MAX_BROWSERS` places, counted in `RUNNING` while held.
struct Slot {
    _permit: SemaphorePermit<'static>,
}

impl Slot {
    async fn take() -> Slot {
        let permit = SLOTS.acquire().await.unwrap();
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        Slot { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The page's visible text is cut to this many characters in messages.
const TEXT_IN_MESSAGES: usize = 3000;

pub struct Browser {
    client: Client,
    driver: Child,
    profile: tempfile::TempDir,
    driver_log: Arc<Mutex<Vec<String>>>,
    shots: PathBuf,
    shot_count: AtomicUsize,
    /// chromedriver answering, then the Chromium session open.
    pub driver_ready_in: Duration,
    pub session_ready_in: Duration,
    // Last: released only after `Drop::drop` has killed the processes.
    _slot: Slot,
}

/// An executable at the path in `env`, else at `default`; `Err(why)` when
/// there is none.
fn find_binary(env: &str, default: &str) -> Result<PathBuf, String> {
    let (path, from) = match std::env::var_os(env) {
        Some(path) if !path.is_empty() => (PathBuf::from(path), format!(" (from {env})")),
        _ => (PathBuf::from(default), String::new()),
    };
    match std::fs::metadata(&path) {
        Ok(meta)
            if meta.is_file()
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0 =>
        {
            Ok(path)
        }
        Ok(_) => Err(format!(
            "{}{from} is not an executable file",
            path.display()
        )),
        Err(error) => Err(format!(
            "{}{from}: {error} (Debian: apt-get install chromium chromium-driver; or set {env})",
            path.display()
        )),
    }
}

/// The cargo target folder: `CARGO_TARGET_DIR` (relative to the workspace)
/// when set, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// Where the screenshots of `test` go.
pub fn screenshot_dir(test: &str) -> PathBuf {
    target_dir().join("ui-screenshots").join(test)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… [{} more chars]", &text[..cut], text.len() - cut),
        None => text.to_string(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

impl Browser {
    /// A headless Chromium for the test named `test` (names its screenshot
    /// folder, emptied here). `None` after the skip banner when chromium or
    /// chromedriver is missing; panics instead under
    /// `KOMAINU_REQUIRE_BROWSER=1`, or when they are there but do not start.
    pub async fn start(test: &str) -> Option<Browser> {
        let driver_bin = match find_binary(CHROMEDRIVER_ENV, DEFAULT_CHROMEDRIVER) {
            Ok(path) => path,
            Err(why) => {
                testkit::skip::browser_missing("chromedriver", &why);
                return None;
            }
        };
        let chromium_bin = match find_binary(CHROMIUM_ENV, DEFAULT_CHROMIUM) {
            Ok(path) => path,
            Err(why) => {
                testkit::skip::browser_missing("chromium", &why);
                return None;
            }
        };
        let slot = Slot::take().await;

        let started = Instant::now();
        let (driver, port, driver_log) = spawn_driver(&driver_bin);
        let driver_ready_in = started.elapsed();
        // From here on `guard` kills chromedriver if the session fails.
        let profile = tempfile::Builder::new()
            .prefix("komainu-chromium-")
            .tempdir()
            .unwrap();
        let mut guard = DriverGuard {
            driver: Some(driver),
            profile: profile.path().to_path_buf(),
        };

        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1280,800".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            "--host-resolver-rules=MAP *.oto.tools 127.0.0.1".to_string(),
            // Never through a proxy from the environment, never home.
            "--no-proxy-server".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-extensions".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-features=Translate,MediaRouter,OptimizationHints".to_string(),
            "--lang=en-US".to_string(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium_bin.display().to_string(),
                "args": args,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let session_started = Instant::now();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                let log = driver_log.lock().unwrap().join("\n");
                drop(guard);
                panic!(
                    "no Chromium session from chromedriver ({} with {}): {error}\n\
                     (chromium and chromedriver must have the same major version)\n\
                     chromedriver output:\n{log}",
                    driver_bin.display(),
                    chromium_bin.display()
                );
            }
        };
        let session_ready_in = session_started.elapsed();
        let driver = guard.driver.take().unwrap();
        drop(guard);

        let shots = screenshot_dir(test);
        // Last run's pictures of this test would mislead.
        let _ = std::fs::remove_dir_all(&shots);
        eprintln!(
            "browser for {test}: chromedriver ready in {} ms, chromium session in {} ms",
            driver_ready_in.as_millis(),
            session_ready_in.as_millis()
        );
        let browser = Browser {
            client,
            driver,
            profile,
            driver_log,
            shots,
            shot_count: AtomicUsize::new(0),
            driver_ready_in,
            session_ready_in,
            _slot: slot,
        };
        // `--window-size` sizes the window: make the page itself 1280×800.
        browser.set_size(1280, 800).await;
        Some(browser)
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// chromedriver's pid (the leader of the browser's process group).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// The throwaway profile folder (`--user-data-dir`).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        if let Err(error) = self.client.goto(url).await {
            self.fail(&format!("cannot open {url}: {error}")).await;
        }
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn page_text(&self) -> String {
        let text = self
            .execute("return document.body ? document.body.innerText : '';")
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `css` once it is present and displayed.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return element;
            }
            if started.elapsed() >= timeout {
                self.fail(&format!(
                    "no displayed element matches `{css}` after {timeout:?}"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element matching `css` once it is present (displayed or
    /// not).
    pub async fn wait_for_present(&self, css: &str, timeout: Duration) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            if started.elapsed() >= timeout {
                self.fail(&format!("no element matches `{css}` after {timeout:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element matching `css` whose visible text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> Element {
        let started = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                seen.clear();
                for element in elements {
                    let shown = element.text().await.unwrap_or_default();
                    if shown.contains(text) {
                        return element;
                    }
                    seen.push(shown);
                }
            }
            if started.elapsed() >= timeout {
                let seen: Vec<String> = seen.iter().map(|s| truncate(s, 200)).collect();
                self.fail(&format!(
                    "no element matching `{css}` shows {text:?} after {timeout:?} \
                     (texts of the {} matching: {seen:?})",
                    seen.len()
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element matching `css` (waits up to `DEFAULT_WAIT`).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css, DEFAULT_WAIT).await;
        if let Err(error) = element.click().await {
            self.fail(&format!("cannot click `{css}`: {error}")).await;
        }
    }

    /// Clears the field matching `css`, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css, DEFAULT_WAIT).await;
        if let Err(error) = element.clear().await {
            self.fail(&format!("cannot clear `{css}`: {error}")).await;
        }
        if let Err(error) = element.send_keys(text).await {
            self.fail(&format!("cannot type into `{css}`: {error}"))
                .await;
        }
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css, DEFAULT_WAIT).await;
        element.text().await.unwrap()
    }

    /// An attribute of the element matching `css` (present, not
    /// necessarily displayed); `None` when it has no such attribute.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.wait_for_present(css, DEFAULT_WAIT).await;
        element.attr(name).await.unwrap()
    }

    /// A DOM property of the element matching `css` (present, not
    /// necessarily displayed): the live `value` of an input, `checked`...
    pub async fn prop(&self, css: &str, name: &str) -> Option<String> {
        let element = self.wait_for_present(css, DEFAULT_WAIT).await;
        element.prop(name).await.unwrap()
    }

    /// Runs `script` (a function body: `return ...;`) in the page.
    pub async fn execute(&self, script: &str) -> Value {
        match self.client.execute(script, Vec::new()).await {
            Ok(value) => value,
            Err(error) => panic!("script failed: {error}\nscript: {script}"),
        }
    }

    /// Polls the JS expression `expr` every 50 ms until it is truthy;
    /// returns its value. A script error counts as not yet.
    pub async fn eventually(&self, expr: &str, timeout: Duration) -> Value {
        let script = format!("return ({expr});");
        let started = Instant::now();
        let mut last;
        loop {
            match self.client.execute(&script, Vec::new()).await {
                Ok(value) if truthy(&value) => return value,
                Ok(value) => last = format!("last value: {value}"),
                Err(error) => last = format!("last error: {error}"),
            }
            if started.elapsed() >= timeout {
                self.fail(&format!("`{expr}` not truthy after {timeout:?} ({last})"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the page's viewport `width`×`height` CSS pixels (the window is
    /// resized, then corrected by whatever the browser keeps around the
    /// page).
    pub async fn set_size(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];")
            .await;
        let (iw, ih) = (
            inner[0].as_i64().unwrap_or(width as i64),
            inner[1].as_i64().unwrap_or(height as i64),
        );
        let (dw, dh) = (width as i64 - iw, height as i64 - ih);
        if dw != 0 || dh != 0 {
            let w = (width as i64 + dw).max(1) as u32;
            let h = (height as i64 + dh).max(1) as u32;
            self.client.set_window_size(w, h).await.unwrap();
        }
    }

    /// The viewport's size in CSS pixels.
    pub async fn viewport(&self) -> (u32, u32) {
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];")
            .await;
        (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        )
    }

    /// Types `keys` on the keyboard, to whatever has the focus (key down
    /// and up per character; `Key` values as chars: `&Key::Tab.to_string()`).
    pub async fn send_keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".to_string());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        if let Err(error) = self.client.perform_actions(actions).await {
            self.fail(&format!("cannot type {keys:?}: {error}")).await;
        }
    }

    /// Presses and releases one key (`Key::Tab`, `Key::Enter`, ...).
    pub async fn press(&self, key: Key) {
        self.send_keys(&char::from(key).to_string()).await;
    }

    /// The focused element, as `tag#id` (or `tag` without an id).
    pub async fn focused(&self) -> String {
        let value = self
            .execute(
                "const e = document.activeElement; \
                 return e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') : '';",
            )
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    fn next_path(&self, name: &str, ext: &str) -> PathBuf {
        let n = self.shot_count.fetch_add(1, Ordering::SeqCst) + 1;
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if let Err(error) = std::fs::create_dir_all(&self.shots) {
            eprintln!("cannot create {}: {error}", self.shots.display());
        }
        self.shots.join(format!("{n:02}-{name}.{ext}"))
    }

    /// Saves a PNG of the viewport as `<NN>-<name>.png` in the test's
    /// screenshot folder; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.next_path(name, "png");
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Saves what explains a failure (screenshot, page source) and panics
    /// with `what`, the page's URL and its visible text.
    pub async fn fail(&self, what: &str) -> ! {
        let mut saved = Vec::new();
        let png_path = self.next_path("failed", "png");
        match self.client.screenshot().await {
            Ok(png) => match std::fs::write(&png_path, png) {
                Ok(()) => saved.push(png_path.display().to_string()),
                Err(error) => saved.push(format!("screenshot not saved: {error}")),
            },
            Err(error) => saved.push(format!("no screenshot: {error}")),
        }
        let html_path = png_path.with_extension("html");
        match self.client.source().await {
            Ok(html) => match std::fs::write(&html_path, html) {
                Ok(()) => saved.push(html_path.display().to_string()),
                Err(error) => saved.push(format!("page source not saved: {error}")),
            },
            Err(error) => saved.push(format!("no page source: {error}")),
        }
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => format!("(unknown: {error})"),
        };
        let text = match self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
        {
            Ok(Value::String(text)) => truncate(&text, TEXT_IN_MESSAGES),
            Ok(other) => format!("(not text: {other})"),
            Err(error) => format!("(unknown: {error})"),
        };
        let log = self
            .driver_log
            .lock()
            .map(|l| l.join("\n"))
            .unwrap_or_default();
        panic!(
            "browser: {what}\n  url: {url}\n  saved: {}\n  visible text:\n{text}\n  chromedriver output:\n{}",
            saved.join(", "),
            truncate(&log, 2000)
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_browser(&mut self.driver, self.profile.path());
    }
}

/// The UI's `path` on `node`, as the browser addresses it.
pub fn ui_url(node: &super::Node, path: &str) -> String {
    format!("http://{UI_HOST}:{}{path}", node.port)
}

/// Signs in with the login form as the first admin user (the node started
/// with `ui::admin_user_args()`); ends on the home page.
pub async fn sign_in(browser: &Browser, node: &super::Node) {
    use super::ui::{ADMIN_LOGIN, ADMIN_PASSWORD};
    let wait = Duration::from_secs(10);
    browser.goto(&ui_url(node, "/")).await;
    // Not signed in: the home page sends us to the form.
    browser.wait_for("#login-form", wait).await;
    assert!(browser.current_url().await.contains("/login?next=/"));
    browser.fill("#username", ADMIN_LOGIN).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.screenshot("login").await;
    browser.click("#login-submit").await;
    browser.wait_for("#node-tiles", wait).await;
    assert!(browser.text("header .who").await.contains(ADMIN_LOGIN));
}

/// Waits until the editor has loaded its entity (the script hides the
/// "Loading…" line then).
pub async fn editor_ready(browser: &Browser) {
    browser
        .eventually(
            "document.querySelector('#form-loading').hidden && document.querySelector('#raw-json').value.length > 2",
            Duration::from_secs(10),
        )
        .await;
}

/// Kills chromedriver if a session could not be opened.
struct DriverGuard {
    driver: Option<Child>,
    profile: PathBuf,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.as_mut() {
            kill_browser(driver, &self.profile);
        }
    }
}

/// SIGKILL to chromedriver's process group (chromedriver and the Chromium
/// it started) and to any process that names the profile folder (Chromium's
/// crash handler leaves the group); reaps chromedriver, then waits until
/// every one of them is gone (at most 5 s: a killed process takes a moment
/// to exit, and an exiting one no longer shows its command line).
fn kill_browser(driver: &mut Child, profile: &Path) {
    let leader = driver.id();
    let mut targets = group_members(leader);
    targets.extend(processes_using(profile));
    let kill = |args: &[&str]| {
        let _ = Command::new("kill")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    kill(&["-KILL", "--", &format!("-{leader}")]);
    let _ = driver.kill();
    let _ = driver.wait();
    let started = Instant::now();
    loop {
        targets.extend(processes_using(profile));
        targets.retain(|&pid| pid != leader && alive(pid));
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            return;
        }
        if started.elapsed() > Duration::from_secs(5) {
            eprintln!("browser: processes still alive 5 s after SIGKILL: {targets:?}");
            return;
        }
        let pids: Vec<String> = targets.iter().map(u32::to_string).collect();
        let mut args = vec!["-KILL"];
        args.extend(pids.iter().map(String::as_str));
        kill(&args);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fields of `/proc/<pid>/stat` after the command name (state first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Pids of the processes in process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat_fields(pid)
                .and_then(|fields| fields.get(2)?.parse::<u32>().ok())
                .is_some_and(|group| group == pgid)
        })
        .collect()
}

/// Pids of the processes whose command line mentions `profile` (the
/// browser's own temp folder: only processes this harness started).
pub fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = profile.display().to_string();
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether a process is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|fields| fields.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Starts chromedriver on a port it picks (`--port=0`), in a process group
/// of its own; returns it with the port it reports and its output so far
/// (kept up to date by reader threads).
fn spawn_driver(binary: &Path) -> (Child, u16, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(binary)
        .args(["--port=0", "--log-level=WARNING"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    forward(stdout, log.clone(), Some(tx));
    forward(stderr, log.clone(), None);
    let port = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(port) => port,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not report its port within 20 s; output: {:?}",
                binary.display(),
                log.lock().unwrap()
            );
        }
    };
    (child, port, log)
}

/// Copies `from`'s lines into `log` (bounded); sends the port of
/// chromedriver's "started successfully on port N." line on `port`.
fn forward(
    from: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    port: Option<mpsc::Sender<u16>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Some(tx) = &port
                && let Some(p) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                let _ = tx.send(p);
            }
            if let Ok(mut log) = log.lock()
                && log.len() < 200
            {
                log.push(line);
            }
        }
    });
}
