//! What this node announced to its `changes()` subscribers, and the epoch
//! (one life of the root's data, see `lua/epoch_rules.lua`) it belongs to.
//! The scripts that move or read the revision get both, so that a server
//! that lost its data is noticed and the revision jumps past everything
//! announced instead of going backwards under the nodes' feet.

use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use super::keys::Keys;
use super::link::Link;
use super::scripts;
use crate::StoreError;
use crate::notify::publish;

pub(super) struct Announced {
    changes: watch::Sender<u64>,
    epoch: Mutex<String>,
}

impl Announced {
    /// Starts from a first look at the server (see `first_look`).
    pub(super) fn new((revision, epoch): (u64, String)) -> Self {
        Self {
            changes: watch::Sender::new(revision),
            epoch: Mutex::new(epoch),
        }
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The epoch known and the revision announced, for a script to compare
    /// with what the server holds.
    pub(super) fn basis(&self) -> (String, u64) {
        (self.epoch().clone(), *self.changes.borrow())
    }

    /// Records what a script answered. The revision never goes backwards
    /// (`publish`), whatever order concurrent answers arrive in.
    pub(super) fn observe(&self, revision: u64, epoch: String) {
        let mut known = self.epoch();
        if *known != epoch {
            *known = epoch;
        }
        drop(known);
        publish(&self.changes, revision);
    }

    /// A revision announced by pub/sub: no epoch comes with it.
    pub(super) fn heard(&self, revision: u64) {
        publish(&self.changes, revision);
    }

    /// Nothing panics while holding the lock, so a poisoned one still
    /// guards a whole string.
    fn epoch(&self) -> std::sync::MutexGuard<'_, String> {
        self.epoch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The revision and epoch at connect time (starting the epoch if the root
/// has none yet).
pub(super) async fn first_look(link: &Link, keys: &Keys) -> Result<(u64, String), StoreError> {
    observe(link, keys, String::new(), 0).await
}

/// Re-reads the revision (healing a loss of data) and announces it.
pub(super) async fn refresh(
    link: &Link,
    keys: &Keys,
    announced: &Announced,
) -> Result<(), StoreError> {
    let (epoch, revision) = announced.basis();
    let (revision, epoch) = observe(link, keys, epoch, revision).await?;
    announced.observe(revision, epoch);
    Ok(())
}

async fn observe(
    link: &Link,
    keys: &Keys,
    known_epoch: String,
    announced: u64,
) -> Result<(u64, String), StoreError> {
    link.invoke(
        scripts::OBSERVE
            .key(keys.revision())
            .key(keys.epoch())
            .arg(known_epoch)
            .arg(announced)
            .arg(keys.changes_channel()),
    )
    .await
}
