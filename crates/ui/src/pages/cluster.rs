//! Cluster View (Settings / Cluster View in Otoroshi): every member with its
//! health colour, the state it runs and its load, kept up to date by the
//! leader's live stream; members past their timeout drop out of the stream
//! and so off the table. Above it, the datastore this node is connected to
//! and since when.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};
use store::DatastoreConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
        (datastore(&ctx.admin.store.connection()))
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

/// Which datastore server this node reads and writes, and since when (read
/// from memory when the page is drawn; reload to see a reconnection).
fn datastore(connection: &DatastoreConnection) -> Markup {
    html! {
        section #datastore aria-labelledby="datastore-title" {
            h2 #datastore-title { "Datastore" }
            dl.facts {
                dt { "Kind" } dd data-field="kind" { (connection.kind) }
                dt { "Endpoint" } dd data-field="endpoint" { code { (connection.endpoint) } }
                @if let Some(via) = &connection.via {
                    dt { "Found through" } dd data-field="via" { (via) }
                }
                dt { "TLS" } dd data-field="tls" { (if connection.tls { "yes" } else { "no" }) }
                dt { "Connected since" }
                dd data-field="connected-since" {
                    @match connection.connected_since_ms.and_then(utc) {
                        Some(since) => time datetime=(since) { (since) },
                        None => strong { "not connected" },
                    }
                }
            }
        }
    }
}

/// RFC 3339 in UTC, e.g. `2026-12-07T09:10:00.123Z`.
fn utc(ms: u64) -> Option<String> {
    let nanos = i128::from(ms).checked_mul(1_000_000)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&Rfc3339)
        .ok()
}
