//! Plugins that check credentials off the request path or work on response
//! bodies, against a real upstream: SimpleBasicAuth (clear and bcrypt
//! passwords), GzipResponseCompressor, BrotliResponseCompressor and
//! ResponseBodyLengthLimiter, and the config each refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read as _;

use base64::Engine as _;
use common::plugins::{P, plugin, refused, route_with};
use common::upstream::{self, body_bytes};
use common::{Node, json};
use reqwest::{Method, Response};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_lets_configured_users_through() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let hash = bcrypt::hash("bcrypt-pw", 4).unwrap();
    route_with(
        &node,
        "private",
        up.port,
        json!([plugin(
            "SimpleBasicAuth",
            json!({"realm": "zone", "users": {"alice": "clear-pw", "bob": hash}})
        )]),
    )
    .await;
    let call = |authorization: Option<String>| {
        let mut request = node.through(Method::GET, "private.test", "/x");
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send()
    };

    let refused = call(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Basic realm=\"zone\""
    );
    for (user, password) in [
        ("alice", "wrong"),
        ("alice", "clear-pw "),
        ("bob", "wrong"),
        ("bob", hash.as_str()),
        ("carol", "clear-pw"),
        ("alice", ""),
    ] {
        let response = call(Some(basic(user, password))).await.unwrap();
        assert_eq!(response.status(), 401, "{user}:{password}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"zone\""
        );
    }
    let bearer = call(Some("Bearer clear-pw".into())).await.unwrap();
    assert_eq!(bearer.status(), 401);
    assert_eq!(up.hits(), 0, "no refused call reaches the backend");

    let (status, seen) = json(call(Some(basic("alice", "clear-pw"))).await.unwrap()).await;
    assert_eq!(status, 200, "{seen}");
    // As in Otoroshi, the credentials still go upstream.
    assert_eq!(seen["headers"]["authorization"], basic("alice", "clear-pw"));
    // bcrypt: checked once off the workers, then remembered; same answer.
    for _ in 0..2 {
        let response = call(Some(basic("bob", "bcrypt-pw"))).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Several bcrypt checks at once all finish, each with its own answer.
    let checks = (0..6).map(|i| {
        let password = if i % 2 == 0 {
            "bcrypt-pw".to_string()
        } else {
            format!("nope{i}")
        };
        node.through(Method::GET, "private.test", "/x")
            .header("Authorization", basic("bob", &password))
            .send()
    });
    let answers = futures_util::future::join_all(checks).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 401, 200, 401, 200, 401]);
    assert_eq!(up.hits(), 6);
}

