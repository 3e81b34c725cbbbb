#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use config::{
    ClusterMode, ConfigError, ConfigErrors, Loaded, LogFormat, Origin, RedisTopology, Sources,
    Storage, load,
};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn run(
    file: Option<&Path>,
    vars: &[(&str, &str)],
    overrides: &[&str],
) -> Result<Loaded, ConfigErrors> {
    let env = env(vars);
    let overrides: Vec<String> = overrides.iter().map(ToString::to_string).collect();
    load(&Sources {
        file,
        env: &env,
        overrides: &overrides,
    })
}

fn ok(file: Option<&Path>, vars: &[(&str, &str)], overrides: &[&str]) -> Loaded {
    run(file, vars, overrides).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

fn errors(file: Option<&Path>, vars: &[(&str, &str)], overrides: &[&str]) -> Vec<ConfigError> {
    match run(file, vars, overrides) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigErrors(errors)) => errors,
    }
}

fn one_error(
    file: Option<&Path>,
    vars: &[(&str, &str)],
    overrides: &[&str],
) -> (ConfigError, String) {
    let errs = errors(file, vars, overrides);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let text = errs[0].to_string();
    (errs.into_iter().next().unwrap(), text)
}

const WORKER_ENV: &[(&str, &str)] = &[
    ("CLUSTER_MODE", "worker"),
    ("CLUSTER_LEADER_CLIENT_ID", "id"),
    ("CLUSTER_LEADER_CLIENT_SECRET", "secret"),
];

#[test]
fn defaults() {
    let c = ok(None, &[], &[]).config;
    assert_eq!(c.http.address, "0.0.0.0");
    assert_eq!(c.http.port, 8080);
    assert_eq!(c.http.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.https.port, 8443);
    assert_eq!(c.app.storage, Storage::Embedded);
    assert_eq!(c.app.data_dir, Path::new("./komainu-data"));
    assert_eq!(c.app.redis_url, "redis://127.0.0.1:6379");
    assert_eq!(c.app.storage_root, "komainu");
    assert_eq!(c.app.pg_pool_size, 8);
    assert_eq!(
        c.app.pg_uri,
        "postgresql://postgres@127.0.0.1:5432/postgres"
    );
    assert_eq!(c.admin.host, "otoroshi-api.oto.tools");
    assert_eq!((c.admin.client_id, c.admin.client_secret), (None, None));
    assert_eq!(c.admin.max_body_size, 10 * 1024 * 1024);
    let cl = c.cluster;
    assert_eq!(cl.mode, ClusterMode::Off);
    assert_eq!(cl.compression, -1);
    assert_eq!(
        (cl.retry_delay, cl.retry_factor, cl.self_address),
        (Duration::from_millis(300), 2, None)
    );
    assert_eq!(cl.leader.name, None);
    assert_eq!(cl.leader.urls, ["http://127.0.0.1:8080"]);
    assert_eq!(cl.leader.host, "otoroshi-api.oto.tools");
    assert_eq!(cl.leader.cache_state_for, Duration::from_millis(4000));
    assert_eq!(
        (cl.leader.grouping_by, cl.leader.state_dump_path),
        (50, None)
    );
    assert_eq!(
        (cl.worker.retries, cl.worker.timeout),
        (3, Duration::from_millis(2000))
    );
    assert_eq!(
        (cl.worker.dbpath, cl.worker.data_stale_after),
        (None, Duration::from_secs(600))
    );
    assert_eq!(cl.worker.state.every, Duration::from_millis(10000));
    assert_eq!(cl.worker.quotas.every, Duration::from_millis(2000));
    assert_eq!(
        (cl.worker.state.retries, cl.worker.quotas.timeout),
        (3, Duration::from_millis(2000))
    );
    assert_eq!(
        (c.log.format, c.log.level.as_str()),
        (LogFormat::Human, "info")
    );
    assert_eq!(
        (c.proxy.max_connections, c.proxy.max_connections_per_client),
        (10000, 256)
    );
}

