#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::apikey::{ApiKey, UNLIMITED};
use proxy::quota::{
    Increment, QuotaExceeded, QuotaTracker, Remaining, Window, counter_key, daily_window,
    monthly_window, throttling_window,
};
use serde_json::json;

const DAY: u64 = 86_400_000;
/// 2024-02-29T00:00:00Z
const LEAP_DAY: u64 = 1_709_164_800_000;
/// 2024-03-01T00:00:00Z
const MARCH_1_2024: u64 = 1_709_251_200_000;

fn key(id: &str, throttling: u64, daily: u64, monthly: u64) -> ApiKey {
    serde_json::from_value(json!({
        "clientId": id, "clientSecret": "s", "clientName": id,
        "throttlingQuota": throttling, "dailyQuota": daily, "monthlyQuota": monthly,
    }))
    .unwrap()
}

fn tracker() -> QuotaTracker {
    QuotaTracker::new(Duration::from_secs(10))
}

fn by_key(increments: Vec<Increment>) -> HashMap<String, (u64, u64)> {
    let mut map = HashMap::new();
    for i in increments {
        let entry = map.entry(i.key).or_insert((0, i.expires_at_ms));
        entry.0 += i.delta;
        assert_eq!(entry.1, i.expires_at_ms);
    }
    map
}

// ---------------------------------------------------------------- windows

#[test]
fn daily_windows() {
    let w = daily_window(LEAP_DAY + DAY - 1);
    assert_eq!(w.id, 20240229);
    assert_eq!((w.start_ms, w.end_ms), (LEAP_DAY, MARCH_1_2024));
    let w = daily_window(LEAP_DAY - 1);
    assert_eq!(w.id, 20240228);
    assert_eq!(w.end_ms, LEAP_DAY);
    // 2023 has no Feb 29: Feb 28 ends on March 1.
    let w = daily_window(1_677_542_400_000);
    assert_eq!(w.id, 20230228);
    assert_eq!(w.end_ms, 1_677_628_800_000);
    assert_eq!(daily_window(1_677_628_800_000).id, 20230301);
    // Year end.
    let w = daily_window(1_735_689_600_000 - 1);
    assert_eq!(w.id, 20241231);
    assert_eq!(w.end_ms, 1_735_689_600_000);
    assert_eq!(daily_window(1_735_689_600_000).id, 20250101);
    assert_eq!(daily_window(0).id, 19700101);
}

#[test]
fn monthly_windows() {
    let feb_2024 = monthly_window(LEAP_DAY);
    assert_eq!(feb_2024.id, 202402);
    assert_eq!(feb_2024.start_ms, 1_706_745_600_000);
    assert_eq!(feb_2024.end_ms, MARCH_1_2024);
    assert_eq!(monthly_window(MARCH_1_2024 - 1).id, 202402);
    assert_eq!(monthly_window(MARCH_1_2024).id, 202403);
    let feb_2023 = monthly_window(1_675_209_600_000);
    assert_eq!(feb_2023.end_ms - feb_2023.start_ms, 28 * DAY);
    // December rolls into January of the next year.
    let dec = monthly_window(1_704_067_200_000 - 1);
    assert_eq!(dec.id, 202312);
    assert_eq!(dec.start_ms, 1_701_388_800_000);
    assert_eq!(dec.end_ms, 1_704_067_200_000);
    assert_eq!(monthly_window(1_704_067_200_000).id, 202401);
    // A 31-day month.
    let may = monthly_window(1_717_113_600_000);
    assert_eq!(may.id, 202405);
    assert_eq!(may.end_ms, 1_717_200_000_000);
    assert_eq!(may.end_ms - may.start_ms, 31 * DAY);
}

#[test]
fn throttling_windows_align_on_their_length() {
    let w = throttling_window(LEAP_DAY + 12_345, 10_000);
    assert_eq!(w.start_ms, LEAP_DAY + 10_000);
    assert_eq!(w.id, w.start_ms);
    assert_eq!(w.end_ms, LEAP_DAY + 20_000);
    let t = QuotaTracker::new(Duration::from_secs(1));
    assert_eq!(t.throttling_window(), Duration::from_secs(1));
    assert_eq!(
        QuotaTracker::default().throttling_window(),
        Duration::from_secs(10)
    );
}

