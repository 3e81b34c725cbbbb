//! Home: live tiles of this node's traffic and, on a leader, a second row
//! for the cluster (as in Otoroshi's home page once a node leads a cluster).
//! The page script fills them from `/api/live` and the cluster's live stream.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::layout::Nav;
use crate::context::UiContext;
use crate::session::Signed;

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
                    (tile("workers-up", "workers up"))
                    (tile("workers-in-sync", "workers in sync"))
                    (tile("leaders", "leaders"))
                    (tile("state-version", "state revision"))
                    (tile("state-age", "state age"))
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