#[test]
fn connection_caps_accept_zero_per_client_but_not_node_wide() {
    let c = ok(None, &[], &["proxy.maxConnectionsPerClient=0"]).config;
    assert_eq!(c.proxy.max_connections_per_client, 0);
    let c = ok(None, &[("PROXY_MAX_CONNECTIONS", "50")], &[]).config;
    assert_eq!(c.proxy.max_connections, 50);
    let found = errors(None, &[], &["proxy.maxConnections=0"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].to_string().contains("proxy.maxConnections"),
        "{}",
        found[0]
    );
}

#[test]
fn file_then_env_then_override() {
    let file = toml_file("[http]\nport = 1111\n");
    let path = Some(file.path());
    let l = ok(path, &[], &[]);
    assert_eq!(
        (l.config.http.port, l.origin("http.port")),
        (1111, Some(&Origin::File(file.path().into())))
    );
    let l = ok(path, &[("HTTP_PORT", "2222")], &[]);
    assert_eq!(
        (l.config.http.port, l.origin("http.port")),
        (2222, Some(&Origin::Env("HTTP_PORT")))
    );
    let l = ok(path, &[("HTTP_PORT", "2222")], &["http.port=3333"]);
    assert_eq!(
        (l.config.http.port, l.origin("http.port")),
        (3333, Some(&Origin::Override))
    );
    // later -D wins over earlier -D
    assert_eq!(
        ok(None, &[], &["http.port=1", "http.port=2"])
            .config
            .http
            .port,
        2
    );
}

#[test]
fn empty_env_var_is_unset() {
    let l = ok(None, &[("HTTP_PORT", ""), ("CLUSTER_LEADER_NAME", "")], &[]);
    assert_eq!(
        (l.config.http.port, l.config.cluster.leader.name),
        (8080, None)
    );
}

#[test]
fn otoroshi_prefix_is_optional() {
    for text in [
        "[otoroshi.cluster]\nmode = \"leader\"\n[otoroshi.cluster.leader]\ncacheStateFor = 10\n",
        "[cluster]\nmode = \"leader\"\n[cluster.leader]\ncacheStateFor = 10\n",
        "otoroshi.cluster.mode = \"leader\"\ncluster.leader.cacheStateFor = 10\n",
        "[otoroshi]\ncluster = { mode = \"leader\", leader = { cacheStateFor = 10 } }\n",
    ] {
        let file = toml_file(text);
        let c = ok(Some(file.path()), &[], &[]).config;
        assert_eq!(c.cluster.mode, ClusterMode::Leader, "{text}");
        assert_eq!(
            c.cluster.leader.cache_state_for,
            Duration::from_millis(10),
            "{text}"
        );
    }
    for d in ["otoroshi.cluster.mode=leader", "cluster.mode=leader"] {
        assert_eq!(ok(None, &[], &[d]).config.cluster.mode, ClusterMode::Leader);
    }
}

#[test]
fn toml_integers_may_be_strings_and_enums_ignore_case() {
    let file = toml_file("http.port = \"9000\"\napp.storage = \"Lettuce\"\n");
    let c = ok(
        Some(file.path()),
        &[("LOG_FORMAT", "JSON")],
        &["cluster.mode=Leader"],
    )
    .config;
    assert_eq!((c.http.port, c.app.storage), (9000, Storage::Redis));
    assert_eq!(
        (c.log.format, c.cluster.mode),
        (LogFormat::Json, ClusterMode::Leader)
    );
    assert_eq!(
        ok(None, &[("APP_STORAGE", "file")], &[]).config.app.storage,
        Storage::Embedded
    );
    assert_eq!(
        ok(None, &[("APP_STORAGE", "postgres")], &[])
            .config
            .app
            .storage,
        Storage::Postgresql
    );
}

