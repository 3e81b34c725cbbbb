//! `PUT /api/cluster/quotas`: quota increments pushed by a worker (wire.rs
//! format), added into the datastore once per batch id, answered with the
//! global totals of the counters the batch named.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::read::GzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;
use store::{Increment, Once};

use super::error::LeaderError;
use super::export::QUOTA_PREFIX;
use super::http::is_gzip_body;
use super::{Leader, now_ms};
use crate::wire::{CounterTotal, PushAnswer, PushLine};

/// Largest push accepted, compressed or not.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Prefix of the markers that make a batch apply once.
const BATCH_PREFIX: &str = "cluster-batches:";
/// How long a batch id is remembered: far longer than any worker retries one.
const BATCH_MEMORY_MS: u64 = 60 * 60 * 1000;

/// A push, checked in full before anything is applied.
#[derive(Default)]
struct Push {
    batch: Option<String>,
    /// (key, increment, expiry) in body order.
    increments: Vec<(String, i64, u64)>,
    stats: Option<Value>,
}

pub(crate) async fn put_quotas(
    State(leader): State<Arc<Leader>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let push = match read_body(&headers, body).await.and_then(|b| parse(&b)) {
        Ok(push) => push,
        Err(e) => {
            leader.saw(&headers, None);
            return e.into_response();
        }
    };
    leader.saw(&headers, push.stats.clone());
    match leader.apply(&push).await {
        Ok(counters) => Json(PushAnswer {
            done: true,
            counters,
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

impl Leader {
    /// Counts the push once: the batch marker and every increment go into
    /// the datastore in one atomic step, so a retried push (same batch id)
    /// adds nothing and a failed one adds nothing either.
    async fn apply(&self, push: &Push) -> Result<Vec<CounterTotal>, LeaderError> {
        let (allowed, refused) =
            super::bounds::check(push.increments.clone(), &self.keys, now_ms());
        self.report_refused(push, &refused);
        let once = push.batch.as_ref().map(|id| Once {
            key: format!("{BATCH_PREFIX}{id}"),
            expires_at_ms: now_ms() + BATCH_MEMORY_MS,
        });
        // A zero increment only asks for the total: no write.
        let increments: Vec<Increment> = allowed
            .iter()
            .filter(|(_, by, _)| *by != 0)
            .map(|(key, by, expiry)| Increment {
                key: key.clone(),
                by: *by,
                expires_at_ms: Some(*expiry),
            })
            .collect();
        // A stats-only push (no batch, no counters) touches no store.
        if (once.is_some() || !increments.is_empty())
            && !self.store.incr_batch(once.as_ref(), &increments).await?
        {
            tracing::debug!(batch = ?push.batch, "quota batch already applied; acknowledged again");
        }
        self.totals(push).await
    }

    /// Logs and counts what the bound refused: an honest worker never sends
    /// it, so each one is worth an operator's look.
    fn report_refused(&self, push: &Push, refused: &[super::bounds::Refused]) {
        if refused.is_empty() {
            return;
        }
        self.refused_increments.inc_by(refused.len() as u64);
        for r in refused {
            tracing::warn!(batch = ?push.batch, counter = %r.key, calls = r.by, reason = %r.why, "refused quota increments from a worker push");
        }
    }

    /// The global value of every counter the batch named, once each, in the
    /// order first named. A counter absent or expired reads 0 with the
    /// expiry the worker sent.
    async fn totals(&self, push: &Push) -> Result<Vec<CounterTotal>, LeaderError> {
        let mut expiry: HashMap<&str, u64> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        for (key, _, e) in &push.increments {
            if expiry.insert(key, *e).is_none() {
                keys.push(key.clone());
            }
        }
        let values = self.store.counters(&keys).await?;
        Ok(keys
            .iter()
            .zip(values)
            .map(|(key, value)| match value {
                Some(c) => CounterTotal {
                    counter: key.clone(),
                    total: c.value.max(0) as u64,
                    expires_at_ms: c.expires_at_ms.unwrap_or(u64::MAX),
                },
                None => CounterTotal {
                    counter: key.clone(),
                    total: 0,
                    expires_at_ms: expiry.get(key.as_str()).copied().unwrap_or(0),
                },
            })
            .collect())
    }
}

/// The body, at most `MAX_BODY` bytes, un-gzipped when the worker compressed
/// it (the decoded size is bounded too: a small bomb stays small).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, LeaderError> {
    let too_large = LeaderError::TooLarge { limit: MAX_BODY };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(too_large);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large),
        Err(e) => {
            return Err(LeaderError::BadRequest(format!(
                "could not read the body: {e}"
            )));
        }
    };
    if !is_gzip_body(headers) {
        return Ok(bytes);
    }
    let mut plain = Vec::new();
    GzDecoder::new(&bytes[..])
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| LeaderError::BadRequest(format!("body is not valid gzip: {e}")))?;
    if plain.len() > MAX_BODY {
        return Err(too_large);
    }
    Ok(Bytes::from(plain))
}

/// Parses and checks every line; the first bad one fails the whole push.
fn parse(body: &[u8]) -> Result<Push, LeaderError> {
    let bad = |n: usize, why: String| LeaderError::BadRequest(format!("line {n}: {why}"));
    let mut push = Push::default();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let n = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<PushLine>(line).map_err(|e| bad(n, e.to_string()))? {
            PushLine::Batch { id } => {
                if push.batch.is_some() {
                    return Err(bad(n, "a second batch line".into()));
                }
                if id.is_empty() {
                    return Err(bad(n, "empty batch id".into()));
                }
                push.batch = Some(id);
            }
            PushLine::Increment {
                counter,
                calls,
                expires_at_ms,
            } => {
                // Workers push quota counters only; the leader's own keys
                // (batch markers...) are not theirs to move.
                if !counter.starts_with(QUOTA_PREFIX) {
                    return Err(bad(
                        n,
                        format!("counter key '{counter}' does not start with '{QUOTA_PREFIX}'"),
                    ));
                }
                let calls = i64::try_from(calls)
                    .map_err(|_| bad(n, format!("increment {calls} is too large")))?;
                push.increments.push((counter, calls, expires_at_ms));
            }
            PushLine::Stats(stats) => push.stats = Some(stats),
        }
    }
    Ok(push)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn parses_a_push_and_names_the_bad_line() {
        let body = b"{\"typ\":\"batch\",\"id\":\"w:1\"}\n\n{\"typ\":\"quotaincr\",\"k\":\"quotas:a\",\"i\":2,\"e\":9}\n{\"typ\":\"globstats\",\"rate\":1.5}\n";
        let push = parse(body).unwrap();
        assert_eq!(push.batch.as_deref(), Some("w:1"));
        assert_eq!(push.increments, vec![("quotas:a".to_string(), 2, 9)]);
        assert_eq!(push.stats.unwrap()["rate"], 1.5);
        let Err(LeaderError::BadRequest(why)) =
            parse(b"{\"typ\":\"batch\",\"id\":\"x\"}\n{\"typ\":\"nope\"}")
        else {
            panic!("accepted a bad line");
        };
        assert!(why.starts_with("line 2:"), "{why}");
        assert!(
            parse(b"{\"typ\":\"quotaincr\",\"k\":\"cluster-batches:x\",\"i\":1,\"e\":9}").is_err()
        );
    }
}
