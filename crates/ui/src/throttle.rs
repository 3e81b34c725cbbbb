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
//! A client address is an IPv4 address, or an IPv6 /64: one host usually
//! holds a whole /64, and keyed on full IPv6 addresses it would get 2^64
//! fresh counters. A success takes its attempt back and clears its
//! address's count. bcrypt checks also run at most max(1, cores / 4) at a
//! time (`users::BCRYPT_SLOTS`): past that, 429 at once rather than CPU
//! taken from the traffic the node proxies.

use std::net::{IpAddr, Ipv6Addr};
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

/// Sign-in checks allowed at once: as many as bcrypt may run.
pub fn checks() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(crate::users::bcrypt_slots()))
}

/// The address a sign-in counts against: IPv4 as is (IPv4-mapped IPv6 too),
/// IPv6 by its /64.
pub(crate) fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
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
    let address = from.map_or_else(|| "unknown".to_string(), address_key);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::signing_key::SigningKey;

    fn context() -> UiContext {
        let store: Arc<dyn store::Store> = Arc::new(store::MemoryStore::new());
        let state = Arc::new(model::StateHandle::new(model::State::builder(0).build()));
        let info = admin::NodeInfo {
            name: "t".into(),
            version: "0",
            mode: "off",
            started_at_ms: 0,
        };
        let admin = admin::AdminContext::new(store, state, info, 1 << 20);
        let settings = crate::UiSettings {
            host: "ui".into(),
            admin_host: "api".into(),
            secure_cookies: false,
            session_max_age: std::time::Duration::from_secs(60),
        };
        UiContext::new(
            admin,
            axum::Router::new(),
            settings,
            SigningKey::for_tests(1),
        )
    }

    /// The attack: one host owns a /64 and takes a fresh IPv6 address for
    /// every guess. Its 11th guess is refused all the same.
    #[tokio::test]
    async fn guesses_from_one_ipv6_64_share_one_counter() {
        let ctx = context();
        for n in 1..=PER_ADDRESS {
            let from: IpAddr = format!("2001:db8:1:2::{n:x}").parse().unwrap();
            assert!(attempt(&ctx, "admin", Some(from)).await.is_ok(), "{n}");
        }
        let fresh: IpAddr = "2001:db8:1:2:ffff:eeee:dddd:cccc".parse().unwrap();
        let Err(UiError::TooManyAttempts { .. }) = attempt(&ctx, "admin", Some(fresh)).await else {
            panic!("a fresh address of the same /64 was let through");
        };
        // Another /64 is another client.
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(attempt(&ctx, "admin", Some(other)).await.is_ok());
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_or_ipv6_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::"), key("2001:db8:1:2:ffff::1"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    /// The attack: a burst of sign-ins used to run bcrypt on every core at
    /// once. Now at most a quarter of them (at least one).
    #[test]
    fn bcrypt_checks_at_once_are_a_quarter_of_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expected = (cores / 4).max(1);
        assert_eq!(checks().available_permits(), expected);
        assert!(expected < cores || cores == 1);
    }
}
