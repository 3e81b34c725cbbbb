//! Routes: the list (search, enable/disable, delete) and the editor.

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};

use super::editor::{self, Collection, Field};
use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::session::Signed;

const API: &str = "/api/routes";

pub async fn list(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Markup {
    let state = ctx.admin.state.load();
    let rows: Vec<_> = state
        .routes
        .iter()
        .map(|route| {
            let targets: Vec<String> = route
                .backend
                .targets
                .iter()
                .map(|t| {
                    let scheme = if t.tls { "https://" } else { "" };
                    // As the editor writes it: an IPv6 address in brackets.
                    if t.hostname.contains(':') {
                        format!("{scheme}[{}]:{}", t.hostname, t.port)
                    } else {
                        format!("{scheme}{}:{}", t.hostname, t.port)
                    }
                })
                .collect();
            let search = format!(
                "{} {} {} {}",
                route.id,
                route.name,
                route.frontend.domains.join(" "),
                targets.join(" ")
            )
            .to_lowercase();
            (route, targets, search)
        })
        .filter(|(_, _, search)| query.keeps(search))
        .collect();
    let body = html! {
        (list::toolbar("Routes", &query, Some(("/routes/new", "New route")), "routes"))
        (list::table(
            &list::Table { id: "routes", columns: &["Name", "Domains", "Targets", "Plugins", "State"], shown: rows.len(), count: Some((state.routes.len(), "routes")) },
            &query,
            html! {
                p { "No routes yet. A route sends the traffic of a domain to your backends." }
                p { a.button.primary href="/routes/new" { "Create the first route" } }
            },
            html! {
                @for (route, targets, search) in &rows {
                    tr data-id=(route.id) data-search=(search) {
                        td { a href={ "/routes/" (route.id) } { (route.name) } br; small.muted { (route.id) } }
                        td { @for d in &route.frontend.domains { code { (d) } " " } }
                        td { @for t in targets { code { (t) } " " } }
                        td {
                            @for p in route.plugins.iter().filter(|p| p.enabled) {
                                span.badge { (super::plugin_list::short_name(&p.plugin)) } " "
                            }
                        }
                        td.state { (list::state_badge(route.enabled)) }
                        (list::row_actions(&format!("{API}/{}", route.id), &format!("/routes/{}", route.id), &route.name, Some(route.enabled)))
                    }
                }
            },
        ))
    };
    super::frame(&ctx, &signed, Nav::Routes, "Routes", body)
}

fn fields() -> Vec<Field> {
    vec![
        Field::Id {
            path: "id",
            label: "Id",
            help: "Letters, digits and _ - . : ~ (1 to 128).",
        },
        Field::Text {
            path: "name",
            label: "Name",
            help: "",
        },
        Field::Bool {
            path: "enabled",
            label: "Enabled (serves traffic)",
        },
        Field::Lines {
            path: "frontend.domains",
            label: "Domains",
            help: "One a line: host or host/path-prefix, e.g. api.oto.tools/users or *.oto.tools.",
        },
        Field::Bool {
            path: "frontend.strip_path",
            label: "Strip the matched path prefix before forwarding",
        },
        Field::Targets {
            label: "Targets",
            help: "One a line: host:port, or https://host:port for TLS to the backend.",
        },
        Field::Text {
            path: "backend.root",
            label: "Backend root path",
            help: "Prefixed to the forwarded path, e.g. /.",
        },
        Field::Select {
            path: "backend.load_balancing.type",
            label: "Load balancing",
            options: &model::route::LOAD_BALANCING_TYPES,
        },
        Field::Lines {
            path: "groups",
            label: "Service groups",
            help: "Group ids, one a line.",
        },
        Field::Plugins {
            registry: plugins::registry::REGISTRY,
        },
    ]
}

const ROUTES: Collection = Collection {
    api: API,
    id_field: "id",
    list: "/routes",
    list_title: "Routes",
    nav: Nav::Routes,
};

fn editor(ctx: &UiContext, signed: &Signed, id: Option<&str>, title: &str) -> Markup {
    editor::page(ctx, signed, &ROUTES, id, title, &fields(), html! {})
}

pub async fn new(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    editor(&ctx, &signed, None, "New route")
}

pub async fn edit(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Markup {
    // Not in this node's snapshot yet (written through another leader a
    // moment ago), or gone: the page's script loads it from the datastore
    // and says so if it is not there.
    let state = ctx.admin.state.load();
    let name = state
        .routes
        .iter()
        .find(|r| r.id == id)
        .map(|r| r.name.clone());
    editor(
        &ctx,
        &signed,
        Some(&id),
        &format!("Route {}", name.unwrap_or_else(|| id.clone())),
    )
}