#[test]
fn counter_key_format() {
    assert_eq!(
        counter_key("abc", Window::Daily, 20240229),
        "quotas:abc:daily:20240229"
    );
    assert_eq!(
        counter_key("abc", Window::Monthly, 202402),
        "quotas:abc:monthly:202402"
    );
    assert_eq!(
        counter_key("a:b", Window::Throttling, 1_709_164_810_000),
        "quotas:a:b:throttling:1709164810000"
    );
    assert_eq!(Window::Throttling.name(), "throttling");
}

// ---------------------------------------------------------------- admission

#[test]
fn throttling_quota_exhausts_and_resets_with_the_window() {
    let t = tracker();
    let k = key("k", 3, 100, 1000);
    let now = LEAP_DAY + 13_500;
    assert_eq!(
        t.admit(&k, now),
        Ok(Remaining {
            daily: 99,
            monthly: 999,
            throttling: 2
        })
    );
    assert_eq!(t.admit(&k, now).unwrap().throttling, 1);
    assert_eq!(t.admit(&k, now + 1).unwrap().throttling, 0);
    assert_eq!(
        t.admit(&k, now + 2),
        Err(QuotaExceeded {
            which: Window::Throttling,
            retry_after_secs: 7
        })
    );
    // A refused call is not counted.
    assert_eq!(t.admit(&k, now + 6_499).unwrap_err().retry_after_secs, 1);
    let next = t.admit(&k, LEAP_DAY + 20_000).unwrap();
    assert_eq!(next.throttling, 2);
    assert_eq!(next.daily, 96);
    assert_eq!(next.monthly, 996);
}

#[test]
fn daily_quota_exhausts_until_utc_midnight() {
    let t = tracker();
    let k = key("k", UNLIMITED, 2, UNLIMITED);
    let evening = LEAP_DAY + DAY - 90_500;
    t.admit(&k, evening).unwrap();
    assert_eq!(t.admit(&k, evening).unwrap().daily, 0);
    assert_eq!(
        t.admit(&k, evening),
        Err(QuotaExceeded {
            which: Window::Daily,
            retry_after_secs: 91
        })
    );
    let remaining = t.admit(&k, MARCH_1_2024).unwrap();
    assert_eq!(remaining.daily, 1);
    assert_eq!(remaining.monthly, UNLIMITED - 1);
}

#[test]
fn monthly_quota_exhausts_until_the_next_month_and_wins_the_report() {
    let t = tracker();
    let k = key("k", UNLIMITED, 2, 2);
    t.admit(&k, LEAP_DAY).unwrap();
    t.admit(&k, LEAP_DAY).unwrap();
    // Daily and monthly are both exhausted: the month is what the client
    // must wait for.
    let err = t.admit(&k, LEAP_DAY).unwrap_err();
    assert_eq!(err.which, Window::Monthly);
    assert_eq!(err.retry_after_secs, 86_400);
    assert_eq!(err.to_string(), "monthly quota exceeded, retry in 86400 s");
    assert_eq!(t.admit(&k, MARCH_1_2024).unwrap().monthly, 1);
}

#[test]
fn zero_quota_refuses_everything() {
    let t = tracker();
    let k = key("k", 0, 10, 10);
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap_err().which, Window::Throttling);
}

#[test]
fn quota_changes_on_the_key_apply_at_once() {
    let t = tracker();
    t.admit(&key("k", 10, 10, 10), LEAP_DAY).unwrap();
    t.admit(&key("k", 10, 10, 10), LEAP_DAY).unwrap();
    assert!(t.admit(&key("k", 2, 10, 10), LEAP_DAY).is_err());
    assert_eq!(
        t.admit(&key("k", 5, 10, 10), LEAP_DAY).unwrap().throttling,
        2
    );
}

// ---------------------------------------------------------------- drain / observe / restore

#[test]
fn drain_returns_each_window_once() {
    let t = tracker();
    let k = key("k", 100, 100, 100);
    let now = LEAP_DAY + 13_500;
    for _ in 0..5 {
        t.admit(&k, now).unwrap();
    }
    let drained = by_key(t.drain());
    let expected: HashMap<String, (u64, u64)> = [
        (
            "quotas:k:throttling:1709164810000".to_string(),
            (5, LEAP_DAY + 20_000),
        ),
        ("quotas:k:daily:20240229".to_string(), (5, MARCH_1_2024)),
        ("quotas:k:monthly:202402".to_string(), (5, MARCH_1_2024)),
    ]
    .into_iter()
    .collect();
    assert_eq!(drained, expected);
    assert!(t.drain().is_empty(), "nothing drained twice");
    // In transit: still counted locally.
    assert_eq!(t.admit(&k, now).unwrap().daily, 94);
    assert_eq!(by_key(t.drain())["quotas:k:daily:20240229"].0, 1);
}

