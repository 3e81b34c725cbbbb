//! What the admin API reads and resets of a key's quota windows on this
//! node: the calls counted here and not yet in the shared store, and a reset
//! of the current windows.

use std::sync::atomic::Ordering;

use super::{QuotaTracker, Window, counter_key, read};

/// One of a key's current windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentWindow {
    pub window: Window,
    /// Its counter key in the shared store.
    pub counter_key: String,
    /// End of the window, ms since the epoch.
    pub end_ms: u64,
    /// The last global total heard plus this node's calls on their way to
    /// the shared store (drained, not acknowledged yet).
    pub heard: u64,
    /// Calls admitted here and not yet handed to the shared store.
    pub unsynced: u64,
}

impl QuotaTracker {
    /// The three windows of `client_id` containing `now_ms`, in
    /// [`Window::ALL`] order, with this node's calls not yet synced.
    pub fn current_windows(&self, client_id: &str, now_ms: u64) -> [CurrentWindow; 3] {
        let mut windows = Window::ALL.map(|window| {
            let bounds = self.bounds(window, now_ms);
            CurrentWindow {
                window,
                counter_key: counter_key(client_id, window, bounds.id),
                end_ms: bounds.end_ms,
                heard: 0,
                unsynced: 0,
            }
        });
        let shard = read(self.shard(client_id));
        if let Some(counters) = shard.get(client_id) {
            let slots = counters.read();
            for current in &mut windows {
                let slot = &slots[current.window.index()];
                if slot.counter_key == current.counter_key {
                    current.heard = slot
                        .global
                        .load(Ordering::Relaxed)
                        .saturating_add(slot.in_transit.load(Ordering::Relaxed));
                    current.unsynced = slot.pending();
                }
            }
        }
        windows
    }

    /// Forgets everything counted in the current windows of `client_id`:
    /// the last global totals heard and the calls not synced yet. The shared
    /// counters are the caller's to reset; until this node hears their new
    /// totals it admits against zero.
    pub fn reset(&self, client_id: &str, now_ms: u64) {
        let shard = read(self.shard(client_id));
        let Some(counters) = shard.get(client_id) else {
            return;
        };
        // The write lock waits out admissions in progress.
        let slots = counters.write();
        for window in Window::ALL {
            let current = counter_key(client_id, window, self.bounds(window, now_ms).id);
            let slot = &slots[window.index()];
            if slot.counter_key == current {
                slot.global.store(0, Ordering::Relaxed);
                slot.pending.store(0, Ordering::Relaxed);
                slot.in_transit.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use model::apikey::ApiKey;

    fn key(daily: u64) -> ApiKey {
        let mut key: ApiKey = serde_json::from_value(serde_json::json!({
            "clientId": "k1", "clientSecret": "s", "clientName": "k1"
        }))
        .unwrap();
        key.daily_quota = daily;
        key
    }

    #[test]
    fn unsynced_calls_and_a_reset() {
        let tracker = QuotaTracker::default();
        let now = 1_700_000_000_000;
        let key = key(5);
        for _ in 0..3 {
            tracker.admit(&key, now).unwrap();
        }
        let windows = tracker.current_windows("k1", now);
        assert_eq!(windows[1].window, Window::Daily);
        assert_eq!(windows[1].counter_key, "quotas:k1:daily:20231114");
        assert!(windows.iter().all(|w| w.unsynced == 3), "{windows:?}");
        assert!(windows.iter().all(|w| w.heard == 0), "{windows:?}");
        // Two more calls are drained (in the store now) and the total heard.
        tracker.admit(&key, now).unwrap();
        tracker.admit(&key, now).unwrap();
        for inc in tracker.drain() {
            tracker.observe(&inc.key, 5, inc.expires_at_ms);
        }
        assert!(tracker.admit(&key, now).is_err());
        assert_eq!(tracker.current_windows("k1", now)[1].heard, 5);
        tracker.reset("k1", now);
        assert!(
            tracker
                .current_windows("k1", now)
                .iter()
                .all(|w| w.unsynced == 0 && w.heard == 0)
        );
        for _ in 0..5 {
            tracker.admit(&key, now).unwrap();
        }
        assert!(tracker.admit(&key, now).is_err());
        // An unknown key has nothing unsynced and resets without fuss.
        tracker.reset("nobody", now);
        assert_eq!(tracker.current_windows("nobody", now)[0].unsynced, 0);
    }

    #[test]
    fn a_lower_total_after_a_reset_elsewhere_is_taken() {
        let tracker = QuotaTracker::default();
        let now = 1_700_000_000_000;
        let key = key(5);
        let daily = tracker.current_windows("k1", now)[1].counter_key.clone();
        tracker.admit(&key, now).unwrap();
        tracker.observe(&daily, 5, 0);
        tracker.drain();
        tracker.observe(&daily, 5, 0);
        assert!(tracker.admit(&key, now).is_err());
        // Another node reset the shared counter: the next total is lower.
        tracker.observe(&daily, 0, 0);
        assert!(tracker.admit(&key, now).is_ok());
    }
}
