//! The datastore gauges: which server a leader (or standalone node) uses
//! and since when. Read from the store at each scrape rather than pushed,
//! so a reconnection or a move to another server shows at the next one
//! with nothing to keep in step.

use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

/// What the gauges need to know of the store's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreLink {
    /// "redis", "postgresql", "embedded", "inmemory".
    pub kind: &'static str,
    /// `host:port`, `host:port/database` or a file path; never a password.
    pub endpoint: String,
    pub tls: bool,
    /// ms since the Unix epoch; `None` while the server cannot be reached.
    pub connected_since_ms: Option<u64>,
}

/// Asked at every scrape; answers from memory (no datastore round trip).
pub type DatastoreSource = Arc<dyn Fn() -> DatastoreLink + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    kind: &'static str,
    endpoint: String,
    tls: &'static str,
}

/// Registered once with the registry; silent until a store node sets its
/// source (a worker has no datastore of its own).
#[derive(Default)]
pub(super) struct DatastoreGauges {
    source: OnceLock<DatastoreSource>,
}

impl DatastoreGauges {
    /// First call wins: a node opens one store for its lifetime.
    pub(super) fn set_source(&self, source: DatastoreSource) {
        let _ = self.source.set(source);
    }
}

impl fmt::Debug for DatastoreGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatastoreGauges")
            .field("source", &self.source.get().map(|_| "set"))
            .finish()
    }
}

impl Collector for DatastoreGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        let link = source();
        let labels = Labels {
            kind: link.kind,
            endpoint: link.endpoint,
            tls: if link.tls { "true" } else { "false" },
        };
        let connected = ConstGauge::new(i64::from(link.connected_since_ms.is_some()));
        let mut family = encoder.encode_descriptor(
            "datastore_connected",
            "1 while the datastore server answers, 0 while it cannot be reached",
            None,
            connected.metric_type(),
        )?;
        connected.encode(family.encode_family(&labels)?)?;
        // Absent while disconnected: there is no current connection to date.
        if let Some(since_ms) = link.connected_since_ms {
            #[allow(clippy::cast_precision_loss)] // ms since 1970 fit f64 exactly
            let since = ConstGauge::new(since_ms as f64 / 1000.0);
            let mut family = encoder.encode_descriptor(
                "datastore_connected_since_seconds",
                "When the current datastore connection was established (Unix time)",
                None,
                since.metric_type(),
            )?;
            since.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
