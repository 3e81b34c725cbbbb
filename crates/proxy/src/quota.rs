//! Per-key quota counting on local atomics.
//!
//! Each API key has three windows: `throttlingQuota` calls per throttling
//! window (default [`DEFAULT_THROTTLING_WINDOW`], 10 s like Otoroshi; aligned
//! on multiples of its length since the epoch), `dailyQuota` per UTC day and
//! `monthlyQuota` per UTC month.
//!
//! # Counter keys (stored and wire schema)
//!
//! | window | counter key | expires at |
//! |---|---|---|
//! | throttling | `quotas:<clientId>:throttling:<window start, ms since epoch>` | window start + window length |
//! | daily | `quotas:<clientId>:daily:<YYYYMMDD>` (UTC) | next UTC midnight |
//! | monthly | `quotas:<clientId>:monthly:<YYYYMM>` (UTC) | first UTC midnight of the next month |
//!
//! Client ids may contain `:`; parse a key from the right.
//!
//! # Accounting
//!
//! For each window of a key the tracker holds three numbers:
//! - `global`: the last total the caller reported with [`QuotaTracker::observe`];
//! - `pending`: calls admitted here and not drained yet;
//! - `in_transit`: calls drained (handed to the caller to add to the shared
//!   count) and not yet reflected by an `observe` of that window.
//!
//! A call is admitted when `global + in_transit + pending < quota` for all
//! three windows; admission then adds one to each `pending`. `drain` moves
//! `pending` to `in_transit` and returns it; `observe(total)` replaces
//! `global` with `total` and clears `in_transit` (so the caller must only
//! observe totals that include what it drained before: the natural order is
//! drain → add to store → observe the totals it got back); `restore` moves an
//! undelivered increment back to `pending`. So a local call is counted
//! exactly once at every moment, and between a drain and its observe the
//! count does not dip. `observe` replaces rather than maxes, so a reset of
//! the shared counter takes effect; a stale total only under-counts until the
//! next observe.
//!
//! # Cost and memory
//!
//! Keys live in 32 shards of `RwLock<HashMap>`; a call takes one shard read
//! lock and the key's read lock, and does three `fetch_add`s (rolled back if
//! a window refuses, so concurrent callers never over-admit). Write locks are
//! taken when a key is first seen, when a window rolls over, and by the
//! background calls (`drain` for keys with pending calls, `observe`,
//! `restore`). A rolled-over window is kept only until its pending calls are
//! drained; keys whose windows have all ended (judged against the latest time
//! passed to [`QuotaTracker::admit`]) and that have nothing pending are
//! dropped by `drain`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use model::apikey::ApiKey;
use model::calendar::{DAY_MS, civil_from_days, days_from_civil};

/// Reading and resetting a key's current windows (the admin API's quotas).
mod usage;
pub use usage::CurrentWindow;

/// Otoroshi's throttling window.
pub const DEFAULT_THROTTLING_WINDOW: Duration = Duration::from_secs(10);

const SHARDS: usize = 32;
/// `last_seen` is refreshed at most this often (it only drives eviction).
const LAST_SEEN_GRANULARITY_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Throttling,
    Daily,
    Monthly,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Throttling, Window::Daily, Window::Monthly];

    /// The name used in counter keys.
    pub fn name(self) -> &'static str {
        match self {
            Window::Throttling => "throttling",
            Window::Daily => "daily",
            Window::Monthly => "monthly",
        }
    }

    fn index(self) -> usize {
        match self {
            Window::Throttling => 0,
            Window::Daily => 1,
            Window::Monthly => 2,
        }
    }

    fn parse(name: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.name() == name)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Calls left in each window after an admitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub daily: u64,
    pub monthly: u64,
    pub throttling: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{which} quota exceeded, retry in {retry_after_secs} s")]
pub struct QuotaExceeded {
    /// The exhausted window; when several are, the longest (its end is the
    /// earliest time a call can succeed).
    pub which: Window,
    /// Seconds until that window ends, at least 1 (for `Retry-After`).
    pub retry_after_secs: u64,
}

