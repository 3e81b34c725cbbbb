//! Prometheus metrics of the data plane. Per route there are only counters
//! (requests by status class, upstream errors by kind). A route's series are
//! created at its first request of that class (or first error of that kind)
//! and then held by the route's runtime, so the request path only bumps an
//! atomic after that: eight eager series per route (label strings, map
//! entries, counters), with a compiled chain per route, made 100 000 route
//! runtimes 197 MiB before a single request (54 MiB lazy, with shared
//! chains; `bench/worker_memory.py`). The three latency histograms are global:
//! per-route histograms cost 3 × 18 buckets per route, which at 100 000
//! routes dominates memory and the first hit.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use live::LiveCounters;

/// The datastore connection gauges, read at each scrape.
mod datastore;
/// Latency histograms counted per thread, without a lock.
mod latency;

use datastore::DatastoreGauges;
pub use datastore::{DatastoreLink, DatastoreSource};
use latency::LatencyHistogram;

/// Why an upstream call failed (the `kind` label of `upstream_errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    Connect = 0,
    Timeout = 1,
    Failed = 2,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    route: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    route: String,
    kind: &'static str,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Indexed by `UpstreamErrorKind as usize`.
const ERROR_KINDS: [&str; 3] = ["connect", "timeout", "failed"];

pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    total: LatencyHistogram,
    upstream: LatencyHistogram,
    overhead: LatencyHistogram,
    upstream_errors: Family<ErrorLabels, Counter>,
    /// Requests that matched no route.
    pub unmatched: Counter,
    /// Client connections open on the listener(s).
    pub open_connections: Gauge,
    /// TLS handshakes that failed or timed out on the HTTPS listener.
    pub tls_handshake_failures: Counter,
    /// Connections closed at accept because `proxy.maxConnections` was reached.
    pub refused_node_cap: Counter,
    /// Connections closed at accept because their client reached
    /// `proxy.maxConnectionsPerClient`.
    pub refused_client_cap: Counter,
    /// Client connections closed by the listener's deadlines (no protocol
    /// choice in time, idle, no answer to a ping).
    pub closed_idle: Counter,
    /// Quota increments a leader refused from a worker push (unknown key,
    /// malformed counter, or more calls than the key's quota allows).
    pub cluster_refused_quota_increments: Counter,
    /// The live figures' counters (`GET /api/live`, cluster stats).
    pub live: Arc<LiveCounters>,
    datastore: Arc<DatastoreGauges>,
}

/// The live figures read the counters and the open-connections gauge.
impl live::Source for Metrics {
    fn counters(&self) -> &LiveCounters {
        &self.live
    }

    fn open_connections(&self) -> i64 {
        self.open_connections.get()
    }
}

/// One route's metric handles, each resolved at its first use.
pub struct RouteMetrics {
    route: Arc<str>,
    requests: Family<StatusLabels, Counter>,
    upstream_errors: Family<ErrorLabels, Counter>,
    by_class: [OnceLock<Counter>; 5],
    errors: [OnceLock<Counter>; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("komainu");
        let requests = Family::<StatusLabels, Counter>::default();
        let total = LatencyHistogram::default();
        let upstream = LatencyHistogram::default();
        let overhead = LatencyHistogram::default();
        let upstream_errors = Family::<ErrorLabels, Counter>::default();
        let unmatched = Counter::default();
        let open_connections = Gauge::default();
        let tls_handshake_failures = Counter::default();
        let refused = Family::<CapLabels, Counter>::default();
        let refused_node_cap = refused.get_or_create(&CapLabels { limit: "node" }).clone();
        let refused_client_cap = refused
            .get_or_create(&CapLabels { limit: "client" })
            .clone();
        let closed_idle = Counter::default();
        let cluster_refused_quota_increments = Counter::default();
        let datastore = Arc::new(DatastoreGauges::default());
        registry.register_collector(Box::new(Arc::clone(&datastore)));
        registry.register(
            "requests",
            "Proxied requests by route and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Total time of proxied requests",
            total.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time until the upstream's response head",
            upstream.clone(),
        );
        registry.register(
            "proxy_overhead_seconds",
            "Time spent in the proxy itself (total minus upstream)",
            overhead.clone(),
        );
        registry.register(
            "upstream_errors",
            "Failed upstream calls by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "unmatched_requests",
            "Requests that matched no route",
            unmatched.clone(),
        );
        registry.register(
            "open_connections",
            "Open client connections",
            open_connections.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "refused_connections",
            "Client connections closed at accept by proxy.maxConnections (limit=node) or proxy.maxConnectionsPerClient (limit=client)",
            refused,
        );
        registry.register(
            "closed_idle_connections",
            "Client connections closed for sending nothing in time or staying idle",
            closed_idle.clone(),
        );
        registry.register(
            "cluster_refused_quota_increments",
            "Quota increments refused from worker pushes",
            cluster_refused_quota_increments.clone(),
        );
        Self {
            registry,
            requests,
            total,
            upstream,
            overhead,
            upstream_errors,
            unmatched,
            open_connections,
            tls_handshake_failures,
            refused_node_cap,
            refused_client_cap,
            closed_idle,
            cluster_refused_quota_increments,
            live: Arc::new(LiveCounters::default()),
            datastore,
        }
    }

