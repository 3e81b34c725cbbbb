//! Certificates: what each one covers and until when. Private keys never
//! reach the page (the state has them; this page renders only public parts).

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};

use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::session::Signed;

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
        (list::table(
            &list::Table { id: "certificates", columns: &["Name", "Names served", "Issuer", "Valid until"], shown: certs.len(), count: None },
            &query,
            html! { p { "No certificates." } },
            html! {
                @for (cert, search) in &certs {
                    tr data-id=(cert.id) data-search=(search) data-expired=(cert.to <= now) {
                        td { (cert.name) br; small.muted { (cert.id) }
                            @if cert.ca { " " span.badge { "CA" } }
                            @if cert.client { " " span.badge { "client" } } }
                        td { @for san in &cert.sans { code { (san) } " " } }
                        td { small { (cert.issuer) } }
                        td {
                            (list::date(cert.to))
                            @if cert.to <= now { " " span.badge.bad { "expired" } }
                            @else if cert.to <= now + 30 * 86_400_000 { " " span.badge.warn { "expires soon" } }
                        }
                        td.actions {
                            button.delete.danger type="button" data-api={ "/api/certificates/" (cert.id) } data-label=(cert.name) { "Delete" }
                        }
                    }
                }
            },
        ))
    };
    super::frame(&ctx, &signed, Nav::Certificates, "Certificates", body)
}
