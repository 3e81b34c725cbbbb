//! bcrypt checks for SimpleBasicAuth, off the async workers and bounded.
//!
//! A bcrypt check costs tens of milliseconds of CPU on purpose; run on an
//! async worker it would stall every other request of that worker. Checks
//! run on tokio's blocking threads, at most max(1, cores / 2) at a time for
//! the whole process (the other half of the cores keep proxying). A check
//! that finds every slot taken waits its turn in a short queue
//! ([`MAX_WAITING`] checks); past that the call is answered 429 at once
//! rather than piling up. A check started keeps its slot until bcrypt
//! returns, even if the client has gone, so the bound holds.
//!
//! Successful checks are remembered per plugin instance (a new config is a
//! new instance, so a fresh memory): by an HMAC of (user, password) under a
//! random per-instance key, never the password itself, in a bounded set.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

/// Checks waiting for a slot, at most; past that: busy (429).
pub const MAX_WAITING: usize = 64;

/// Successful (user, password) pairs remembered per instance, at most.
const CACHE_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Match,
    NoMatch,
    /// Too many checks running and waiting: try later.
    Busy,
}

fn slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new((cores / 2).max(1)))
    })
}

static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Counts a waiting check out when it gets its slot or is dropped.
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Checks `password` against a bcrypt `hash` on a blocking thread.
pub async fn verify(password: String, hash: Arc<str>) -> Checked {
    let slots = slots();
    let permit = match slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            if WAITING.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
                WAITING.fetch_sub(1, Ordering::Relaxed);
                return Checked::Busy;
            }
            let _waiting = Waiting;
            match slots.clone().acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return Checked::Busy,
            }
        }
    };
    let checked = tokio::task::spawn_blocking(move || {
        let _slot = permit;
        bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
    })
    .await;
    match checked {
        Ok(true) => Checked::Match,
        _ => Checked::NoMatch,
    }
}

/// The (user, password) pairs that passed a bcrypt check, by keyed hash.
pub struct Verified {
    key: [u8; 32],
    seen: Mutex<HashSet<[u8; 32]>>,
}

impl Verified {
    pub fn new() -> Self {
        Self {
            key: rand::random(),
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// The pair's tag: HMAC-SHA256 under this instance's key, the user's
    /// length first so that ("ab", "c") and ("a", "bc") differ.
    pub fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn contains(&self, tag: &[u8; 32]) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(tag)
    }

    /// Remembers a pair; when full, one remembered pair is forgotten (it
    /// costs one more bcrypt check next time, nothing else).
    pub fn insert(&self, tag: [u8; 32]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= CACHE_CAPACITY
            && let Some(old) = seen.iter().next().copied()
        {
            seen.remove(&old);
        }
        seen.insert(tag);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tags_are_keyed_and_unambiguous() {
        let a = Verified::new();
        let b = Verified::new();
        assert_eq!(a.tag("u", "p"), a.tag("u", "p"));
        assert_ne!(a.tag("u", "p"), b.tag("u", "p"));
        assert_ne!(a.tag("ab", "c"), a.tag("a", "bc"));
        a.insert(a.tag("u", "p"));
        assert!(a.contains(&a.tag("u", "p")));
        assert!(!a.contains(&a.tag("u", "q")));
    }

    #[test]
    fn the_cache_is_bounded() {
        let v = Verified::new();
        for i in 0..CACHE_CAPACITY + 10 {
            v.insert(v.tag("u", &i.to_string()));
        }
        assert_eq!(v.seen.lock().unwrap().len(), CACHE_CAPACITY);
    }

    /// One test for everything that uses the process-wide slots, so that
    /// no other test competes for them.
    #[tokio::test]
    async fn bcrypt_checks_match_or_not_and_queue_within_bounds() {
        let hash: Arc<str> = bcrypt::hash("secret", 4).unwrap().into();
        assert_eq!(verify("secret".into(), hash.clone()).await, Checked::Match);
        assert_eq!(verify("wrong".into(), hash.clone()).await, Checked::NoMatch);

        // Every slot taken: checks queue, up to MAX_WAITING, then busy.
        let slots = slots().clone();
        let all = u32::try_from(slots.available_permits()).unwrap();
        let held = slots.acquire_many_owned(all).await.unwrap();
        let queued: Vec<_> = (0..MAX_WAITING)
            .map(|_| tokio::spawn(verify("secret".into(), hash.clone())))
            .collect();
        while WAITING.load(Ordering::Relaxed) < MAX_WAITING {
            tokio::task::yield_now().await;
        }
        assert_eq!(verify("secret".into(), hash.clone()).await, Checked::Busy);
        drop(held);
        for check in queued {
            assert_eq!(check.await.unwrap(), Checked::Match);
        }
        assert_eq!(WAITING.load(Ordering::Relaxed), 0);
    }
}
