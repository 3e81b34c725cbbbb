//! What crosses the leader ↔ worker link. This is a stored and wire schema:
//! change it only with a new `FORMAT` version.
//!
//! State export body (`GET /api/cluster/state`), one JSON object per line:
//! - an entity: `{"k": "<store kind>", "id": "<id>", "v": <entity JSON>}`
//!   (`k` is `model::Kind::store_key()`: routes, apikeys, service-groups, global-configs);
//! - a quota counter: `{"c": "<counter key>", "n": <value>, "e": <expiry ms since epoch>}`.
//!
//! Entities come first, sorted by kind then id, so that the same entities
//! always give the same bytes; `ETag` is the SHA-256 of the entity lines only
//! (counters move every second and do not make a state "new").
//!
//! Quota push body (`PUT /api/cluster/quotas`), one JSON object per line:
//! - first, `{"typ": "batch", "id": "<worker id>:<sequence>"}` (the leader
//!   applies a batch id once; a retried batch is acknowledged, not re-counted);
//! - `{"typ": "quotaincr", "k": "<counter key>", "i": <increment>, "e": <expiry ms>}`;
//! - last, `{"typ": "globstats", ...}` with the worker's stats (Otoroshi's shape:
//!   `cpu_usage`, `load_average`, `heap_used`, `rate`, `duration`, `overhead`,
//!   `data_in_rate`, `data_out_rate`, `concurrent_handled_requests`).
//!
//! The answer: `{"done": true, "counters": [{"k": "...", "n": 12, "e": 1700000000000}]}`
//! with the global value of every counter the batch named.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version of this format, sent as `Komainu-Cluster-Format`.
pub const FORMAT: &str = "1";

pub const HEADER_COUNT: &str = "X-Data-Count";
pub const HEADER_DIGEST: &str = "X-Data-Digest";
pub const HEADER_FROM: &str = "X-Data-From";
/// The leader's clock when it answered (ms): with `X-Data-From` it gives the
/// export's age in the leader's own clock, so clock skew between nodes does
/// not matter.
pub const HEADER_NOW: &str = "X-Data-Now";
/// Store revision the export reflects.
pub const HEADER_REVISION: &str = "X-Data-Revision";
pub const HEADER_FORMAT: &str = "Komainu-Cluster-Format";
pub const HEADER_LEADER_NAME: &str = "Otoroshi-Leader-Node-Name";
pub const HEADER_LEADER_VERSION: &str = "Otoroshi-Leader-Node-Version";

pub const HEADER_WORKER_ID: &str = "Otoroshi-Worker-Id";
pub const HEADER_WORKER_NAME: &str = "Otoroshi-Worker-Name";
pub const HEADER_WORKER_VERSION: &str = "Otoroshi-Worker-Version";
pub const HEADER_WORKER_LOCATION: &str = "Otoroshi-Worker-Location";
pub const HEADER_WORKER_HTTP_PORT: &str = "Otoroshi-Worker-Http-Port";
pub const HEADER_WORKER_HTTPS_PORT: &str = "Otoroshi-Worker-Https-Port";
/// The ETag of the state the worker runs, and its revision (komainu).
pub const HEADER_WORKER_STATE_DIGEST: &str = "Otoroshi-Worker-State-Digest";
pub const HEADER_WORKER_STATE_REVISION: &str = "Otoroshi-Worker-State-Revision";

/// Long-poll: `GET /api/cluster/state?wait=<ms>` with `If-None-Match` waits up
/// to this long (capped) for a new state before answering 304.
pub const MAX_WAIT_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityLine {
    pub k: String,
    pub id: String,
    pub v: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterLine {
    pub c: String,
    pub n: u64,
    pub e: u64,
}

/// One line of a state export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateLine {
    Entity(EntityLine),
    Counter(CounterLine),
}

/// One line of a quota push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "typ")]
pub enum PushLine {
    #[serde(rename = "batch")]
    Batch { id: String },
    #[serde(rename = "quotaincr")]
    Increment { k: String, i: u64, e: u64 },
    #[serde(rename = "globstats")]
    Stats(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAnswer {
    pub done: bool,
    pub counters: Vec<CounterTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterTotal {
    pub k: String,
    pub n: u64,
    pub e: u64,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses an export body; the first bad line is an error naming its number.
pub fn parse_state(body: &[u8]) -> Result<Vec<StateLine>, String> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| serde_json::from_slice(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
