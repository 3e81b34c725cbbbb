//! API keys: the list with quota usage bars, the editor, and the quota
//! reset on a key's page.

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use model::apikey::{ApiKey, UNLIMITED};

use super::editor::{self, Collection, Field};
use super::layout::Nav;
use super::list::{self, ListQuery};
use crate::context::UiContext;
use crate::session::Signed;

const API: &str = "/api/apikeys";

/// Three bars (throttling window, day, month) the script fills from the
/// key's quotas endpoint.
fn quota_bars(key: &ApiKey) -> Markup {
    let bars = [
        ("throttling", "window", key.throttling_quota),
        ("daily", "day", key.daily_quota),
        ("monthly", "month", key.monthly_quota),
    ];
    html! {
        div.quotas data-quotas={ (API) "/" (key.client_id) "/quotas" } {
            @for (quota, label, limit) in bars {
                div.quota {
                    span.quota-label { (label) }
                    meter.quota-bar data-quota=(quota) min="0" max=(limit.max(1)) value="0"
                        aria-label={ "calls this " (label) } {}
                    span.quota-text data-quota=(quota) {
                        "– / " @if limit >= UNLIMITED { "unlimited" } @else { (limit) }
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Markup {
    let state = ctx.admin.state.load();
    let mut keys: Vec<_> = state
        .apikeys
        .values()
        .map(|key| {
            let search = format!(
                "{} {} {}",
                key.client_id,
                key.client_name,
                key.authorized_entities.join(" ")
            )
            .to_lowercase();
            (key, search)
        })
        .filter(|(_, search)| query.keeps(search))
        .collect();
    keys.sort_by(|a, b| {
        a.0.client_name
            .cmp(&b.0.client_name)
            .then(a.0.client_id.cmp(&b.0.client_id))
    });
    let body = html! {
        (list::toolbar("API keys", &query, Some(("/apikeys/new", "New API key")), "API keys"))
        (list::table(
            &list::Table { id: "apikeys", columns: &["Name", "Authorized on", "Quotas used", "State"], shown: keys.len(), count: Some((state.apikeys.len(), "API keys")) },
            &query,
            html! {
                p { "No API keys yet. Keys let clients call routes that require one, within their quotas." }
                p { a.button.primary href="/apikeys/new" { "Create the first API key" } }
            },
            html! {
                @for (key, search) in &keys {
                    tr data-id=(key.client_id) data-search=(search) {
                        td {
                            a href={ "/apikeys/" (key.client_id) } { (key.client_name) }
                            @if key.is_admin() { " " span.badge.admin title="may use the admin API" { "admin" } }
                            br; small.muted { (key.client_id) }
                        }
                        td { @for e in &key.authorized_entities { code { (e) } " " } }
                        td { (quota_bars(key)) }
                        td.state { (list::state_badge(key.enabled)) }
                        (list::row_actions(&format!("{API}/{}", key.client_id), &format!("/apikeys/{}", key.client_id), &key.client_name, Some(key.enabled)))
                    }
                }
            },
        ))
    };
    super::frame(&ctx, &signed, Nav::ApiKeys, "API keys", body)
}

fn fields() -> Vec<Field> {
    vec![
        Field::Id {
            path: "clientId",
            label: "Client id",
            help: "What clients send as their id.",
        },
        Field::Secret {
            path: "clientSecret",
            label: "Client secret",
            help: "Kept secret; shown here to admins only.",
        },
        Field::Text {
            path: "clientName",
            label: "Name",
            help: "",
        },
        Field::Bool {
            path: "enabled",
            label: "Enabled",
        },
        Field::Lines {
            path: "authorizedEntities",
            label: "Authorized on",
            help: "One a line: route_<route id> or group_<group id>.",
        },
        Field::Number {
            path: "throttlingQuota",
            label: "Calls per throttling window",
            help: "10 000 000 means unlimited.",
        },
        Field::Number {
            path: "dailyQuota",
            label: "Calls per day (UTC)",
            help: "",
        },
        Field::Number {
            path: "monthlyQuota",
            label: "Calls per month (UTC)",
            help: "",
        },
        Field::Bool {
            path: "allowClientIdOnly",
            label: "Accept the client id alone (x-api-key header or apikey query)",
        },
        Field::Bool {
            path: "readOnly",
            label: "Read-only (for admin keys)",
        },
    ]
}

const KEYS: Collection = Collection {
    api: API,
    id_field: "clientId",
    list: "/apikeys",
    list_title: "API keys",
    nav: Nav::ApiKeys,
};

/// `id` names the key being edited (`None`: a new one); `key` is it as
/// this node's snapshot has it, for the quota bars (absent just after a
/// write through another leader: the form still loads from the datastore).
fn editor(
    ctx: &UiContext,
    signed: &Signed,
    id: Option<&str>,
    key: Option<&ApiKey>,
    title: &str,
) -> Markup {
    let quotas = html! {
        @if let Some(key) = key {
            section.card #quota-usage aria-labelledby="quota-title" {
                h2 #quota-title { "Quota usage" }
                (quota_bars(key))
                button #reset-quotas .danger type="button" data-api={ (API) "/" (key.client_id) "/quotas" } { "Reset quotas" }
            }
        }
    };
    editor::page(ctx, signed, &KEYS, id, title, &fields(), quotas)
}

pub async fn new(State(ctx): State<UiContext>, Extension(signed): Extension<Signed>) -> Markup {
    editor(&ctx, &signed, None, None, "New API key")
}

pub async fn edit(
    State(ctx): State<UiContext>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Markup {
    let state = ctx.admin.state.load();
    let key = state.apikey(&id);
    let name = key.map_or(id.as_str(), |k| k.client_name.as_str());
    editor(
        &ctx,
        &signed,
        Some(&id),
        key.map(|k| k.as_ref()),
        &format!("API key {name}"),
    )
}
