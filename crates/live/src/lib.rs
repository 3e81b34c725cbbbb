//! Live traffic figures for the UI tiles and the cluster view: requests,
//! errors, bytes in and out, latency percentiles, CPU and memory, over the
//! last few seconds.
//!
//! The request path only bumps [`LiveCounters`] (relaxed atomic adds, no
//! lock, no allocation). A sampler, [`LiveStats`], copies them once a second
//! into a short ring; figures are the difference between the counters now
//! and the oldest copy still inside the window, so they are exact over the
//! window and cost nothing until someone asks.
//!
//! The counters live here, not with the Prometheus metrics, so that the
//! admin API, the UI and the cluster can read the figures without depending
//! on the data plane: the proxy's metrics own a [`LiveCounters`] and offer it
//! (with the open-connections gauge) as a [`Source`].

/// A body wrapper counting the bytes that pass.
pub mod body;
/// Cluster-wide figures, their history, and what a leader offers about them.
pub mod cluster;
/// The figures served, and their rounding.
mod figures;
/// The atomic log-bucket latency histogram.
pub mod histogram;
/// CPU, memory and load from `/proc`.
pub mod process;
/// Snapshots, the ring and the figures computed from it.
mod ring;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

pub use figures::LiveFigures;
use figures::round;
use histogram::AtomicHistogram;
pub use ring::{Ring, Snapshot};

/// Figures are computed over this window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How often the sampler copies the counters.
pub const TICK: Duration = Duration::from_secs(1);

/// Stripes of the counters: each thread bumps its own (tokio's workers are
/// few and long-lived), so cores do not fight over one cache line; readers
/// add the stripes up.
pub const STRIPES: usize = 16;

/// This thread's number: threads are numbered 0, 1, 2... as they first
/// ask. Per-thread shards and stripes (here, the metrics, the upstream
/// pool) pick theirs from it.
pub fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// One thread's share of the counters, on cache lines of its own.
#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    requests: AtomicU64,
    /// Answers with a status of 500 or more.
    errors: AtomicU64,
    /// Request body bytes received from clients.
    bytes_in: AtomicU64,
    /// Response body bytes sent to clients.
    bytes_out: AtomicU64,
    /// Sum of total latencies, µs.
    latency_us: AtomicU64,
    /// Sum of proxy overheads (total minus upstream), µs, over the calls an
    /// upstream answered.
    overhead_us: AtomicU64,
    overhead_calls: AtomicU64,
    latency: AtomicHistogram,
}

/// Which counter a body feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Request bodies received from clients.
    In,
    /// Response bodies sent to clients.
    Out,
}

/// The counters the request path bumps; owned by the data plane's metrics.
pub struct LiveCounters {
    stripes: Box<[Stripe]>,
}

impl Default for LiveCounters {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

impl LiveCounters {
    fn stripe(&self) -> &Stripe {
        let n = thread_number() % STRIPES;
        // `stripes` has STRIPES entries; the fallback is never taken.
        self.stripes.get(n).unwrap_or(&self.stripes[0])
    }

    /// One finished request (at its response head).
    pub fn record(&self, status: u16, total_secs: f64, upstream_secs: Option<f64>) {
        let stripe = self.stripe();
        let micros = (total_secs * 1e6) as u64;
        stripe.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            stripe.errors.fetch_add(1, Ordering::Relaxed);
        }
        stripe.latency_us.fetch_add(micros, Ordering::Relaxed);
        stripe.latency.observe_micros(micros);
        if let Some(upstream) = upstream_secs {
            let overhead = ((total_secs - upstream).max(0.0) * 1e6) as u64;
            stripe.overhead_us.fetch_add(overhead, Ordering::Relaxed);
            stripe.overhead_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Body bytes received from (`In`) or sent to (`Out`) clients.
    pub fn add_bytes(&self, direction: Direction, bytes: u64) {
        let stripe = self.stripe();
        let counter = match direction {
            Direction::In => &stripe.bytes_in,
            Direction::Out => &stripe.bytes_out,
        };
        counter.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes of a response body sent without going through a counting
    /// wrapper (the proxy's own small JSON answers).
    pub fn add_bytes_out(&self, bytes: u64) {
        self.add_bytes(Direction::Out, bytes);
    }

    fn snapshot(&self, mono_ms: u64) -> Snapshot {
        let sum = |field: fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes
                .iter()
                .map(|s| field(s).load(Ordering::Relaxed))
                .fold(0u64, u64::wrapping_add)
        };
        let mut latency = histogram::Counts::default();
        for stripe in self.stripes.iter() {
            latency.add(&stripe.latency.snapshot());
        }
        Snapshot {
            mono_ms,
            requests: sum(|s| &s.requests),
            errors: sum(|s| &s.errors),
            bytes_in: sum(|s| &s.bytes_in),
            bytes_out: sum(|s| &s.bytes_out),
            latency_us: sum(|s| &s.latency_us),
            overhead_us: sum(|s| &s.overhead_us),
            overhead_calls: sum(|s| &s.overhead_calls),
            latency,
            cpu_ticks: process::cpu_ticks(),
        }
    }
}

/// What a sampler reads: the counters the request path bumps and the
/// number of client connections open now (a gauge the listener keeps).
pub trait Source: Send + Sync + 'static {
    fn counters(&self) -> &LiveCounters;
    fn open_connections(&self) -> i64;
}

/// Counters with no listener behind them (tests, tools): no connection is
/// ever open.
impl Source for LiveCounters {
    fn counters(&self) -> &LiveCounters {
        self
    }

