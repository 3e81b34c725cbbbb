//! Per-route runtime, compiled when a state is published: the balancer
//! (round-robin position, targets marked down, in-flight counts), the
//! route's metric handles, parsed target authorities and timeouts. A
//! runtime is kept across publishes while the route's backend is unchanged,
//! and rebuilt (taking over its balancer state) when it changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::uri::Authority;
use model::State;
use model::route::Route;
use model::state::{Compiled, Compiler};

use plugins::gate::GlobalGate;

use crate::balancer::Balancer;
use crate::metrics::{Metrics, RouteMetrics};

pub struct RouteRuntime {
    /// The route's plugins, per step (shared by the routes that declare none).
    pub chain: Arc<plugins::Chain>,
    pub balancer: Balancer,
    pub metrics: RouteMetrics,
    /// `host:port` of each target, parsed once, and as a Host header value.
    pub authorities: Vec<Option<(Authority, HeaderValue)>>,
    /// Otoroshi's `backend.client.connection_timeout` / `call_timeout` (ms), if set.
    pub connect_timeout: Option<Duration>,
    pub call_timeout: Option<Duration>,
    /// The route this was compiled from, to tell at the next publish
    /// whether it changed.
    route: Arc<Route>,
}

impl RouteRuntime {
    /// The route this runtime was compiled from.
    pub fn route(&self) -> &Arc<Route> {
        &self.route
    }

    pub fn new(route: &Arc<Route>, metrics: &Metrics, previous: Option<&RouteRuntime>) -> Self {
        let backend = &route.backend;
        let client = backend.extra.get("client");
        let millis = |name: &str| {
            client
                .and_then(|c| c.get(name))
                .and_then(|v| v.as_u64())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        };
        // Validated at write time; a route that still fails here (a plugin
        // from a newer leader) answers 503 rather than run unprotected.
        let chain = if route.plugins.is_empty() {
            plugins::Chain::implicit()
        } else {
            Arc::new(route.plugin_chain().unwrap_or_else(|problems| {
            let reason = problems
                .first()
                .map(|p| format!("plugins[{}].{}: {}", p.index, p.path, p.message))
                .unwrap_or_default();
            tracing::warn!(route = %route.id, %reason, "route plugins do not compile on this node; the route answers 503");
            plugins::Chain::unavailable(format!(
                "route '{}' uses a plugin this node cannot run",
                route.id
            ))
            }))
        };
        Self {
            chain,
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
            route: Arc::clone(route),
        }
    }
}

/// Everything the proxy compiled from one state: the runtime of each
/// enabled route at the route's index in the state's router, so a request
/// reaches its route's runtime through the snapshot it holds, without a
/// lock or a lookup by id.
pub struct CompiledRoutes {
    routes: Box<[Arc<RouteRuntime>]>,
    /// The global config's maintenance mode and IP filtering.
    pub gate: GlobalGate,
}

impl CompiledRoutes {
    /// The runtime of the route the router found at `index`.
    pub fn get(&self, index: usize) -> Option<&Arc<RouteRuntime>> {
        self.routes.get(index)
    }
}

/// From this many routes, runtimes are compiled on every core.
const PARALLEL_FROM: usize = 4096;

/// Compiles route runtimes each time a state is published. A runtime whose
/// backend is unchanged is kept as it is (round-robin position, down marks,
/// in-flight counts and sticky choices go on); a changed one is rebuilt and
/// takes over what still applies from the previous one.
pub struct RouteCompiler {
    metrics: Arc<Metrics>,
}

