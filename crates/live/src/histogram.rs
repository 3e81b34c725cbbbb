//! A fixed latency histogram on atomics: log-linear buckets (four per power
//! of two, so a bucket is at most 25 % wide and about 19 % on average) from
//! 1 µs to about 67 s. Finding a bucket is a `leading_zeros` and two shifts,
//! no float and no lock, so it can sit on the request path; the sampler
//! copies the counts once a second and percentiles come from the difference
//! of two copies.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 2;
const SUB: usize = 1 << SUB_BITS;
/// Highest power of two kept apart: 2^26 µs ≈ 67 s; slower calls share the
/// last bucket.
const MAX_EXP: u32 = 25;
/// Number of buckets.
pub const BUCKETS: usize = SUB + (MAX_EXP as usize - SUB_BITS as usize + 1) * SUB;

/// The bucket of a duration in µs.
pub fn bucket_of(micros: u64) -> usize {
    let v = micros.max(1);
    let exp = 63 - v.leading_zeros();
    if exp < SUB_BITS {
        return v as usize;
    }
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (exp - SUB_BITS) as usize * SUB + sub
}

/// `[low, high)` of a bucket in µs.
pub fn bounds_of(bucket: usize) -> (u64, u64) {
    if bucket < SUB {
        return (bucket as u64, bucket as u64 + 1);
    }
    let exp = (bucket - SUB) / SUB + SUB_BITS as usize;
    let sub = ((bucket - SUB) % SUB) as u64;
    let shift = exp - SUB_BITS as usize;
    ((SUB as u64 + sub) << shift, (SUB as u64 + sub + 1) << shift)
}

pub struct AtomicHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl AtomicHistogram {
    pub fn observe_micros(&self, micros: u64) {
        if let Some(count) = self.counts.get(bucket_of(micros)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of the counts (each read on its own: a call observed during the
    /// copy may be in it or not, which a per-second sample can live with).
    pub fn snapshot(&self) -> Counts {
        Counts(std::array::from_fn(|i| {
            self.counts
                .get(i)
                .map_or(0, |count| count.load(Ordering::Relaxed))
        }))
    }
}

/// Bucket counts at one moment, or the difference of two such moments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub [u64; BUCKETS]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; BUCKETS])
    }
}

impl Counts {
    /// What was observed after `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts(std::array::from_fn(|i| {
            self.0[i].saturating_sub(earlier.0[i])
        }))
    }

    /// Adds another set of counts (a stripe's) to these.
    pub fn add(&mut self, other: &Counts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine = mine.wrapping_add(*theirs);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The `q` quantile (0..=1) in µs, interpolated linearly inside its
    /// bucket; 0 when nothing was observed.
    pub fn quantile_micros(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        // The rank of the sample asked for, from 1.
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (bucket, &count) in self.0.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if (seen + count) as f64 >= rank {
                let (low, high) = bounds_of(bucket);
                let inside = (rank - seen as f64) / count as f64;
                return low as f64 + (high - low) as f64 * inside;
            }
            seen += count;
        }
        let (low, _) = bounds_of(BUCKETS - 1);
        low as f64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_at_most_a_quarter_wide() {
        let mut next = 0;
        for bucket in 0..BUCKETS {
            let (low, high) = bounds_of(bucket);
            assert_eq!(low, next, "bucket {bucket} starts where the last ended");
            assert!(high > low);
            if low >= 4 {
                assert!(high as f64 / low as f64 <= 1.25 + 1e-9, "bucket {bucket}");
            }
            // 0 µs is counted as 1 µs: bucket 0 stays empty.
            if bucket > 0 {
                assert_eq!(bucket_of(low), bucket);
                assert_eq!(bucket_of(high - 1), bucket);
            }
            next = high;
        }
        // 50 µs and 60 s are inside the range, anything slower is in the last bucket.
        assert!(bounds_of(BUCKETS - 1).1 > 60_000_000);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(0), 1);
    }

    #[test]
    fn percentiles_of_known_samples() {
        let histogram = AtomicHistogram::default();
        // 1..=1000 ms, one call each: p50 = 500 ms, p99 = 990 ms.
        for ms in 1..=1000u64 {
            histogram.observe_micros(ms * 1000);
        }
        let counts = histogram.snapshot();
        assert_eq!(counts.total(), 1000);
        let p50 = counts.quantile_micros(0.5) / 1000.0;
        let p99 = counts.quantile_micros(0.99) / 1000.0;
        assert!((p50 - 500.0).abs() / 500.0 < 0.13, "p50 {p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.13, "p99 {p99}");
        assert!(p99 > p50);

        // 98 fast calls and 2 slow ones: p50 is fast, p99 is slow.
        let histogram = AtomicHistogram::default();
        for _ in 0..98 {
            histogram.observe_micros(200);
        }
        histogram.observe_micros(2_000_000);
        histogram.observe_micros(2_000_000);
        let counts = histogram.snapshot();
        let p50 = counts.quantile_micros(0.5);
        let p99 = counts.quantile_micros(0.99);
        assert!((160.0..=250.0).contains(&p50), "p50 {p50}");
        assert!((1_600_000.0..=2_500_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(Counts::default().quantile_micros(0.5), 0.0);
    }

    #[test]
    fn a_difference_keeps_only_the_later_calls() {
        let histogram = AtomicHistogram::default();
        histogram.observe_micros(10_000_000);
        let before = histogram.snapshot();
        for _ in 0..10 {
            histogram.observe_micros(1000);
        }
        let window = histogram.snapshot().since(&before);
        assert_eq!(window.total(), 10);
        let p99 = window.quantile_micros(0.99);
        assert!((900.0..=1250.0).contains(&p99), "p99 {p99}");
    }
}
