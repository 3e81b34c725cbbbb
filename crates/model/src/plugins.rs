//! Ids of the plugins the UI's route editor offers as switches. The
//! registry of every plugin, and their validation, is the `plugins` crate.

pub const APIKEY_CALLS: &str = "cp:otoroshi.next.plugins.ApikeyCalls";
pub const OVERRIDE_HOST: &str = "cp:otoroshi.next.plugins.OverrideHost";
/// Plain-HTTP requests are answered 303 to the same URL over HTTPS.
pub const FORCE_HTTPS_TRAFFIC: &str = "cp:otoroshi.next.plugins.ForceHttpsTraffic";
