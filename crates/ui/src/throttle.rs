//! What limits sign-in attempts. Every attempt counts before the password
//! is checked (so a burst cannot slip past a counter read before it was
//! bumped), in two datastore counters shared by every leader:
//!
//! - per name and client address: 10 failures in 15 minutes, then that
//!   address must wait; this is what stops guessing;
//! - per name from anywhere: 100 in the window, a ceiling for guessing from
//!   many addresses that one noisy client cannot reach alone, so it cannot
//!   lock the real admin out by itself.
//!
//! A success takes its attempt back and clears its address's count. bcrypt
//! checks also run at most one per core at a time: past that, 429 at once
//! rather than a CPU taken from the traffic the node proxies.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::UiContext;
use crate::error::UiError;

const PER_ADDRESS: i64 = 10;
const PER_NAME: i64 = 100;
pub const WINDOW_MS: u64 = 15 * 60 * 1000;
const PREFIX: &str = "ui-login-attempts:";

/// The client address a sign-in came from, set by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// bcrypt checks allowed at once.
pub fn checks() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new(cores))
}

/// One counted attempt: give it back with `succeeded`.
pub struct Attempt {
    pair: String,
    name: String,
    _check: OwnedSemaphorePermit,
}

pub async fn attempt(
    ctx: &UiContext,
    name: &str,
    from: Option<IpAddr>,
) -> Result<Attempt, UiError> {
    let check = ctx
        .checks
        .clone()
        .try_acquire_owned()
        .map_err(|_| UiError::TooManyAttempts {
            retry_after_secs: 1,
        })?;
    let who = ctx.fingerprint(name.to_lowercase().as_bytes());
    let address = from.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let pair = format!("{PREFIX}{who}:{address}");
    let name_key = format!("{PREFIX}{who}");
    let store = &ctx.admin.store;
    let now = crate::now_ms();
    let expires = Some(now + WINDOW_MS);
    let by_pair = store.incr(&pair, 1, expires).await?;
    let by_name = store.incr(&name_key, 1, expires).await?;
    if by_pair > PER_ADDRESS || by_name > PER_NAME {
        let counters = store.counters(&[pair.clone(), name_key.clone()]).await?;
        let ends = counters
            .iter()
            .flatten()
            .filter_map(|c| c.expires_at_ms)
            .max()
            .unwrap_or(now + WINDOW_MS);
        return Err(UiError::TooManyAttempts {
            retry_after_secs: ends.saturating_sub(now).div_ceil(1000).max(1),
        });
    }
    Ok(Attempt {
        pair,
        name: name_key,
        _check: check,
    })
}

impl Attempt {
    pub async fn succeeded(self, ctx: &UiContext) -> Result<(), UiError> {
        let store = &ctx.admin.store;
        store
            .reset_counters(std::slice::from_ref(&self.pair))
            .await?;
        store.incr(&self.name, -1, None).await?;
        Ok(())
    }
}
