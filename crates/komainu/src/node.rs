//! Wires a node for its configuration. Both kinds of node share the data
//! plane (proxy, quotas, metrics, listener); they differ in where their state
//! comes from: a datastore (standalone and leader, `store_node`) or the
//! leaders (worker, `worker_node`). A bad configuration never gets here
//! (main stops on it before anything is bound); what fails here names its cause.

use std::sync::Arc;

use admin::NodeInfo;
use anyhow::Context;
use config::{ClientAuth, ClusterMode, Config};
use live::LiveStats;
use model::StateHandle;
use proxy::metrics::Metrics;
use proxy::quota::QuotaTracker;
use proxy::{Proxy, ProxySettings};
use tokio::net::TcpListener;

use crate::server::{Dispatch, Limits, Listeners, serve};
use crate::tls::Tls;
use crate::{store_node, worker_node};

pub async fn run(config: Config) -> anyhow::Result<()> {
    let info = NodeInfo {
        name: node_name(&config),
        version: env!("CARGO_PKG_VERSION"),
        mode: mode_name(config.cluster.mode),
        started_at_ms: now_ms(),
    };
    let metrics = Arc::new(Metrics::new());
    let quotas = Arc::new(QuotaTracker::new(config.proxy.throttling_window));
    // One sampler per node: the UI tiles, a worker's globstats and a
    // leader's own member record all read it.
    let live = LiveStats::spawn(metrics.clone());
    let client_auth = crate::tls::client_auth(&config.https)?;
    let address = format!("{}:{}", config.http.address, config.http.port);
    // Bound before the plane starts so that a worker can tell its leaders its real port.
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("binding http.address:http.port = {address}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let https_address = format!("{}:{}", config.https.address, config.https.port);
    let https_listener = TcpListener::bind(&https_address)
        .await
        .with_context(|| format!("binding https.address:https.port = {https_address}"))?;
    let https_local = https_listener
        .local_addr()
        .context("reading the bound HTTPS address")?;
    let plane = match config.cluster.mode {
        ClusterMode::Worker => {
            worker_node::prepare(&config, &info, local.port(), &quotas, &metrics, &live)?
        }
        ClusterMode::Off | ClusterMode::Leader => {
            store_node::prepare(&config, &info, local.port(), &quotas, &metrics, &live).await?
        }
    };
    let proxy = Arc::new(Proxy::new(
        plane.state.clone(),
        quotas.clone(),
        metrics.clone(),
        proxy_settings(&config, https_local.port()),
    ));
    // Certificates come from the state, read at each handshake: the
    // listener never needs rebuilding when they change.
    let tls = Tls::new(
        &config.https,
        client_auth,
        plane.state.clone(),
        &config.admin.host,
    )?;
    spawn_publish_watcher(&plane.state, proxy.clone());
    if let Some(port) = config.metrics.port {
        crate::metrics_port::spawn(&config.http.address, port, metrics.clone()).await?;
    }

    tracing::info!(name = %info.name, mode = info.mode, address = %local, "komainu node started");
    for note in &plane.notes {
        println!("{note}");
    }
    // The HTTPS line first: the HTTP line is the "ready" line scripts wait for.
    println!("komainu listening on https://{https_local}");
    println!("komainu listening on http://{local}");

    let dispatch = Dispatch {
        admin_host: config.admin.host.as_str().into(),
        admin: plane.admin.clone(),
        ui: plane
            .ui
            .clone()
            .map(|router| (config.ui.host.as_str().into(), router)),
        proxy,
        cluster_requires_client_certificate: config.https.client_auth != ClientAuth::None,
    };
    let limits = Limits {
        header_read_timeout: config.proxy.header_read_timeout,
        max_header_size: config.proxy.max_header_size,
        idle_timeout: config.proxy.idle_timeout,
        max_connections: config.proxy.max_connections,
        max_connections_per_client: config.proxy.max_connections_per_client,
    };
    let listeners = Listeners {
        http: listener,
        https: https_listener,
        tls,
    };
    serve(
        listeners,
        dispatch,
        limits,
        crate::shutdown::signal(),
        config.http.shutdown_timeout,
    )
    .await;
    plane.kind.shutdown(&quotas).await;
    tracing::info!("stopped");
    Ok(())
}

/// Lets the proxy report what a new state changes (routes that skip
/// backend certificate checks), after each publish.
fn spawn_publish_watcher(state: &StateHandle, proxy: Arc<Proxy>) {
    let mut published = state.subscribe();
    tokio::spawn(async move {
        proxy.after_publish();
        while published.changed().await.is_ok() {
            proxy.after_publish();
        }
    });
}

fn node_name(config: &Config) -> String {
    let configured = match config.cluster.mode {
        ClusterMode::Worker => config.cluster.worker.name.clone(),
        _ => config.cluster.leader.name.clone(),
    };
    configured.unwrap_or_else(|| format!("komainu-{}", model::id::random_token(8)))
}

pub fn mode_name(mode: ClusterMode) -> &'static str {
    match mode {
        ClusterMode::Off => "off",
        ClusterMode::Leader => "leader",
        ClusterMode::Worker => "worker",
    }
}

fn proxy_settings(config: &Config, https_port: u16) -> ProxySettings {
    ProxySettings {
        https_port,
        connect_timeout: config.proxy.connect_timeout,
        upstream_timeout: config.proxy.upstream_timeout,
        idle_timeout: config.proxy.idle_timeout,
        access_log: config.proxy.access_log,
        trusted_proxies: proxy::TrustedProxies::new(config.proxy.trusted_proxies.clone()),
    }
}

pub use model::clock::now_ms;
