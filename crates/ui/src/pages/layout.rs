//! The frame every page shares: head (style, script, CSRF token), the
//! navigation with Otoroshi's "Settings" entries (global config, Cluster
//! View, certificates) and the sign-out button.

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::session::Signed;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Routes,
    ApiKeys,
    Groups,
    GlobalConfig,
    Cluster,
    Certificates,
    Admins,
}

const MAIN: [(Nav, &str, &str); 4] = [
    (Nav::Home, "/", "Home"),
    (Nav::Routes, "/routes", "Routes"),
    (Nav::ApiKeys, "/apikeys", "API keys"),
    (Nav::Groups, "/groups", "Service groups"),
];
const SETTINGS: [(Nav, &str, &str); 4] = [
    (Nav::GlobalConfig, "/globalconfig", "Global config"),
    (Nav::Cluster, "/cluster", "Cluster View"),
    (Nav::Certificates, "/certificates", "Certificates"),
    (Nav::Admins, "/admins", "Admin users"),
];

fn head(title: &str, csrf: Option<&str>) -> Markup {
    let version = assets::version();
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(csrf) = csrf {
                meta name="csrf-token" content=(csrf);
            }
            title { (title) " · komainu" }
            link rel="stylesheet" href={ "/assets/app.css?v=" (version) };
            script src={ "/assets/app.js?v=" (version) } defer {}
        }
    }
}

/// komainu's mark: a small guardian shape, drawn inline (no image request,
/// no font needed).
pub fn logo() -> Markup {
    html! {
        svg.logo width="20" height="20" viewBox="0 0 20 20" aria-hidden="true" {
            path d="M3 17 L3 8 L10 3 L17 8 L17 17 L13 17 L13 11 L7 11 L7 17 Z" fill="currentColor" {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body { (body) }
        }
    }
}

/// A page of the signed-in UI.
pub fn page(signed: &Signed, node: &NodeLine, active: Nav, title: &str, body: Markup) -> Markup {
    let link = |nav: Nav, href: &str, label: &str| {
        html! {
            li {
                a href=(href) aria-current=[(nav == active).then_some("page")] { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&signed.csrf)))
            body data-mode=(node.mode) data-read-only=(signed.session.ro) {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/" { (logo()) " komainu" }
                    span.node-badge title="this node" { (node.name) " · " (node.mode_label()) }
                    nav aria-label="main" {
                        ul {
                            @for (nav, href, label) in MAIN { (link(nav, href, label)) }
                            li.settings {
                                details #settings-menu {
                                    summary.active[SETTINGS.iter().any(|(n, _, _)| *n == active)] {
                                        span aria-hidden="true" { "⚙" } " Settings"
                                    }
                                    ul {
                                        @for (nav, href, label) in SETTINGS { (link(nav, href, label)) }
                                    }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="_csrf" value=(signed.csrf);
                        span.who { (signed.session.sub) @if signed.session.ro { " (read-only)" } }
                        button #logout type="submit" { "Sign out" }
                    }
                }
                main #content tabindex="-1" {
                    div #flash role="status" aria-live="polite" {}
                    @if signed.session.ro {
                        p.notice #read-only-notice { "You are signed in read-only: you can look at everything, change nothing." }
                    }
                    (body)
                }
            }
        }
    }
}

/// The node a page was served by, shown in the header.
pub struct NodeLine {
    pub name: String,
    pub mode: &'static str,
}

impl NodeLine {
    fn mode_label(&self) -> &'static str {
        match self.mode {
            "leader" => "cluster leader",
            _ => "standalone",
        }
    }
}