/// Calls to add to a shared counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    /// Counter key, see the module documentation.
    pub key: String,
    pub delta: u64,
    /// End of the window, ms since the epoch: the counter may expire then.
    pub expires_at_ms: u64,
}

/// A window's position: `id` is the start ms (throttling), `YYYYMMDD`
/// (daily) or `YYYYMM` (monthly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBounds {
    pub id: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The throttling window of length `len_ms` containing `now_ms`.
pub fn throttling_window(now_ms: u64, len_ms: u64) -> WindowBounds {
    let len_ms = len_ms.max(1);
    let start_ms = now_ms - now_ms % len_ms;
    WindowBounds {
        id: start_ms,
        start_ms,
        end_ms: start_ms.saturating_add(len_ms),
    }
}

/// The UTC day containing `now_ms`.
pub fn daily_window(now_ms: u64) -> WindowBounds {
    let day = now_ms / DAY_MS;
    let (y, m, d) = civil_from_days(day as i64);
    let start_ms = day * DAY_MS;
    WindowBounds {
        id: y as u64 * 10_000 + u64::from(m) * 100 + u64::from(d),
        start_ms,
        end_ms: start_ms + DAY_MS,
    }
}

/// The UTC month containing `now_ms`.
pub fn monthly_window(now_ms: u64) -> WindowBounds {
    let (y, m, _) = civil_from_days((now_ms / DAY_MS) as i64);
    month_bounds(y, m)
}

