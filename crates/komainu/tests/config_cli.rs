#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The configuration as a user meets it: through the `komainu` command.

mod common;

use std::process::Output;

use common::command;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn line_of<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn file_then_env_then_define_take_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "[http]\nport = 1111\n[cluster]\ncompression = 1\n[cluster.leader]\ncacheStateFor = 123\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let out = run(&["--config", file, "config"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(line_of(&shown, "port").contains("1111"), "{shown}");

    let out = run(
        &["--config", file, "config"],
        &[("HTTP_PORT", "2222"), ("CLUSTER_COMPRESSION", "5")],
    );
    let shown = text(&out.stdout);
    assert!(line_of(&shown, "port").contains("2222"));
    assert!(line_of(&shown, "port").contains("env HTTP_PORT"));
    assert!(line_of(&shown, "compression").contains('5'));
    assert!(
        line_of(&shown, "cacheStateFor").contains("123"),
        "file values not overridden stay"
    );

    let out = run(
        &["--config", file, "-Dhttp.port=3333", "config"],
        &[("HTTP_PORT", "2222")],
    );
    assert!(line_of(&text(&out.stdout), "port").contains("3333"));
}

#[test]
fn the_seed_run_examples_work_as_written() {
    let out = run(
        &[
            "-Dhttp.port=8091",
            "-Dhttps.port=9091",
            "-Dotoroshi.cluster.mode=leader",
            "config",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(line_of(&shown, "mode").contains("\"leader\""), "{shown}");
    assert!(shown.contains("9091"));

    let out = run(
        &[
            "-Dhttp.port=8092",
            "-Dhttps.port=9092",
            "-Dotoroshi.cluster.mode=worker",
            "-Dotoroshi.cluster.leader.urls.0=http://127.0.0.1:8091",
            "-Dotoroshi.cluster.leader.clientId=id",
            "-Dotoroshi.cluster.leader.clientSecret=very-secret",
            "config",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        line_of(&shown, "urls").contains("http://127.0.0.1:8091"),
        "{shown}"
    );
    assert!(
        !shown.contains("very-secret"),
        "secrets are masked: {shown}"
    );
}

#[test]
fn bad_configuration_stops_before_binding_and_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[cluster.leader]\ncacheStateFr = 10\n").unwrap();
    let out = run(
        &[
            "--config",
            file.to_str().unwrap(),
            "-Dcluster.mode=lead",
            "-Dhttp.port=0",
        ],
        &[("CLUSTER_COMPRESSION", "12"), ("HTTPS_PORT", "abc")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("listening"), "nothing was bound: {stdout}");
    let errors = text(&out.stderr);
    for expected in [
        "cluster.compression = 12",
        "CLUSTER_COMPRESSION",
        "-1 to 9",
        "https.port",
        "abc",
        "cluster.mode",
        "lead",
        "leader",
        "cacheStateFr",
        "did you mean cluster.leader.cacheStateFor",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

#[test]
fn sample_configs_load() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples");
    for (name, mode) in [
        ("standalone.toml", "off"),
        ("leader.toml", "leader"),
        ("worker.toml", "worker"),
    ] {
        let out = run(&["--config", &format!("{samples}/{name}"), "config"], &[]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(line_of(&text(&out.stdout), "mode").contains(mode), "{name}");
    }
}

#[test]
fn version_names_the_git_revision() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let expected = format!("komainu {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected), "{line}");
    let revision = line
        .trim()
        .trim_start_matches(&expected)
        .trim_end_matches(')');
    // A hex hash (possibly -dirty) in a checkout, `unknown` outside one.
    let hash = revision.trim_end_matches("-dirty");
    assert!(
        hash == "unknown" || (hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
}
