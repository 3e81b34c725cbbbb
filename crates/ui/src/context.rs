use std::sync::Arc;
use std::time::Duration;

use admin::AdminContext;
use axum::Router;

use crate::signing_key::SigningKey;

/// What the UI is configured with.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// `ui.host`: the pages are served for this host only.
    pub host: String,
    /// `admin.host`, shown on pages that explain how to reach the API.
    pub admin_host: String,
    /// `ui.secureCookies`: the session cookie is Secure even over plain HTTP
    /// (TLS ended in front of the node).
    pub secure_cookies: bool,
    /// How long a login lasts (`ui.sessionMaxAge`).
    pub session_max_age: Duration,
}

/// Everything a UI handler may touch. Cloned per request (all `Arc`s).
#[derive(Clone)]
pub struct UiContext {
    pub admin: AdminContext,
    /// The admin API's router (with the cluster endpoints on a leader): the
    /// bridge hands it the pages' API calls.
    pub api: Router,
    pub settings: Arc<UiSettings>,
    pub(crate) key: Arc<SigningKey>,
    /// bcrypt checks allowed at once (see `throttle`).
    pub(crate) checks: Arc<tokio::sync::Semaphore>,
}

impl UiContext {
    pub fn new(admin: AdminContext, api: Router, settings: UiSettings, key: SigningKey) -> Self {
        Self {
            admin,
            api,
            settings: Arc::new(settings),
            key: Arc::new(key),
            checks: crate::throttle::checks(),
        }
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.admin.info.mode == "leader"
    }
}