    fn open_connections(&self) -> i64 {
        0
    }
}

/// The per-node sampler; share it as an `Arc`.
pub struct LiveStats {
    source: Arc<dyn Source>,
    started: Instant,
    ring: Mutex<Ring>,
}

impl LiveStats {
    /// A sampler that ticks only when [`LiveStats::tick`] is called (tests,
    /// or a caller with its own clock); figures still work, over the time
    /// since the last tick.
    pub fn new(source: Arc<dyn Source>) -> Arc<LiveStats> {
        let stats = LiveStats {
            started: Instant::now(),
            ring: Mutex::new(Ring::new(WINDOW)),
            source,
        };
        stats.tick();
        Arc::new(stats)
    }

    /// A sampler ticking every [`TICK`] on the current tokio runtime for as
    /// long as it is referenced.
    pub fn spawn(source: Arc<dyn Source>) -> Arc<LiveStats> {
        let stats = LiveStats::new(source);
        let weak: Weak<LiveStats> = Arc::downgrade(&stats);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(stats) = weak.upgrade() else {
                    return;
                };
                stats.tick();
            }
        });
        stats
    }

    /// Copies the counters into the ring.
    pub fn tick(&self) {
        let snapshot = self.source.counters().snapshot(self.mono_ms());
        self.ring().push(snapshot);
    }

    /// The figures now, over the last [`WINDOW`].
    pub fn figures(&self) -> LiveFigures {
        let now = self.source.counters().snapshot(self.mono_ms());
        let mut figures = self.ring().figures(&now);
        figures.open_connections = self.source.open_connections();
        figures.memory_mb = process::resident_bytes()
            .map_or(0.0, |bytes| round(bytes as f64 / (1024.0 * 1024.0), 1));
        figures.load_average = process::load_average().unwrap_or(0.0);
        figures.at = now_ms();
        figures
    }

    fn mono_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

use model::clock::now_ms;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn recorded_requests_show_in_the_figures() {
        let counters = Arc::new(LiveCounters::default());
        let stats = LiveStats::new(counters.clone());
        for _ in 0..9 {
            counters.record(200, 0.002, Some(0.0015));
        }
        counters.record(502, 0.004, None);
        counters.add_bytes_out(120);
        let figures = stats.figures();
        assert_eq!(figures.requests, 10);
        assert_eq!(figures.errors, 1);
        assert_eq!(figures.bytes_out, 120);
        assert!(figures.requests_per_sec > 0.0);
        assert!(figures.p50_ms > 1.5 && figures.p50_ms < 2.6, "{figures:?}");
        assert!(figures.p99_ms >= figures.p50_ms);
        assert!((figures.mean_ms - 2.2).abs() < 0.01, "{figures:?}");
        assert!((figures.overhead_ms - 0.5).abs() < 0.01, "{figures:?}");
        assert!(figures.at > 0);
        let json = serde_json::to_value(&figures).unwrap();
        for field in [
            "requestsPerSec",
            "errorsPerSec",
            "p50Ms",
            "p99Ms",
            "meanMs",
            "overheadMs",
            "dataInPerSec",
            "dataOutPerSec",
            "openConnections",
            "bytesIn",
            "bytesOut",
            "cpuUsage",
            "memoryMb",
            "windowSecs",
            "at",
        ] {
            assert!(json.get(field).is_some(), "{field} missing in {json}");
        }
    }
}

#[cfg(test)]
mod cost {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// The request-path cost, by hand:
    /// `cargo test --release -p live --lib cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn request_path_cost() {
        const N: u64 = 5_000_000;
        let live = Arc::new(LiveCounters::default());
        for threads in [1u64, 2] {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let live = live.clone();
                    scope.spawn(move || {
                        for i in 0..N {
                            let status = if i % 100 == 0 { 502 } else { 200 };
                            let total = 0.000_2 + ((i + t) % 1000) as f64 * 1e-6;
                            live.record(status, total, Some(total * 0.8));
                            live.add_bytes(Direction::Out, 512);
                            live.add_bytes(Direction::In, 128);
                        }
                    });
                }
            });
            let per_call = started.elapsed().as_nanos() as f64 / N as f64;
            println!(
                "{threads} thread(s): {per_call:.1} ns per request (record + one frame each way), wall time per thread's call"
            );
        }
        assert!(live.snapshot(0).requests >= 3 * N);
    }
}