impl RouteCompiler {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl Compiler for RouteCompiler {
    fn compile(&self, state: &State, previous: &State) -> Compiled {
        let before: HashMap<&str, &Arc<RouteRuntime>> = previous
            .compiled
            .get::<CompiledRoutes>()
            .map(|c| c.routes.iter().map(|r| (r.route.id.as_str(), r)).collect())
            .unwrap_or_default();
        let runtime = |route: &Arc<Route>| match before.get(route.id.as_str()) {
            Some(kept)
                if kept.route.backend == route.backend && kept.route.plugins == route.plugins =>
            {
                Arc::clone(kept)
            }
            previous => Arc::new(RouteRuntime::new(
                route,
                &self.metrics,
                previous.map(|p| p.as_ref()),
            )),
        };
        let all: Vec<&Arc<Route>> = state.router.routes().collect();
        let routes: Box<[Arc<RouteRuntime>]> = if all.len() < PARALLEL_FROM {
            all.into_iter().map(runtime).collect()
        } else {
            // Publishing runs on a blocking thread; 100 000 routes compile
            // on every core, in order.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let chunk = all.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = all
                    .chunks(chunk)
                    .map(|part| {
                        let handle =
                            scope.spawn(|| part.iter().map(|r| runtime(r)).collect::<Vec<_>>());
                        (part, handle)
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|(part, handle)| {
                        // A part whose thread failed is built again here, so
                        // that every runtime stays at its route's index.
                        handle
                            .join()
                            .unwrap_or_else(|_| part.iter().map(|r| runtime(r)).collect())
                    })
                    .collect::<Vec<_>>()
            })
            .into_boxed_slice()
        };
        // Metric series of deleted routes go with them (disabled routes
        // keep theirs: they may come back).
        if !before.is_empty() {
            let live: HashSet<&str> = state.routes.iter().map(|r| r.id.as_str()).collect();
            for id in before.keys().filter(|id| !live.contains(*id)) {
                self.metrics.forget_route(id);
            }
        }
        // Validated at write time; one that fails here (from a newer
        // leader) closes nothing rather than everything, and says so.
        let gate = state.global.gate().unwrap_or_else(|problems| {
            let reason = problems
                .first()
                .map(|p| format!("ipFiltering.{}: {}", p.path, p.message))
                .unwrap_or_default();
            tracing::warn!(%reason, "the global config's IP filtering does not compile on this node; it is not applied");
            GlobalGate::default()
        });
        Compiled::new(Arc::new(CompiledRoutes { routes, gate }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use model::{Kind, StateHandle};

    fn state(revision: u64, routes: &[(&str, u16)]) -> State {
        let mut builder = State::builder(revision);
        for (id, port) in routes {
            let route = serde_json::json!({"id": id, "name": id,
                "frontend": {"domains": [format!("{id}.test")]},
                "backend": {"targets": [{"hostname": "127.0.0.1", "port": port}]}});
            builder
                .add(Kind::Route, route.to_string().as_bytes())
                .unwrap();
        }
        builder.build()
    }

    fn runtime_of(handle: &StateHandle, host: &str) -> Arc<RouteRuntime> {
        let state = handle.load();
        let found = state.router.find(host, "/", "GET", None, |_| None).unwrap();
        state
            .compiled
            .get::<CompiledRoutes>()
            .unwrap()
            .get(found.index)
            .unwrap()
            .clone()
    }

    #[test]
    fn runtimes_are_compiled_at_publish_and_kept_while_the_backend_is() {
        let handle = StateHandle::new(state(1, &[("a", 1), ("b", 2)]));
        let metrics = Arc::new(Metrics::new());
        assert!(handle.set_compiler(Arc::new(RouteCompiler::new(metrics))));
        let a = runtime_of(&handle, "a.test");
        let b = runtime_of(&handle, "b.test");
        assert_eq!(a.route.id, "a");
        assert_eq!(b.route.id, "b");

        // Another route appears and b's backend changes: a is the same object.
        handle.publish(state(2, &[("a", 1), ("b", 3), ("c", 4)]));
        assert!(Arc::ptr_eq(&a, &runtime_of(&handle, "a.test")));
        let b2 = runtime_of(&handle, "b.test");
        assert!(!Arc::ptr_eq(&b, &b2));
        assert_eq!(
            b2.authorities[0].as_ref().unwrap().0.as_str(),
            "127.0.0.1:3"
        );
        assert_eq!(runtime_of(&handle, "c.test").route.id, "c");
    }

    #[test]
    fn many_routes_compile_in_parallel_each_at_its_index() {
        let ids: Vec<String> = (0..PARALLEL_FROM + 7).map(|i| format!("r{i}")).collect();
        let routes: Vec<(&str, u16)> = ids.iter().map(|id| (id.as_str(), 80)).collect();
        let handle = StateHandle::new(state(1, &routes));
        assert!(handle.set_compiler(Arc::new(RouteCompiler::new(Arc::new(Metrics::new())))));
        let state = handle.load();
        let compiled = state.compiled.get::<CompiledRoutes>().unwrap();
        for (index, route) in state.router.routes().enumerate() {
            assert_eq!(compiled.get(index).unwrap().route.id, route.id);
        }
        assert!(compiled.get(PARALLEL_FROM + 7).is_none());
        assert_eq!(runtime_of(&handle, "r4100.test").route.id, "r4100");
    }
}
