//! The form an entity is edited in: a few fields for what people change
//! most, each bound to a JSON path of the entity, and the whole entity as raw
//! JSON for the rest. The page script loads the entity (or the kind's
//! template) from the admin API, keeps fields and raw JSON in step, saves
//! with POST or PUT, and puts each validation message the API returns next
//! to the field its path names.

use maud::{Markup, html};

/// One form field, bound to a JSON path of the entity.
pub enum Field {
    Text {
        path: &'static str,
        label: &'static str,
        help: &'static str,
    },
    /// Required text that names the entity; read-only once it exists.
    Id {
        path: &'static str,
        label: &'static str,
        help: &'static str,
    },
    Secret {
        path: &'static str,
        label: &'static str,
        help: &'static str,
    },
    /// An array of strings, one a line.
    Lines {
        path: &'static str,
        label: &'static str,
        help: &'static str,
    },
    Number {
        path: &'static str,
        label: &'static str,
        help: &'static str,
    },
    Bool {
        path: &'static str,
        label: &'static str,
    },
    Select {
        path: &'static str,
        label: &'static str,
        options: &'static [&'static str],
    },
    /// `backend.targets` as `host:port` lines (`https://` for TLS).
    Targets {
        label: &'static str,
        help: &'static str,
    },
    /// A route's `plugins`, in order, each edited on its own; any plugin of
    /// `registry` can be added.
    Plugins {
        registry: &'static [plugins::registry::Descriptor],
    },
}

/// A kind's editor pages: where they load from and save to, and the list
/// they belong to.
pub struct Collection {
    /// The collection's API path, e.g. `/api/routes`.
    pub api: &'static str,
    /// The field holding the entity's id in API answers.
    pub id_field: &'static str,
    /// The list to go back to after saving, and its title.
    pub list: &'static str,
    pub list_title: &'static str,
    /// The navigation entry the pages belong to.
    pub nav: super::layout::Nav,
}

/// One editor: the kind, and which entity.
pub struct Binding<'a> {
    pub of: &'a Collection,
    /// The entity's id; `None` for a new one (loaded from `_template`).
    pub id: Option<&'a str>,
    /// The singleton global config: read and written at `api` itself.
    pub singleton: bool,
}

fn field_id(path: &str) -> String {
    format!("f-{}", path.replace('.', "-"))
}

pub(super) fn error_slot(path: &str) -> Markup {
    html! { p.field-error data-for=(path) role="alert" hidden {} }
}

fn help(id: &str, text: &str) -> Markup {
    html! { @if !text.is_empty() { small.help id={ (id) "-help" } { (text) } } }
}

/// A labelled field: label above, the control, help and error slot below.
fn stacked(path: &str, label: &str, help_text: &str, control: Markup) -> Markup {
    let id = field_id(path);
    html! {
        div.field {
            label for=(id) { (label) }
            (control)
            (help(&id, help_text)) (error_slot(path))
        }
    }
}

fn render(field: &Field, existing: bool) -> Markup {
    match *field {
        Field::Text { path, label, help } | Field::Secret { path, label, help } => {
            // A password input the browser must neither fill with the
            // admin's own password nor offer to save as the UI sign-in.
            let (kind, complete) = if matches!(field, Field::Secret { .. }) {
                ("password", "new-password")
            } else {
                ("text", "off")
            };
            let id = field_id(path);
            stacked(
                path,
                label,
                help,
                html! {
                    input id=(id) name=(path) type=(kind) data-path=(path) data-type="text" autocomplete=(complete) aria-describedby={ (id) "-help" };
                },
            )
        }
        Field::Id { path, label, help } => {
            let id = field_id(path);
            stacked(
                path,
                label,
                help,
                html! {
                    input id=(id) name=(path) type="text" data-path=(path) data-type="text" required readonly[existing] autocomplete="off" aria-describedby={ (id) "-help" };
                },
            )
        }
        Field::Lines { path, label, help } => lines(path, "lines", label, help),
        Field::Targets { label, help } => lines("backend.targets", "targets", label, help),
        Field::Number { path, label, help } => {
            let id = field_id(path);
            stacked(
                path,
                label,
                help,
                html! {
                    input id=(id) name=(path) type="number" min="0" step="1" data-path=(path) data-type="number" aria-describedby={ (id) "-help" };
                },
            )
        }
        Field::Select {
            path,
            label,
            options,
        } => {
            let id = field_id(path);
            stacked(
                path,
                label,
                "",
                html! {
                    select id=(id) name=(path) data-path=(path) data-type="select" {
                        @for option in options { option value=(option) { (option) } }
                    }
                },
            )
        }
        Field::Bool { path, label } => {
            let id = field_id(path);
            html! {
                div.field.check {
                    input id=(id) name=(path) type="checkbox" data-path=(path) data-type="bool";
                    label for=(id) { (label) }
                    (error_slot(path))
                }
            }
        }
        Field::Plugins { registry } => super::plugin_list::render(registry),
    }
}

/// A textarea holding one array item a line (`kind`: how the script reads it).
fn lines(path: &str, kind: &str, label: &str, help: &str) -> Markup {
    let id = field_id(path);
    stacked(
        path,
        label,
        help,
        html! {
            textarea id=(id) name=(path) rows="3" data-path=(path) data-type=(kind) aria-describedby={ (id) "-help" } {}
        },
    )
}

/// The whole editor.
pub fn form(binding: &Binding, fields: &[Field]) -> Markup {
    let existing = binding.id.is_some() || binding.singleton;
    html! {
        form #entity-form novalidate data-api=(binding.of.api) data-id=[binding.id]
            data-back=(binding.of.list) data-id-field=(binding.of.id_field) data-singleton=[binding.singleton.then_some("true")] {
            p #form-loading .muted { "Loading…" }
            div.fields {
                @for field in fields { (render(field, existing)) }
            }
            details #raw {
                summary { "Raw JSON (every field)" }
                label.visually-hidden for="raw-json" { "The entity as JSON" }
                textarea #raw-json name="raw-json" rows="18" spellcheck="false" data-type="raw" {}
                (error_slot(""))
            }
            p #form-error .error-text role="alert" hidden {}
            div.buttons {
                button #save .primary type="submit" { "Save" }
                a.button href=(binding.of.list) { "Cancel" }
            }
        }
    }
}

/// A whole editor page of `of` for entity `id` (`None`: a new one):
/// breadcrumb back to the list, title, `extra` (the quota section of an API
/// key, say), then the form.
pub fn page(
    ctx: &crate::context::UiContext,
    signed: &crate::session::Signed,
    of: &Collection,
    id: Option<&str>,
    title: &str,
    fields: &[Field],
    extra: Markup,
) -> Markup {
    let binding = Binding {
        of,
        id,
        singleton: false,
    };
    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href=(of.list) { (of.list_title) } " / " span { (title) } }
        h1 { (title) }
        (extra)
        (form(&binding, fields))
    };
    super::frame(ctx, signed, of.nav, title, body)
}
