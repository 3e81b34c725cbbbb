//! What every list page has: a search box (filtering as one types, and on
//! the server with `?q=` so a filtered list can be bookmarked), an empty
//! state that says what to do, and row actions.

use maud::{Markup, html};
use model::calendar::civil_from_days;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
}

impl ListQuery {
    /// Whether a row whose searchable text is `text` (lower case) is shown.
    pub fn keeps(&self, text: &str) -> bool {
        let q = self.q.trim().to_lowercase();
        q.is_empty() || q.split_whitespace().all(|word| text.contains(word))
    }
}

/// The heading of a list: title, search box, "new" button.
pub fn toolbar(title: &str, query: &ListQuery, new: Option<(&str, &str)>, what: &str) -> Markup {
    html! {
        div.toolbar {
            h1 { (title) }
            form.search role="search" method="get" {
                label.visually-hidden for="search" { "Search " (what) }
                input #search type="search" name="q" value=(query.q) placeholder={ "Search " (what) } autocomplete="off";
            }
            @if let Some((href, label)) = new {
                a.button.primary #new-entity href=(href) { (label) }
            }
        }
    }
}

/// The line shown when a list has nothing to show.
pub fn empty(id: &str, query: &ListQuery, none_yet: Markup) -> Markup {
    html! {
        div.empty id=(id) {
            @if query.q.trim().is_empty() { (none_yet) } @else {
                p { "Nothing matches “" (query.q) "”." }
            }
        }
    }
}

/// Enable/disable and delete buttons for a row of `api` (the entity's API path).
pub fn row_actions(api: &str, edit: &str, label: &str, enabled: Option<bool>) -> Markup {
    html! {
        td.actions {
            a.button.edit href=(edit) aria-label={ "Edit " (label) } { "Edit" }
            @if let Some(enabled) = enabled {
                button.toggle type="button" data-api=(api) aria-pressed=(enabled)
                    aria-label={ (if enabled { "Disable " } else { "Enable " }) (label) } {
                    (if enabled { "Disable" } else { "Enable" })
                }
            }
            button.delete.danger type="button" data-api=(api) data-label=(label) aria-label={ "Delete " (label) } { "Delete" }
        }
    }
}

/// A list's table and what surrounds it.
pub struct Table<'a> {
    /// `routes` gives `#routes-table` and `#routes-empty`.
    pub id: &'a str,
    /// Column headings; an unlabelled actions column follows them.
    pub columns: &'a [&'a str],
    /// Rows shown (after the search).
    pub shown: usize,
    /// "N of TOTAL NOUN" under the table, where the page shows it.
    pub count: Option<(usize, &'a str)>,
}

/// The table of `rows` (or the empty state when none is shown), the count
/// line, and the confirmation asked before a delete.
pub fn table(table: &Table, query: &ListQuery, none_yet: Markup, rows: Markup) -> Markup {
    html! {
        @if table.shown == 0 {
            (empty(&format!("{}-empty", table.id), query, none_yet))
        } @else {
            div.table-wrap {
                table.entities id={ (table.id) "-table" } {
                    thead { tr {
                        @for column in table.columns { th { (column) } }
                        th { span.visually-hidden { "Actions" } }
                    } }
                    tbody { (rows) }
                }
            }
            @if let Some((total, noun)) = table.count {
                p.muted.count { (table.shown) " of " (total) " " (noun) }
            }
        }
        (confirm_dialog())
    }
}

/// `YYYY-MM-DD` of a time in ms since the epoch (UTC).
pub fn date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The confirmation asked before a delete (the script opens it).
fn confirm_dialog() -> Markup {
    html! {
        dialog #confirm-dialog aria-labelledby="confirm-text" {
            form method="dialog" {
                p #confirm-text {}
                div.buttons {
                    button #confirm-no value="no" type="submit" { "Cancel" }
                    button #confirm-yes .danger value="yes" type="submit" { "Delete" }
                }
            }
        }
    }
}

/// A yes/no badge.
pub fn state_badge(enabled: bool) -> Markup {
    html! {
        @if enabled { span.badge.ok { "enabled" } } @else { span.badge.off { "disabled" } }
    }
}
