//! Home: live tiles of this node's traffic and, on a leader, a second row
//! for the cluster (as in Otoroshi's home page once a node leads a cluster):
//! cluster-wide requests/s, latency and data in/out, the members, and small
//! charts of the last minutes. The page script fills them from `/api/live`
//! (cluster-wide on a leader, with the history the charts draw) and the
//! cluster's live stream; the charts are inline SVG it draws itself.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::layout::Nav;
use crate::context::UiContext;
use crate::session::Signed;

/// What the charts draw: the `/api/live` history field and a label.
const CHARTS: [(&str, &str); 4] = [
    ("rate", "requests / s"),
    ("duration", "latency (mean)"),
    ("dataInRate", "data in / s"),
    ("dataOutRate", "data out / s"),
];

/// An empty chart the page script draws into: a line over an area, in a
/// 0..100 × 0..30 box stretched to the figure's width.
fn chart(field: &str, label: &str) -> Markup {
    html! {
        figure.chart data-chart=(field) {
            figcaption { (label) " · peak " span.chart-peak { "–" } }
            svg viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label=(format!("{label}, up to the last 10 minutes")) {
                polygon.chart-area points="" {}
                polyline.chart-line points="" {}
            }
        }
    }
}

fn tile(name: &str, label: &str) -> Markup {
    html! {
        div.tile data-tile=(name) {
            span.tile-value aria-live="off" { "–" }
            span.tile-label { (label) }
        }
    }
}

pub async fn page(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    let state = ctx.admin.state.load();
    let body = html! {
        h1 { "Home" }
        section aria-labelledby="node-tiles-title" {
            h2 #node-tiles-title { "This node, last 10 seconds" }
            div.tiles #node-tiles data-live="/api/live" {
                (tile("rps", "requests / s"))
                (tile("latency-p50", "latency p50"))
                (tile("latency-p99", "latency p99"))
                (tile("errors", "errors / s (5xx)"))
                (tile("data-in", "data in / s"))
                (tile("data-out", "data out / s"))
                (tile("connections", "open connections"))
            }
        }
        @if ctx.is_leader() {
            section aria-labelledby="cluster-tiles-title" {
                h2 #cluster-tiles-title { "Cluster " a.small href="/cluster" { "Cluster View →" } }
                div.tiles #cluster-tiles data-live="/api/cluster/live?every=2000" {
                    (tile("cluster-rps", "requests / s, whole cluster"))
                    (tile("cluster-latency", "latency (mean), whole cluster"))
                    (tile("cluster-data-in", "data in / s, whole cluster"))
                    (tile("cluster-data-out", "data out / s, whole cluster"))
                    (tile("workers-up", "workers up"))
                    (tile("workers-in-sync", "workers in sync"))
                    (tile("leaders", "leaders"))
                    (tile("state-version", "state revision"))
                    (tile("state-age", "state age"))
                }
                h3.small-title { "Whole cluster, up to the last 10 minutes (one point every 5 s)" }
                div.charts #cluster-charts {
                    @for (field, label) in CHARTS { (chart(field, label)) }
                }
            }
        }
        section aria-labelledby="entities-title" {
            h2 #entities-title { "Configuration" }
            ul.summary {
                li { a href="/routes" { strong { (state.routes.len()) } " routes" } }
                li { a href="/apikeys" { strong { (state.apikeys.len()) } " API keys" } }
                li { a href="/groups" { strong { (state.groups.len()) } " service groups" } }
                li { a href="/certificates" { strong { (state.certificates.len()) } " certificates" } }
                li { "state revision " strong #revision { (state.revision) } }
            }
        }
    };
    super::frame(&ctx, &signed, Nav::Home, "Home", body)
}
