//! A route may list plugins. A plugin komainu does not implement is refused
//! when enabled: silently ignoring, say, an authentication plugin would open a
//! route that its author meant to protect.

pub const APIKEY_CALLS: &str = "cp:otoroshi.next.plugins.ApikeyCalls";
pub const OVERRIDE_HOST: &str = "cp:otoroshi.next.plugins.OverrideHost";
/// Plain-HTTP requests are answered 301 to the same URL over HTTPS.
pub const FORCE_HTTPS_TRAFFIC: &str = "cp:otoroshi.next.plugins.ForceHttpsTraffic";

pub const SUPPORTED: [&str; 3] = [APIKEY_CALLS, OVERRIDE_HOST, FORCE_HTTPS_TRAFFIC];

pub fn is_supported(plugin: &str) -> bool {
    SUPPORTED.contains(&plugin)
}
