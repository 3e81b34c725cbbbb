//! The README's quick start, run as written: its ```sh quickstart block is
//! taken from the README itself (so the README cannot rot), with two
//! changes a test needs: the freshly built binary instead of `cargo
//! install`, and free ports instead of 8080 (`HTTP_PORT`) and 9000.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn quickstart_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let start = text
        .find("```sh quickstart\n")
        .expect("the README has a ```sh quickstart block")
        + "```sh quickstart\n".len();
    let end = text[start..].find("```").unwrap() + start;
    text[start..end].to_string()
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let block = quickstart_block();
    assert!(block.contains("cargo install --locked --path crates/komainu"));
    let (proxy, backend) = (testkit::ports::unused(), testkit::ports::unused());
    let body: String = block
        .lines()
        .filter(|line| !line.starts_with("cargo install"))
        .map(|line| {
            line.replace("8080", &proxy.to_string())
                .replace("9000", &backend.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n");
    let script =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{body}\n");
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_komainu")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        // The node's port is the README's 8080 through its env var; parallel
        // tests must never meet on the default 8443.
        .env("HTTP_PORT", proxy.to_string())
        .env("HTTPS_PORT", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quick start failed\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert_eq!(
        stdout.matches("hello from the backend").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("\n401\n"), "{stdout}");
    assert!(stdout.contains("komainu_requests"), "{stdout}");
}