/// The body as it arrived, and its Content-Length header if any.
async fn raw_body(response: Response) -> (Option<String>, Vec<u8>) {
    let length = response
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.bytes().await.unwrap().to_vec();
    if let Some(length) = &length {
        assert_eq!(
            length.parse::<usize>().unwrap(),
            body.len(),
            "Content-Length agrees"
        );
    }
    (length, body)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

async fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    async_compression::tokio::bufread::BrotliDecoder::new(bytes)
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

async fn get(node: &Node, host: &str, path: &str, accept: Option<&str>) -> Response {
    let mut request = node.through(Method::GET, host, path);
    if let Some(accept) = accept {
        request = request.header("Accept-Encoding", accept);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compresses_streamed_bodies_the_client_accepts() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "gz",
        up.port,
        json!([plugin(
            "GzipResponseCompressor",
            json!({"excluded_patterns": ["/body/3000"]})
        )]),
    )
    .await;
    let original = body_bytes(200_000);
    for path in ["/body/200000?etag=v1", "/body/200000?chunked&etag=v1"] {
        let response = get(&node, "gz.test", path, Some("br;q=0.5, gzip")).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-encoding"], "gzip", "{path}");
        assert_eq!(headers["vary"], "Accept-Encoding");
        assert_eq!(headers["etag"], "W/\"v1\"");
        let (length, body) = raw_body(response).await;
        assert_eq!(
            length, None,
            "{path}: the compressed length is not announced"
        );
        assert!(
            body.len() < original.len() / 5,
            "{path}: {} bytes",
            body.len()
        );
        assert_eq!(gunzip(&body), original, "{path}");
    }

    // Not compressed: identity only, gzip refused by q=0, no header at all,
    // a content type outside the allowed list, an excluded path, a body
    // already encoded, a HEAD call.
    for (path, accept) in [
        ("/body/200000", Some("identity")),
        ("/body/200000", Some("gzip;q=0, br")),
        ("/body/200000", None),
        ("/body/200000?type=png", Some("gzip")),
        ("/body/3000", Some("gzip")),
    ] {
        let response = get(&node, "gz.test", path, accept).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{path} {accept:?}"
        );
        let n: usize = path[6..].split('?').next().unwrap().parse().unwrap();
        let (length, body) = raw_body(response).await;
        assert_eq!(length, Some(n.to_string()), "{path} {accept:?}");
        assert_eq!(body, body_bytes(n), "{path} {accept:?}");
    }
    let response = get(&node, "gz.test", "/body/5000?encoding=br", Some("gzip")).await;
    assert_eq!(response.headers()["content-encoding"], "br");
    let (length, body) = raw_body(response).await;
    assert_eq!(length.as_deref(), Some("5000"));
    assert_eq!(body, body_bytes(5000), "an encoded body passes untouched");
    let head = node
        .through(Method::HEAD, "gz.test", "/body/5000")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().get("content-encoding").is_none());
    assert_eq!(head.headers()["content-length"], "5000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brotli_compresses_what_the_client_accepts() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    route_with(
        &node,
        "br",
        up.port,
        json!([plugin(
            "BrotliResponseCompressor",
            json!({"allowed_list": ["text/*"], "compression_level": 11})
        )]),
    )
    .await;
    let original = body_bytes(100_000);
    for path in ["/body/100000?type=text", "/body/100000?type=text&chunked"] {
        let response = get(&node, "br.test", path, Some("gzip, deflate, br")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], "br", "{path}");
        assert_eq!(response.headers()["vary"], "Accept-Encoding");
        let (length, body) = raw_body(response).await;
        assert_eq!(length, None);
        assert!(body.len() < original.len() / 5);
        assert_eq!(unbrotli(&body).await, original, "{path}");
    }
    for (path, accept) in [
        ("/body/100000?type=text", "gzip"),
        ("/body/100000?type=text", "identity"),
        // JSON is not in this route's allowed list.
        ("/body/100000", "br"),
        ("/body/100000?type=text&encoding=gzip", "br"),
    ] {
        let response = get(&node, "br.test", path, Some(accept)).await;
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        assert_ne!(encoding.as_deref(), Some("br"), "{path} {accept}");
        let (length, body) = raw_body(response).await;
        assert_eq!(length.as_deref(), Some("100000"), "{path} {accept}");
        assert_eq!(body, original, "{path} {accept}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_limiter_cuts_or_fails_over_the_limit() {
    let up = upstream::start("up").await;
    let (node, _dir) = Node::start(&[]);
    let limiter = |config| json!([plugin("ResponseBodyLengthLimiter", config)]);
    route_with(&node, "cut", up.port, limiter(json!({"max_length": 1000}))).await;
    route_with(
        &node,
        "fail",
        up.port,
        limiter(json!({"max_length": 1000, "fail": true})),
    )
    .await;

    for host in ["cut.test", "fail.test"] {
        for path in ["/body/1000", "/body/500?chunked", "/body/1000?chunked"] {
            let response = get(&node, host, path, None).await;
            assert_eq!(response.status(), 200, "{host}{path}");
            let n: usize = path[6..].split('?').next().unwrap().parse().unwrap();
            let (_, body) = raw_body(response).await;
            assert_eq!(
                body,
                body_bytes(n),
                "{host}{path}: under the limit, untouched"
            );
        }
    }

    // fail: false cuts, and no length announces the uncut body.
    for (path, announced) in [("/body/5000", Some("1000")), ("/body/5000?chunked", None)] {
        let response = get(&node, "cut.test", path, None).await;
        assert_eq!(response.status(), 200);
        let (length, body) = raw_body(response).await;
        assert_eq!(length.as_deref(), announced, "{path}");
        assert_eq!(body, body_bytes(1000), "{path}");
    }

    // fail: true: a Content-Length over the limit is refused at once...
    let (status, error) = json(get(&node, "fail.test", "/body/5000", None).await).await;
    assert_eq!(status, 413, "{error}");
    assert_eq!(error["error"], "response_too_large");
    // ...and a chunked body is aborted when it passes it.
    let response = get(&node, "fail.test", "/body/5000?chunked", None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "the cut body is an error, not a short body"
    );
}

#[tokio::test]
async fn body_plugin_config_errors_name_the_field() {
    let (node, _dir) = Node::start(&[]);
    let cases = [
        (
            plugin("GzipResponseCompressor", json!({"compression_level": 10})),
            "config.compression_level",
        ),
        (
            plugin("BrotliResponseCompressor", json!({"compression_level": 12})),
            "config.compression_level",
        ),
        (
            plugin("BrotliResponseCompressor", json!({"compression_level": -1})),
            "config.compression_level",
        ),
        (
            plugin("GzipResponseCompressor", json!({"allowed_list": ["json"]})),
            "config.allowed_list[0]",
        ),
        (
            plugin(
                "GzipResponseCompressor",
                json!({"excluded_patterns": ["("]}),
            ),
            "config.excluded_patterns[0]",
        ),
        (
            plugin("SimpleBasicAuth", json!({"users": {"bob": "$2b$10$short"}})),
            "config.users.bob",
        ),
        (
            plugin("SimpleBasicAuth", json!({"realm": "a\"b"})),
            "config.realm",
        ),
        (
            plugin("ResponseBodyLengthLimiter", json!({"max_length": "big"})),
            "config.max_length",
        ),
    ];
    for (plugin, field) in cases {
        refused(&node, json!([plugin]), &format!("plugins[0].{field}")).await;
    }
    assert_eq!(node.get_json("/api/routes").await.1, json!([]));
    let (_, catalog) = node.get_json("/api/plugins").await;
    for (name, step) in [
        ("SimpleBasicAuth", "ValidateAccess"),
        ("ResponseBodyLengthLimiter", "TransformResponseBody"),
        ("GzipResponseCompressor", "TransformResponseBody"),
        ("BrotliResponseCompressor", "TransformResponseBody"),
    ] {
        let id = format!("{P}{name}");
        let found = catalog.as_array().unwrap().iter().find(|p| p["id"] == id);
        let found = found.unwrap_or_else(|| panic!("{id} missing from /api/plugins"));
        assert_eq!(found["steps"], json!([step]), "{id}");
    }
}
