//! Malformed and hostile HTTP on a raw socket, against a real node in front
//! of real upstreams (issue 12, item 8 and the malformed-HTTP suite). What
//! must hold each time: a 4xx or a closed connection, never a second
//! (smuggled) request reaching an upstream, never a request the node
//! should have answered itself reaching one, and the node healthy after.
//!
//! Two routes: `bp.test` to upstream `bp`, `smuggle.test` to upstream
//! `smuggled`; every smuggling attempt aims its hidden request at
//! `smuggle.test`, so `smuggled` must never be hit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::raw::{
    self, DATA, END_HEADERS, END_STREAM, GOAWAY, H2_PREFACE, HEADERS, RST_STREAM, SETTINGS,
};
use common::upstream::{self, Upstream};
use common::{ADMIN_HOST, Node, route_to};
use tokio::io::AsyncWriteExt;

const LIMIT: Duration = Duration::from_secs(5);

struct Setup {
    node: Node,
    _dir: tempfile::TempDir,
    bp: Upstream,
    smuggled: Upstream,
}

async fn setup() -> Setup {
    let bp = upstream::start("bp").await;
    let smuggled = upstream::start("smuggled").await;
    // A short header timeout keeps the keep-alive cases quick.
    let (node, dir) = Node::start(&["-Dproxy.timeouts.headerRead=1000"]);
    node.create_route(&route_to("bp", "bp.test", &[bp.port]))
        .await;
    node.create_route(&route_to("smuggle", "smuggle.test", &[smuggled.port]))
        .await;
    assert_eq!(node.status_of("bp.test", "/").await, 200);
    Setup {
        node,
        _dir: dir,
        bp,
        smuggled,
    }
}

impl Setup {
    async fn send(&self, request: &[u8]) -> String {
        raw::exchange(self.node.port, request, LIMIT).await
    }

    /// Nothing reached `smuggled` and the node still serves.
    async fn still_sound(&self) {
        assert_eq!(
            self.smuggled.hits(),
            0,
            "a smuggled request reached its upstream"
        );
        assert_eq!(self.node.health().await.0, 200);
        assert_eq!(self.node.status_of("bp.test", "/after").await, 200);
    }
}

fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| text.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_and_transfer_encoding_together_smuggle_nothing() {
    let s = setup().await;
    // Chunked says the body ends at "0\r\n\r\n", Content-Length says 6 bytes
    // in: whichever a backend believes, the rest must not become a request.
    let text = s
        .send(
            b"POST / HTTP/1.1\r\nHost: bp.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: smuggle.test\r\n\r\n",
        )
        .await;
    let answers = statuses(&text);
    assert_eq!(
        answers.len(),
        1,
        "one answer, then the connection closes: {text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    // The reverse order of the headers, and TE first in the body.
    let text = s
        .send(
            b"POST / HTTP/1.1\r\nHost: bp.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n\
              1\r\nx\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: smuggle.test\r\n\r\n",
        )
        .await;
    assert_eq!(statuses(&text).len(), 1, "{text}");
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_differing_content_length_is_refused() {
    let s = setup().await;
    let text = s
        .send(b"POST / HTTP/1.1\r\nHost: bp.test\r\nContent-Length: 6\r\nContent-Length: 50\r\n\r\nhello!")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    assert_eq!(s.bp.hits(), 1, "only the setup's request reached bp");
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_lf_line_endings_are_one_request_at_most() {
    let s = setup().await;
    let before = s.bp.hits();
    // hyper accepts bare LF (RFC 9112 §2.2 allows it) and the request
    // goes upstream re-framed with CRLF, so the backend cannot read it
    // differently; what must hold is one request in, at most one out, and
    // a header hidden behind a bare LF stays a header, not a body length.
    let text = s
        .send(b"POST /lf HTTP/1.1\r\nHost: bp.test\r\nX-A: 1\nContent-Length: 44\r\nConnection: close\r\n\r\nGET /hidden HTTP/1.1\r\nHost: smuggle.test\r\n\r\n")
        .await;
    let answers = statuses(&text);
    assert_eq!(answers.len(), 1, "{text}");
    assert!(
        answers[0] == 200 || (400..500).contains(&answers[0]),
        "{text}"
    );
    assert!(s.bp.hits() - before <= 1);
    // A CR without LF inside the head is refused.
    let text = s
        .send(b"GET / HTTP/1.1\r\nHost: bp.test\rX-B: 2\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_a_header_is_refused() {
    let s = setup().await;
    let text = s
        .send(b"GET / HTTP/1.1\r\nHost: bp.test\r\nX-Evil: a\x00b\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    let text = s.send(b"GET / HTTP/1.1\r\nHost: bp\x00.test\r\n\r\n").await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    assert_eq!(s.bp.hits(), 1);
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_get_431() {
    let s = setup().await;
    let big = "a".repeat(20_000);
    let text = s
        .send(format!("GET / HTTP/1.1\r\nHost: bp.test\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(raw::status_of(&text), 431, "{text}");
    let many: String = (0..2000).map(|i| format!("X-{i}: v\r\n")).collect();
    let text = s
        .send(format!("GET / HTTP/1.1\r\nHost: bp.test\r\n{many}\r\n").as_bytes())
        .await;
    assert!(
        matches!(raw::status_of(&text), 400 | 431),
        "{}",
        text.get(..200).unwrap_or(&text)
    );
    assert_eq!(s.bp.hits(), 1);
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_must_match_the_host_header() {
    let s = setup().await;
    // For another proxied host: neither route serves it.
    let text = s
        .send(b"GET http://smuggle.test/x HTTP/1.1\r\nHost: bp.test\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    // For the admin host, with credentials: refused before the admin API.
    let text = s
        .send(
            format!(
                "GET http://{ADMIN_HOST}/api/routes HTTP/1.1\r\nHost: bp.test\r\nAuthorization: Basic {}\r\n\r\n",
                base64_credentials()
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    assert!(text.contains("does not match the request target"), "{text}");
    assert!(
        !text.contains("\"frontend\""),
        "the admin API answered: {text}"
    );
    // Agreeing absolute-form is fine.
    let text = s
        .send(b"GET http://bp.test/ok HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 200, "{text}");
    assert_eq!(s.bp.hits(), 2);
    s.still_sound().await;
}

fn base64_credentials() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        common::ADMIN_ID,
        common::ADMIN_SECRET
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_asterisk_is_answered_by_the_node() {
    let s = setup().await;
    let text = s
        .send(b"OPTIONS * HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 200, "{text}");
    assert!(text.to_ascii_lowercase().contains("\r\nallow: "), "{text}");
    let text = s
        .send(b"GET * HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    assert_eq!(s.bp.hits(), 1, "a * request reached the backend");
    s.still_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_methods_are_refused() {
    let s = setup().await;
    let method = "A".repeat(5000);
    let text = s
        .send(
            format!("{method} / HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
    assert!(matches!(raw::status_of(&text), 400 | 501), "{text}");
    let method = "M".repeat(33);
    let text = s
        .send(
            format!("{method} / HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
    assert!(matches!(raw::status_of(&text), 400 | 501), "{text}");
    // A method that is not a token never gets this far.
    let text = s
        .send(b"G(T / HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    // An extension method of a sane length is forwarded.
    let text = s
        .send(b"PURGE / HTTP/1.1\r\nHost: bp.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 200, "{text}");
    assert_eq!(s.bp.hits(), 2);
    s.still_sound().await;
}

/// CVE-2023-44487: streams opened and reset at once, as fast as the
/// client can write. The node must cut the connection (or at least not
/// fall over) and keep serving other clients promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_rapid_reset_is_cut_and_others_are_served() {
    let s = setup().await;
    let mut stream = raw::connect(s.node.port).await;
    let mut burst = H2_PREFACE.to_vec();
    burst.extend(raw::frame(SETTINGS, 0, 0, &[]));
    let headers = raw::get_headers("bp.test", "/slow/200");
    for i in 0..2000u32 {
        let id = 2 * i + 1;
        burst.extend(raw::frame(HEADERS, END_STREAM | END_HEADERS, id, &headers));
        burst.extend(raw::frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
    }
    // The server may close mid-write; that is an acceptable outcome.
    let _ = stream.write_all(&burst).await;
    let (kinds, closed) = raw::h2_frames_until_closed(&mut stream, LIMIT).await;
    assert!(closed, "the connection survived 2000 rapid resets");
    assert!(kinds.contains(&GOAWAY), "no GOAWAY: {kinds:?}");
    // Far fewer than 2000 reached the backend.
    assert!(
        s.bp.hits() < 500,
        "{} requests reached the backend",
        s.bp.hits()
    );
    let started = std::time::Instant::now();
    s.still_sound().await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_h2_frames_end_the_connection_and_nothing_else() {
    let s = setup().await;
    let bad: Vec<(&str, Vec<u8>)> = vec![
        // SETTINGS payloads are 6-byte entries.
        (
            "SETTINGS of 5 bytes",
            raw::frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0]),
        ),
        ("DATA on stream 0", raw::frame(DATA, 0, 0, b"x")),
        ("HEADERS on stream 0", {
            let mut f = raw::frame(SETTINGS, 0, 0, &[]);
            f.extend(raw::frame(
                HEADERS,
                END_STREAM | END_HEADERS,
                0,
                &raw::get_headers("bp.test", "/"),
            ));
            f
        }),
        ("even stream id from a client", {
            let mut f = raw::frame(SETTINGS, 0, 0, &[]);
            f.extend(raw::frame(
                HEADERS,
                END_STREAM | END_HEADERS,
                2,
                &raw::get_headers("bp.test", "/"),
            ));
            f
        }),
        ("garbage HPACK", {
            let mut f = raw::frame(SETTINGS, 0, 0, &[]);
            f.extend(raw::frame(
                HEADERS,
                END_STREAM | END_HEADERS,
                1,
                &[0xff, 0xff, 0xff, 0xff, 0xff],
            ));
            f
        }),
        ("frame larger than SETTINGS_MAX_FRAME_SIZE", {
            let mut f = raw::frame(SETTINGS, 0, 0, &[]);
            f.extend(raw::frame(DATA, 0, 1, &vec![0u8; 20_000]));
            f
        }),
    ];
    for (name, frames) in bad {
        let mut stream = raw::connect(s.node.port).await;
        let mut bytes = H2_PREFACE.to_vec();
        bytes.extend(frames);
        let _ = stream.write_all(&bytes).await;
        let (kinds, closed) = raw::h2_frames_until_closed(&mut stream, LIMIT).await;
        assert!(closed, "{name}: connection still open");
        assert!(kinds.contains(&GOAWAY), "{name}: no GOAWAY in {kinds:?}");
    }
    assert_eq!(s.bp.hits(), 1);
    s.still_sound().await;
}

/// A malformed chunk in the request body is the client's fault: 400, and
/// the target is not counted as failing (it was 502 "upstream unreachable").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunk_size_is_the_clients_fault() {
    let s = setup().await;
    let text = s
        .send(b"POST /upload HTTP/1.1\r\nHost: bp.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        .await;
    assert_eq!(raw::status_of(&text), 400, "{text}");
    let metrics = s.node.get_text("/metrics").await;
    // A route's series appears at its first count: absent or 0 both say
    // the target was not blamed.
    let failed = metrics.lines().find(|l| {
        l.starts_with("komainu_upstream_errors_total{")
            && l.contains("route=\"bp\"")
            && l.contains("kind=\"failed\"")
    });
    assert!(failed.is_none_or(|l| l.ends_with(" 0")), "{failed:?}");
    s.still_sound().await;
}