fn month_bounds(y: i64, m: u32) -> WindowBounds {
    let (next_y, next_m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    WindowBounds {
        id: y as u64 * 100 + u64::from(m),
        start_ms: days_from_civil(y, m, 1) as u64 * DAY_MS,
        end_ms: days_from_civil(next_y, next_m, 1) as u64 * DAY_MS,
    }
}

/// `quotas:<clientId>:<window>:<id>`.
pub fn counter_key(client_id: &str, window: Window, id: u64) -> String {
    format!("quotas:{client_id}:{}:{id}", window.name())
}

#[derive(Debug)]
struct Slot {
    /// Empty for a placeholder (`end_ms` 0) that the first call rolls over.
    counter_key: String,
    end_ms: u64,
    global: AtomicU64,
    pending: AtomicU64,
    in_transit: AtomicU64,
}

impl Slot {
    fn placeholder() -> Slot {
        Slot::new(String::new(), 0)
    }

    fn new(counter_key: String, end_ms: u64) -> Slot {
        Slot {
            counter_key,
            end_ms,
            global: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            in_transit: AtomicU64::new(0),
        }
    }

    fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct KeyCounters {
    client_id: String,
    /// Indexed by `Window::index`.
    slots: RwLock<[Slot; 3]>,
    /// Latest `now_ms` of an admitted or refused call (to the second).
    last_seen: AtomicU64,
}

impl KeyCounters {
    fn new(client_id: &str) -> KeyCounters {
        KeyCounters {
            client_id: client_id.to_string(),
            slots: RwLock::new([
                Slot::placeholder(),
                Slot::placeholder(),
                Slot::placeholder(),
            ]),
            last_seen: AtomicU64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, [Slot; 3]> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, [Slot; 3]> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }
}

type Shard = RwLock<HashMap<String, KeyCounters, BuildHasherDefault<Fnv>>>;

/// Quota counters of every key seen; `Send + Sync`, share it as an `Arc`.
#[derive(Debug)]
pub struct QuotaTracker {
    window_ms: u64,
    shards: Box<[Shard]>,
    /// Rolled-over windows with calls not drained yet, and restored
    /// increments of past windows.
    retired: Mutex<Vec<Slot>>,
    /// The latest `now_ms` seen by `admit` (to the second): windows ending
    /// before it are over.
    horizon: AtomicU64,
}

impl Default for QuotaTracker {
    fn default() -> Self {
        QuotaTracker::new(DEFAULT_THROTTLING_WINDOW)
    }
}

impl QuotaTracker {
    /// `throttling_window`: length of the throttling window (a zero length
    /// is taken as 1 ms).
    pub fn new(throttling_window: Duration) -> Self {
        let window_ms = u64::try_from(throttling_window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        QuotaTracker {
            window_ms,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            retired: Mutex::new(Vec::new()),
            horizon: AtomicU64::new(0),
        }
    }

    pub fn throttling_window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// Number of keys currently tracked.
    pub fn tracked_keys(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }

    /// Admits one call for `key` at `now_ms` (ms since the epoch), or says
    /// which quota is exhausted.
    pub fn admit(&self, key: &ApiKey, now_ms: u64) -> Result<Remaining, QuotaExceeded> {
        let quotas = [key.throttling_quota, key.daily_quota, key.monthly_quota];
        let shard = self.shard(&key.client_id);
        {
            let map = read(shard);
            if let Some(counters) = map.get(key.client_id.as_str()) {
                return self.admit_key(counters, quotas, now_ms);
            }
        }
        // First call of this key (since it was last evicted): insert and
        // admit under the shard's write lock, so `drain` cannot evict the
        // new entry in between.
        let mut map = write(shard);
        let counters = map
            .entry(key.client_id.clone())
            .or_insert_with(|| KeyCounters::new(&key.client_id));
        self.admit_key(counters, quotas, now_ms)
    }

    fn admit_key(
        &self,
        counters: &KeyCounters,
        quotas: [u64; 3],
        now_ms: u64,
    ) -> Result<Remaining, QuotaExceeded> {
        if counters.last_seen.load(Ordering::Relaxed) + LAST_SEEN_GRANULARITY_MS <= now_ms {
            counters.last_seen.store(now_ms, Ordering::Relaxed);
            self.horizon.fetch_max(now_ms, Ordering::Relaxed);
        }
        let mut slots = counters.read();
        if slots.iter().any(|s| now_ms >= s.end_ms) {
            drop(slots);
            self.roll(counters, now_ms);
            slots = counters.read();
        }
        admit_in(&slots, quotas, now_ms)
    }

    /// Starts new windows for those that ended by `now_ms`.
    fn roll(&self, counters: &KeyCounters, now_ms: u64) {
        let mut slots = counters.write();
        for window in Window::ALL {
            let slot = &mut slots[window.index()];
            if now_ms < slot.end_ms {
                continue;
            }
            let bounds = self.bounds(window, now_ms);
            let fresh = Slot::new(
                counter_key(&counters.client_id, window, bounds.id),
                bounds.end_ms,
            );
            let old = std::mem::replace(slot, fresh);
            self.retire(old);
        }
    }

    fn bounds(&self, window: Window, now_ms: u64) -> WindowBounds {
        match window {
            Window::Throttling => throttling_window(now_ms, self.window_ms),
            Window::Daily => daily_window(now_ms),
            Window::Monthly => monthly_window(now_ms),
        }
    }

    /// Keeps a replaced slot only while it has calls to drain.
    fn retire(&self, old: Slot) {
        let pending = old.pending();
        if pending == 0 {
            return;
        }
        let mut retired = self.retired();
        match retired.iter().find(|s| s.counter_key == old.counter_key) {
            Some(same) => {
                same.pending.fetch_add(pending, Ordering::Relaxed);
            }
            None => retired.push(old),
        }
    }

    /// Counter keys of the windows still open (with their expiry) of the keys
    /// this node has served, whether or not they have calls pending: a worker asks its leader for their global
    /// totals even when it has nothing to add, so that it hears of the calls
    /// other workers admitted.
    pub fn live_windows(&self) -> Vec<(String, u64)> {
        let horizon = self.horizon.load(Ordering::Relaxed);
        let mut out = Vec::new();
        for shard in &self.shards {
            // Only keys this node served: totals of keys it merely heard of
            // are of no use to it.
            for counters in read(shard)
                .values()
                .filter(|c| c.last_seen.load(Ordering::Relaxed) > 0)
            {
                for slot in counters.read().iter() {
                    if !slot.counter_key.is_empty() && slot.end_ms > horizon {
                        out.push((slot.counter_key.clone(), slot.end_ms));
                    }
                }
            }
        }
        out
    }

    /// The increments not yet drained, as (counter key, delta, window
    /// expiry); resets them (they count as in transit until observed).
    pub fn drain(&self) -> Vec<Increment> {
        let mut out = Vec::new();
        let horizon = self.horizon.load(Ordering::Relaxed);
        let mut evictable = [false; SHARDS];
        for (n, shard) in self.shards.iter().enumerate() {
            let map = read(shard);
            for counters in map.values() {
                let slots = counters.read();
                let has_pending = slots.iter().any(|s| s.pending() > 0);
                if !has_pending {
                    evictable[n] |= slots.iter().all(|s| s.end_ms <= horizon);
                    continue;
                }
                drop(slots);
                // The write lock waits out admissions in progress, so a
                // call rolled back by another window is never drained.
                let slots = counters.write();
                for slot in slots.iter() {
                    let delta = slot.pending.swap(0, Ordering::Relaxed);
                    if delta > 0 {
                        slot.in_transit.fetch_add(delta, Ordering::Relaxed);
                        out.push(Increment {
                            key: slot.counter_key.clone(),
                            delta,
                            expires_at_ms: slot.end_ms,
                        });
                    }
                }
            }
        }
        let retired = std::mem::take(&mut *self.retired());
        for slot in retired {
            let delta = slot.pending();
            if delta > 0 {
                out.push(Increment {
                    key: slot.counter_key,
                    delta,
                    expires_at_ms: slot.end_ms,
                });
            }
        }
        for (n, shard) in self.shards.iter().enumerate() {
            if evictable[n] {
                write(shard).retain(|_, counters| {
                    let slots = counters.read();
                    !slots
                        .iter()
                        .all(|s| s.end_ms <= horizon && s.pending() == 0)
                });
            }
        }
        out
    }

    /// Reports the global total of a counter, after the caller added the
    /// drained increments to the shared store. `expires_at_ms` is the
    /// window's end as the caller knows it; the tracker derives windows from
    /// the counter key itself and uses it only when the key does not parse
    /// to a known window. Unknown keys are tracked from here on (so a node
    /// learns other nodes' use before its first local call); totals of a
    /// window older than the current one are ignored.
    pub fn observe(&self, counter_key: &str, total: u64, expires_at_ms: u64) {
        let _ = expires_at_ms;
        let Some((client_id, window, bounds)) = self.parse_key(counter_key) else {
            return;
        };
        self.with_counters(client_id, |counters| {
            let mut slots = counters.write();
            let slot = &mut slots[window.index()];
            if slot.counter_key == counter_key {
                slot.global.store(total, Ordering::Relaxed);
                slot.in_transit.store(0, Ordering::Relaxed);
            } else if bounds.start_ms >= slot.end_ms {
                let fresh = Slot::new(counter_key.to_string(), bounds.end_ms);
                fresh.global.store(total, Ordering::Relaxed);
                let old = std::mem::replace(slot, fresh);
                self.retire(old);
            }
        });
    }

    /// Puts back increments that could not be delivered, so that the next
    /// `drain` returns them again.
    pub fn restore(&self, increments: Vec<Increment>) {
        for increment in increments {
            if increment.delta == 0 {
                continue;
            }
            let Some((client_id, window, bounds)) = self.parse_key(&increment.key) else {
                // Not a key this tracker makes: keep it as is for the next
                // drain rather than lose it.
                self.retire(pending_slot(
                    increment.key,
                    increment.expires_at_ms,
                    increment.delta,
                ));
                continue;
            };
            let client_id = client_id.to_string();
            self.with_counters(&client_id, |counters| {
                let mut slots = counters.write();
                let slot = &mut slots[window.index()];
                if slot.counter_key == increment.key {
                    slot.pending.fetch_add(increment.delta, Ordering::Relaxed);
                    let in_transit = slot.in_transit.load(Ordering::Relaxed);
                    slot.in_transit.store(
                        in_transit.saturating_sub(increment.delta),
                        Ordering::Relaxed,
                    );
                } else if bounds.start_ms >= slot.end_ms {
                    let fresh = pending_slot(increment.key, bounds.end_ms, increment.delta);
                    let old = std::mem::replace(slot, fresh);
                    self.retire(old);
                } else {
                    self.retire(pending_slot(increment.key, bounds.end_ms, increment.delta));
                }
            });
        }
    }

    /// Runs `f` on a key's counters, creating them if needed.
    fn with_counters(&self, client_id: &str, f: impl FnOnce(&KeyCounters)) {
        let shard = self.shard(client_id);
        {
            let map = read(shard);
            if let Some(counters) = map.get(client_id) {
                f(counters);
                return;
            }
        }
        let mut map = write(shard);
        let counters = map
            .entry(client_id.to_string())
            .or_insert_with(|| KeyCounters::new(client_id));
        f(counters);
    }

    /// (client id, window, bounds) of a counter key this tracker would make.
    fn parse_key<'k>(&self, key: &'k str) -> Option<(&'k str, Window, WindowBounds)> {
        let rest = key.strip_prefix("quotas:")?;
        let (rest, id) = rest.rsplit_once(':')?;
        let (client_id, window) = rest.rsplit_once(':')?;
        let window = Window::parse(window)?;
        if client_id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id: u64 = id.parse().ok()?;
        // Keys come from the network (leader answers, exports): only years a
        // quota can live in, so that no date arithmetic below can overflow.
        const MAX_MS: u64 = 253_402_300_800_000; // 10000-01-01
        let bounds = match window {
            Window::Throttling if id < MAX_MS => WindowBounds {
                id,
                start_ms: id,
                end_ms: id.saturating_add(self.window_ms),
            },
            Window::Throttling => return None,
            Window::Daily => {
                let (y, m, d) = (id / 10_000, (id / 100 % 100) as u32, (id % 100) as u32);
                if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > 31 {
                    return None;
                }
                let start = days_from_civil(y as i64, m, d);
                if civil_from_days(start) != (y as i64, m, d) || start < 0 {
                    return None;
                }
                let start_ms = start as u64 * DAY_MS;
                WindowBounds {
                    id,
                    start_ms,
                    end_ms: start_ms + DAY_MS,
                }
            }
            Window::Monthly => {
                let (y, m) = (id / 100, (id % 100) as u32);
                if !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
                    return None;
                }
                month_bounds(y as i64, m)
            }
        };
        Some((client_id, window, bounds))
    }

    fn shard(&self, client_id: &str) -> &Shard {
        let mut hasher = Fnv::default();
        hasher.write(client_id.as_bytes());
        let n = (hasher.finish() % SHARDS as u64) as usize;
        &self.shards[n]
    }

    fn retired(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.retired.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn pending_slot(counter_key: String, end_ms: u64, pending: u64) -> Slot {
    let slot = Slot::new(counter_key, end_ms);
    slot.pending.store(pending, Ordering::Relaxed);
    slot
}

/// Longest window first: if it refuses, its end is the honest Retry-After.
const ADMISSION_ORDER: [Window; 3] = [Window::Monthly, Window::Daily, Window::Throttling];

fn admit_in(slots: &[Slot; 3], quotas: [u64; 3], now_ms: u64) -> Result<Remaining, QuotaExceeded> {
    let mut remaining = [0u64; 3];
    for (n, window) in ADMISSION_ORDER.into_iter().enumerate() {
        let i = window.index();
        let slot = &slots[i];
        let before = slot.pending.fetch_add(1, Ordering::Relaxed);
        let used = slot
            .global
            .load(Ordering::Relaxed)
            .saturating_add(slot.in_transit.load(Ordering::Relaxed))
            .saturating_add(before);
        if used >= quotas[i] {
            for taken in ADMISSION_ORDER.iter().take(n + 1) {
                slots[taken.index()].pending.fetch_sub(1, Ordering::Relaxed);
            }
            let left_ms = slot.end_ms.saturating_sub(now_ms);
            return Err(QuotaExceeded {
                which: window,
                retry_after_secs: left_ms.div_ceil(1000).max(1),
            });
        }
        remaining[i] = quotas[i] - used - 1;
    }
    Ok(Remaining {
        throttling: remaining[Window::Throttling.index()],
        daily: remaining[Window::Daily.index()],
        monthly: remaining[Window::Monthly.index()],
    })
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// FNV-1a: client ids come from the state (not from the client), so a fast
/// hash without flooding resistance is fine.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
