//! A node whose state comes from a datastore: standalone (`cluster.mode =
//! off`) or leader. It opens the store, bootstraps the admin key, builds the
//! state, serves the admin API (and, as a leader, the cluster endpoints), and
//! syncs quota counts with the store.

use std::sync::Arc;

use admin::bootstrap::{Bootstrap, ensure_admin_key};
use admin::publisher::build_state;
use admin::{AdminContext, NodeInfo, ensure_admin_certificate};
use anyhow::Context;
use cluster::leader::{Leader, LeaderSettings};
use config::{ClusterMode, Config, Storage};
use live::LiveStats;
use model::StateHandle;
use proxy::metrics::Metrics;
use proxy::quota::QuotaTracker;
use store::{EmbeddedStore, MemoryStore, PostgresStore, RedisStore, RemoteSettings, Store};

use crate::plane::{Plane, PlaneKind, StoreNode, hostname};
use crate::quota_sync;

/// Floor of the fallback revision poll: cacheStateFor may be 0.
const MIN_REVISION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn prepare(
    config: &Config,
    info: &NodeInfo,
    http_port: u16,
    quotas: &Arc<QuotaTracker>,
    metrics: &Arc<Metrics>,
    live: &Arc<LiveStats>,
) -> anyhow::Result<Plane> {
    let store = open_store(config).await?;
    metrics.report_datastore(datastore_source(&store));
    let (client_id, client_secret) = admin_key_from_config(config);
    let bootstrap = ensure_admin_key(&store, client_id, client_secret)
        .await
        .context("creating the admin API key")?;
    // So that HTTPS on the admin host works from the first start.
    if ensure_admin_certificate(&store, &config.admin.host)
        .await
        .context("creating the admin host certificate")?
    {
        tracing::info!(host = %config.admin.host, "generated a self-signed certificate for the admin host");
    }
    let state = Arc::new(StateHandle::new(
        build_state(store.as_ref())
            .await
            .context("loading the state")?,
    ));
    let loaded = quota_sync::load(store.as_ref(), quotas)
        .await
        .context("loading quota counters")?;
    tracing::debug!(counters = loaded, "quota counters loaded");
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
    .with_metrics(metrics_text)
    .with_quotas(quotas.clone())
    .with_live(live.clone())
    .with_metrics_access_key(config.metrics.access_key.clone());
    spawn_change_watcher(&ctx);
    let flusher = Arc::new(quota_sync::Flusher::new());
    quota_sync::spawn(
        store.clone(),
        quotas.clone(),
        flusher.clone(),
        config.proxy.quota_flush_every,
    );

    let leader = (config.cluster.mode == ClusterMode::Leader).then(|| {
        Leader::new(
            store.clone(),
            leader_settings(config, info, http_port),
            live.clone(),
            api_keys(state.clone()),
            metrics.cluster_refused_quota_increments.clone(),
        )
    });
    // A leader's /api/live and health speak for its whole cluster.
    let ctx = match &leader {
        Some(leader) => ctx.with_cluster(leader.clone()),
        None => ctx,
    };
    let admin = if let Some(leader) = &leader {
        admin::router_with(
            ctx.clone(),
            leader.router().merge(ui::admin_users::router(ctx.clone())),
        )
    } else {
        admin::router_with(ctx.clone(), ui::admin_users::router(ctx.clone()))
    };
    let mut notes = bootstrap_notes(&bootstrap);
    let ui = if config.ui.enabled {
        let (router, ui_notes) = ui_router(config, ctx, admin.clone(), http_port).await?;
        notes.extend(ui_notes);
        Some(router)
    } else {
        None
    };
    notes.push(format!("datastore: {}", store.backend()));
    let host = &config.admin.host;
    notes.push(format!(
        "admin API: http://{host}:{http_port}/api (or: curl -H 'Host: {host}' -u CLIENT_ID:CLIENT_SECRET http://127.0.0.1:{http_port}/api/routes)"
    ));
    Ok(Plane {
        state,
        admin,
        ui,
        notes,
        kind: PlaneKind::Store(StoreNode::new(store, flusher)),
    })
}

/// What the datastore gauges read at each scrape.
fn datastore_source(store: &Arc<dyn Store>) -> proxy::metrics::DatastoreSource {
    let store = Arc::clone(store);
    Arc::new(move || {
        let connection = store.connection();
        proxy::metrics::DatastoreLink {
            kind: connection.kind,
            endpoint: connection.endpoint,
            tls: connection.tls,
            connected_since_ms: connection.connected_since_ms,
        }
    })
}

/// Quota pushes are checked against the keys of the state in force.
fn api_keys(state: Arc<StateHandle>) -> cluster::leader::ApiKeys {
    Arc::new(move |client_id: &str| state.load().apikey(client_id).cloned())
}

