//! The first admin API key. A node whose datastore holds no admin key creates
//! one from configuration (so one shared cluster config bootstraps every
//! node), else with random values that the caller prints once. There is no
//! well-known default secret.

use std::ops::ControlFlow;
use std::sync::Arc;

use model::Kind;
use model::apikey::{ADMIN_API_GROUP, ApiKey};
use model::id::random_token;
use model::normalize::normalize;
use serde_json::json;
use store::{Condition, Op, Store, StoreError};

#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// An admin key was already there; nothing was written.
    Existing,
    /// A key was created. `generated_secret` is set when the secret was not
    /// configured, so that the caller can show it once.
    Created {
        client_id: String,
        generated_secret: Option<String>,
    },
}

pub async fn ensure_admin_key(
    store: &Arc<dyn Store>,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<Bootstrap, StoreError> {
    if has_admin_key(store.as_ref()).await? {
        return Ok(Bootstrap::Existing);
    }
    let client_id = client_id.unwrap_or_else(|| random_token(16));
    let generated_secret = client_secret.is_none().then(|| random_token(64));
    let secret = client_secret
        .or_else(|| generated_secret.clone())
        .unwrap_or_default();
    match create_admin_key(store.as_ref(), &client_id, &secret, "komainu admin API key").await {
        Ok(()) => Ok(Bootstrap::Created {
            client_id,
            generated_secret,
        }),
        // Another node sharing the datastore bootstrapped first.
        Err(StoreError::AlreadyExists { .. }) => Ok(Bootstrap::Existing),
        Err(e) => Err(e),
    }
}

/// Writes a new read-write admin key (and the groups it needs), failing
/// with `AlreadyExists` when the client id is taken. Also how a lost admin
/// secret is recovered (`komainu admin reset-key`).
pub async fn create_admin_key(
    store: &dyn Store,
    client_id: &str,
    secret: &str,
    name: &str,
) -> Result<(), StoreError> {
    let mut ops = Vec::new();
    for (id, name) in [
        (ADMIN_API_GROUP, "Otoroshi Admin Api group"),
        ("default", "default"),
    ] {
        if store
            .get(Kind::ServiceGroup.store_key(), id)
            .await?
            .is_none()
        {
            ops.push(put(
                Kind::ServiceGroup,
                json!({"id": id, "name": name}),
                Condition::Any,
            )?);
        }
    }
    let key = json!({
        "clientId": client_id,
        "clientSecret": secret,
        "clientName": name,
        "authorizedEntities": [format!("group_{ADMIN_API_GROUP}")],
    });
    ops.push(put(Kind::ApiKey, key, Condition::MustNotExist)?);
    store.write(ops).await.map(|_| ())
}

async fn has_admin_key(store: &dyn Store) -> Result<bool, StoreError> {
    let mut found = false;
    store::scan_each(store, Kind::ApiKey.store_key(), 500, |_, bytes| {
        // A worker-role key cannot administer: it does not count.
        found = serde_json::from_slice::<ApiKey>(bytes)
            .is_ok_and(|k| k.enabled && k.is_admin() && k.role() == model::apikey::Role::Admin);
        Ok::<_, StoreError>(if found {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .await?;
    Ok(found)
}

fn put(kind: Kind, body: serde_json::Value, condition: Condition) -> Result<Op, StoreError> {
    let invalid = |message: String| StoreError::Unavailable {
        backend: "bootstrap",
        message,
    };
    let entity = normalize(kind, body, None)
        .map_err(|e| invalid(format!("bootstrap {}: {e}", kind.singular())))?;
    let value = serde_json::to_vec(&entity.value).map_err(|e| invalid(e.to_string()))?;
    Ok(Op::Put {
        kind: kind.store_key().into(),
        id: entity.id,
        value,
        condition,
    })
}
