//! The HTTPS listener on the real binary: the certificate chosen by SNI from
//! the current state, ALPN, handshake isolation, the ForceHttpsTraffic
//! redirect and client certificates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use common::pki::{Leaf, TestCa, self_signed};
use common::{ADMIN_HOST, ADMIN_ID, ADMIN_SECRET, Node};
use reqwest::{Certificate, Client, ClientBuilder, Identity, Method, StatusCode, Version};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &str = "/.well-known/otoroshi/monitoring/health";

fn https_addr(node: &Node) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], node.https_port.unwrap()))
}

/// A client that accepts any server certificate (the test compares the
/// served one itself) and reports it.
fn lenient() -> ClientBuilder {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_info(true)
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
}

/// `https://name:port/path`, with `name` resolved to the node (so it is sent
/// as SNI), or `https://127.0.0.1:port/path` (no SNI) when `name` is None.
fn url_for(
    builder: ClientBuilder,
    node: &Node,
    name: Option<&str>,
    path: &str,
) -> (Client, String) {
    let addr = https_addr(node);
    match name {
        Some(name) => (
            builder.resolve(name, addr).build().unwrap(),
            format!("https://{name}:{}{path}", addr.port()),
        ),
        None => (builder.build().unwrap(), format!("https://{addr}{path}")),
    }
}

/// The DER of the leaf certificate the node serves for `name`.
async fn served_leaf(node: &Node, name: Option<&str>) -> Vec<u8> {
    let (client, url) = url_for(lenient(), node, name, HEALTH);
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the server presented a certificate")
        .to_vec()
}

/// The DER of the first certificate of a PEM text.
fn der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

async fn add_certificate(node: &Node, leaf: &Leaf, id: &str) {
    let (status, body) = node
        .send_json(Method::POST, "/api/certificates", &leaf.entity(id))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The leaf of the certificate the node made for its admin host.
async fn admin_leaf(node: &Node) -> Vec<u8> {
    let (status, body) = node
        .get_json("/api/certificates/komainu-admin-certificate")
        .await;
    assert_eq!(status, 200, "{body}");
    der(body["chain"].as_str().unwrap())
}

#[tokio::test]
async fn sni_picks_the_certificate_for_the_name() {
    let (node, _dir) = Node::start(&[]);
    let ca = TestCa::new("sni test CA");
    let a = ca.server(&["a.test"]);
    let b = ca.server(&["b.test"]);
    let wild = ca.server(&["*.wild.test"]);
    add_certificate(&node, &a, "cert-a").await;
    add_certificate(&node, &b, "cert-b").await;
    add_certificate(&node, &wild, "cert-wild").await;

    assert_eq!(served_leaf(&node, Some("a.test")).await, der(&a.cert_pem));
    assert_eq!(served_leaf(&node, Some("b.test")).await, der(&b.cert_pem));
    assert_eq!(
        served_leaf(&node, Some("x.wild.test")).await,
        der(&wild.cert_pem)
    );
    // A wildcard covers one label only: a deeper name falls back.
    assert_eq!(
        served_leaf(&node, Some("deep.x.wild.test")).await,
        admin_leaf(&node).await
    );

    // And a client that trusts only the CA, and checks the name, accepts them.
    let strict = || {
        Client::builder()
            .timeout(Duration::from_secs(10))
            .tls_built_in_root_certs(false)
            .add_root_certificate(Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap())
    };
    for name in ["a.test", "b.test", "y.wild.test"] {
        let (client, url) = url_for(strict(), &node, Some(name), HEALTH);
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
}

#[tokio::test]
async fn no_sni_or_an_unknown_name_gets_the_admin_host_certificate() {
    let (node, _dir) = Node::start(&[]);
    let admin = admin_leaf(&node).await;
    assert_eq!(served_leaf(&node, None).await, admin);
    assert_eq!(served_leaf(&node, Some("unknown.test")).await, admin);
    assert_eq!(served_leaf(&node, Some(ADMIN_HOST)).await, admin);

    // The admin API answers over HTTPS on the admin host.
    let (client, url) = url_for(lenient(), &node, Some(ADMIN_HOST), "/api/routes");
    let response = client
        .get(url)
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_certificate_added_later_is_served_without_restart() {
    let (node, _dir) = Node::start(&[]);
    let admin = admin_leaf(&node).await;
    assert_eq!(served_leaf(&node, Some("late.test")).await, admin);

    let late = self_signed(&["late.test"]);
    add_certificate(&node, &late, "late").await;
    let expected = der(&late.cert_pem);
    let served = common::eventually(Duration::from_secs(5), || async {
        served_leaf(&node, Some("late.test")).await == expected
    })
    .await;
    assert!(served.is_some(), "the new certificate was never served");
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http1_still_works() {
    let (node, _dir) = Node::start(&[]);
    let (client, url) = url_for(lenient(), &node, Some(ADMIN_HOST), HEALTH);
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);

    let (client, url) = url_for(lenient().http1_only(), &node, Some(ADMIN_HOST), HEALTH);
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
}

#[tokio::test]
async fn garbage_and_half_open_connections_do_not_disturb_others() {
    let (node, _dir) = Node::start(&["-Dhttps.handshakeTimeout=1000"]);
    let addr = https_addr(&node);

    // Plain HTTP and random bytes on the TLS port.
    let mut garbage = Vec::new();
    for payload in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3][..],
        &[0u8; 4096][..],
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(payload).await;
        garbage.push(stream);
    }
    // Half-open: connected, never a byte.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }

    let (client, url) = url_for(lenient(), &node, Some(ADMIN_HOST), HEALTH);
    let started = std::time::Instant::now();
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the request waited for the stalled handshakes: {:?}",
        started.elapsed()
    );

    // The stalled handshakes are dropped after https.handshakeTimeout.
    let mut buf = [0u8; 64];
    let mut first = idle.pop().unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the idle connection was not closed: {read:?}"
    );
    // The node still serves plain HTTP too.
    assert_eq!(node.health().await.0, 200);
}