/// The admin UI on `ui.host`, with its first admin user when there is none.
async fn ui_router(
    config: &Config,
    ctx: AdminContext,
    api: axum::Router,
    http_port: u16,
) -> anyhow::Result<(axum::Router, Vec<String>)> {
    let store = ctx.store.clone();
    let ui = &config.ui;
    // So that the UI works over HTTPS from the first start too.
    if admin::ensure_ui_certificate(&store, &ui.host)
        .await
        .context("creating the admin UI host certificate")?
    {
        tracing::info!(host = %ui.host, "generated a self-signed certificate for the admin UI host");
    }
    let bootstrap = ui::ensure_admin_user(
        store.as_ref(),
        &ui.initial_login,
        ui.initial_password.as_deref(),
    )
    .await
    .context("creating the first admin user")?;
    let key = ui::signing_key(store.as_ref())
        .await
        .context("loading the UI session key")?;
    let settings = ui::UiSettings {
        host: ui.host.clone(),
        admin_host: config.admin.host.clone(),
        secure_cookies: ui.secure_cookies,
        session_max_age: ui.session_max_age,
    };
    let mut notes = match bootstrap {
        ui::UserBootstrap::Created {
            username,
            generated_password: Some(password),
        } => {
            tracing::info!(user = %username, "created an admin user with a random password, printed once on stdout");
            vec![format!(
                "admin user created: {username} / {password} (shown once, keep it)"
            )]
        }
        ui::UserBootstrap::Created { username, .. } => vec![format!(
            "admin user created from the configuration: {username} (password as configured)"
        )],
        ui::UserBootstrap::Existing => Vec::new(),
    };
    notes.push(format!(
        "admin UI: http://{}:{http_port}/ (sign in with an admin user or an admin API key)",
        ui.host
    ));
    Ok((
        ui::router(ui::UiContext::new(ctx, api, settings, key)),
        notes,
    ))
}

fn leader_settings(config: &Config, info: &NodeInfo, http_port: u16) -> LeaderSettings {
    let worker = &config.cluster.worker;
    LeaderSettings {
        name: info.name.clone(),
        version: info.version,
        compression: config.cluster.compression,
        cache_state_for: config.cluster.leader.cache_state_for,
        grouping_by: config.cluster.leader.grouping_by,
        state_dump_path: config.cluster.leader.state_dump_path.clone(),
        // Otoroshi's rule: why every node must share the cluster config.
        member_timeout: worker.state.every * worker.retries.max(1),
        http_port,
        https_port: config.https.port,
        location: config.cluster.self_address.clone().unwrap_or_else(hostname),
    }
}

/// Opens the datastore `app.storage` names. Shared servers (Redis,
/// PostgreSQL) must answer at start: a node that cannot read its state has
/// nothing to serve, and saying so at once beats serving an empty gateway.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
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
        Storage::Redis => {
            let url = &config.app.redis_url;
            let store = RedisStore::connect(remote_settings(config, url))
                .await
                .with_context(|| match &config.app.redis_topology {
                    config::RedisTopology::Standalone => format!(
                        "connecting to Redis at app.redis.url = {}",
                        config::mask_password(url)
                    ),
                    config::RedisTopology::Sentinel { .. } => {
                        "connecting to Redis through app.redis.sentinels.*".to_owned()
                    }
                    config::RedisTopology::Cluster { .. } => {
                        "connecting to Redis Cluster at app.redis.cluster.members".to_owned()
                    }
                })?;
            Ok(Arc::new(store))
        }
        Storage::Postgresql => {
            let uri = &config.app.pg_uri;
            let store = PostgresStore::connect(remote_settings(config, uri))
                .await
                .with_context(|| {
                    format!(
                        "connecting to PostgreSQL at app.pg.uri = {}",
                        config::mask_password(uri)
                    )
                })?;
            Ok(Arc::new(store))
        }
    }
}

fn remote_settings(config: &Config, url: &str) -> RemoteSettings {
    let mut settings = RemoteSettings::new(url, config.app.storage_root.clone());
    settings.pool_size = config.app.pg_pool_size;
    let tls = &config.app.redis_tls;
    settings.tls = store::TlsFiles {
        ca_file: tls.ca_file.clone(),
        cert_file: tls.cert_file.clone(),
        key_file: tls.key_file.clone(),
    };
    settings.redis = match &config.app.redis_topology {
        config::RedisTopology::Standalone => store::RedisTopology::Standalone,
        config::RedisTopology::Sentinel {
            master,
            members,
            password,
        } => store::RedisTopology::Sentinel {
            master: master.clone(),
            members: members.clone(),
            password: password.clone(),
        },
        config::RedisTopology::Cluster { members } => store::RedisTopology::Cluster {
            members: members.clone(),
        },
    };
    // Change notifications can be lost with a dropped connection: re-reading
    // the revision every cacheStateFor bounds how long a missed write hides.
    settings.revision_poll = config.cluster.leader.cache_state_for.max(MIN_REVISION_POLL);
    settings
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

/// Republishes the state when the store changes from elsewhere (admin writes
/// publish on their own).
fn spawn_change_watcher(ctx: &AdminContext) {
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
}

fn bootstrap_notes(bootstrap: &Bootstrap) -> Vec<String> {
    match bootstrap {
        Bootstrap::Created {
            client_id,
            generated_secret: Some(secret),
        } => {
            // The secret goes to the terminal only, never into log pipelines.
            tracing::warn!(client_id = %client_id, "created an admin API key with a random secret, printed once on stdout");
            vec![format!(
                "admin API key created: {client_id}:{secret} (shown once, keep it)"
            )]
        }
        Bootstrap::Created {
            client_id,
            generated_secret: None,
        } => {
            vec![format!(
                "admin API key created from the configuration: {client_id} (secret as configured)"
            )]
        }
        Bootstrap::Existing => vec!["admin API key: the one already in the datastore".to_string()],
    }
}
