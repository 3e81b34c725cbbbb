//! Per-route runtime state that must outlive state snapshots: the balancer
//! (round-robin position, targets marked down, in-flight counts) and the
//! route's metric handles. A runtime is kept across publishes while the
//! route's backend is unchanged, and rebuilt when it changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::HeaderValue;
use http::uri::Authority;
use model::State;
use model::route::{Backend, Route};

use crate::balancer::Balancer;
use crate::metrics::{Metrics, RouteMetrics};

pub struct RouteRuntime {
    pub balancer: Balancer,
    pub metrics: RouteMetrics,
    /// `host:port` of each target, parsed once, and as a Host header value.
    pub authorities: Vec<Option<(Authority, HeaderValue)>>,
    /// Otoroshi's `backend.client.connection_timeout` / `call_timeout` (ms), if set.
    pub connect_timeout: Option<Duration>,
    pub call_timeout: Option<Duration>,
    backend: Backend,
    /// The last state revision at which this runtime was checked against the route.
    checked_at: AtomicU64,
}

impl RouteRuntime {
    fn new(
        route: &Route,
        revision: u64,
        metrics: &Metrics,
        previous: Option<&RouteRuntime>,
    ) -> Self {
        let backend = &route.backend;
        let client = backend.extra.get("client");
        let millis = |name: &str| {
            client
                .and_then(|c| c.get(name))
                .and_then(|v| v.as_u64())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        };
        Self {
            // Down marks and in-flight counts of unchanged targets carry over.
            balancer: Balancer::with_previous(&route.id, backend, previous.map(|p| &p.balancer)),
            metrics: metrics.for_route(&route.id),
            authorities: backend
                .targets
                .iter()
                .map(|t| {
                    let authority = format!("{}:{}", t.hostname, t.port)
                        .parse::<Authority>()
                        .ok()?;
                    let value = HeaderValue::from_str(authority.as_str()).ok()?;
                    Some((authority, value))
                })
                .collect(),
            connect_timeout: millis("connection_timeout"),
            call_timeout: millis("call_timeout"),
            backend: backend.clone(),
            checked_at: AtomicU64::new(revision),
        }
    }
}

pub struct Runtimes {
    metrics: Arc<Metrics>,
    by_route: RwLock<HashMap<String, Arc<RouteRuntime>>>,
}

impl Runtimes {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            by_route: RwLock::new(HashMap::new()),
        }
    }

    /// The runtime for `route` as it is in the snapshot at `revision`.
    pub fn get(&self, route: &Route, revision: u64) -> Arc<RouteRuntime> {
        let previous = self
            .by_route
            .read()
            .ok()
            .and_then(|m| m.get(&route.id).cloned());
        if let Some(runtime) = &previous {
            if runtime.checked_at.load(Ordering::Relaxed) == revision {
                return runtime.clone();
            }
            if runtime.backend == route.backend {
                runtime.checked_at.store(revision, Ordering::Relaxed);
                return runtime.clone();
            }
        }
        let runtime = Arc::new(RouteRuntime::new(
            route,
            revision,
            &self.metrics,
            previous.as_deref(),
        ));
        if let Ok(mut map) = self.by_route.write() {
            map.insert(route.id.clone(), runtime.clone());
        }
        runtime
    }

    /// Drops runtimes (and metric series) of routes no longer in the state.
    pub fn prune(&self, state: &State) {
        let Ok(mut map) = self.by_route.write() else {
            return;
        };
        let live: std::collections::HashSet<&str> =
            state.routes.iter().map(|r| r.id.as_str()).collect();
        let gone: Vec<String> = map
            .keys()
            .filter(|id| !live.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            map.remove(&id);
            self.metrics.forget_route(&id);
        }
    }
}
