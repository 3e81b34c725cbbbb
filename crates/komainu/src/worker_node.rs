//! A worker node: no datastore, state from the leaders. It starts with an
//! empty state (the proxy answers 503 until it has one) or, when every leader
//! is down, with its snapshot file; the admin host answers health and
//! metrics, and refuses admin calls with the leaders' URLs.

use std::collections::HashMap;
use std::sync::Arc;

use admin::{AdminError, HEALTH_PATH, NodeInfo};
use axum::Json;
use axum::Router;
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cluster::worker::{LeaderTlsFiles, Worker, WorkerSettings};
use config::Config;
use live::LiveStats;
use model::{State, StateHandle};
use proxy::metrics::Metrics;
use proxy::quota::QuotaTracker;
use serde_json::{Value, json};

use crate::plane::{Plane, PlaneKind, hostname};

#[derive(Clone)]
struct WorkerAdmin {
    state: Arc<StateHandle>,
    worker: Arc<Worker>,
    metrics: Arc<Metrics>,
    live: Arc<LiveStats>,
    leaders: Arc<Vec<String>>,
    name: String,
    info: Arc<NodeInfo>,
    metrics_access_key: Option<String>,
}

pub fn prepare(
    config: &Config,
    info: &NodeInfo,
    http_port: u16,
    quotas: &Arc<QuotaTracker>,
    metrics: &Arc<Metrics>,
    live: &Arc<LiveStats>,
) -> anyhow::Result<Plane> {
    let state = Arc::new(StateHandle::new(State::default()));
    let worker = Worker::new(
        worker_settings(config, info, http_port)?,
        state.clone(),
        quotas.clone(),
        live.clone(),
    );
    let mut notes = vec![format!(
        "cluster worker '{}' of leaders {}",
        info.name,
        config.cluster.leader.urls.join(", ")
    )];
    match worker.load_snapshot() {
        Some(age) => notes.push(format!(
            "serving from the snapshot file ({} s old) until a leader answers",
            age.as_secs()
        )),
        None => {
            notes.push("no usable snapshot: proxied calls get 503 until the first sync".to_string())
        }
    }
    worker.spawn();
    let admin = router(WorkerAdmin {
        state: state.clone(),
        worker: worker.clone(),
        metrics: metrics.clone(),
        live: live.clone(),
        leaders: Arc::new(config.cluster.leader.urls.clone()),
        name: info.name.clone(),
        info: Arc::new(info.clone()),
        metrics_access_key: config.metrics.access_key.clone(),
    });
    Ok(Plane {
        state,
        admin,
        ui: config
            .ui
            .enabled
            .then(|| ui::leaders_only(config.cluster.leader.urls.clone())),
        notes,
        kind: PlaneKind::Worker(worker),
    })
}

fn worker_settings(
    config: &Config,
    info: &NodeInfo,
    http_port: u16,
) -> anyhow::Result<WorkerSettings> {
    let cluster = &config.cluster;
    // Read now: a worker whose TLS files are wrong must not start.
    let files = LeaderTlsFiles {
        trusted_ca_path: cluster.mtls.trusted_ca_path.clone(),
        cert_path: cluster.mtls.cert_path.clone(),
        key_path: cluster.mtls.key_path.clone(),
    };
    let leader_tls = cluster::worker::leader_tls(&files, &cluster.leader.urls)
        .map_err(|e| anyhow::anyhow!("cannot reach the leaders over TLS: {e}"))?;
    Ok(WorkerSettings {
        id: model::id::generate("worker"),
        name: info.name.clone(),
        version: info.version,
        location: cluster.self_address.clone().unwrap_or_else(hostname),
        http_port,
        https_port: config.https.port,
        leader_urls: cluster.leader.urls.clone(),
        leader_host: cluster.leader.host.clone(),
        client_id: cluster.leader.client_id.clone().unwrap_or_default(),
        client_secret: cluster.leader.client_secret.clone().unwrap_or_default(),
        state_retries: cluster.worker.state.retries,
        state_timeout: cluster.worker.state.timeout,
        poll_every: cluster.worker.state.every,
        quota_retries: cluster.worker.quotas.retries,
        quota_timeout: cluster.worker.quotas.timeout,
        push_every: cluster.worker.quotas.every,
        retry_delay: cluster.retry_delay,
        retry_factor: cluster.retry_factor,
        dbpath: cluster.worker.dbpath.clone(),
        data_stale_after: cluster.worker.data_stale_after,
        leader_tls,
    })
}