#[tokio::test]
async fn force_https_traffic_redirects_plain_http_and_proxies_https() {
    let (node, _dir) = Node::start(&[]);
    let upstream = common::upstream::start("secure").await;
    let mut route = common::route_to("secure", "secure.test", &[upstream.port]);
    route["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.ForceHttpsTraffic"}]);
    node.create_route(&route).await;
    let https_port = node.https_port.unwrap();

    let plain = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirected = common::eventually(Duration::from_secs(5), || async {
        plain
            .get(node.url("/a/b?c=1&d=2"))
            .header("Host", "secure.test")
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::SEE_OTHER)
    })
    .await;
    assert!(redirected.is_some(), "plain HTTP was not redirected");
    let response = plain
        .get(node.url("/a/b?c=1&d=2"))
        .header("Host", "secure.test:1234")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("https://secure.test:{https_port}/a/b?c=1&d=2").as_str()
    );
    assert_eq!(upstream.hits(), 0);

    let (client, url) = url_for(lenient(), &node, Some("secure.test"), "/a/b?c=1");
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, echoed) = common::json(response).await;
    assert_eq!(echoed["path"], "/a/b");
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn plain_http_requests_are_forwarded_as_http() {
    let (node, _dir) = Node::start(&[]);
    let upstream = common::upstream::start("plain").await;
    node.create_route(&common::route_to("plain", "plain.test", &[upstream.port]))
        .await;
    let (client, url) = url_for(lenient(), &node, Some("plain.test"), "/x");
    let (status, echoed) = common::json(client.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
    let response = node
        .through(Method::GET, "plain.test", "/x")
        .send()
        .await
        .unwrap();
    let (_, echoed) = common::json(response).await;
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "http");
}

/// The PEM of `ca`'s certificate in a file, for `https.clientCAPath`.
fn ca_file(ca: &TestCa) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &ca.cert_pem).unwrap();
    file
}

