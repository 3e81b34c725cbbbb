//! Admin users (Settings / Admin users): who may sign in to the UI, with
//! their passwords changed or reset here. Read from the datastore, not the
//! state snapshot: users are never part of the cluster state.

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};

use super::editor::{self, Collection, Field};
use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::error::UiError;
use crate::session::Signed;
use crate::users;

const API: &str = "/api/admins/simple";

pub async fn list(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Result<Markup, UiError> {
    let all = users::all(ctx.admin.store.as_ref()).await?;
    let total = all.len();
    let rows: Vec<_> = all
        .into_iter()
        .map(|user| {
            let search = format!("{} {}", user.username, user.label).to_lowercase();
            (user, search)
        })
        .filter(|(_, search)| query.keeps(search))
        .collect();
    let body = html! {
        (list::toolbar("Admin users", &query, Some(("/admins/new", "New admin user")), "admin users"))
        p.muted { "People who sign in to this UI. Admin API keys may sign in too (API keys page)." }
        (list::table(
            &list::Table { id: "admins", columns: &["Name", "Label", "Rights", "Created"], shown: rows.len(), count: Some((total, "admin users")) },
            &query,
            html! { p { "No admin users: only admin API keys can sign in." } },
            html! {
                @for (user, search) in &rows {
                    tr data-id=(user.username) data-search=(search) {
                        td { a href={ "/admins/" (user.username) } { (user.username) }
                            @if user.username == signed.session.sub { " " span.badge { "you" } } }
                        td { (user.label) }
                        td { @if user.read_only { span.badge.off { "read-only" } } @else { span.badge.ok { "read and write" } } }
                        td { (list::date(user.created_at)) }
                        (list::row_actions(&format!("{API}/{}", user.username), &format!("/admins/{}", user.username), &user.username, None))
                    }
                }
            },
        ))
    };
    Ok(super::frame(
        &ctx,
        &signed,
        Nav::Admins,
        "Admin users",
        body,
    ))
}

const ADMINS: Collection = Collection {
    api: API,
    id_field: "username",
    list: "/admins",
    list_title: "Admin users",
    nav: Nav::Admins,
};

fn editor(ctx: &UiContext, signed: &Signed, username: Option<&str>, title: &str) -> Markup {
    let password_help = if username.is_some() {
        "Leave empty to keep the password. A new one signs this user out everywhere."
    } else {
        "At least 8 characters."
    };
    let fields = [
        Field::Id {
            path: "username",
            label: "Name",
            help: "What the user types to sign in, e.g. an email address.",
        },
        Field::Secret {
            path: "password",
            label: "Password",
            help: password_help,
        },
        Field::Text {
            path: "label",
            label: "Label",
            help: "",
        },
        Field::Bool {
            path: "readOnly",
            label: "Read-only (may look, may not change anything)",
        },
    ];
    editor::page(ctx, signed, &ADMINS, username, title, &fields, html! {})
}

pub async fn new(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    editor(&ctx, &signed, None, "New admin user")
}

pub async fn edit(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Path(username): Path<String>,
) -> Result<Markup, UiError> {
    users::find(ctx.admin.store.as_ref(), &username)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("no admin user '{username}'")))?;
    Ok(editor(
        &ctx,
        &signed,
        Some(&username),
        &format!("Admin user {username}"),
    ))
}
