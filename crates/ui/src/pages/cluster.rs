//! Cluster View (Settings / Cluster View in Otoroshi): every member with its
//! health colour, the state it runs and its load, kept up to date by the
//! leader's live stream; members past their timeout drop out of the stream
//! and so off the table.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::layout::Nav;
use crate::context::UiContext;
use crate::session::Signed;

const COLUMNS: [&str; 11] = [
    "Name",
    "Type",
    "Location",
    "Version",
    "Last seen",
    "Health",
    "State",
    "Requests / s",
    "Latency p50 / p99",
    "CPU",
    "Memory",
];

pub async fn page(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    let body = html! {
        h1 { "Cluster View" }
        @if ctx.is_leader() {
            p.muted {
                "Every leader and worker heard from. Health follows Otoroshi's rule: green while the last contact is under half the member timeout, orange under three quarters, red after; a member past the timeout leaves the list. "
                "State: whether the member runs the leader's current state."
            }
            p #cluster-status .muted role="status" { "Connecting to the live stream…" }
            div.table-wrap {
                table #members-table .entities data-live="/api/cluster/live?every=500" {
                    thead { tr { @for c in COLUMNS { th { (c) } } } }
                    tbody {}
                }
            }
            div.empty #members-empty hidden {
                p { "No worker has contacted this leader yet. Start one with "
                    code { "-Dcluster.mode=worker -Dcluster.leader.urls.0=http://<this leader>" } "." }
            }
        } @else {
            div.empty #members-empty {
                p { "This node runs standalone (" code { "cluster.mode = off" } "): there is no cluster to show." }
                p { "Start it with " code { "-Dcluster.mode=leader" } " and point workers at it to see them here." }
            }
        }
    };
    super::frame(&ctx, &signed, Nav::Cluster, "Cluster View", body)
}
