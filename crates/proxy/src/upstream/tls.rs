//! Pooled TLS clients to backends (`tls: true` targets), one per distinct
//! trust profile and connect timeout.
//!
//! A profile is what a connection may trust: the system roots plus the
//! chains of the target's `tls_config.trusted_certs`, or anything at all
//! with `trust_all`. Clients are kept by that content, so a new state whose
//! certificates did not change reuses the same pools. A request finds its
//! client through a memo (route id, then the target's `tls_config` as
//! written) valid for one state's certificate index: no chain is copied
//! and no config is built on the request path once a route has been used.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use model::route::Target;
use model::tls_index::TlsIndex;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::body::ProxyBody;
use transport::tls_client;

pub(super) type HttpsClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// Above this many distinct profiles (certificates rotated many times in
/// one process's life), the content cache starts over rather than grow.
const MAX_PROFILES: usize = 256;

/// What the proxy knows of a `tls: true` target when it calls it.
pub struct TlsTarget<'a> {
    pub route: &'a str,
    pub target: &'a Target,
    /// The certificate entities of the state the request runs on.
    pub certificates: &'a Arc<TlsIndex>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Profile {
    trust_all: bool,
    /// Trusted on top of the system roots.
    extra_roots: Vec<CertificateDer<'static>>,
    connect_timeout: Duration,
}

type MemoEntry = (Option<Value>, Duration, Arc<HttpsClient>);

#[derive(Default)]
struct Memo {
    /// The index the entries were resolved against.
    index: Option<Arc<TlsIndex>>,
    by_route: HashMap<String, Vec<MemoEntry>>,
}

pub(super) struct TlsClients {
    idle_timeout: Duration,
    memo: RwLock<Memo>,
    by_profile: Mutex<HashMap<Profile, Arc<HttpsClient>>>,
    /// Routes already reported for `trust_all`: said once, not per request.
    warned: Mutex<HashSet<String>>,
}

impl TlsClients {
    pub fn new(idle_timeout: Duration) -> TlsClients {
        TlsClients {
            idle_timeout,
            memo: RwLock::new(Memo::default()),
            by_profile: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Says, once per route and process, that a route's backend certificate
    /// is not verified (`tls_config.trust_all`): at start and when a state
    /// bringing such a route is published (`report_unverified`), and at the
    /// latest on first use.
    fn warn_unverified(&self, route: &str, target: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.insert(route.to_string()) {
            tracing::warn!(
                route,
                target,
                "tls_config.trust_all: the backend's certificate is NOT verified on this route"
            );
        }
    }

    /// Reports every route of a newly published state that opts out of
    /// backend certificate verification.
    pub fn report_unverified(&self, routes: &[Arc<model::route::Route>]) {
        for route in routes {
            for target in &route.backend.targets {
                if target.tls
                    && target
                        .tls_config()
                        .is_ok_and(|tls| tls.enabled && tls.trust_all)
                {
                    self.warn_unverified(&route.id, &target.id);
                }
            }
        }
    }

    /// The client for `target`; an error (sent back as a 502) when its
    /// `tls_config` cannot be honoured.
    pub fn client(
        &self,
        target: &TlsTarget<'_>,
        connect_timeout: Duration,
    ) -> Result<Arc<HttpsClient>, String> {
        let config = target.target.extra.get("tls_config");
        let find = |memo: &Memo| {
            if !memo
                .index
                .as_ref()
                .is_some_and(|i| Arc::ptr_eq(i, target.certificates))
            {
                return None;
            }
            memo.by_route
                .get(target.route)?
                .iter()
                .find(|(c, t, _)| c.as_ref() == config && *t == connect_timeout)
                .map(|(_, _, client)| client.clone())
        };
        if let Some(client) = find(&self.memo.read().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(client);
        }
        let profile = self.profile(target, connect_timeout)?;
        let client = self.by_profile(profile)?;
        let mut memo = self.memo.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find(&memo) {
            return Ok(found);
        }
        if !memo
            .index
            .as_ref()
            .is_some_and(|i| Arc::ptr_eq(i, target.certificates))
        {
            // A new state: resolve every route again, against its certificates.
            memo.index = Some(target.certificates.clone());
            memo.by_route.clear();
        }
        memo.by_route
            .entry(target.route.to_string())
            .or_default()
            .push((config.cloned(), connect_timeout, client.clone()));
        Ok(client)
    }

    fn profile(
        &self,
        target: &TlsTarget<'_>,
        connect_timeout: Duration,
    ) -> Result<Profile, String> {
        let tls = target
            .target
            .tls_config()
            .map_err(|(field, message)| format!("tls_config{field}: {message}"))?;
        // Otoroshi's rule: the settings of a disabled tls_config do not
        // apply, and the default (verify against the system roots) is the
        // stricter choice anyway.
        if tls.enabled && tls.trust_all {
            self.warn_unverified(target.route, &target.target.id);
            return Ok(Profile {
                trust_all: true,
                extra_roots: Vec::new(),
                connect_timeout,
            });
        }
        let mut extra_roots = Vec::new();
        if tls.enabled {
            for id in &tls.trusted_certs {
                match target.certificates.chain(id) {
                    Some(chain) => extra_roots.extend(chain),
                    None => tracing::warn!(
                        route = target.route,
                        certificate = %id,
                        "tls_config.trusted_certs names no loadable certificate entity: not trusted"
                    ),
                }
            }
        }
        Ok(Profile {
            trust_all: false,
            extra_roots,
            connect_timeout,
        })
    }

    fn by_profile(&self, profile: Profile) -> Result<Arc<HttpsClient>, String> {
        let mut clients = self
            .by_profile
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&profile) {
            return Ok(client.clone());
        }
        let client = Arc::new(self.build(&profile)?);
        if clients.len() >= MAX_PROFILES {
            clients.clear();
        }
        clients.insert(profile, client.clone());
        Ok(client)
    }

    fn build(&self, profile: &Profile) -> Result<HttpsClient, String> {
        let config = if profile.trust_all {
            tls_client::trust_all_config()?
        } else if profile.extra_roots.is_empty() {
            tls_client::builder_with_roots(tls_client::system_roots())?.with_no_client_auth()
        } else {
            let mut roots = (*tls_client::system_roots()).clone();
            for cert in &profile.extra_roots {
                if let Err(error) = roots.add(cert.clone()) {
                    tracing::warn!(%error, "a trusted certificate cannot be a root: ignored");
                }
            }
            tls_client::builder_with_roots(roots)?.with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(profile.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        // https_only: a `tls: true` target is never called in clear. The
        // server name checked (and sent as SNI) is the target's hostname.
        // HTTP/1.1 only (upgrades included), so no ALPN is offered; the
        // config's ALPN must be left empty for hyper-rustls.
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.idle_timeout)
            .pool_max_idle_per_host(1024)
            .build(connector))
    }
}
