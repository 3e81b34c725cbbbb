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
//!
//! The keys stay short on the wire (an export carries one line per entity
//! and per counter); the Rust fields say what they hold, and `serde(rename)`
//! maps one to the other. The tests below pin every key.

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

/// An entity of the state export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityLine {
    /// The store kind, `model::Kind::store_key()`.
    #[serde(rename = "k")]
    pub kind: String,
    pub id: String,
    /// The entity's JSON, as stored.
    #[serde(rename = "v")]
    pub value: Value,
}

/// A quota counter of the state export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterLine {
    /// The counter key (see `proxy::quota`).
    #[serde(rename = "c")]
    pub counter: String,
    /// Its global value.
    #[serde(rename = "n")]
    pub value: u64,
    /// When it expires, ms since the epoch.
    #[serde(rename = "e")]
    pub expires_at_ms: u64,
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
    /// Calls a worker admitted on a counter since its last push.
    #[serde(rename = "quotaincr")]
    Increment {
        #[serde(rename = "k")]
        counter: String,
        #[serde(rename = "i")]
        calls: u64,
        /// When the counter expires, ms since the epoch.
        #[serde(rename = "e")]
        expires_at_ms: u64,
    },
    #[serde(rename = "globstats")]
    Stats(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAnswer {
    pub done: bool,
    pub counters: Vec<CounterTotal>,
}

/// A counter's global value, in the answer to a quota push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterTotal {
    #[serde(rename = "k")]
    pub counter: String,
    #[serde(rename = "n")]
    pub total: u64,
    /// When the counter expires, ms since the epoch.
    #[serde(rename = "e")]
    pub expires_at_ms: u64,
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

/// The wire keys, pinned: a renamed Rust field must not change a byte that
/// crosses the link (leaders and workers of different builds talk).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use serde_json::json;

    use super::*;

    fn wire<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn export_lines_keep_their_short_keys() {
        let entity = StateLine::Entity(EntityLine {
            kind: "routes".into(),
            id: "r1".into(),
            value: json!({"id": "r1"}),
        });
        let counter = StateLine::Counter(CounterLine {
            counter: "quotas:k1:daily:20240229".into(),
            value: 12,
            expires_at_ms: 1_709_251_200_000,
        });
        assert_eq!(
            serde_json::to_string(&entity).unwrap(),
            r#"{"k":"routes","id":"r1","v":{"id":"r1"}}"#
        );
        assert_eq!(
            serde_json::to_string(&counter).unwrap(),
            r#"{"c":"quotas:k1:daily:20240229","n":12,"e":1709251200000}"#
        );
        // And the short keys read back into the same values.
        let body = format!(
            "{}\n{}\n",
            serde_json::to_string(&entity).unwrap(),
            serde_json::to_string(&counter).unwrap()
        );
        assert_eq!(parse_state(body.as_bytes()).unwrap(), vec![entity, counter]);
    }

    #[test]
    fn push_lines_keep_their_short_keys() {
        let lines = [
            PushLine::Batch { id: "w1:7".into() },
            PushLine::Increment {
                counter: "quotas:k1:monthly:202402".into(),
                calls: 3,
                expires_at_ms: 1_709_251_200_000,
            },
            PushLine::Stats(json!({"rate": 1.5})),
        ];
        assert_eq!(
            lines.iter().map(wire).collect::<Vec<_>>(),
            vec![
                json!({"typ": "batch", "id": "w1:7"}),
                json!({"typ": "quotaincr", "k": "quotas:k1:monthly:202402", "i": 3, "e": 1_709_251_200_000u64}),
                json!({"typ": "globstats", "rate": 1.5}),
            ]
        );
        let increment =
            r#"{"typ":"quotaincr","k":"quotas:k1:monthly:202402","i":3,"e":1709251200000}"#;
        assert_eq!(
            serde_json::from_str::<PushLine>(increment).unwrap(),
            lines[1]
        );
    }

    #[test]
    fn push_answers_keep_their_short_keys() {
        let answer = PushAnswer {
            done: true,
            counters: vec![CounterTotal {
                counter: "quotas:k1:throttling:1709164800000".into(),
                total: 12,
                expires_at_ms: 1_709_164_810_000,
            }],
        };
        let text = r#"{"done":true,"counters":[{"k":"quotas:k1:throttling:1709164800000","n":12,"e":1709164810000}]}"#;
        assert_eq!(serde_json::to_string(&answer).unwrap(), text);
        assert_eq!(serde_json::from_str::<PushAnswer>(text).unwrap(), answer);
    }
}
