//! What GzipResponseCompressor and BrotliResponseCompressor share: the
//! config, the decision to compress, and the streamed encoder.
//!
//! A response is compressed when the client accepts the coding (q-values
//! honoured), its content type is allowed and not blocked, the path is not
//! excluded, it is not already encoded, it has a body (not HEAD, 1xx, 204,
//! 304, not a known-empty body) and is not a partial answer (206: its
//! ranges are of the uncompressed body). Then Content-Length goes (the
//! length is not known in advance: the body is sent chunked),
//! Content-Encoding is set, `Vary: Accept-Encoding` added, Accept-Ranges
//! dropped, and a strong ETag is made weak (`W/"..."`): the bytes differ
//! from the uncompressed representation's, the content does not.
//! A compressible response also gets the Vary header when the client did
//! not ask for compression, so that caches keep both apart.
//!
//! The body is compressed as it streams: the encoder reads what the
//! upstream has sent and flushes whenever the upstream pauses, so a slow
//! stream is not held back; nothing buffers whole bodies.

use std::io;

use async_compression::Level;
use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder};
use futures_util::StreamExt as _;
use http::header::{ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyDataStream, BodyExt as _, StreamBody};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::accept_encoding;
use crate::body::{BodyCtx, BoxError, ResponseBody};
use crate::chain::patterns;
use crate::config::{self, ConfigError};
use crate::media_type::{self, Mask};

/// Otoroshi's compressor config, with its defaults.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CompressorConfig {
    /// Content types compressed (`type/subtype`, `*` wildcards); empty: all.
    pub allowed_list: Vec<String>,
    /// Content types never compressed.
    pub blocked_list: Vec<String>,
    /// Path patterns (regular expressions on the whole path) never compressed.
    pub excluded_patterns: Vec<String>,
    /// gzip 0 to 9, brotli 0 to 11.
    pub compression_level: u32,
}

