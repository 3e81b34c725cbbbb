//! The per-second copies of the live counters and the figures between two
//! of them. Pure arithmetic on plain numbers, so that rates can be checked
//! with made-up clocks.

use std::collections::VecDeque;
use std::time::Duration;

use crate::figures::{LiveFigures, round};
use crate::histogram::Counts;
use crate::process;

/// The live counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Monotonic ms since the sampler started.
    pub mono_ms: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency_us: u64,
    pub overhead_us: u64,
    pub overhead_calls: u64,
    pub latency: Counts,
    pub cpu_ticks: Option<u64>,
}

/// Snapshots from the last window (plus the one just before it).
#[derive(Debug)]
pub struct Ring {
    window_ms: u64,
    snapshots: VecDeque<Snapshot>,
}

/// Rates over less than this are rates over this: a figure asked for just
/// after the start must not turn one request into a thousand per second.
const MIN_SPAN_MS: u64 = 1000;

impl Ring {
    pub fn new(window: Duration) -> Ring {
        Ring {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            snapshots: VecDeque::new(),
        }
    }

    pub fn push(&mut self, snapshot: Snapshot) {
        let now = snapshot.mono_ms;
        self.snapshots.push_back(snapshot);
        // Keep the youngest snapshot at least a window old, drop older ones.
        while self
            .snapshots
            .get(1)
            .is_some_and(|second| now.saturating_sub(second.mono_ms) >= self.window_ms)
        {
            self.snapshots.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// Figures between the oldest snapshot at most a window before `now`
    /// (else the oldest there is) and `now`. Process figures other than CPU
    /// are left for the caller.
    pub fn figures(&self, now: &Snapshot) -> LiveFigures {
        let base = self
            .snapshots
            .iter()
            .find(|s| now.mono_ms.saturating_sub(s.mono_ms) <= self.window_ms)
            .or_else(|| self.snapshots.back());
        let empty = Snapshot::default();
        let base = base.unwrap_or(&empty);
        let span_ms = now.mono_ms.saturating_sub(base.mono_ms);
        let secs = span_ms.max(MIN_SPAN_MS) as f64 / 1000.0;
        let delta = |now: u64, then: u64| now.saturating_sub(then);
        let requests = delta(now.requests, base.requests);
        let per_sec = |n: u64| round(n as f64 / secs, 2);
        let window = now.latency.since(&base.latency);
        let mean_us = if requests > 0 {
            delta(now.latency_us, base.latency_us) as f64 / requests as f64
        } else {
            0.0
        };
        let overhead_calls = delta(now.overhead_calls, base.overhead_calls);
        let overhead_us = if overhead_calls > 0 {
            delta(now.overhead_us, base.overhead_us) as f64 / overhead_calls as f64
        } else {
            0.0
        };
        let cpu_usage = match (now.cpu_ticks, base.cpu_ticks) {
            (Some(now_ticks), Some(then)) if span_ms >= 200 => {
                let used = now_ticks.saturating_sub(then) as f64 / process::TICKS_PER_SECOND;
                round(used / (span_ms as f64 / 1000.0) * 100.0, 1)
            }
            _ => 0.0,
        };
        LiveFigures {
            requests_per_sec: per_sec(requests),
            errors_per_sec: per_sec(delta(now.errors, base.errors)),
            p50_ms: round(window.quantile_micros(0.5) / 1000.0, 3),
            p99_ms: round(window.quantile_micros(0.99) / 1000.0, 3),
            mean_ms: round(mean_us / 1000.0, 3),
            overhead_ms: round(overhead_us / 1000.0, 3),
            data_in_per_sec: per_sec(delta(now.bytes_in, base.bytes_in)),
            data_out_per_sec: per_sec(delta(now.bytes_out, base.bytes_out)),
            requests: now.requests,
            errors: now.errors,
            bytes_in: now.bytes_in,
            bytes_out: now.bytes_out,
            cpu_usage,
            window_secs: round(span_ms as f64 / 1000.0, 1),
            ..LiveFigures::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn at(mono_ms: u64, requests: u64, bytes_out: u64) -> Snapshot {
        Snapshot {
            mono_ms,
            requests,
            errors: requests / 10,
            bytes_out,
            ..Snapshot::default()
        }
    }

    #[test]
    fn rates_come_from_the_oldest_snapshot_inside_the_window() {
        let mut ring = Ring::new(Duration::from_secs(10));
        // 100 requests and 1000 bytes a second for 30 s.
        for s in 0..=30u64 {
            ring.push(at(s * 1000, s * 100, s * 1000));
        }
        // The ring holds the window and no more.
        assert!(ring.len() <= 12, "{}", ring.len());
        let now = at(30_500, 3050, 30_500);
        let figures = ring.figures(&now);
        assert_eq!(figures.window_secs, 9.5);
        assert_eq!(figures.requests_per_sec, 100.0);
        assert_eq!(figures.errors_per_sec, 10.0);
        assert_eq!(figures.data_out_per_sec, 1000.0);
        assert_eq!(figures.requests, 3050);
        // Nothing in the window: no latency.
        assert_eq!(figures.p50_ms, 0.0);
        assert_eq!(figures.mean_ms, 0.0);
    }

    #[test]
    fn traffic_that_stopped_leaves_the_window() {
        let mut ring = Ring::new(Duration::from_secs(10));
        ring.push(at(0, 0, 0));
        ring.push(at(1000, 500, 0));
        for s in 2..=20u64 {
            ring.push(at(s * 1000, 500, 0));
        }
        assert_eq!(ring.figures(&at(20_000, 500, 0)).requests_per_sec, 0.0);
    }

    #[test]
    fn a_young_sampler_does_not_inflate_rates() {
        let mut ring = Ring::new(Duration::from_secs(10));
        ring.push(at(0, 0, 0));
        let figures = ring.figures(&at(100, 3, 0));
        // 3 requests in 0.1 s are shown over one second, not as 30/s.
        assert_eq!(figures.requests_per_sec, 3.0);
        assert!(!ring.is_empty());
    }
}
