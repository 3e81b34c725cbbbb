//! The HMAC key login sessions and CSRF tokens are signed with. It lives in
//! the datastore (never in the cluster state: workers have no UI), so every
//! leader sharing a datastore accepts the sessions any of them issued, and a
//! restart does not sign everyone out.

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use store::{Condition, Op, Store, StoreError};

use crate::error::UiError;

/// Store kind of the UI's own secrets: not an entity kind of the admin API.
pub const KIND: &str = "ui-secrets";
const ID: &str = "session-signing-key";

pub struct SigningKey {
    key: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
}

impl SigningKey {
    /// HMAC-SHA256 of `parts`, each length-prefixed so that no two
    /// different lists sign alike.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    #[cfg(test)]
    pub fn for_tests(byte: u8) -> Self {
        SigningKey { key: [byte; 32] }
    }
}

/// The stored key, created at the first start (by whichever node sharing
/// the datastore gets there first).
pub async fn load_or_create(store: &dyn Store) -> Result<SigningKey, UiError> {
    for _ in 0..2 {
        if let Some(bytes) = store.get(KIND, ID).await? {
            return decode(&bytes);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let value = serde_json::to_vec(&Stored {
            key: hex::encode(key),
        })
        .map_err(|e| UiError::Internal(e.to_string()))?;
        match store
            .write(vec![Op::Put {
                kind: KIND.to_string(),
                id: ID.to_string(),
                value,
                condition: Condition::MustNotExist,
            }])
            .await
        {
            Ok(_) => return Ok(SigningKey { key }),
            // Another node made one meanwhile: read it back.
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(UiError::Internal(
        "the UI signing key could not be read back after it was created".into(),
    ))
}

fn decode(bytes: &[u8]) -> Result<SigningKey, UiError> {
    let stored: Stored = serde_json::from_slice(bytes)
        .map_err(|e| UiError::Internal(format!("stored UI signing key: {e}")))?;
    let key = hex::decode(&stored.key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| UiError::Internal("stored UI signing key is not 32 hex bytes".into()))?;
    Ok(SigningKey { key })
}