impl Default for CompressorConfig {
    fn default() -> Self {
        Self {
            allowed_list: vec![
                "text/*".into(),
                "application/javascript".into(),
                "application/json".into(),
            ],
            blocked_list: Vec::new(),
            excluded_patterns: Vec::new(),
            compression_level: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
}

impl Coding {
    /// Its name in Accept-Encoding and Content-Encoding.
    fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }

    fn max_level(self) -> u32 {
        match self {
            Coding::Gzip => 9,
            Coding::Brotli => 11,
        }
    }
}

/// A compressor with its config checked and compiled.
pub struct Compressor {
    coding: Coding,
    level: i32,
    allowed: Vec<Mask>,
    blocked: Vec<Mask>,
    excluded: Vec<Regex>,
}

impl Compressor {
    pub fn build(coding: Coding, value: &Value) -> Result<Compressor, Vec<ConfigError>> {
        let config: CompressorConfig = config::parse(value)?;
        let mut errors = Vec::new();
        let mut masks = |field: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .filter_map(|(i, text)| {
                    let mask = Mask::parse(text);
                    if mask.is_none() {
                        errors.push(ConfigError::new(
                            format!("{field}[{i}]"),
                            "not a content type mask (type/subtype, either may be *)",
                        ));
                    }
                    mask
                })
                .collect::<Vec<_>>()
        };
        let allowed = masks("allowed_list", &config.allowed_list);
        let blocked = masks("blocked_list", &config.blocked_list);
        let excluded = patterns("excluded_patterns", &config.excluded_patterns, &mut errors);
        let level = config.compression_level;
        if level > coding.max_level() {
            errors.push(ConfigError::new(
                "compression_level",
                format!(
                    "{} compression levels go from 0 to {}",
                    coding.token(),
                    coding.max_level()
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Compressor {
            coding,
            level: i32::try_from(level).unwrap_or(5),
            allowed,
            blocked,
            excluded,
        })
    }

    /// Compresses the body when the response and the client allow it, and
    /// fixes the head to match; otherwise hands the body back untouched.
    pub fn apply(&self, response: &mut BodyCtx<'_>, body: ResponseBody) -> ResponseBody {
        if !self.compressible(response, &body) {
            return body;
        }
        add_vary(response.headers);
        if !accept_encoding::accepts(response.accept_encoding, self.coding.token()) {
            return body;
        }
        let headers = &mut *response.headers;
        headers.remove(CONTENT_LENGTH);
        headers.remove(ACCEPT_RANGES);
        headers.insert(
            CONTENT_ENCODING,
            HeaderValue::from_static(self.coding.token()),
        );
        weaken_etag(headers);
        encode(self.coding, self.level, body)
    }

    /// Everything but the client's wish.
    fn compressible(&self, response: &BodyCtx<'_>, body: &ResponseBody) -> bool {
        use http_body::Body as _;
        !response.bodiless()
            && *response.status != StatusCode::PARTIAL_CONTENT
            && !response.headers.contains_key(CONTENT_ENCODING)
            && !body.is_end_stream()
            && body.size_hint().exact() != Some(0)
            && response.content_length() != Some(0)
            && media_type::eligible(
                &self.allowed,
                &self.blocked,
                response
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
            )
            && !self.excluded.iter().any(|r| r.is_match(response.path))
    }
}

/// `Vary: Accept-Encoding`, added to what the upstream said unless it is
/// there already (or the response varies on everything).
fn add_vary(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// A strong validator would claim byte-for-byte identity with the
/// uncompressed body; the weak form keeps conditional requests working.
fn weaken_etag(headers: &mut HeaderMap) {
    let weak = headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with('"'))
        .and_then(|v| HeaderValue::from_str(&format!("W/{v}")).ok());
    if let Some(weak) = weak {
        headers.insert(ETAG, weak);
    }
}

/// Read buffer of the encoders' output stream.
const CHUNK: usize = 16 * 1024;

/// The body through the encoder, as a stream: data frames in, compressed
/// data frames out (trailers are dropped; an upstream error ends the stream
/// with that error).
fn encode(coding: Coding, level: i32, body: ResponseBody) -> ResponseBody {
    let input =
        StreamReader::new(BodyDataStream::new(body).map(|chunk| chunk.map_err(io::Error::other)));
    let level = Level::Precise(level);
    let frames = |out: io::Result<bytes::Bytes>| out.map(Frame::data).map_err(BoxError::from);
    match coding {
        Coding::Gzip => StreamBody::new(
            ReaderStream::with_capacity(GzipEncoder::with_quality(input, level), CHUNK).map(frames),
        )
        .boxed_unsync(),
        Coding::Brotli => StreamBody::new(
            ReaderStream::with_capacity(BrotliEncoder::with_quality(input, level), CHUNK)
                .map(frames),
        )
        .boxed_unsync(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::Method;
    use std::io::Read as _;

    fn ctx_parts() -> (StatusCode, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000"));
        headers.insert(ETAG, HeaderValue::from_static("\"v1\""));
        (StatusCode::OK, headers)
    }

    #[tokio::test]
    async fn gzip_streams_and_fixes_the_head() {
        let compressor = Compressor::build(Coding::Gzip, &Value::Null).unwrap();
        let (mut status, mut headers) = ctx_parts();
        let accept = HeaderValue::from_static("gzip, br");
        let original = "{\"a\":1}".repeat(1000);
        let body = crate::body::full(original.clone());
        let out = compressor.apply(
            &mut BodyCtx {
                status: &mut status,
                headers: &mut headers,
                method: &Method::GET,
                path: "/x",
                accept_encoding: Some(&accept),
            },
            body,
        );
        assert_eq!(headers[CONTENT_ENCODING], "gzip");
        assert!(!headers.contains_key(CONTENT_LENGTH));
        assert_eq!(headers[VARY], "Accept-Encoding");
        assert_eq!(headers[ETAG], "W/\"v1\"");
        let compressed = out.collect().await.unwrap().to_bytes();
        assert!(compressed.len() < original.len() / 10);
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, original);
    }

    #[test]
    fn levels_are_checked_per_coding() {
        let eleven = serde_json::json!({"compression_level": 11});
        assert!(Compressor::build(Coding::Brotli, &eleven).is_ok());
        let errors = Compressor::build(Coding::Gzip, &eleven).err().unwrap();
        assert_eq!(errors[0].path, "compression_level");
        let bad = serde_json::json!({"allowed_list": ["text"], "excluded_patterns": ["("]});
        let errors = Compressor::build(Coding::Gzip, &bad).err().unwrap();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["allowed_list[0]", "excluded_patterns[0]"]);
    }
}
