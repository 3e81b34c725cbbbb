//! Building one state export (wire.rs format): every entity, then every live
//! quota counter, as ndjson, with its digest, its ETag and, when the cluster
//! compresses, its gzip form.

use std::io::Write;
use std::time::Instant;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use model::Kind;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::Store;

use super::error::LeaderError;
use crate::wire::{CounterLine, EntityLine};

/// Prefix of every quota counter key in the store.
pub(crate) const QUOTA_PREFIX: &str = "quotas:";

/// A built export, kept by the cache and served as is.
#[derive(Debug)]
pub(crate) struct Export {
    /// The body as sent on the wire: gzip when `gzipped`.
    pub body: Bytes,
    pub gzipped: bool,
    /// Lines in the body (entities and counters).
    pub count: usize,
    /// SHA-256 hex of the uncompressed body.
    pub digest: String,
    /// SHA-256 hex of the entity lines only, unquoted.
    pub etag: String,
    /// Wall clock (ms) when the export was built.
    pub from_ms: u64,
    /// Wall clock (ms) when the first export at this revision was built:
    /// how old the entities are, whereas `from_ms` moves with every rebuild
    /// for counters.
    pub revision_built_ms: u64,
    /// Store revision read before scanning: the entities are at least this new.
    pub revision: u64,
    /// Monotonic build instant, for `cacheStateFor`.
    pub built: Instant,
}

/// The uncompressed export and what describes it.
pub(crate) struct Plain {
    pub body: Bytes,
    pub count: usize,
    pub digest: String,
    pub etag: String,
}

/// Scans the store into ndjson. Kinds go in the order of their store key and
/// ids in the store's id order, so the same entities always give the same
/// bytes (and the same ETag) whatever order `Kind::ALL` lists them in.
pub(crate) async fn scan(store: &dyn Store, grouping_by: usize) -> Result<Plain, LeaderError> {
    let limit = grouping_by.max(1);
    let mut body = Vec::new();
    let mut count = 0;
    let mut kinds: Vec<&'static str> = Kind::ALL.iter().map(|k| k.store_key()).collect();
    kinds.sort_unstable();
    for kind in kinds {
        let mut after: Option<String> = None;
        loop {
            let batch = store.scan(kind, after.as_deref(), limit).await?;
            for (id, bytes) in &batch {
                // A stored entity that is not JSON is left out rather than
                // blocking every worker's sync; it is logged loudly.
                match serde_json::from_slice::<Value>(bytes) {
                    Ok(value) => {
                        let line = EntityLine {
                            kind: kind.to_string(),
                            id: id.clone(),
                            value,
                        };
                        count += push_line(&mut body, &line);
                    }
                    Err(e) => {
                        tracing::error!(kind, id, error = %e, "stored entity is not JSON; left out of the cluster state")
                    }
                }
            }
            match batch.last() {
                Some((id, _)) if batch.len() == limit => after = Some(id.clone()),
                _ => break,
            }
        }
    }
    // One pass of hashing: the ETag covers the entity lines, the digest
    // continues over the counters.
    let mut hasher = Sha256::new();
    hasher.update(&body);
    let etag = hex::encode(hasher.clone().finalize());
    let entities_end = body.len();
    count += push_counters(store, limit, &mut body).await?;
    hasher.update(&body[entities_end..]);
    Ok(Plain {
        body: Bytes::from(body),
        count,
        digest: hex::encode(hasher.finalize()),
        etag,
    })
}

async fn push_counters(
    store: &dyn Store,
    limit: usize,
    body: &mut Vec<u8>,
) -> Result<usize, LeaderError> {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .scan_counters(QUOTA_PREFIX, after.as_deref(), limit)
            .await?;
        for (key, counter) in &batch {
            let line = CounterLine {
                counter: key.clone(),
                value: counter.value.max(0) as u64,
                // No expiry reads as "never", as the node's own quota loader does.
                expires_at_ms: counter.expires_at_ms.unwrap_or(u64::MAX),
            };
            count += push_line(body, &line);
        }
        match batch.last() {
            Some((key, _)) if batch.len() == limit => after = Some(key.clone()),
            _ => return Ok(count),
        }
    }
}

/// Appends one JSON line; returns 1 if it went in. Serializing a `Value`
/// cannot fail in practice, but a failure must not leave half a line.
fn push_line(body: &mut Vec<u8>, line: &impl Serialize) -> usize {
    match serde_json::to_vec(line) {
        Ok(bytes) => {
            body.extend_from_slice(&bytes);
            body.push(b'\n');
            1
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a cluster state line");
            0
        }
    }
}

/// Gzips at `level` (0..=9). CPU-bound: callers run it on a blocking thread.
pub(crate) fn gzip(body: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        Compression::new(level.min(9)),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// Turns a scanned export into the one served, compressing it off the async
/// threads when the cluster compresses.
pub(crate) async fn finish(
    plain: &Plain,
    compression: i8,
    revision: u64,
    from_ms: u64,
) -> Result<Export, LeaderError> {
    let (body, gzipped) = if compression >= 0 {
        let input = plain.body.clone();
        let level = u32::from(compression.unsigned_abs());
        let zipped = tokio::task::spawn_blocking(move || gzip(&input, level))
            .await
            .map_err(|e| LeaderError::Internal(format!("gzip task failed: {e}")))?
            .map_err(|e| LeaderError::Internal(format!("gzip failed: {e}")))?;
        (Bytes::from(zipped), true)
    } else {
        (plain.body.clone(), false)
    };
    Ok(Export {
        body,
        gzipped,
        count: plain.count,
        digest: plain.digest.clone(),
        etag: plain.etag.clone(),
        from_ms,
        revision_built_ms: from_ms,
        revision,
        built: Instant::now(),
    })
}