#[test]
fn observe_replaces_in_transit_without_double_counting() {
    let t = tracker();
    let k = key("k", UNLIMITED, 100, UNLIMITED);
    for _ in 0..5 {
        t.admit(&k, LEAP_DAY).unwrap();
    }
    t.drain();
    // The store now holds our 5.
    t.observe("quotas:k:daily:20240229", 5, MARCH_1_2024);
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap().daily, 94);
    // Other nodes used 40 more; our 6th is pending.
    t.observe("quotas:k:daily:20240229", 45, MARCH_1_2024);
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap().daily, 100 - 45 - 2);
    assert_eq!(by_key(t.drain())["quotas:k:daily:20240229"].0, 2);
    // A reset of the shared counter takes effect.
    t.observe("quotas:k:daily:20240229", 0, MARCH_1_2024);
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap().daily, 99);
}

#[test]
fn observe_teaches_a_key_before_its_first_local_call() {
    let t = tracker();
    let k = key("fresh", UNLIMITED, 10, UNLIMITED);
    t.observe("quotas:fresh:daily:20240229", 10, MARCH_1_2024);
    assert_eq!(t.admit(&k, LEAP_DAY + 5).unwrap_err().which, Window::Daily);
    // An old window's total is ignored; the next day is fresh.
    t.observe("quotas:fresh:daily:20240228", 1, LEAP_DAY);
    assert_eq!(t.admit(&k, LEAP_DAY + 5).unwrap_err().which, Window::Daily);
    assert_eq!(t.admit(&k, MARCH_1_2024).unwrap().daily, 9);
    // Garbage keys are ignored.
    t.observe("quotas:x:daily:20241301", 5, 0);
    t.observe("quotas:x:hourly:1", 5, 0);
    t.observe("nonsense", 5, 0);
}

#[test]
fn observe_with_a_colon_in_the_client_id() {
    let t = tracker();
    let k = key("a:b", UNLIMITED, UNLIMITED, 3);
    t.observe("quotas:a:b:monthly:202402", 3, MARCH_1_2024);
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap_err().which, Window::Monthly);
}

#[test]
fn restore_puts_back_undelivered_increments() {
    let t = tracker();
    let k = key("k", UNLIMITED, 100, UNLIMITED);
    for _ in 0..7 {
        t.admit(&k, LEAP_DAY).unwrap();
    }
    let first = t.drain();
    t.restore(first.clone());
    // Still counted once.
    assert_eq!(t.admit(&k, LEAP_DAY).unwrap().daily, 100 - 8);
    let second = by_key(t.drain());
    assert_eq!(first.len(), 3);
    for increment in &first {
        assert_eq!(increment.delta, 7);
        // The restored 7 and the new call, each once.
        assert_eq!(second[&increment.key].0, 8, "{}", increment.key);
    }
    assert!(t.drain().is_empty());
}

#[test]
fn restore_of_a_past_window_is_drained_again() {
    let t = tracker();
    let k = key("k", UNLIMITED, 100, UNLIMITED);
    t.admit(&k, LEAP_DAY).unwrap();
    let yesterday = t.drain();
    // The day rolled over before delivery failed.
    t.admit(&k, MARCH_1_2024).unwrap();
    t.restore(yesterday);
    let drained = by_key(t.drain());
    assert_eq!(drained["quotas:k:daily:20240229"], (1, MARCH_1_2024));
    assert_eq!(drained["quotas:k:daily:20240301"].0, 1);
    assert_eq!(drained["quotas:k:monthly:202402"].0, 1);
    assert_eq!(drained["quotas:k:monthly:202403"].0, 1);
    assert!(t.drain().is_empty());
    // Unknown keys survive a restore too.
    let odd = Increment {
        key: "elsewhere:7".into(),
        delta: 3,
        expires_at_ms: 9,
    };
    t.restore(vec![odd.clone()]);
    assert_eq!(t.drain(), vec![odd]);
}

