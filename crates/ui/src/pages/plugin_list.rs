//! The route editor's plugin list: the skeleton the page script fills from
//! the route's `plugins` array, one item per plugin in run order, and the
//! "add a plugin" choice of every plugin in the registry.
//!
//! The registry (name, description, default config) is written into the
//! page as the options of a select, not fetched: the page is server-rendered
//! from the same table the API validates against, and the CSP allows no
//! inline script to carry it as data. An item's markup is a `<template>` the
//! script clones, so that the whole form's HTML stays here.

use maud::{Markup, html};
use plugins::registry::{Descriptor, ID_PREFIX};

use super::editor::error_slot;

/// `cp:otoroshi.next.plugins.Cors` → `Cors`.
pub fn short_name(id: &str) -> &str {
    id.strip_prefix(ID_PREFIX)
        .unwrap_or_else(|| id.rsplit('.').next().unwrap_or(id))
}

pub fn render(registry: &[Descriptor]) -> Markup {
    let mut choices: Vec<&Descriptor> = registry.iter().collect();
    choices.sort_by_key(|d| short_name(d.id));
    html! {
        fieldset #plugins .field.plugins aria-describedby="plugins-help" {
            legend { "Plugins" }
            small.help #plugins-help {
                "Run in this order within each step of a call. Include and exclude take path regular expressions, one a line; with none, every path. Changes apply when the route is saved."
            }
            ol #plugin-list aria-label="Plugins of this route" {}
            p #plugin-list-empty .muted hidden { "No plugins on this route." }
            (error_slot("plugins"))
            div.plugin-add {
                label for="plugin-add" { "Add a plugin" }
                div.plugin-add-row {
                    select #plugin-add aria-describedby="plugin-add-help" {
                        @for d in &choices {
                            option value=(d.id) data-name=(d.name) data-description=(d.description)
                                data-default=(serde_json::to_string(&(d.default_config)()).unwrap_or_else(|_| "{}".into())) {
                                (short_name(d.id)) " (" (d.name) ")"
                            }
                        }
                    }
                    button #plugin-add-button type="button" { "Add plugin" }
                }
                small.help #plugin-add-help {}
            }
            p #plugin-status .visually-hidden aria-live="polite" {}
            template #plugin-item-template {
                li.plugin-item {
                    div.plugin-head {
                        span.plugin-position.badge {}
                        strong.plugin-name {}
                        code.plugin-id {}
                    }
                    small.help.plugin-description {}
                    div.field.check {
                        input.plugin-enabled type="checkbox";
                        label.plugin-enabled-label { "Enabled" }
                    }
                    div.plugin-paths {
                        div {
                            label.plugin-include-label { "Include (paths)" }
                            textarea.plugin-include rows="2" spellcheck="false" {}
                        }
                        div {
                            label.plugin-exclude-label { "Exclude (paths)" }
                            textarea.plugin-exclude rows="2" spellcheck="false" {}
                        }
                    }
                    label.plugin-config-label { "Config (JSON)" }
                    textarea.plugin-config rows="6" spellcheck="false" {}
                    p.field-error.plugin-json-error role="alert" hidden {}
                    p.field-error.plugin-api-error role="alert" hidden {}
                    div.plugin-actions {
                        button.plugin-up type="button" { "Move up" }
                        button.plugin-down type="button" { "Move down" }
                        button.plugin-remove.danger type="button" { "Remove" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_plugin_is_offered_with_its_defaults() {
        let page = render(plugins::registry::REGISTRY).into_string();
        for d in plugins::registry::REGISTRY {
            assert!(page.contains(&format!("value=\"{}\"", d.id)), "{}", d.id);
        }
        assert!(page.contains("data-default=\"{&quot;headers&quot;:{}}\""));
        assert_eq!(short_name("cp:otoroshi.next.plugins.Cors"), "Cors");
        assert_eq!(short_name("cp:other.Thing"), "Thing");
    }
}
