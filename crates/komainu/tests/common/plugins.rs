//! Routes with plugins, for the plugin tests.

use serde_json::{Value, json};

use super::{Node, route_to};

/// Otoroshi's id prefix of the plugins komainu implements.
pub const P: &str = "cp:otoroshi.next.plugins.";

/// An enabled instance of `cp:otoroshi.next.plugins.<name>`.
pub fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{P}{name}"), "enabled": true, "config": config})
}

/// Creates route `id` on `{id}.test` to 127.0.0.1:`port` with `plugins`.
pub async fn route_with(node: &Node, id: &str, port: u16, plugins: Value) {
    let mut route = route_to(id, &format!("{id}.test"), &[port]);
    route["plugins"] = plugins;
    node.create_route(&route).await;
}

/// Posts a route carrying `plugins` and checks it is refused: 400, the
/// first field error at `path` (`plugins[0].config.max_age`). Returns the
/// error body.
pub async fn refused(node: &Node, plugins: Value, path: &str) -> Value {
    let mut route = route_to("bad", "bad.test", &[1]);
    route["plugins"] = plugins;
    let (status, error) = node
        .send_json(reqwest::Method::POST, "/api/routes", &route)
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["fields"][0]["path"], path, "{error}");
    error
}