fn identity(leaf: &Leaf) -> Identity {
    Identity::from_pem(format!("{}{}", leaf.cert_pem, leaf.key_pem).as_bytes()).unwrap()
}

async fn cluster_state(node: &Node, builder: ClientBuilder) -> reqwest::Result<StatusCode> {
    let (client, url) = url_for(builder, node, Some(ADMIN_HOST), "/api/cluster/state");
    let response = client
        .get(url)
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .send()
        .await?;
    Ok(response.status())
}

#[tokio::test]
async fn client_auth_want_requires_a_client_certificate_for_the_cluster_endpoints() {
    let ca = TestCa::new("workers CA");
    let file = ca_file(&ca);
    let (node, _dir) = common::leader(&[
        "-Dhttps.clientAuth=want",
        &format!("-Dhttps.clientCAPath={}", file.path().display()),
    ]);

    // No certificate: the cluster endpoints refuse, over HTTPS and HTTP.
    let (client, url) = url_for(lenient(), &node, Some(ADMIN_HOST), "/api/cluster/state");
    let response = client
        .get(url)
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    let (status, body) = common::json(response).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "client_certificate_required");
    assert_eq!(node.get_json("/api/cluster/state").await.0, 403);
    // The rest of the admin API is unaffected.
    assert_eq!(node.get_json("/api/routes").await.0, 200);
    let (client, url) = url_for(lenient(), &node, Some(ADMIN_HOST), "/api/routes");
    let routes = client
        .get(url)
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(routes.status(), StatusCode::OK);

    // A certificate from the configured CA opens them.
    let worker = ca.client("worker-1");
    let status = cluster_state(&node, lenient().identity(identity(&worker)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    // One from another CA fails the handshake.
    let stranger = TestCa::new("other CA").client("stranger");
    assert!(
        cluster_state(&node, lenient().identity(identity(&stranger)))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn client_auth_need_refuses_a_handshake_without_a_certificate() {
    let ca = TestCa::new("need CA");
    let file = ca_file(&ca);
    let (node, _dir) = common::leader(&[
        "-Dhttps.clientAuth=need",
        &format!("-Dhttps.clientCAPath={}", file.path().display()),
    ]);
    assert!(cluster_state(&node, lenient()).await.is_err());
    let worker = ca.client("worker-1");
    let status = cluster_state(&node, lenient().identity(identity(&worker)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn an_unusable_client_ca_stops_the_node_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for path in [dir.path().join("missing.pem"), empty] {
        let output = common::command()
            .args([
                "-Dhttp.address=127.0.0.1",
                "-Dhttp.port=0",
                &format!("-Dapp.filedb.path={}", dir.path().join("data").display()),
                "-Dhttps.clientAuth=want",
                &format!("-Dhttps.clientCAPath={}", path.display()),
            ])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("https.clientCAPath"), "{stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("komainu listening"), "{stdout}");
        // Refused before the datastore is opened: a first start must not
        // create an admin key that it would then never show.
        assert!(!dir.path().join("data").exists());
    }
}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_shutdown() {
    // The default handshake timeout (10 s) is longer than the 5 s that
    // `terminate` waits: shutdown must drop the pending handshake itself.
    let (node, _dir) = Node::start(&[]);
    let _idle = TcpStream::connect(https_addr(&node)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(node.terminate().success());
}

#[tokio::test]
async fn a_worker_serves_the_certificates_of_its_leaders() {
    let (leader, _dir) = common::leader(&[]);
    let leaf = self_signed(&["synced.test"]);
    add_certificate(&leader, &leaf, "synced").await;
    let worker = common::worker(&[leader.base_url()], &[]);
    let expected = der(&leaf.cert_pem);
    let served = common::eventually(Duration::from_secs(10), || async {
        let (client, url) = url_for(lenient(), &worker, Some("synced.test"), HEALTH);
        match client.get(url).send().await {
            Ok(response) => response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate())
                .is_some_and(|der| der == expected.as_slice()),
            Err(_) => false,
        }
    })
    .await;
    assert!(
        served.is_some(),
        "the worker never served the leader's certificate"
    );
}
