//! The `globstats` line of a quota push, in Otoroshi's shape. Process CPU and
//! memory come from `/proc` where there is one (two small reads per push);
//! elsewhere, and for the traffic figures this crate does not see, zeros.

use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

/// Clock ticks per second of `/proc/self/stat` times: 100 on every Linux
/// platform komainu ships for (reading `sysconf` would need libc).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

#[derive(Debug, Default)]
pub(crate) struct Stats {
    last: Mutex<Option<(Instant, u64)>>,
}

impl Stats {
    pub fn sample(&self) -> Value {
        let cpu = cpu_ticks().map(|ticks| {
            let now = Instant::now();
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let usage = match *last {
                Some((at, before)) => {
                    let wall = now.duration_since(at).as_secs_f64();
                    let used = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
                    if wall > 0.0 { used / wall * 100.0 } else { 0.0 }
                }
                None => 0.0,
            };
            *last = Some((now, ticks));
            usage
        });
        json!({
            "cpu_usage": cpu.unwrap_or(0.0),
            "load_average": load_average().unwrap_or(0.0),
            "heap_used": resident_mb().unwrap_or(0),
            "rate": 0.0,
            "duration": 0.0,
            "overhead": 0.0,
            "data_in_rate": 0.0,
            "data_out_rate": 0.0,
            "concurrent_handled_requests": 0,
        })
    }
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// Resident memory in MB (Otoroshi reports its used heap in MB).
fn resident_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE_SIZE / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_has_otoroshi_fields() {
        let stats = Stats::default();
        let first = stats.sample();
        let second = stats.sample();
        for field in ["cpu_usage", "load_average", "heap_used", "rate"] {
            assert!(first.get(field).is_some(), "{field}");
            assert!(second.get(field).is_some(), "{field}");
        }
    }
}