    /// Where the datastore gauges read the store's connection from; set
    /// once, by a node that opens a datastore.
    pub fn report_datastore(&self, source: DatastoreSource) {
        self.datastore.set_source(source);
    }

    pub fn for_route(&self, route_id: &str) -> RouteMetrics {
        RouteMetrics {
            route: Arc::from(route_id),
            requests: self.requests.clone(),
            upstream_errors: self.upstream_errors.clone(),
            by_class: Default::default(),
            errors: Default::default(),
        }
    }

    /// Forgets a deleted route's series, so that route churn does not grow memory.
    pub fn forget_route(&self, route_id: &str) {
        let route = || route_id.to_string();
        for class in CLASSES {
            self.requests.remove(&StatusLabels {
                route: route(),
                class,
            });
        }
        for kind in ERROR_KINDS {
            self.upstream_errors.remove(&ErrorLabels {
                route: route(),
                kind,
            });
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Metrics {
    /// Counts a finished request against its route and observes the global
    /// latency histograms (the upstream and overhead ones only when an
    /// upstream answered) and the live figures.
    pub fn record(
        &self,
        route: &RouteMetrics,
        status: u16,
        total_secs: f64,
        upstream_secs: Option<f64>,
    ) {
        route.count_status(status);
        self.total.observe(total_secs);
        self.live.record(status, total_secs, upstream_secs);
        if let Some(upstream) = upstream_secs {
            self.upstream.observe(upstream);
            self.overhead.observe((total_secs - upstream).max(0.0));
        }
    }
}

impl RouteMetrics {
    fn count_status(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let (Some(slot), Some(name)) = (self.by_class.get(class), CLASSES.get(class)) {
            let counter = slot.get_or_init(|| {
                self.requests
                    .get_or_create(&StatusLabels {
                        route: self.route.to_string(),
                        class: name,
                    })
                    .clone()
            });
            counter.inc();
        }
    }

    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        let index = kind as usize;
        if let (Some(slot), Some(name)) = (self.errors.get(index), ERROR_KINDS.get(index)) {
            let counter = slot.get_or_init(|| {
                self.upstream_errors
                    .get_or_create(&ErrorLabels {
                        route: self.route.to_string(),
                        kind: name,
                    })
                    .clone()
            });
            counter.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_series_appears_at_its_first_request_and_is_counted_once_made() {
        let metrics = Metrics::new();
        let route = metrics.for_route("lazy");
        assert!(!metrics.encode().contains(r#"route="lazy""#));

        metrics.record(&route, 204, 0.001, Some(0.0005));
        metrics.record(&route, 200, 0.001, None);
        route.upstream_error(UpstreamErrorKind::Timeout);
        let text = metrics.encode();
        assert!(
            text.contains(r#"komainu_requests_total{route="lazy",class="2xx"} 2"#),
            "{text}"
        );
        assert!(!text.contains(r#"route="lazy",class="5xx""#), "{text}");
        assert!(
            text.contains(r#"komainu_upstream_errors_total{route="lazy",kind="timeout"} 1"#),
            "{text}"
        );

        metrics.forget_route("lazy");
        assert!(!metrics.encode().contains(r#"route="lazy""#));
    }
}