#[test]
fn list_index_override_replaces_and_appends() {
    let c = ok(
        None,
        &[],
        &["otoroshi.cluster.leader.urls.0=http://127.0.0.1:8091"],
    )
    .config;
    assert_eq!(c.cluster.leader.urls, ["http://127.0.0.1:8091"]);
    let file = toml_file("[cluster.leader]\nurls = [\"http://a:1\", \"http://b:2\"]\n");
    let c = ok(
        Some(file.path()),
        &[],
        &[
            "cluster.leader.urls.1=http://c:3",
            "cluster.leader.urls.2=https://d",
        ],
    )
    .config;
    assert_eq!(
        c.cluster.leader.urls,
        ["http://a:1", "http://c:3", "https://d"]
    );
    let (err, text) = one_error(None, &[], &["cluster.leader.urls.2=http://x"]);
    assert_eq!(
        err,
        ConfigError::IndexOutOfRange {
            key: "cluster.leader.urls".into(),
            index: 2,
            len: 1
        }
    );
    assert!(text.contains("cluster.leader.urls.2"), "{text}");
}

#[test]
fn comma_separated_leader_urls() {
    let vars = [("CLUSTER_LEADER_URL", "http://a:8080, https://b:8443 ,")];
    let l = ok(None, &vars, &["cluster.leader.urls.2=http://c"]);
    assert_eq!(
        l.config.cluster.leader.urls,
        ["http://a:8080", "https://b:8443", "http://c"]
    );
}

#[test]
fn derived_defaults_follow_worker_values() {
    let c = ok(
        None,
        &[("CLUSTER_WORKER_RETRIES", "7")],
        &["cluster.worker.timeout=500"],
    )
    .config
    .cluster
    .worker;
    assert_eq!((c.state.retries, c.quotas.retries), (7, 7));
    assert_eq!(
        (c.state.timeout, c.quotas.timeout),
        (Duration::from_millis(500), Duration::from_millis(500))
    );
    let vars = [
        ("CLUSTER_WORKER_RETRIES", "7"),
        ("CLUSTER_WORKER_STATE_RETRIES", "1"),
        ("CLUSTER_WORKER_PUSH_TIMEOUT", "9"),
    ];
    let c = ok(None, &vars, &[]).config.cluster.worker;
    assert_eq!(
        (c.state.retries, c.quotas.retries, c.quotas.timeout),
        (1, 7, Duration::from_millis(9))
    );
}

