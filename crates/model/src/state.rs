//! The snapshot the data plane reads. It is built whole, off the request
//! path, and published with one atomic swap, so a request sees either the old
//! state or the new one, never a mix.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::apikey::ApiKey;
use crate::certificate::Certificate;
use crate::global_config::GlobalConfig;
use crate::group::ServiceGroup;
use crate::normalize::decode_slice;
use crate::route::Route;
use crate::router::RouteTable;
use crate::tls_index::TlsIndex;
use crate::{Kind, ValidationErrors};

#[derive(Debug, Clone, Default)]
pub struct State {
    /// The store revision this snapshot reflects.
    pub revision: u64,
    /// Routes in id order.
    pub routes: Vec<Arc<Route>>,
    /// API keys by client id.
    pub apikeys: HashMap<String, Arc<ApiKey>>,
    pub groups: HashMap<String, Arc<ServiceGroup>>,
    pub global: Arc<GlobalConfig>,
    /// `routes` compiled for lookup by host and path; built by
    /// [`StateBuilder::build`] (a `State` assembled by hand starts with an
    /// empty table).
    pub router: Arc<RouteTable>,
    /// Certificate entities by id (private keys included: this is the
    /// data plane's view, never served as is by the admin API).
    pub certificates: HashMap<String, Arc<Certificate>>,
    /// `certificates` ready for the TLS handshake; built by
    /// [`StateBuilder::build`].
    pub tls: Arc<TlsIndex>,
    /// False only for the empty state a worker starts with before its first
    /// sync or snapshot: the proxy answers 503 rather than 404 then.
    pub loaded: bool,
    /// ETag of the leader export this state came from (workers), for the
    /// members view; empty on standalone and leader nodes.
    pub digest: String,
    /// What the data plane compiled from this state when it was published
    /// (the proxy's per-route runtimes), so that a request finds them
    /// through the snapshot it already holds; empty until published through
    /// a [`StateHandle`] with a [`Compiler`].
    pub compiled: Compiled,
}

/// A reader's own view of a state, compiled at publish time. Opaque here:
/// the model does not know the proxy's types.
#[derive(Clone, Default)]
pub struct Compiled(Option<Arc<dyn Any + Send + Sync>>);

impl Compiled {
    pub fn new(value: Arc<dyn Any + Send + Sync>) -> Self {
        Self(Some(value))
    }

    /// The compiled value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref()?.downcast_ref::<T>()
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Compiled(..)"
        } else {
            "Compiled(none)"
        })
    }
}

/// Compiles a state for a reader when it is published; `previous` is the
/// state in force until then (for what must carry over, such as balancer
/// positions).
pub trait Compiler: Send + Sync {
    fn compile(&self, state: &State, previous: &State) -> Compiled;
}

impl State {
    pub fn builder(revision: u64) -> StateBuilder {
        StateBuilder {
            state: State {
                revision,
                ..State::default()
            },
        }
    }

    pub fn apikey(&self, client_id: &str) -> Option<&Arc<ApiKey>> {
        self.apikeys.get(client_id)
    }
}

pub struct StateBuilder {
    state: State,
}

impl StateBuilder {
    /// Adds one stored entity. An entity that no longer decodes (written by a
    /// future version, say) is reported to the caller and left out, rather than
    /// taking the whole state down.
    pub fn add(&mut self, kind: Kind, bytes: &[u8]) -> Result<(), ValidationErrors> {
        // Straight from the bytes to the typed entity, without a
        // `serde_json::Value` in between.
        match kind {
            Kind::Route => self.state.routes.push(Arc::new(decode_slice(bytes)?)),
            Kind::ApiKey => {
                let key: ApiKey = decode_slice(bytes)?;
                self.state
                    .apikeys
                    .insert(key.client_id.clone(), Arc::new(key));
            }
            Kind::ServiceGroup => {
                let group: ServiceGroup = decode_slice(bytes)?;
                self.state.groups.insert(group.id.clone(), Arc::new(group));
            }
            Kind::GlobalConfig => self.state.global = Arc::new(decode_slice(bytes)?),
            Kind::Certificate => {
                let cert: Certificate = decode_slice(bytes)?;
                self.state
                    .certificates
                    .insert(cert.id.clone(), Arc::new(cert));
            }
        }
        Ok(())
    }

    /// Adds stored routes, `(id, bytes)`, decoded on every core when there
    /// are many (decoding is most of a 100 000-route build). Returns those
    /// that did not decode, with why; they are left out.
    pub fn add_routes(&mut self, raw: Vec<(String, Vec<u8>)>) -> Vec<(String, ValidationErrors)> {
        const PARALLEL_FROM: usize = 4096;
        let decode = |part: &[(String, Vec<u8>)]| {
            part.iter()
                .map(|(id, bytes)| (id, decode_slice::<Route>(bytes)))
                .map(|(id, decoded)| decoded.map(Arc::new).map_err(|e| (id.clone(), e)))
                .collect::<Vec<_>>()
        };
        let decoded: Vec<Result<Arc<Route>, (String, ValidationErrors)>> =
            if raw.len() < PARALLEL_FROM {
                decode(&raw)
            } else {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                let chunk = raw.len().div_ceil(threads);
                std::thread::scope(|scope| {
                    let parts: Vec<_> = raw
                        .chunks(chunk)
                        .map(|part| (part, scope.spawn(|| decode(part))))
                        .collect();
                    parts
                        .into_iter()
                        // A part whose thread failed is decoded again here.
                        .flat_map(|(part, handle)| handle.join().unwrap_or_else(|_| decode(part)))
                        .collect()
                })
            };
        let mut problems = Vec::new();
        for result in decoded {
            match result {
                Ok(route) => self.state.routes.push(route),
                Err(problem) => problems.push(problem),
            }
        }
        problems
    }

