//! The figures a sampler gives, in the JSON shape the UI and the cluster
//! read, and the rounding they are given in.

use serde::Serialize;

/// What `GET /api/live` answers and the cluster stats are made of. Rates,
/// latencies and CPU are over the last `windowSecs`; `requests`, `errors`,
/// `bytesIn` and `bytesOut` count since the node started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveFigures {
    pub requests_per_sec: f64,
    pub errors_per_sec: f64,
    /// 0 when no request finished in the window.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Mean time spent in the proxy itself, over calls an upstream answered.
    pub overhead_ms: f64,
    /// Bytes per second.
    pub data_in_per_sec: f64,
    pub data_out_per_sec: f64,
    pub open_connections: i64,
    pub requests: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Percent of one core.
    pub cpu_usage: f64,
    /// Resident memory.
    pub memory_mb: f64,
    /// The machine's 1-minute load average.
    pub load_average: f64,
    pub window_secs: f64,
    /// When these figures were taken, ms since the epoch.
    pub at: u64,
}

/// `value` rounded to `decimals` places: figures are shown, not computed on.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
