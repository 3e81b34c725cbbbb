//! `komainu admin reset-key` and `komainu admin reset-password`: getting
//! back into a deployment whose admin secret or password is lost, without
//! losing its data. Both write straight into the datastore the
//! configuration names (the same one `run` would open), print the new
//! secret once, and change nothing else. Meant for a stopped node: the
//! embedded datastore is locked by a running one (the error says so);
//! leaders on Redis or PostgreSQL pick the change up like any write.

use anyhow::Context;
use config::Config;
use model::id::random_token;
use store::Condition;
use ui::users::{self, AdminUser};

use crate::store_node::open_store;

/// A new read-write admin API key, alongside the existing ones (a lost key
/// is not guessed at: delete it from the admin API afterwards).
pub async fn reset_key(config: &Config) -> anyhow::Result<(String, String)> {
    let store = open_store(config).await.context("opening the datastore")?;
    let client_id = format!("admin-{}", random_token(12));
    let secret = random_token(64);
    admin::bootstrap::create_admin_key(
        store.as_ref(),
        &client_id,
        &secret,
        "admin API key from komainu admin reset-key",
    )
    .await
    .context("writing the admin API key")?;
    Ok((client_id, secret))
}

/// A new random password for `username`, who may write afterwards; the user
/// is created when missing. Its open UI sessions end (the password is part
/// of their fingerprint).
pub async fn reset_password(config: &Config, username: &str) -> anyhow::Result<String> {
    if username.trim().is_empty() {
        anyhow::bail!("the user name must not be empty");
    }
    let store = open_store(config).await.context("opening the datastore")?;
    let password = random_token(24);
    let hash = users::hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let user = match users::find(store.as_ref(), username)
        .await
        .map_err(|e| anyhow::anyhow!("reading admin user '{username}': {e}"))?
    {
        Some(mut user) => {
            user.password = hash;
            user.read_only = false;
            user
        }
        None => AdminUser::new(username, hash, "from komainu admin reset-password", false),
    };
    users::save(store.as_ref(), &user, Condition::Any)
        .await
        .context("writing the admin user")?;
    Ok(password)
}
