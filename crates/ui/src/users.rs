//! Admin users: people who sign in to the UI with a name and a password.
//! They are Otoroshi's "simple admins" (`{username, password, label,
//! createdAt, type: "SIMPLE", metadata}`, the password a bcrypt hash, so an
//! Otoroshi user list keeps working), kept in the datastore under a kind of
//! their own that is never part of the cluster state: workers serve no UI
//! and must never hold password hashes.

use model::id::random_token;
use serde::{Deserialize, Serialize};
use store::{Condition, Op, Store, StoreError};

use crate::error::UiError;

/// Store kind of admin users (Otoroshi's `simple-admins`).
pub const KIND: &str = "simple-admins";
/// bcrypt cost: about 50 ms a check on a small server core; Otoroshi's is 10 too.
const COST: u32 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub username: String,
    /// bcrypt hash (`$2a$`, `$2b$` or `$2y$`).
    pub password: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(rename = "type", default = "simple")]
    pub kind: String,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// A komainu addition: the user may only read.
    #[serde(default)]
    pub read_only: bool,
}

fn simple() -> String {
    "SIMPLE".to_string()
}

impl AdminUser {
    /// A new user created now, with the bcrypt `hash` of its password.
    pub fn new(username: &str, hash: String, label: &str, read_only: bool) -> Self {
        AdminUser {
            username: username.to_string(),
            password: hash,
            label: label.to_string(),
            created_at: crate::now_ms(),
            kind: simple(),
            metadata: Default::default(),
            read_only,
        }
    }

    /// Whether `password` is this user's. bcrypt compares in constant time.
    pub fn verify(&self, password: &str) -> bool {
        bcrypt::verify(password, &self.password).unwrap_or(false)
    }
}

/// Spent on unknown names, so that they take as long as a wrong password.
fn burn_time(password: &str) {
    let _ = bcrypt::verify(password, decoy_hash());
}

/// bcrypt of a random string nobody knows, at the same cost, made once.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_now(&random_token(32)).unwrap_or_default())
}

pub async fn find(store: &dyn Store, username: &str) -> Result<Option<AdminUser>, UiError> {
    let Some(bytes) = store.get(KIND, username).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| UiError::Internal(format!("stored admin user '{username}': {e}")))
}