fn router(admin: WorkerAdmin) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(health))
        .route(admin::METRICS_PATH, get(well_known_metrics))
        .route("/metrics", get(metrics))
        .route("/api/live", get(live_figures))
        .route("/apis/cluster/node/infos", get(node_infos))
        .route("/apis/cluster/node/version", get(node_version))
        .route("/apis/cluster/node/health", get(node_health))
        .route("/apis/cluster/node/metrics", get(node_metrics))
        .fallback(|AxumState(admin): AxumState<WorkerAdmin>| async move {
            AdminError::NotLeader(admin.leaders.to_vec())
        })
        .with_state(admin)
}

/// 503 while the worker has no state, so that a load balancer keeps traffic
/// away from it until it can route.
async fn health(AxumState(admin): AxumState<WorkerAdmin>) -> (StatusCode, Json<Value>) {
    let state = admin.state.load();
    let status = if state.loaded {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let sync = admin.worker.status();
    let source = sync
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("loading")
        .to_string();
    let loaded = if state.loaded { "loaded" } else { "loading" };
    let mut body = admin::health::document(admin::health::Parts {
        otoroshi: if state.loaded { "healthy" } else { "loading" },
        // The worker's datastore is its memory: always there.
        datastore_healthy: true,
        datastore_kind: "memory",
        proxy_ready: state.loaded,
        certificates: json!({"count": state.tls.len()}),
    });
    body["state"] = json!({"source": source, "revision": state.revision, "routes": state.routes.len(), "apikeys": state.apikeys.len(), "sync": sync});
    // Otoroshi's worker block, beside komainu's mode and name.
    body["cluster"] = json!({
        "mode": "worker", "name": admin.name,
        "status": "healthy",
        "worker": {"status": loaded, "initialized": state.loaded},
    });
    (status, Json(body))
}

/// `/.well-known/otoroshi/monitoring/metrics`: open unless
/// `metrics.accessKey` is set, then `?access_key=` or an admin key.
async fn well_known_metrics(
    AxumState(admin): AxumState<WorkerAdmin>,
    Query(params): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let expected = admin.metrics_access_key.as_deref();
    let state = admin.state.load();
    if let Err(e) = admin::metrics_json::check_access(expected, &params, &state, &headers, &method)
    {
        return e.into_response();
    }
    let prometheus =
        admin::metrics_json::wants_prometheus(params.get("format").map(String::as_str), &headers);
    admin::metrics_json::answer(admin.metrics.encode(), prometheus)
}

async fn metrics(
    AxumState(admin): AxumState<WorkerAdmin>,
    method: Method,
    headers: HeaderMap,
) -> Result<([(header::HeaderName, &'static str); 1], String), AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.metrics.encode(),
    ))
}

/// `GET /api/live`, as on leaders: the admin keys are the ones the leaders synced.
async fn live_figures(
    AxumState(admin): AxumState<WorkerAdmin>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    Ok(Json(admin::live::figures(
        &admin.live,
        &admin.name,
        "worker",
    )))
}

/// Otoroshi's node API on a worker: its own infos, version, health and
/// metrics, with an admin key synced from the leaders.
async fn node_infos(
    AxumState(admin): AxumState<WorkerAdmin>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    Ok(Json(admin::meta::infos_body(&admin.info, "memory")))
}

async fn node_version(
    AxumState(admin): AxumState<WorkerAdmin>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    Ok(Json(admin::meta::version_body(admin.info.version)))
}

async fn node_health(
    AxumState(admin): AxumState<WorkerAdmin>,
    method: Method,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    Ok(health(AxumState(admin)).await)
}

async fn node_metrics(
    AxumState(admin): AxumState<WorkerAdmin>,
    Query(params): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    admin::auth::authorize(&admin.state.load(), &headers, &method)?;
    let prometheus =
        admin::metrics_json::wants_prometheus(params.get("format").map(String::as_str), &headers);
    Ok(admin::metrics_json::answer(
        admin.metrics.encode(),
        prometheus,
    ))
}