#[test]
fn invalid_values_name_key_value_origin_and_accepted() {
    let (err, text) = one_error(None, &[("CLUSTER_COMPRESSION", "12")], &[]);
    assert_eq!(err.key(), Some("cluster.compression"));
    assert_eq!(
        text,
        "cluster.compression = 12 (from env CLUSTER_COMPRESSION): expected an integer from -1 to 9"
    );

    let file = toml_file("[http]\nport = 70000\n");
    let (_, text) = one_error(Some(file.path()), &[], &[]);
    let want = format!(
        "http.port = 70000 (from file {}): expected an integer from 0 to 65535",
        file.path().display()
    );
    assert_eq!(text, want);

    let cases: &[(&str, &str, &str)] = &[
        (
            "app.storage=cassandra",
            "app.storage",
            "one of embedded (alias file)",
        ),
        (
            "cluster.mode=master",
            "cluster.mode",
            "one of off, leader, worker",
        ),
        ("log.format=xml", "log.format", "one of human, json"),
        (
            "cluster.retryFactor=0",
            "cluster.retryFactor",
            "an integer from 1 to 4294967295",
        ),
        (
            "cluster.leader.groupingBy=0",
            "cluster.leader.groupingBy",
            "an integer from 1 to",
        ),
        (
            "cluster.worker.state.pollEvery=0",
            "cluster.worker.state.pollEvery",
            "milliseconds, an integer >= 1",
        ),
        (
            "cluster.worker.timeout=abc",
            "cluster.worker.timeout",
            "milliseconds",
        ),
        (
            "cluster.retryDelay=-1",
            "cluster.retryDelay",
            "milliseconds, an integer >= 0",
        ),
        (
            "cluster.leader.host=",
            "cluster.leader.host",
            "a non-empty string",
        ),
        (
            "cluster.worker.name= ",
            "cluster.worker.name",
            "a non-empty string",
        ),
        (
            "cluster.leader.urls.0=ftp://x",
            "cluster.leader.urls",
            "\"ftp://x\" is not one",
        ),
        (
            "cluster.leader.urls=http://",
            "cluster.leader.urls",
            "URLs with a host",
        ),
        (
            "app.storageRoot=my-gateway",
            "app.storageRoot",
            "letters, digits and _ (not starting with a digit)",
        ),
        (
            "app.storageRoot=1st",
            "app.storageRoot",
            "letters, digits and _",
        ),
        (
            "app.pg.poolSize=0",
            "app.pg.poolSize",
            "an integer from 1 to 1000",
        ),
    ];
    for (d, key, expected) in cases {
        let (err, text) = one_error(None, &[], &[d]);
        assert_eq!(err.key(), Some(*key), "{d}");
        assert!(
            text.contains("(from -D)") && text.contains(expected),
            "{d}: {text}"
        );
    }

    let file = toml_file("log.level = [\"a\"]\n");
    let (err, _) = one_error(Some(file.path()), &[], &[]);
    assert_eq!(err.key(), Some("log.level"));
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let (err, text) = one_error(None, &[], &["cluster.leader.cacheStateFr=1"]);
    assert_eq!(
        err,
        ConfigError::UnknownKey {
            key: "cluster.leader.cacheStateFr".into(),
            origin: Origin::Override,
            suggestion: Some("cluster.leader.cacheStateFor"),
        }
    );
    assert!(
        text.ends_with("did you mean cluster.leader.cacheStateFor?"),
        "{text}"
    );

    let file = toml_file("[otoroshi.cluster.worker.state]\npolEvery = 5\n[nothing]\nat_all = 1\n");
    let errs = errors(Some(file.path()), &[], &[]);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.contains(&ConfigError::UnknownKey {
        key: "otoroshi.cluster.worker.state.polEvery".into(),
        origin: Origin::File(file.path().into()),
        suggestion: Some("cluster.worker.state.pollEvery"),
    }));
    assert!(errs.contains(&ConfigError::UnknownKey {
        key: "nothing".into(),
        origin: Origin::File(file.path().into()),
        suggestion: None,
    }));

    // A mistyped section is named with the closest section.
    let file = toml_file("[clustr]\nmode = \"leader\"\n[otoroshi.cluster.leadr]\nname = \"x\"\n");
    let errs = errors(Some(file.path()), &[], &[]);
    assert!(
        errs.contains(&ConfigError::UnknownKey {
            key: "clustr".into(),
            origin: Origin::File(file.path().into()),
            suggestion: Some("cluster"),
        }),
        "{errs:#?}"
    );
    assert!(
        errs.contains(&ConfigError::UnknownKey {
            key: "otoroshi.cluster.leadr".into(),
            origin: Origin::File(file.path().into()),
            suggestion: Some("cluster.leader"),
        }),
        "{errs:#?}"
    );
}