    pub fn build(mut self) -> State {
        self.state.routes.sort_by(|a, b| a.id.cmp(&b.id));
        self.state.router = Arc::new(RouteTable::build(&self.state.routes));
        let (tls, skipped) = TlsIndex::build(self.state.certificates.values().map(|c| c.as_ref()));
        for (id, reason) in skipped {
            tracing::warn!(certificate = %id, %reason, "certificate left out of TLS: it does not load");
        }
        self.state.tls = Arc::new(tls);
        self.state.loaded = true;
        self.state
    }
}

/// The node's current state: one `ArcSwap` that readers load without locks,
/// and a watch channel that wakes tasks (long-polls, waiting admin writes)
/// when a new revision is published.
pub struct StateHandle {
    current: ArcSwap<State>,
    published: watch::Sender<u64>,
    compiler: OnceLock<Arc<dyn Compiler>>,
}

impl StateHandle {
    pub fn new(initial: State) -> Self {
        let (published, _) = watch::channel(initial.revision);
        Self {
            current: ArcSwap::from_pointee(initial),
            published,
            compiler: OnceLock::new(),
        }
    }

    /// Sets the one compiler every later publish runs, and compiles the
    /// state in force with it. A second compiler is refused (`false`).
    pub fn set_compiler(&self, compiler: Arc<dyn Compiler>) -> bool {
        if self.compiler.set(compiler).is_err() {
            return false;
        }
        // The same revision, now compiled: nobody needs waking. `rcu`, so
        // that a publish racing with this one is never overwritten.
        if let Some(compiler) = self.compiler.get() {
            self.current.rcu(|current| {
                let mut state = State::clone(current);
                state.compiled = compiler.compile(&state, current);
                state
            });
        }
        true
    }

    /// The snapshot in force. Cheap; hold it for the length of one request.
    pub fn load(&self) -> Arc<State> {
        self.current.load_full()
    }

    /// Replaces the snapshot in one swap, then wakes subscribers.
    pub fn publish(&self, mut state: State) {
        let revision = state.revision;
        if let Some(compiler) = self.compiler.get() {
            let previous = self.current.load();
            state.compiled = compiler.compile(&state, &previous);
        }
        self.current.store(Arc::new(state));
        self.published.send_replace(revision);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_routes_decode_in_parallel_and_bad_ones_are_named() {
        let mut raw: Vec<(String, Vec<u8>)> = (0..5000)
            .map(|i| {
                let route = format!(
                    r#"{{"id":"r{i}","frontend":{{"domains":["r{i}.test"]}},"backend":{{"targets":[{{"hostname":"127.0.0.1","port":80}}]}}}}"#
                );
                (format!("r{i}"), route.into_bytes())
            })
            .collect();
        raw.insert(2600, ("bad".to_string(), b"{\"id\": 1}".to_vec()));
        let mut builder = State::builder(1);
        let problems = builder.add_routes(raw);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "bad");
        let state = builder.build();
        assert_eq!(state.routes.len(), 5000);
        assert!(
            state
                .router
                .find("r4999.test", "/", "GET", None, |_| None)
                .is_some()
        );
    }

    #[test]
    fn undecodable_entities_are_reported_with_their_path_and_left_out() {
        let mut builder = State::builder(1);
        let good = br#"{"id":"r1","frontend":{"domains":["a.oto.tools"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}}"#;
        assert!(builder.add(Kind::Route, good).is_ok());

        let wrong_type =
            br#"{"id":"r2","frontend":{"domains":"a.oto.tools"},"backend":{"targets":[]}}"#;
        let errors = builder.add(Kind::Route, wrong_type).unwrap_err();
        assert_eq!(errors.0[0].path, "frontend.domains", "{errors}");

        let bad_port =
            br#"{"id":"r3","frontend":{},"backend":{"targets":[{"hostname":"h","port":"x"}]}}"#;
        let errors = builder.add(Kind::Route, bad_port).unwrap_err();
        assert_eq!(errors.0[0].path, "backend.targets[0].port", "{errors}");

        for not_json in [&b"{\"id\":"[..], b"nope", b"{} {}"] {
            let errors = builder.add(Kind::Route, not_json).unwrap_err();
            assert_eq!(errors.0[0].path, "$", "{errors}");
        }

        let state = builder.build();
        assert_eq!(state.routes.len(), 1);
        assert_eq!(state.routes[0].id, "r1");
    }
}
