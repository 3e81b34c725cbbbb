//! `metrics.port`: Prometheus on a port of its own, without credentials, for
//! scrapers that should not hold an admin key (bind it to an internal
//! interface). The admin host serves the same text at `/metrics` with an
//! admin key.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use proxy::metrics::Metrics;
use tokio::net::TcpListener;

pub async fn spawn(address: &str, port: u16, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let bind = format!("{address}:{port}");
    let listener = TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding metrics.port = {bind}"))?;
    let local = listener
        .local_addr()
        .context("reading the metrics address")?;
    let app = Router::new().route("/metrics", get(move || async move { metrics.encode() }));
    println!("komainu metrics on http://{local}/metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    Ok(())
}
