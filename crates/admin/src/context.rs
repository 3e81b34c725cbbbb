use std::sync::Arc;

use live::LiveStats;
use live::cluster::ClusterView;
use model::StateHandle;
use proxy::quota::QuotaTracker;
use store::Store;

use crate::publisher::Publisher;

/// What a node tells the admin API about itself (`/api/infos`, health).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub version: &'static str,
    /// "off", "leader" or "worker".
    pub mode: &'static str,
    pub started_at_ms: u64,
}

/// Renders the node's Prometheus metrics; the data plane owns them.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything an admin handler may touch. Cloned per request (all `Arc`s).
#[derive(Clone)]
pub struct AdminContext {
    pub store: Arc<dyn Store>,
    pub state: Arc<StateHandle>,
    pub publisher: Arc<Publisher>,
    pub info: Arc<NodeInfo>,
    pub max_body_size: usize,
    pub metrics: MetricsText,
    /// This node's quota counters (the quotas endpoints); none: the store's
    /// totals alone.
    pub quotas: Option<Arc<QuotaTracker>>,
    /// This node's live traffic figures (`/api/live`).
    pub live: Option<Arc<LiveStats>>,
    /// On a leader, its cluster: `/api/live` is then cluster-wide and
    /// health says how the members are.
    pub cluster: Option<Arc<dyn ClusterView>>,
    /// `metrics.accessKey`: when set, the keyless metrics path wants it as
    /// `?access_key=` (or an admin key); unset, that path is open, as in Otoroshi.
    pub metrics_access_key: Option<Arc<str>>,
}

impl AdminContext {
    pub fn new(
        store: Arc<dyn Store>,
        state: Arc<StateHandle>,
        info: NodeInfo,
        max_body_size: usize,
    ) -> Self {
        let publisher = Arc::new(Publisher::new(store.clone(), state.clone()));
        Self {
            store,
            state,
            publisher,
            info: Arc::new(info),
            max_body_size,
            metrics: Arc::new(String::new),
            quotas: None,
            live: None,
            cluster: None,
            metrics_access_key: None,
        }
    }

    pub fn with_metrics(mut self, metrics: MetricsText) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_quotas(mut self, quotas: Arc<QuotaTracker>) -> Self {
        self.quotas = Some(quotas);
        self
    }

    pub fn with_live(mut self, live: Arc<LiveStats>) -> Self {
        self.live = Some(live);
        self
    }

    pub fn with_cluster(mut self, cluster: Arc<dyn ClusterView>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    pub fn with_metrics_access_key(mut self, key: Option<String>) -> Self {
        self.metrics_access_key = key.map(Arc::from);
        self
    }
}
