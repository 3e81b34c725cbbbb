//! The `globstats` figures of a node in Otoroshi's field names, from the
//! node's live sampler: what a worker sends on every quota push and what a
//! leader shows for itself in the member list.
//!
//! | field | meaning |
//! |---|---|
//! | `rate` | requests per second (last 10 s) |
//! | `duration` | mean total latency, ms |
//! | `overhead` | mean time spent in the proxy itself, ms |
//! | `data_in_rate`, `data_out_rate` | request / response body bytes per second |
//! | `concurrent_handled_requests` | open client connections |
//! | `cpu_usage` | percent of one core |
//! | `heap_used` | resident memory, MB (Otoroshi reports its used heap in MB) |
//! | `load_average` | the machine's 1-minute load |
//! | `p50`, `p99` | latency percentiles, ms (komainu) |
//! | `error_rate` | answers ≥ 500 per second (komainu) |
//! | `calls`, `data_in`, `data_out` | requests and body bytes since the node started (komainu; a leader sums them for `/api/live`) |

use live::LiveFigures;
use live::cluster::MemberFigures;
use serde_json::{Value, json};

pub(crate) fn globstats(f: &LiveFigures) -> Value {
    json!({
        "rate": f.requests_per_sec,
        "duration": f.mean_ms,
        "overhead": f.overhead_ms,
        "data_in_rate": f.data_in_per_sec,
        "data_out_rate": f.data_out_per_sec,
        "concurrent_handled_requests": f.open_connections,
        "cpu_usage": f.cpu_usage,
        "heap_used": f.memory_mb.round() as u64,
        "load_average": f.load_average,
        "p50": f.p50_ms,
        "p99": f.p99_ms,
        "error_rate": f.errors_per_sec,
        "calls": f.requests,
        "data_in": f.bytes_in,
        "data_out": f.bytes_out,
        "at": f.at,
    })
}

/// A member's `globstats` read back for the cluster's sum; a missing or
/// non-numeric field counts as 0 (older workers send no totals).
pub(crate) fn member_figures(stats: &Value) -> MemberFigures {
    let number = |field: &str| stats.get(field).and_then(Value::as_f64).unwrap_or(0.0);
    MemberFigures {
        rate: number("rate"),
        duration: number("duration"),
        overhead: number("overhead"),
        data_in_rate: number("data_in_rate"),
        data_out_rate: number("data_out_rate"),
        concurrent: number("concurrent_handled_requests"),
        calls: number("calls"),
        data_in: number("data_in"),
        data_out: number("data_out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_land_in_otoroshi_fields() {
        let figures = LiveFigures {
            requests_per_sec: 12.5,
            errors_per_sec: 0.5,
            p50_ms: 1.2,
            p99_ms: 9.0,
            mean_ms: 2.0,
            overhead_ms: 0.3,
            data_in_per_sec: 100.0,
            data_out_per_sec: 2000.0,
            open_connections: 3,
            cpu_usage: 4.5,
            memory_mb: 21.6,
            load_average: 0.7,
            ..LiveFigures::default()
        };
        let stats = globstats(&figures);
        assert_eq!(stats["rate"], 12.5);
        assert_eq!(stats["duration"], 2.0);
        assert_eq!(stats["overhead"], 0.3);
        assert_eq!(stats["data_in_rate"], 100.0);
        assert_eq!(stats["data_out_rate"], 2000.0);
        assert_eq!(stats["concurrent_handled_requests"], 3);
        assert_eq!(stats["cpu_usage"], 4.5);
        assert_eq!(stats["heap_used"], 22);
        assert_eq!(stats["load_average"], 0.7);
        assert_eq!(stats["p50"], 1.2);
        assert_eq!(stats["p99"], 9.0);
        assert_eq!(stats["error_rate"], 0.5);
        let back = member_figures(&stats);
        assert_eq!(
            (back.rate, back.duration, back.concurrent),
            (12.5, 2.0, 3.0)
        );
        assert_eq!(
            member_figures(&json!({"rate": "x"})),
            MemberFigures::default()
        );
    }
}
