//! Starts the real `komainu` binary on an ephemeral port with its own data
//! folder, waits for its ready line, and kills it on drop.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod browser;
pub mod datastore;
pub mod pki;
pub mod plugins;
pub mod raw;
pub mod tls_upstream;
pub mod ui;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub const ADMIN_HOST: &str = "otoroshi-api.oto.tools";
pub const ADMIN_ID: &str = "test-admin";
pub const ADMIN_SECRET: &str = "test-admin-secret";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_komainu")
}

/// A `komainu` command with a clean environment: tests never inherit the
/// developer's CLUSTER_* or HTTP_PORT variables. The HTTPS listener takes an
/// ephemeral port unless a test says otherwise: parallel tests must never
/// meet on the default 8443.
pub fn command() -> Command {
    let mut command = Command::new(binary());
    command
        .env_clear()
        .env("LOG_LEVEL", "warn")
        .env("HTTPS_PORT", "0");
    command
}

pub struct Node {
    child: Child,
    pub port: u16,
    /// The HTTPS listener's port, when the node printed one before its HTTP
    /// ready line.
    pub https_port: Option<u16>,
    pub data: PathBuf,
    pub stdout: Vec<String>,
    client: reqwest::Client,
}

impl Node {
    /// A standalone node on a fresh embedded store.
    pub fn start(extra: &[&str]) -> (Node, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start_in(dir.path(), extra);
        (node, dir)
    }

    /// A node on the embedded store in `data` (kept across restarts).
    pub fn start_in(data: &Path, extra: &[&str]) -> Node {
        Node::start_in_with_env(data, extra, &[])
    }

    /// A standalone node with these environment variables set.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> (Node, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start_in_with_env(dir.path(), extra, env);
        (node, dir)
    }

    fn start_in_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Node {
        let mut args = vec![
            "-Dhttp.address=127.0.0.1".to_string(),
            "-Dhttp.port=0".to_string(),
            "-Dhttps.port=0".to_string(),
            format!("-Dapp.filedb.path={}", data.display()),
            format!("-Dadmin.clientId={ADMIN_ID}"),
            format!("-Dadmin.clientSecret={ADMIN_SECRET}"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        Node::spawn(command().envs(env.iter().copied()).args(&args), data)
    }

    pub fn spawn(command: &mut Command, data: &Path) -> Node {
        // stderr is inherited unless the caller redirected it.
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let mut https_port = None;
        let port = loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("komainu listening on https://") {
                        https_port = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                    }
                    let port = line
                        .strip_prefix("komainu listening on http://")
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    lines.push(line);
                    if let Some(port) = port {
                        break port;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("komainu did not become ready; stdout so far: {lines:?}");
                }
            }
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Node {
            child,
            port,
            https_port,
            data: data.to_path_buf(),
            stdout: lines,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A request to the admin host, without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Host", ADMIN_HOST)
    }

    /// A request to the admin host with the test admin key.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path)
            .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
    }

    /// The body of an admin GET (metrics, NDJSON), as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.admin(Method::GET, path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        json(self.admin(Method::GET, path).send().await.unwrap()).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        json(self.admin(method, path).json(body).send().await.unwrap()).await
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("komainu did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, value)
}

pub fn route(id: &str, domain: &str) -> Value {
    serde_json::json!({
        "id": id,
        "name": format!("route {id}"),
        "frontend": {"domains": [domain]},
        "backend": {"targets": [{"hostname": "127.0.0.1", "port": 8081}]},
    })
}

/// A route from `domain` to backends on 127.0.0.1 at `ports`.
pub fn route_to(id: &str, domain: &str, ports: &[u16]) -> Value {
    let targets: Vec<Value> = ports
        .iter()
        .map(|p| serde_json::json!({"hostname": "127.0.0.1", "port": p}))
        .collect();
    serde_json::json!({
        "id": id,
        "name": id,
        "frontend": {"domains": [domain]},
        "backend": {"targets": targets},
    })
}

impl Node {
    /// A request through the proxy with the given Host.
    pub fn through(&self, method: Method, host: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Host", host)
    }

    pub async fn create_route(&self, route: &Value) {
        let (status, body) = self.send_json(Method::POST, "/api/routes", route).await;
        assert_eq!(status, 201, "{body}");
    }

    /// The komainu process's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.proc_status("VmRSS")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// A field of the node's `/proc/<pid>/status`, trimmed.
    pub fn proc_status(&self, field: &str) -> Option<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status.lines().find_map(|line| {
            line.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|value| value.trim().to_string())
        })
    }
}

/// A leader on a fresh embedded store; workers use the test admin key.
pub fn leader(extra: &[&str]) -> (Node, tempfile::TempDir) {
    let mut args = vec!["-Dcluster.mode=leader"];
    args.extend_from_slice(extra);
    Node::start(&args)
}

/// Arguments that make a worker of the given leaders with the test key.
pub fn worker_args(leaders: &[String]) -> Vec<String> {
    let mut args = vec![
        "-Dhttp.address=127.0.0.1".to_string(),
        "-Dhttp.port=0".to_string(),
        "-Dhttps.port=0".to_string(),
        "-Dcluster.mode=worker".to_string(),
        format!("-Dcluster.leader.clientId={ADMIN_ID}"),
        format!("-Dcluster.leader.clientSecret={ADMIN_SECRET}"),
    ];
    for (i, url) in leaders.iter().enumerate() {
        args.push(format!("-Dcluster.leader.urls.{i}={url}"));
    }
    args
}

/// A worker of `leaders` (URLs), with extra `-D` arguments.
pub fn worker(leaders: &[String], extra: &[&str]) -> Node {
    let mut args = worker_args(leaders);
    args.extend(extra.iter().map(|a| a.to_string()));
    Node::spawn(command().args(&args), Path::new("/nonexistent"))
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes;
/// returns the time it took.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

impl Node {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The status of a GET through the proxy.
    pub async fn status_of(&self, host: &str, path: &str) -> u16 {
        match self.through(Method::GET, host, path).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// The name of the test upstream that answered a GET through the proxy.
    pub async fn served_by(&self, host: &str, path: &str) -> Option<String> {
        let response = self.through(Method::GET, host, path).send().await.ok()?;
        response
            .headers()
            .get("x-upstream")?
            .to_str()
            .ok()
            .map(str::to_string)
    }

    pub async fn health(&self) -> (u16, Value) {
        json(
            self.client
                .get(self.url("/.well-known/otoroshi/monitoring/health"))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The status of a request, sent (a transport error fails the test).
pub async fn status(request: RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}
