//! The latency histograms of `/metrics`, counted without a lock. The
//! Prometheus client's own histogram takes a mutex per observation, and
//! every request observes three histograms shared by all worker threads:
//! a cache line that every core would fight over. Here each thread counts
//! on its own stripe of atomics, and a scrape adds the stripes up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use live::STRIPES;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Finite upper bounds: 100 µs × 2^k for k < 18 (100 µs to about 13 s);
/// a last bucket takes the rest (+Inf).
const FINITE: usize = 18;
const FIRST_BOUND_US: u64 = 100;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    /// Observations per bucket (not cumulative); the count is their sum.
    buckets: [AtomicU64; FINITE + 1],
    sum_us: AtomicU64,
}

/// A histogram of durations in seconds; clones share the counts.
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Arc<[Stripe]>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self((0..STRIPES).map(|_| Stripe::default()).collect())
    }
}

impl LatencyHistogram {
    pub fn observe(&self, seconds: f64) {
        // Rounded up, so that a duration just over a bound is counted above
        // it; NaN and negatives count as 0.
        let micros = (seconds * 1e6).ceil() as u64;
        let n = live::thread_number() % STRIPES;
        if let Some(stripe) = self.0.get(n) {
            if let Some(bucket) = stripe.buckets.get(bucket_of(micros)) {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
            stripe.sum_us.fetch_add(micros, Ordering::Relaxed);
        }
    }
}

/// The first bucket whose bound is at least `micros`: the smallest k with
/// ceil(micros / 100) <= 2^k.
fn bucket_of(micros: u64) -> usize {
    let units = micros.div_ceil(FIRST_BOUND_US);
    if units <= 1 {
        return 0;
    }
    let k = (u64::BITS - (units - 1).leading_zeros()) as usize;
    k.min(FINITE)
}

fn upper_bound(bucket: usize) -> f64 {
    if bucket >= FINITE {
        f64::INFINITY
    } else {
        (FIRST_BOUND_US << bucket) as f64 / 1e6
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets: [(f64, u64); FINITE + 1] =
            std::array::from_fn(|bucket| (upper_bound(bucket), 0));
        let mut sum_us = 0u64;
        for stripe in self.0.iter() {
            for ((_, total), count) in buckets.iter_mut().zip(&stripe.buckets) {
                *total += count.load(Ordering::Relaxed);
            }
            sum_us = sum_us.wrapping_add(stripe.sum_us.load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(sum_us as f64 / 1e6, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_doubling() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(100), 0);
        assert_eq!(bucket_of(101), 1);
        assert_eq!(bucket_of(200), 1);
        assert_eq!(bucket_of(201), 2);
        assert_eq!(bucket_of(100 << 17), 17);
        assert_eq!(bucket_of((100 << 17) + 1), FINITE);
        assert_eq!(bucket_of(u64::MAX), FINITE);
        assert_eq!(upper_bound(0), 0.0001);
        assert_eq!(upper_bound(FINITE), f64::INFINITY);
    }

    #[test]
    fn encoded_as_a_prometheus_histogram() {
        let histogram = LatencyHistogram::default();
        for seconds in [0.00005, 0.00015, 0.00015, 20.0, f64::NAN] {
            histogram.observe(seconds);
        }
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("took_seconds", "Time taken", histogram);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE took_seconds histogram",
            "took_seconds_count 5",
            "took_seconds_bucket{le=\"0.0001\"} 2",
            "took_seconds_bucket{le=\"0.0002\"} 4",
            "took_seconds_bucket{le=\"13.1072\"} 4",
            "took_seconds_bucket{le=\"+Inf\"} 5",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.contains("took_seconds_sum 20.00035"), "{text}");
    }
}