/// Every admin user, in name order.
pub async fn all(store: &dyn Store) -> Result<Vec<AdminUser>, UiError> {
    let mut out = Vec::new();
    store::scan_each::<StoreError>(store, KIND, 500, |_, bytes| {
        // One that no longer decodes is left out rather than hiding the rest.
        if let Ok(user) = serde_json::from_slice::<AdminUser>(bytes) {
            out.push(user);
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })
    .await?;
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum UserBootstrap {
    /// Admin users were already there; nothing was written.
    Existing,
    /// The first admin user was created; `generated_password` is set when
    /// it was not configured, so that the caller can show it once.
    Created {
        username: String,
        generated_password: Option<String>,
    },
}

/// Creates the first admin user when the datastore holds none, from
/// `app.adminLogin` / `app.adminPassword`, else with a random password.
pub async fn ensure_admin_user(
    store: &dyn Store,
    username: &str,
    password: Option<&str>,
) -> Result<UserBootstrap, UiError> {
    if !store.scan(KIND, None, 1).await?.is_empty() {
        return Ok(UserBootstrap::Existing);
    }
    let generated_password = password.is_none().then(|| random_token(24));
    let password = password
        .map(str::to_string)
        .or_else(|| generated_password.clone())
        .unwrap_or_default();
    let user = AdminUser::new(username, hash(password).await?, "komainu admin", false);
    match save(store, &user, Condition::MustNotExist).await {
        Ok(_) => Ok(UserBootstrap::Created {
            username: username.to_string(),
            generated_password,
        }),
        // Another node sharing the datastore bootstrapped first.
        Err(StoreError::AlreadyExists { .. }) => Ok(UserBootstrap::Existing),
        Err(e) => Err(e.into()),
    }
}

/// Another admin user who may write, exactly as stored, as the
/// `Op::Expect` a change that takes write rights from `leaving` must carry:
/// two such changes at once each count on the other, and the store lets at
/// most one through. `None` when there is no such user.
pub async fn other_writer(store: &dyn Store, leaving: &str) -> Result<Option<Op>, StoreError> {
    let mut found: Option<Op> = None;
    store::scan_each::<StoreError>(store, KIND, 500, |id, bytes| {
        let writer = id != leaving
            && serde_json::from_slice::<AdminUser>(bytes).is_ok_and(|user| !user.read_only);
        if writer {
            found = Some(Op::Expect {
                kind: KIND.to_string(),
                id: id.to_string(),
                value: bytes.to_vec(),
            });
            return Ok(std::ops::ControlFlow::Break(()));
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })
    .await?;
    Ok(found)
}

/// Writes a user under `condition` (create: `MustNotExist`, change: `MustExist`).
pub async fn save(
    store: &dyn Store,
    user: &AdminUser,
    condition: Condition,
) -> Result<u64, StoreError> {
    save_guarded(store, user, condition, None).await
}

/// `save`, with a guard op (see `other_writer`) in the same atomic write.
pub async fn save_guarded(
    store: &dyn Store,
    user: &AdminUser,
    condition: Condition,
    guard: Option<Op>,
) -> Result<u64, StoreError> {
    let value = serde_json::to_vec(user).map_err(|e| StoreError::Unavailable {
        backend: store.backend(),
        message: format!("encoding admin user '{}': {e}", user.username),
    })?;
    let mut ops = vec![Op::Put {
        kind: KIND.to_string(),
        id: user.username.clone(),
        value,
        condition,
    }];
    ops.extend(guard);
    store.write(ops).await
}

fn hash_now(password: &str) -> Result<String, UiError> {
    bcrypt::hash(password, COST).map_err(|e| UiError::Internal(format!("hashing a password: {e}")))
}

/// How many bcrypt computations may run at once: max(1, cores / 4), so
/// that sign-ins and password changes never take more than a quarter of
/// the machine from the traffic the node proxies.
pub fn bcrypt_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 4).max(1)
}

/// Taken by every bcrypt run (check, hash, decoy): the node-wide bound.
fn bcrypt_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(bcrypt_slots()))
}

/// bcrypt takes tens of ms of CPU: it runs off the async workers that
/// serve traffic, one of `bcrypt_slots` at a time (later ones wait).
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UiError> {
    let _permit = bcrypt_permits()
        .acquire()
        .await
        .map_err(|e| UiError::Internal(format!("password work: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| UiError::Internal(format!("password work: {e}")))
}

/// The bcrypt hash of `password`.
pub async fn hash(password: String) -> Result<String, UiError> {
    off_thread(move || hash_now(&password)).await?
}

/// Whether `password` is `user`'s; with no user, the same time is spent
/// for nothing, so that unknown names and wrong passwords look alike.
pub async fn check(user: Option<AdminUser>, password: String) -> Result<bool, UiError> {
    off_thread(move || match &user {
        Some(user) => user.verify(&password),
        None => {
            burn_time(&password);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_hash_parses_and_matches_nothing_guessable() {
        assert!(decoy_hash().starts_with("$2b$10$"));
        assert!(!bcrypt::verify("password", decoy_hash()).unwrap());
    }

    #[test]
    fn otoroshi_shaped_users_verify() {
        let user: AdminUser = serde_json::from_value(serde_json::json!({
            "username": "admin@otoroshi.io",
            "password": bcrypt::hash("s3cret", 4).unwrap(),
            "label": "Otoroshi Admin",
            "createdAt": 1,
            "type": "SIMPLE",
            "metadata": {}
        }))
        .unwrap();
        assert!(user.verify("s3cret"));
        assert!(!user.verify("S3cret"));
        assert!(!user.read_only);
    }
}