#[test]
fn file_errors_name_the_file() {
    let file = toml_file("[http\nport = 1\n");
    let (err, text) = one_error(Some(file.path()), &[], &[]);
    assert!(matches!(err, ConfigError::File { .. }));
    assert!(
        text.contains(&file.path().display().to_string()) && text.contains("line 1"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");

    let missing = Path::new("/nonexistent/komainu.toml");
    let (_, text) = one_error(Some(missing), &[], &[]);
    assert!(
        text.starts_with("config file /nonexistent/komainu.toml: cannot read"),
        "{text}"
    );
}

#[test]
fn override_without_equals_is_an_error() {
    let (err, text) = one_error(None, &[], &["http.port"]);
    assert_eq!(
        err,
        ConfigError::BadOverride {
            text: "http.port".into()
        }
    );
    assert_eq!(text, "-D http.port: expected key=value");
}

#[test]
fn every_problem_is_reported_together() {
    let file = toml_file("cluster.compression = 12\nhttp.prot = 1\n[broken\n");
    let errs = errors(Some(file.path()), &[], &[]);
    assert_eq!(errs.len(), 1, "a syntax error hides the rest of the file");

    let file = toml_file("cluster.compression = 12\nhttp.prot = 1\n");
    let vars = [("HTTPS_PORT", "x"), ("LOG_FORMAT", "xml")];
    let err = run(Some(file.path()), &vars, &["nope", "cluster.mode=boss"]).unwrap_err();
    let keys: Vec<_> = err.0.iter().map(|e| e.key().unwrap_or("-")).collect();
    assert_eq!(err.0.len(), 6, "{err}");
    for key in [
        "cluster.compression",
        "http.prot",
        "https.port",
        "log.format",
        "cluster.mode",
        "-",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(err.to_string().lines().count(), 6);
}

#[test]
fn worker_mode_requires_leader_credentials_and_urls() {
    let errs = errors(None, &[("CLUSTER_MODE", "worker")], &[]);
    let keys: Vec<_> = errs.iter().filter_map(ConfigError::key).collect();
    assert_eq!(
        keys,
        ["cluster.leader.clientId", "cluster.leader.clientSecret"]
    );
    assert!(errs[0].to_string().contains("CLUSTER_LEADER_CLIENT_ID"));

    let (err, _) = one_error(None, WORKER_ENV, &["cluster.leader.urls=,"]);
    assert_eq!(err.key(), Some("cluster.leader.urls"));

    let c = ok(None, WORKER_ENV, &[]).config;
    assert_eq!(c.cluster.mode, ClusterMode::Worker);
    assert_eq!(c.cluster.leader.client_secret.as_deref(), Some("secret"));
    // not required outside worker mode
    ok(
        None,
        &[("CLUSTER_MODE", "leader")],
        &["cluster.leader.urls=,"],
    );
}

#[test]
fn render_masks_secrets_and_parses_back() {
    let vars = [
        ("ADMIN_CLIENT_SECRET", "admin-pw"),
        ("REDIS_URL", "redis://user:redis-pw@redis:6379/0"),
        (
            "PG_URI",
            "postgresql://pg:pg-pw@db:5432/oto?sslmode=disable",
        ),
        ("CLUSTER_MODE", "worker"),
        ("CLUSTER_LEADER_CLIENT_ID", "id"),
        ("CLUSTER_LEADER_CLIENT_SECRET", "leader-pw"),
    ];
    let file = toml_file("[log]\nlevel = \"debug\"\n");
    let l = ok(Some(file.path()), &vars, &["http.port=8091"]);
    let text = l.render();
    for secret in ["admin-pw", "redis-pw", "pg-pw", "leader-pw"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    assert!(
        text.contains("clientSecret = \"********\"  # env ADMIN_CLIENT_SECRET"),
        "{text}"
    );
    assert!(
        text.contains("url = \"redis://user:********@redis:6379/0\"  # env REDIS_URL"),
        "{text}"
    );
    assert!(
        text.contains("uri = \"postgresql://pg:********@db:5432/oto?sslmode=disable\""),
        "{text}"
    );
    assert!(text.contains("port = 8091  # -D"), "{text}");
    assert!(text.contains("level = \"debug\"  # file"), "{text}");
    assert!(text.contains("accessLog = false  # default"), "{text}");
    assert!(
        text.contains("mode = \"worker\"  # env CLUSTER_MODE"),
        "{text}"
    );
    assert!(
        text.contains("retries = 3  # default: same as cluster.worker.retries"),
        "{text}"
    );
    assert!(text.contains("# name is unset  # default"), "{text}");

    let parsed: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        parsed["cluster"]["leader"]["clientSecret"].as_str(),
        Some("********")
    );
    assert_eq!(parsed["http"]["port"].as_integer(), Some(8091));
}

#[test]
fn rendered_defaults_load_back_identically() {
    let first = ok(
        None,
        &[],
        &["cluster.leader.urls.1=https://b", "admin.clientId=x"],
    );
    let file = toml_file(&first.render());
    let second = ok(Some(file.path()), &[], &[]);
    assert_eq!(first.config, second.config);
}

#[test]
fn samples_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    for (name, mode) in [
        ("standalone.toml", ClusterMode::Off),
        ("leader.toml", ClusterMode::Leader),
        ("worker.toml", ClusterMode::Worker),
    ] {
        let path = dir.join(name);
        let l = run(Some(&path), &[], &[]).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert_eq!(l.config.cluster.mode, mode, "{name}");
        assert!(l.render().contains("# file"), "{name}");
    }
}

#[test]
fn ui_keys_and_their_otoroshi_env_vars() {
    let l = ok(None, &[], &[]);
    assert!(l.config.ui.enabled);
    assert_eq!(l.config.ui.host, "otoroshi.oto.tools");
    assert_eq!(l.config.ui.session_max_age, Duration::from_secs(86_400));
    assert_eq!(l.config.ui.initial_login, "admin@otoroshi.io");
    assert_eq!(l.config.ui.initial_password, None);
    let l = ok(
        None,
        &[
            ("OTOROSHI_INITIAL_ADMIN_LOGIN", "ops@example.com"),
            ("OTOROSHI_INITIAL_ADMIN_PASSWORD", "pw"),
            ("UI_HOST", "backoffice.example.com"),
        ],
        &["ui.sessionMaxAge=3600000", "ui.enabled=false"],
    );
    assert_eq!(l.config.ui.initial_login, "ops@example.com");
    assert_eq!(l.config.ui.initial_password.as_deref(), Some("pw"));
    assert_eq!(l.config.ui.host, "backoffice.example.com");
    assert_eq!(l.config.ui.session_max_age, Duration::from_secs(3600));
    assert!(!l.config.ui.enabled);
}

#[test]
fn the_ui_host_cannot_be_the_admin_host() {
    let (error, text) = one_error(None, &[("UI_HOST", "OTOROSHI-API.oto.tools")], &[]);
    assert_eq!(error.key(), Some("ui.host"));
    assert!(text.contains("other than admin.host"), "{text}");
    let (error, text) = one_error(None, &[], &["ui.sessionMaxAge=10"]);
    assert_eq!(error.key(), Some("ui.sessionMaxAge"), "{text}");
}

#[test]
fn pg_sslmode_is_checked_naming_the_key_and_the_accepted_values() {
    let (err, text) = one_error(
        None,
        &[(
            "PG_URI",
            "postgresql://pg:pg-pw@db/oto?sslmode=verify-everything",
        )],
        &[],
    );
    assert_eq!(err.key(), Some("app.pg.uri"));
    assert!(
        text.contains("disable, prefer, require, verify-ca, verify-full"),
        "{text}"
    );
    assert!(
        text.contains("verify-everything") && !text.contains("pg-pw"),
        "{text}"
    );
    let (_, text) = one_error(None, &[], &["app.pg.uri=host=db sslmode=allow"]);
    assert!(
        text.contains("app.pg.uri") && text.contains("\"allow\""),
        "{text}"
    );
    for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
        ok(
            None,
            &[],
            &[&format!(
                "app.pg.uri=postgresql://db/x?sslmode={mode}&sslrootcert=/ca.pem"
            )],
        );
    }
}

#[test]
fn redis_tls_files_are_read_and_cert_needs_its_key() {
    let l = ok(
        None,
        &[("REDIS_TLS_CA_FILE", "/etc/ca.pem")],
        &[
            "app.redis.url=rediss://r:6380",
            "app.redis.tls.certFile=/c.pem",
            "app.redis.tls.keyFile=/k.pem",
        ],
    );
    let tls = &l.config.app.redis_tls;
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert_eq!(tls.cert_file.as_deref(), Some(Path::new("/c.pem")));
    assert_eq!(tls.key_file.as_deref(), Some(Path::new("/k.pem")));
    let (err, text) = one_error(None, &[], &["app.redis.tls.certFile=/c.pem"]);
    assert_eq!(err.key(), Some("app.redis.tls.keyFile"), "{text}");
    let text = ok(None, &[], &[]).render();
    assert!(
        text.contains("[app.redis.tls]\n# caFile is unset  # default"),
        "{text}"
    );
}

#[test]
fn redis_sentinel_and_cluster_members_are_checked_and_named() {
    let l = ok(
        None,
        &[
            ("REDIS_SENTINEL_MASTER", "mymaster"),
            (
                "REDIS_SENTINEL_MEMBERS",
                "10.0.0.1:26379, [::1]:26380,s3:26381",
            ),
            ("REDIS_SENTINEL_PASSWORD", "sentinel-pw"),
        ],
        &["app.storage=redis"],
    );
    assert_eq!(
        l.config.app.redis_topology,
        RedisTopology::Sentinel {
            master: "mymaster".into(),
            members: vec![
                "10.0.0.1:26379".into(),
                "[::1]:26380".into(),
                "s3:26381".into()
            ],
            password: Some("sentinel-pw".into()),
        }
    );
    assert!(
        !l.render().contains("sentinel-pw"),
        "the password is masked"
    );
    let l = ok(None, &[("REDIS_CLUSTER_MEMBERS", "r1:7000,r2:7001")], &[]);
    assert_eq!(
        l.config.app.redis_topology,
        RedisTopology::Cluster {
            members: vec!["r1:7000".into(), "r2:7001".into()]
        }
    );
    assert_eq!(
        ok(None, &[], &[]).config.app.redis_topology,
        RedisTopology::Standalone
    );

    let (err, text) = one_error(None, &[], &["app.redis.sentinels.members=s1:26379"]);
    assert_eq!(err.key(), Some("app.redis.sentinels.master"), "{text}");
    let (err, text) = one_error(None, &[], &["app.redis.sentinels.master=m"]);
    assert_eq!(err.key(), Some("app.redis.sentinels.members"), "{text}");
    for bad in [
        "s1",
        "s1:0",
        "s1:65536",
        "redis://s1:26379",
        "::1:26379",
        ":26379",
    ] {
        let (err, text) = one_error(
            None,
            &[],
            &[
                "app.redis.sentinels.master=m",
                &format!("app.redis.sentinels.members={bad}"),
            ],
        );
        assert_eq!(
            err.key(),
            Some("app.redis.sentinels.members"),
            "{bad}: {text}"
        );
        assert!(text.contains("host:port"), "{text}");
    }
    let (err, text) = one_error(None, &[("REDIS_CLUSTER_MEMBERS", "r1")], &[]);
    assert_eq!(err.key(), Some("app.redis.cluster.members"), "{text}");
    let many = (0..65)
        .map(|n| format!("r{n}:7000"))
        .collect::<Vec<_>>()
        .join(",");
    let (err, text) = one_error(None, &[("REDIS_CLUSTER_MEMBERS", many.as_str())], &[]);
    assert_eq!(err.key(), Some("app.redis.cluster.members"), "{text}");
    assert!(text.contains("at most 64"), "{text}");
    let (err, text) = one_error(
        None,
        &[],
        &[
            "app.redis.sentinels.master=m",
            "app.redis.sentinels.members=s1:26379",
            "app.redis.cluster.members=r1:7000",
        ],
    );
    assert_eq!(err.key(), Some("app.redis.cluster.members"), "{text}");
    assert!(text.contains("either Sentinel or Cluster"), "{text}");
}
