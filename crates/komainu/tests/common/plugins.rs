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
