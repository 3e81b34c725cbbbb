//! ResponseBodyLengthLimiter: a response body over `max_length` bytes (4 MiB
//! when unset) never reaches the client whole. What the client gets:
//!
//! - `fail: true`, a Content-Length over the limit: 413 with a JSON error
//!   instead of the upstream's body (Otoroshi's "Response entity too
//!   large"); the head's representation headers (Content-*, ETag,
//!   Last-Modified, Accept-Ranges) go with the body.
//! - `fail: true`, no Content-Length (chunked): the body streams until it
//!   passes the limit, then the response is aborted (the head has gone; the
//!   client sees an incomplete chunked body or a reset stream, never a
//!   silently short one).
//! - `fail: false` (Otoroshi's default): the body is cut after `max_length`
//!   bytes and ends cleanly. A Content-Length over the limit becomes
//!   `max_length` (the upstream body is held to its length, so exactly that
//!   many bytes are sent); without one the cut body stays chunked. No
//!   length ever disagrees with the bytes sent.
//!
//! A Content-Length within the limit needs nothing: the upstream body is
//! held to it already, and the body passes untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use http::StatusCode;
use http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH,
    CONTENT_LOCATION, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::body::{self, BodyCtx, BoxError, ResponseBody};
use crate::config::{self, ConfigError};
use crate::context::Plugin;
use crate::registry::Descriptor;
use crate::request_body_length_limiter::BodyLengthLimiterConfig;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.ResponseBodyLengthLimiter",
    name: "Response body length limiter",
    description: "Limits response bodies to `max_length` bytes (4 MiB when unset). With `fail`, a Content-Length over the limit is answered 413 and a chunked body passing it is aborted; without, the body is cut at the limit (a Content-Length over it becomes the limit).",
    steps: &[Step::TransformResponseBody],
    build,
    default_config: config::defaults::<BodyLengthLimiterConfig>,
    config_schema: config::schema::<BodyLengthLimiterConfig>,
};

/// Otoroshi's limit when `max_length` is not set.
const DEFAULT_MAX: u64 = 4 * 1024 * 1024;

struct ResponseBodyLengthLimiter {
    max: u64,
    fail: bool,
    refusal: Bytes,
}

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: BodyLengthLimiterConfig = config::parse(value)?;
    let max = config.max_length.unwrap_or(DEFAULT_MAX);
    let refusal = serde_json::json!({
        "error": "response_too_large",
        "error_description": format!("the response body is larger than {max} bytes"),
    });
    Ok(Arc::new(ResponseBodyLengthLimiter {
        max,
        fail: config.fail,
        refusal: Bytes::from(refusal.to_string()),
    }))
}

impl Plugin for ResponseBodyLengthLimiter {
    fn transform_response_body(
        &self,
        response: &mut BodyCtx<'_>,
        body: ResponseBody,
    ) -> ResponseBody {
        if response.bodiless() {
            return body;
        }
        match response.content_length() {
            Some(length) if length <= self.max => body,
            Some(_) if self.fail => {
                *response.status = StatusCode::PAYLOAD_TOO_LARGE;
                for name in [
                    CONTENT_LENGTH,
                    CONTENT_ENCODING,
                    CONTENT_RANGE,
                    CONTENT_LANGUAGE,
                    CONTENT_LOCATION,
                    CONTENT_DISPOSITION,
                    ETAG,
                    LAST_MODIFIED,
                    ACCEPT_RANGES,
                ] {
                    response.headers.remove(name);
                }
                response.headers.insert(
                    CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                body::full(self.refusal.clone())
            }
            length => {
                if length.is_some() {
                    // Over the limit without fail: exactly `max` bytes go out.
                    response
                        .headers
                        .insert(CONTENT_LENGTH, http::HeaderValue::from(self.max));
                }
                Capped {
                    inner: body,
                    left: self.max,
                    fail: self.fail,
                    done: false,
                }
                .boxed_unsync()
            }
        }
    }
}

/// The response body passed the limit (`fail: true`): the stream ends with
/// this error and the connection (or HTTP/2 stream) is reset.
#[derive(Debug, thiserror::Error)]
#[error("the response body is larger than the route's limit")]
pub struct ResponseTooLarge;

/// A body that lets `left` more bytes through, then ends (or fails).
struct Capped {
    inner: ResponseBody,
    left: u64,
    fail: bool,
    done: bool,
}

impl Body for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let mut data = match frame.into_data() {
            Ok(data) => data,
            // Trailers pass: the limit is on data.
            Err(frame) => return Poll::Ready(Some(Ok(frame))),
        };
        let len = data.remaining() as u64;
        if len <= self.left {
            self.left -= len;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        self.done = true;
        if self.fail {
            return Poll::Ready(Some(Err(Box::new(ResponseTooLarge))));
        }
        let keep = usize::try_from(self.left).unwrap_or(usize::MAX);
        self.left = 0;
        if keep == 0 {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(data.split_to(keep)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            return SizeHint::with_exact(0);
        }
        let inner = self.inner.size_hint();
        if self.fail {
            return inner;
        }
        // Cut, the body is at most `left` more bytes.
        let upper = inner.upper().map_or(self.left, |u| u.min(self.left));
        let mut hint = SizeHint::new();
        hint.set_upper(upper);
        hint.set_lower(inner.lower().min(upper));
        hint
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::{HeaderMap, HeaderValue, Method};

    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn chunked(sizes: &[usize]) -> ResponseBody {
        Chunks(sizes.iter().map(|n| Bytes::from(vec![b'x'; *n])).collect()).boxed_unsync()
    }

    async fn run(
        config: Value,
        length: Option<u64>,
        body: ResponseBody,
    ) -> (StatusCode, HeaderMap, Result<Bytes, BoxError>) {
        let plugin = build(&config).unwrap();
        let mut status = StatusCode::OK;
        let mut headers = HeaderMap::new();
        if let Some(length) = length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        let out = plugin.transform_response_body(
            &mut BodyCtx {
                status: &mut status,
                headers: &mut headers,
                method: &Method::GET,
                path: "/",
                accept_encoding: None,
            },
            body,
        );
        let collected = out.collect().await.map(|c| c.to_bytes());
        (status, headers, collected)
    }

    #[tokio::test]
    async fn cut_or_failed_at_the_limit() {
        let cut = serde_json::json!({"max_length": 10});
        let (status, headers, got) = run(cut.clone(), None, chunked(&[4, 4, 4, 4])).await;
        assert_eq!(status, 200);
        assert!(!headers.contains_key(CONTENT_LENGTH));
        assert_eq!(got.unwrap().len(), 10);
        let (_, headers, got) = run(cut.clone(), Some(16), chunked(&[16])).await;
        assert_eq!(headers[CONTENT_LENGTH], "10");
        assert_eq!(got.unwrap().len(), 10);
        let (_, headers, got) = run(cut, Some(8), chunked(&[8])).await;
        assert_eq!(headers[CONTENT_LENGTH], "8");
        assert_eq!(got.unwrap().len(), 8);

        let fail = serde_json::json!({"max_length": 10, "fail": true});
        let (status, _, got) = run(fail.clone(), None, chunked(&[4, 4, 4])).await;
        assert_eq!(status, 200);
        assert!(got.is_err());
        let (_, _, got) = run(fail.clone(), None, chunked(&[5, 5])).await;
        assert_eq!(got.unwrap().len(), 10);
        let (status, headers, got) = run(fail, Some(11), chunked(&[11])).await;
        assert_eq!(status, 413);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(String::from_utf8_lossy(&got.unwrap()).contains("response_too_large"));
    }
}
