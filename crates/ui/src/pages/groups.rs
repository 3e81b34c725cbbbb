//! Service groups (list, editor) and the global config (editor only: there
//! is one).

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};

use super::editor::{self, Binding, Collection, Field};
use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::session::Signed;

const API: &str = "/api/groups";

pub async fn list(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Markup {
    let state = ctx.admin.state.load();
    let mut groups: Vec<_> = state
        .groups
        .values()
        .map(|group| {
            let search =
                format!("{} {} {}", group.id, group.name, group.description).to_lowercase();
            let routes = state
                .routes
                .iter()
                .filter(|r| r.groups.contains(&group.id))
                .count();
            (group, routes, search)
        })
        .filter(|(_, _, search)| query.keeps(search))
        .collect();
    groups.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
    let body = html! {
        (list::toolbar("Service groups", &query, Some(("/groups/new", "New group")), "groups"))
        (list::table(
            &list::Table { id: "groups", columns: &["Name", "Description", "Routes"], shown: groups.len(), count: None },
            &query,
            html! {
                p { "No service groups. Groups gather routes so that one API key can be authorized on all of them." }
            },
            html! {
                @for (group, routes, search) in &groups {
                    tr data-id=(group.id) data-search=(search) {
                        td { a href={ "/groups/" (group.id) } { (group.name) } br; small.muted { (group.id) } }
                        td { (group.description) }
                        td { (routes) }
                        (list::row_actions(&format!("{API}/{}", group.id), &format!("/groups/{}", group.id), &group.name, None))
                    }
                }
            },
        ))
    };
    super::frame(&ctx, &signed, Nav::Groups, "Service groups", body)
}

fn fields() -> Vec<Field> {
    vec![
        Field::Id {
            path: "id",
            label: "Id",
            help: "Keys authorize it as group_<id>.",
        },
        Field::Text {
            path: "name",
            label: "Name",
            help: "",
        },
        Field::Text {
            path: "description",
            label: "Description",
            help: "",
        },
    ]
}

const GROUPS: Collection = Collection {
    api: API,
    id_field: "id",
    list: "/groups",
    list_title: "Service groups",
    nav: Nav::Groups,
};

fn editor(ctx: &UiContext, signed: &Signed, id: Option<&str>, title: &str) -> Markup {
    editor::page(ctx, signed, &GROUPS, id, title, &fields(), html! {})
}

pub async fn new(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    editor(&ctx, &signed, None, "New service group")
}

pub async fn edit(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Markup {
    // As for routes: the script loads it from the datastore.
    let state = ctx.admin.state.load();
    let name = state.groups.get(&id).map(|g| g.name.clone());
    editor(
        &ctx,
        &signed,
        Some(&id),
        &format!("Group {}", name.unwrap_or_else(|| id.clone())),
    )
}

const GLOBAL: Collection = Collection {
    api: "/api/globalconfig",
    id_field: "id",
    list: "/",
    list_title: "Home",
    nav: Nav::GlobalConfig,
};

pub async fn global_config(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
) -> Markup {
    let binding = Binding {
        of: &GLOBAL,
        id: None,
        singleton: true,
    };
    let fields = [Field::Bool {
        path: "maintenanceMode",
        label: "Maintenance mode",
    }];
    let body = html! {
        h1 { "Global config" }
        p.muted { "Settings of the whole gateway. Fields komainu does not use yet are kept as they are." }
        (editor::form(&binding, &fields))
    };
    super::frame(&ctx, &signed, Nav::GlobalConfig, "Global config", body)
}
