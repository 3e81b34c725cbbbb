//! A route may list plugins. A plugin komainu does not implement is refused
//! when enabled: silently ignoring, say, an authentication plugin would open a
//! route that its author meant to protect.

pub const APIKEY_CALLS: &str = "cp:otoroshi.next.plugins.ApikeyCalls";
pub const OVERRIDE_HOST: &str = "cp:otoroshi.next.plugins.OverrideHost";

pub const SUPPORTED: [&str; 2] = [APIKEY_CALLS, OVERRIDE_HOST];

pub fn is_supported(plugin: &str) -> bool {
    SUPPORTED.contains(&plugin)
}
