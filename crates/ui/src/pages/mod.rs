//! The HTML pages. Lists are rendered on the server from the node's state
//! snapshot (no datastore read); editors and live figures are filled in by
//! the page script through the admin API bridge.

/// Admin users: list, editor.
mod admins;
/// API keys: list with quota bars, editor, quota reset.
mod apikeys;
/// Certificates: list with expiry.
mod certificates;
/// Cluster View: every member, live.
mod cluster;
/// The form skeleton the script fills from an entity.
mod editor;
/// Service groups and the global config.
mod groups;
/// Home: live tiles.
mod home;
/// The frame every page shares.
pub mod layout;
/// Table helpers shared by the lists.
mod list;
/// The route editor's plugin list: the skeleton and the registry's choices.
mod plugin_list;
/// Routes: list, editor.
mod routes;

use axum::Router;
use axum::routing::get;
use maud::Markup;

use crate::context::UiContext;
use crate::session::Signed;
use layout::{Nav, NodeLine};

pub fn router() -> Router<UiContext> {
    Router::new()
        .route("/", get(home::page))
        .route("/routes", get(routes::list))
        .route("/routes/new", get(routes::new))
        .route("/routes/{id}", get(routes::edit))
        .route("/apikeys", get(apikeys::list))
        .route("/apikeys/new", get(apikeys::new))
        .route("/apikeys/{id}", get(apikeys::edit))
        .route("/groups", get(groups::list))
        .route("/groups/new", get(groups::new))
        .route("/groups/{id}", get(groups::edit))
        .route("/globalconfig", get(groups::global_config))
        .route("/cluster", get(cluster::page))
        .route("/certificates", get(certificates::list))
        .route("/admins", get(admins::list))
        .route("/admins/new", get(admins::new))
        .route("/admins/{username}", get(admins::edit))
}

/// Wraps a page body in the shared frame.
pub(crate) fn frame(
    ctx: &UiContext,
    signed: &Signed,
    active: Nav,
    title: &str,
    body: Markup,
) -> Markup {
    let node = NodeLine {
        name: ctx.admin.info.name.clone(),
        mode: ctx.admin.info.mode,
    };
    layout::page(signed, &node, active, title, body)
}
