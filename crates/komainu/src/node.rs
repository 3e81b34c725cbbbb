//! Wires a node for its configuration: datastore, admin key bootstrap, state
//! snapshot, listener. Everything that can fail does so before the port is
//! bound, with a message that names the cause.

use std::net::SocketAddr;
use std::sync::Arc;

use admin::bootstrap::{Bootstrap, ensure_admin_key};
use admin::publisher::build_state;
use admin::{AdminContext, NodeInfo};
use anyhow::{Context, bail};
use config::{ClusterMode, Config, Storage};
use model::StateHandle;
use store::{EmbeddedStore, MemoryStore, Store};
use tokio::net::TcpListener;

use proxy::metrics::Metrics;
use proxy::quota::QuotaTracker;
use proxy::{Proxy, ProxySettings};

use crate::quota_sync;
use crate::server::{Dispatch, Limits, serve};

pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.cluster.mode == ClusterMode::Worker {
        bail!(
            "cluster.mode = worker is not available in this version yet (accepted now: off, leader)"
        );
    }
    let store = open_store(&config)?;
    let (client_id, client_secret) = admin_key_from_config(&config);
    let bootstrap = ensure_admin_key(&store, client_id, client_secret)
        .await
        .context("creating the admin API key")?;
    let state = Arc::new(StateHandle::new(
        build_state(store.as_ref())
            .await
            .context("loading the state")?,
    ));
    let info = NodeInfo {
        name: node_name(&config),
        version: env!("CARGO_PKG_VERSION"),
        mode: mode_name(config.cluster.mode),
        started_at_ms: now_ms(),
    };
    let metrics = Arc::new(Metrics::new());
    let quotas = Arc::new(QuotaTracker::new(config.proxy.throttling_window));
    let loaded = quota_sync::load(store.as_ref(), &quotas)
        .await
        .context("loading quota counters")?;
    tracing::debug!(counters = loaded, "quota counters loaded");
    let proxy = Arc::new(Proxy::new(
        state.clone(),
        quotas.clone(),
        metrics.clone(),
        proxy_settings(&config),
    ));
    let metrics_text = {
        let metrics = metrics.clone();
        Arc::new(move || metrics.encode())
    };
    let ctx = AdminContext::new(
        store.clone(),
        state.clone(),
        info.clone(),
        config.admin.max_body_size,
    )
    .with_metrics(metrics_text);
    spawn_change_watcher(&ctx, proxy.clone());
    quota_sync::spawn(
        store.clone(),
        quotas.clone(),
        config.proxy.quota_flush_every,
    );
    if let Some(port) = config.metrics.port {
        crate::metrics_port::spawn(&config.http.address, port, metrics.clone()).await?;
    }

    let address = format!("{}:{}", config.http.address, config.http.port);
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("binding http.address:http.port = {address}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    announce(&config, &info, store.backend(), local, &bootstrap);

    let dispatch = Dispatch {
        admin_host: config.admin.host.as_str().into(),
        admin: admin::router(ctx),
        proxy,
    };
    let limits = Limits {
        header_read_timeout: config.proxy.header_read_timeout,
        max_header_size: config.proxy.max_header_size,
    };
    serve(
        listener,
        dispatch,
        limits,
        crate::shutdown::signal(),
        config.http.shutdown_timeout,
    )
    .await;
    // Counts taken since the last flush would be lost otherwise.
    quota_sync::flush(store.as_ref(), &quotas).await;
    tracing::info!("stopped");
    Ok(())
}

fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match config.app.storage {
        Storage::Embedded => {
            let store = EmbeddedStore::open(&config.app.data_dir).with_context(|| {
                format!(
                    "opening the embedded datastore in app.filedb.path = {}",
                    config.app.data_dir.display()
                )
            })?;
            Ok(Arc::new(store))
        }
        Storage::InMemory => Ok(Arc::new(MemoryStore::new())),
        Storage::Redis | Storage::Postgresql => {
            bail!(
                "app.storage = {:?} is not available in this version yet (accepted now: embedded, inmemory)",
                config.app.storage
            )
        }
    }
}

/// `admin.clientId/Secret` first, else the cluster's leader key, so that one
/// shared cluster config bootstraps every node with the same key.
fn admin_key_from_config(config: &Config) -> (Option<String>, Option<String>) {
    match (&config.admin.client_id, &config.admin.client_secret) {
        (None, None) => (
            config.cluster.leader.client_id.clone(),
            config.cluster.leader.client_secret.clone(),
        ),
        (id, secret) => (id.clone(), secret.clone()),
    }
}

fn node_name(config: &Config) -> String {
    let configured = match config.cluster.mode {
        ClusterMode::Worker => config.cluster.worker.name.clone(),
        _ => config.cluster.leader.name.clone(),
    };
    configured.unwrap_or_else(|| format!("komainu-{}", model::id::random_token(8)))
}

fn mode_name(mode: ClusterMode) -> &'static str {
    match mode {
        ClusterMode::Off => "off",
        ClusterMode::Leader => "leader",
        ClusterMode::Worker => "worker",
    }
}

fn proxy_settings(config: &Config) -> ProxySettings {
    ProxySettings {
        connect_timeout: config.proxy.connect_timeout,
        upstream_timeout: config.proxy.upstream_timeout,
        idle_timeout: config.proxy.idle_timeout,
        access_log: config.proxy.access_log,
    }
}

/// Republishes the state when the store changes from elsewhere (admin writes
/// publish on their own), and lets the proxy drop what deleted routes held.
fn spawn_change_watcher(ctx: &AdminContext, proxy: Arc<Proxy>) {
    let publisher = ctx.publisher.clone();
    let mut changes = ctx.store.changes();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let revision = *changes.borrow_and_update();
            if let Err(e) = publisher.publish_up_to(revision).await {
                tracing::warn!(error = %e, "could not rebuild the state after a datastore change");
            }
        }
    });
    let mut published = ctx.state.subscribe();
    tokio::spawn(async move {
        while published.changed().await.is_ok() {
            proxy.prune();
        }
    });
}

/// What a person starting the node needs: where it listens, which host the
/// admin API answers on, and which key to use. The stable `listening on` line
/// is also what tests wait for.
fn announce(
    config: &Config,
    info: &NodeInfo,
    backend: &str,
    local: SocketAddr,
    bootstrap: &Bootstrap,
) {
    tracing::info!(name = %info.name, mode = info.mode, datastore = backend, address = %local, "komainu node started");
    let host = &config.admin.host;
    let port = local.port();
    match bootstrap {
        Bootstrap::Created {
            client_id,
            generated_secret: Some(secret),
        } => {
            tracing::warn!(client_id = %client_id, client_secret = %secret, "created an admin API key with a random secret; it is shown only this once, keep it");
            println!("admin API key created: {client_id}:{secret} (shown once, keep it)");
        }
        Bootstrap::Created {
            client_id,
            generated_secret: None,
        } => {
            println!(
                "admin API key created from the configuration: {client_id} (secret as configured)"
            );
        }
        Bootstrap::Existing => println!("admin API key: the one already in the datastore"),
    }
    println!(
        "admin API: http://{host}:{port}/api (or: curl -H 'Host: {host}' -u CLIENT_ID:CLIENT_SECRET http://127.0.0.1:{port}/api/routes)"
    );
    println!("komainu listening on http://{local}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
