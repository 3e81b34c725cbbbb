//! Certificates: what each one covers and until when. Private keys never
//! reach the page (the state has them; this page renders only public parts).

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};

use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::session::Signed;

/// `YYYY-MM-DD` of a time in ms since the epoch (UTC).
pub fn date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m, d) = proxy::quota::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

pub async fn list(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Markup {
    let state = ctx.admin.state.load();
    let now = crate::now_ms();
    let mut certs: Vec<_> = state
        .certificates
        .values()
        .map(|c| {
            let search =
                format!("{} {} {} {}", c.id, c.name, c.subject, c.sans.join(" ")).to_lowercase();
            (c, search)
        })
        .filter(|(_, search)| query.keeps(search))
        .collect();
    certs.sort_by_key(|c| c.0.to);
    let body = html! {
        (list::toolbar("Certificates", &query, None, "certificates"))
        p.muted { "Served by SNI on the HTTPS port. Import or generate them with the admin API (" code { "/api/certificates" } ", " code { "/api/pki/certs" } ")." }
        @if certs.is_empty() {
            (list::empty("certificates-empty", &query, html! { p { "No certificates." } }))
        } @else {
            div.table-wrap {
                table #certificates-table .entities {
                    thead { tr { th { "Name" } th { "Names served" } th { "Issuer" } th { "Valid until" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for (cert, search) in &certs {
                            tr data-id=(cert.id) data-search=(search) data-expired=(cert.to <= now) {
                                td { (cert.name) br; small.muted { (cert.id) }
                                    @if cert.ca { " " span.badge { "CA" } }
                                    @if cert.client { " " span.badge { "client" } } }
                                td { @for san in &cert.sans { code { (san) } " " } }
                                td { small { (cert.issuer) } }
                                td {
                                    (date(cert.to))
                                    @if cert.to <= now { " " span.badge.bad { "expired" } }
                                    @else if cert.to <= now + 30 * 86_400_000 { " " span.badge.warn { "expires soon" } }
                                }
                                td.actions {
                                    button.delete.danger type="button" data-api={ "/api/certificates/" (cert.id) } data-label=(cert.name) { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (list::confirm_dialog())
    };
    super::frame(&ctx, &signed, Nav::Certificates, "Certificates", body)
}
