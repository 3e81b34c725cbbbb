//! Cluster-wide figures: what a leader's `/api/live` answers and its home
//! page charts. Each member reports its own figures (a worker in its quota
//! pushes, a leader for itself); the cluster's are their sum, latencies
//! weighted by each member's request rate.
//!
//! This lives here rather than in the cluster crate so that the admin API
//! can ask a leader for them ([`ClusterView`]) without depending on it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::figures::{LiveFigures, round};

/// One member's figures, read from its `globstats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemberFigures {
    /// Requests per second.
    pub rate: f64,
    /// Mean total latency, ms.
    pub duration: f64,
    /// Mean time in the proxy itself, ms.
    pub overhead: f64,
    /// Request / response body bytes per second.
    pub data_in_rate: f64,
    pub data_out_rate: f64,
    /// Open client connections.
    pub concurrent: f64,
    /// Requests and body bytes since the member started.
    pub calls: f64,
    pub data_in: f64,
    pub data_out: f64,
}

/// A node's own figures, as it would report them to a leader.
impl From<&LiveFigures> for MemberFigures {
    fn from(f: &LiveFigures) -> Self {
        MemberFigures {
            rate: f.requests_per_sec,
            duration: f.mean_ms,
            overhead: f.overhead_ms,
            data_in_rate: f.data_in_per_sec,
            data_out_rate: f.data_out_per_sec,
            concurrent: f.open_connections as f64,
            calls: f.requests as f64,
            data_in: f.bytes_in as f64,
            data_out: f.bytes_out as f64,
        }
    }
}

/// The figures of the whole cluster at one moment, in Otoroshi's
/// `/api/live` field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFigures {
    /// Requests since each live member started, summed.
    pub calls: u64,
    /// Request / response body bytes since each live member started, summed.
    pub data_in: u64,
    pub data_out: u64,
    /// Requests per second, summed.
    pub rate: f64,
    /// Mean latency, ms, weighted by each member's rate (0 without traffic).
    pub duration: f64,
    /// Mean proxy overhead, ms, weighted the same way.
    pub overhead: f64,
    /// Body bytes per second, summed.
    pub data_in_rate: f64,
    pub data_out_rate: f64,
    pub concurrent_handled_requests: u64,
    /// Members the figures come from (the leader included).
    pub members: usize,
    /// When they were taken, ms since the epoch.
    pub at: u64,
}

/// A member's figure as a finite, non-negative number: members send JSON
/// and a bad one must not poison the sum.
fn sane(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

impl ClusterFigures {
    pub fn sum<'a>(members: impl IntoIterator<Item = &'a MemberFigures>, at: u64) -> Self {
        let mut total = MemberFigures::default();
        let (mut weighted_duration, mut weighted_overhead, mut count) = (0.0, 0.0, 0);
        for m in members {
            count += 1;
            let rate = sane(m.rate);
            total.rate += rate;
            weighted_duration += rate * sane(m.duration);
            weighted_overhead += rate * sane(m.overhead);
            total.data_in_rate += sane(m.data_in_rate);
            total.data_out_rate += sane(m.data_out_rate);
            total.concurrent += sane(m.concurrent);
            total.calls += sane(m.calls);
            total.data_in += sane(m.data_in);
            total.data_out += sane(m.data_out);
        }
        let mean = |weighted: f64| {
            if total.rate > 0.0 {
                round(weighted / total.rate, 3)
            } else {
                0.0
            }
        };
        ClusterFigures {
            calls: total.calls as u64,
            data_in: total.data_in as u64,
            data_out: total.data_out as u64,
            rate: round(total.rate, 2),
            duration: mean(weighted_duration),
            overhead: mean(weighted_overhead),
            data_in_rate: round(total.data_in_rate, 2),
            data_out_rate: round(total.data_out_rate, 2),
            concurrent_handled_requests: total.concurrent as u64,
            members: count,
            at,
        }
    }
}

/// How the cluster looks now: its figures and Otoroshi's health word from
/// the members' colours.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNow {
    pub figures: ClusterFigures,
    /// `healthy`, `notthathealthy` (a member is orange) or `unhealthy` (one is red).
    pub health: &'static str,
}

/// Otoroshi's cluster health word for a list of member colours.
pub fn health_of<'a>(colours: impl IntoIterator<Item = &'a str>) -> &'static str {
    let mut worst = "healthy";
    for colour in colours {
        match colour {
            "red" => return "unhealthy",
            "orange" => worst = "notthathealthy",
            _ => {}
        }
    }
    worst
}

/// The last samples of the cluster's figures, oldest first, at most
/// `capacity` of them.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    samples: VecDeque<ClusterFigures>,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            capacity: capacity.max(1),
            samples: VecDeque::with_capacity(capacity.max(1)),
        }
    }

    pub fn push(&mut self, sample: ClusterFigures) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub fn samples(&self) -> Vec<ClusterFigures> {
        self.samples.iter().cloned().collect()
    }
}

/// A future the admin API can hold behind a trait object.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a leader offers the admin API about its cluster.
pub trait ClusterView: Send + Sync + 'static {
    /// The figures and health now, from every live member.
    fn now(&self) -> Pending<'_, ClusterNow>;
    /// The samples kept for the chart, oldest first.
    fn history(&self) -> Vec<ClusterFigures>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn member(rate: f64, duration: f64) -> MemberFigures {
        MemberFigures {
            rate,
            duration,
            overhead: duration / 10.0,
            data_in_rate: 100.0,
            data_out_rate: 1000.0,
            concurrent: 2.0,
            calls: 50.0,
            data_in: 500.0,
            data_out: 5000.0,
        }
    }

    #[test]
    fn rates_add_up_and_latency_is_weighted_by_rate() {
        let sum = ClusterFigures::sum(&[member(30.0, 2.0), member(10.0, 10.0)], 7);
        assert_eq!(sum.rate, 40.0);
        // (30 × 2 + 10 × 10) / 40
        assert_eq!(sum.duration, 4.0);
        assert_eq!(sum.overhead, 0.4);
        assert_eq!(sum.data_in_rate, 200.0);
        assert_eq!(sum.data_out_rate, 2000.0);
        assert_eq!(sum.concurrent_handled_requests, 4);
        assert_eq!((sum.calls, sum.data_in, sum.data_out), (100, 1000, 10_000));
        assert_eq!((sum.members, sum.at), (2, 7));
    }

    #[test]
    fn idle_or_broken_members_count_for_nothing() {
        let broken = MemberFigures {
            rate: f64::NAN,
            duration: f64::INFINITY,
            data_in_rate: -5.0,
            ..MemberFigures::default()
        };
        let sum = ClusterFigures::sum(&[broken, MemberFigures::default()], 0);
        assert_eq!(sum.rate, 0.0);
        assert_eq!(sum.duration, 0.0);
        assert_eq!(sum.data_in_rate, 0.0);
        assert_eq!(sum.members, 2);
    }

    #[test]
    fn health_follows_the_worst_colour() {
        assert_eq!(health_of(["green", "green"]), "healthy");
        assert_eq!(health_of(["green", "orange"]), "notthathealthy");
        assert_eq!(health_of(["orange", "red", "green"]), "unhealthy");
        assert_eq!(health_of([]), "healthy");
    }

    #[test]
    fn history_keeps_the_newest_samples() {
        let mut history = History::new(3);
        for at in 0..5 {
            history.push(ClusterFigures {
                at,
                ..ClusterFigures::default()
            });
        }
        let ats: Vec<u64> = history.samples().iter().map(|s| s.at).collect();
        assert_eq!(ats, vec![2, 3, 4]);
    }
}
