//! Checking a state export before anything of it is used, and turning its
//! lines into a `State`.
//!
//! Checks, in order: gzip (when `Content-Encoding: gzip`), `X-Data-Digest`
//! (SHA-256 of the uncompressed body), `X-Data-Count` (non-empty lines),
//! every line parses, and the export is not older than `dataStaleAfter`.
//!
//! The age is `X-Data-Now − X-Data-From`: both are the leader's clock, so the
//! skew between the leader's and the worker's clocks does not enter it. Only
//! when a leader sends no `X-Data-Now` (an Otoroshi leader) is the worker's
//! clock used in its place, and then the skew does count.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use flate2::read::GzDecoder;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, ETAG};
use model::{Kind, State};

use super::client::{MAX_BODY, header};
use crate::wire::{self, CounterLine, StateLine};

/// A checked export.
#[derive(Debug)]
pub(crate) struct Export {
    /// The `ETag` header as sent (what goes back in `If-None-Match`); the
    /// body digest when the leader sends none.
    pub etag: String,
    pub revision: u64,
    /// Age of the export when it was received, leader clock.
    pub age_ms: u64,
    /// The uncompressed body (kept for the snapshot file).
    pub body: Bytes,
    pub lines: Vec<StateLine>,
}

/// `ETag` without quotes or weak marker: the digest reported in
/// `State::digest` and `Otoroshi-Worker-State-Digest`.
pub(crate) fn bare_etag(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

fn text<'h>(headers: &'h HeaderMap, name: &'static str) -> Option<&'h str> {
    headers
        .get(header(name))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, String> {
    match text(headers, name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is not a number: {v:?}")),
    }
}

/// Checks a 200 answer of `GET /api/cluster/state`. `worker_now_ms` is used
/// only when the leader sends no `X-Data-Now`.
pub(crate) fn check(
    headers: &HeaderMap,
    body: Bytes,
    stale_after: Duration,
    worker_now_ms: u64,
) -> Result<Export, String> {
    if let Some(format) = text(headers, wire::HEADER_FORMAT)
        && format != wire::FORMAT
    {
        return Err(format!(
            "the leader speaks cluster format {format}, this worker format {}",
            wire::FORMAT
        ));
    }
    let gzipped = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = if gzipped { gunzip(&body)? } else { body };

    let digest = text(headers, wire::HEADER_DIGEST)
        .ok_or_else(|| format!("no {} header", wire::HEADER_DIGEST))?;
    let actual = wire::sha256_hex(&body);
    if !digest.eq_ignore_ascii_case(&actual) {
        return Err(format!(
            "digest mismatch: {} says {digest}, the body hashes to {actual}",
            wire::HEADER_DIGEST
        ));
    }
    let count = number(headers, wire::HEADER_COUNT)?
        .ok_or_else(|| format!("no {} header", wire::HEADER_COUNT))?;
    let lines_in_body = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .count() as u64;
    if count != lines_in_body {
        return Err(format!(
            "count mismatch: {} says {count}, the body has {lines_in_body} lines",
            wire::HEADER_COUNT
        ));
    }
    let lines = parse_checked(&body)?;

    let from = number(headers, wire::HEADER_FROM)?
        .ok_or_else(|| format!("no {} header", wire::HEADER_FROM))?;
    let now = number(headers, wire::HEADER_NOW)?.unwrap_or(worker_now_ms);
    let age_ms = now.saturating_sub(from);
    let stale_ms = stale_after.as_millis() as u64;
    if age_ms > stale_ms {
        return Err(format!(
            "stale export: {age_ms} ms old, more than dataStaleAfter ({stale_ms} ms)"
        ));
    }
    let revision = number(headers, wire::HEADER_REVISION)?.unwrap_or(0);
    let etag = headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| actual.clone());
    Ok(Export {
        etag,
        revision,
        age_ms,
        body,
        lines,
    })
}

fn gunzip(body: &[u8]) -> Result<Bytes, String> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(MAX_BODY));
    GzDecoder::new(body)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip body: {e}"))?;
    if out.len() > MAX_BODY {
        return Err(format!("export larger than {MAX_BODY} bytes once unzipped"));
    }
    Ok(Bytes::from(out))
}

/// Parses an export and checks every entity as the admin API would have
/// on a write. One entity this version cannot decode or would refuse (say, a
/// route with a plugin it does not implement, from a newer leader) refuses the
/// whole state: serving the rest without it could route its traffic to a
/// less protected route, or serve it without the protection.
pub(crate) fn parse_checked(body: &[u8]) -> Result<Vec<StateLine>, String> {
    let lines = wire::parse_state(body).map_err(|e| format!("bad export line: {e}"))?;
    for line in &lines {
        let StateLine::Entity(e) = line else { continue };
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.store_key() == e.kind) else {
            continue;
        };
        model::normalize::normalize(kind, e.value.clone(), Some(&e.id))
            .map_err(|problems| format!("{} '{}' refused: {problems}", kind.singular(), e.id))?;
    }
    Ok(lines)
}

/// The `State` an export describes, and its counter lines. An entity that
/// does not decode, or of a kind this version does not know, is left out
/// with a log line rather than refusing the whole state (as a standalone
/// node does with its store).
pub(crate) fn build_state(
    revision: u64,
    digest: &str,
    lines: Vec<StateLine>,
) -> (State, Vec<CounterLine>) {
    let mut builder = State::builder(revision);
    let mut counters = Vec::new();
    for line in lines {
        match line {
            StateLine::Counter(c) => counters.push(c),
            StateLine::Entity(e) => {
                let Some(kind) = Kind::ALL.into_iter().find(|k| k.store_key() == e.kind) else {
                    tracing::debug!(kind = %e.kind, id = %e.id, "entity of an unknown kind skipped");
                    continue;
                };
                let bytes = match serde_json::to_vec(&e.value) {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        tracing::warn!(kind = %e.kind, id = %e.id, error = %err, "entity skipped");
                        continue;
                    }
                };
                if let Err(err) = builder.add(kind, &bytes) {
                    tracing::warn!(kind = %e.kind, id = %e.id, error = %err, "entity does not decode; skipped");
                }
            }
        }
    }
    let mut state = builder.build();
    state.digest = digest.to_string();
    (state, counters)
}

#[cfg(test)]
mod tests {
    use super::parse_checked;

    fn line(v: serde_json::Value) -> String {
        serde_json::json!({"k": "routes", "id": "r1", "v": v}).to_string()
    }

    fn route(plugins: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "id": "r1", "name": "r1",
            "frontend": {"domains": ["a.oto.tools"]},
            "backend": {"targets": [{"hostname": "127.0.0.1", "port": 80}]},
            "plugins": plugins,
        })
    }

    #[test]
    fn an_entity_this_version_would_refuse_refuses_the_whole_export() {
        let good = line(route(serde_json::json!([])));
        assert!(parse_checked(good.as_bytes()).is_ok());
        let unknown_plugin = line(route(
            serde_json::json!([{"plugin": "cp:otoroshi.next.plugins.NewAuth"}]),
        ));
        let body = format!("{good}\n{unknown_plugin}\n");
        let error = parse_checked(body.as_bytes()).unwrap_err();
        assert!(error.contains("NewAuth"), "{error}");
        let undecodable = line(serde_json::json!({"id": "r1", "frontend": 3}));
        assert!(parse_checked(undecodable.as_bytes()).is_err());
    }
}