#[test]
fn rollover_keeps_undrained_calls_of_the_old_window() {
    let t = tracker();
    let k = key("k", 100, 100, 100);
    for _ in 0..4 {
        t.admit(&k, LEAP_DAY + 1_000).unwrap();
    }
    // Next throttling window, before any drain.
    assert_eq!(t.admit(&k, LEAP_DAY + 10_000).unwrap().throttling, 99);
    let drained = by_key(t.drain());
    assert_eq!(
        drained["quotas:k:throttling:1709164800000"],
        (4, LEAP_DAY + 10_000)
    );
    assert_eq!(
        drained["quotas:k:throttling:1709164810000"],
        (1, LEAP_DAY + 20_000)
    );
    assert_eq!(drained["quotas:k:daily:20240229"].0, 5);
    assert!(
        t.drain().is_empty(),
        "retired windows are dropped once drained"
    );
}

#[test]
fn idle_keys_are_forgotten_once_their_windows_end() {
    let t = tracker();
    t.admit(&key("old", 10, 10, 10), LEAP_DAY).unwrap();
    t.admit(&key("new", 10, 10, 10), LEAP_DAY).unwrap();
    assert_eq!(t.tracked_keys(), 2);
    t.drain();
    assert_eq!(t.tracked_keys(), 2);
    // Forty days later only "new" is used.
    t.admit(&key("new", 10, 10, 10), LEAP_DAY + 40 * DAY)
        .unwrap();
    t.drain();
    assert_eq!(t.tracked_keys(), 1);
    t.drain();
    assert_eq!(t.tracked_keys(), 1);
}

// ---------------------------------------------------------------- concurrency

fn hammer(
    t: &Arc<QuotaTracker>,
    k: &Arc<ApiKey>,
    threads: usize,
    tries: usize,
    drains: bool,
) -> (u64, u64) {
    let admitted = Arc::new(AtomicU64::new(0));
    let drained = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drainer = drains.then(|| {
        let (t, drained, stop) = (t.clone(), drained.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for i in t.drain() {
                    if i.key.contains(":daily:") {
                        drained.fetch_add(i.delta, Ordering::Relaxed);
                    }
                }
                std::thread::yield_now();
            }
        })
    });
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (t, k, admitted) = (t.clone(), k.clone(), admitted.clone());
            std::thread::spawn(move || {
                for _ in 0..tries {
                    if t.admit(&k, LEAP_DAY + 1).is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(d) = drainer {
        d.join().unwrap();
    }
    for i in t.drain() {
        if i.key.contains(":daily:") {
            drained.fetch_add(i.delta, Ordering::Relaxed);
        }
    }
    (
        admitted.load(Ordering::Relaxed),
        drained.load(Ordering::Relaxed),
    )
}

#[test]
fn eight_threads_admit_exactly_the_quota() {
    let t = Arc::new(tracker());
    let k = Arc::new(key("hot", 1000, UNLIMITED, UNLIMITED));
    assert_eq!(hammer(&t, &k, 8, 500, false), (1000, 1000));
    // The binding window can be any of the three.
    let t = Arc::new(tracker());
    let k = Arc::new(key("hot", UNLIMITED, 777, 5000));
    assert_eq!(hammer(&t, &k, 8, 500, false), (777, 777));
    let t = Arc::new(tracker());
    let k = Arc::new(key("hot", 2000, 3000, 1234));
    assert_eq!(hammer(&t, &k, 8, 500, false), (1234, 1234));
}

#[test]
fn concurrent_drains_lose_nothing_and_admit_exactly() {
    let t = Arc::new(tracker());
    let k = Arc::new(key("hot", UNLIMITED, 2500, UNLIMITED));
    assert_eq!(hammer(&t, &k, 8, 500, true), (2500, 2500));
}

#[test]
fn many_keys_in_parallel() {
    let t = Arc::new(tracker());
    let workers: Vec<_> = (0..8)
        .map(|n| {
            let t = t.clone();
            std::thread::spawn(move || {
                let keys: Vec<ApiKey> = (0..50)
                    .map(|i| key(&format!("k{i}"), 10, 100, 100))
                    .collect();
                let mut ok = 0;
                for round in 0..20 {
                    for k in &keys {
                        if t.admit(k, LEAP_DAY + (round + n) as u64).is_ok() {
                            ok += 1;
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, 50 * 10);
    assert_eq!(t.tracked_keys(), 50);
    let drained = t.drain();
    assert_eq!(drained.len(), 150);
    assert!(drained.iter().all(|i| i.delta == 10));
}
