#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use model::route::Backend;
use proxy::balancer::{Balancer, Pick, PickContext, Policy, STICKY_COOKIE, set_sticky_cookie};
use serde_json::json;

/// `(id, weight, backup)` targets under a policy.
fn backend(policy: &str, targets: &[(&str, u32, bool)]) -> Backend {
    let targets: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, (id, weight, backup))| {
            json!({"id": id, "hostname": format!("h{i}.internal"), "port": 8000 + i,
                   "weight": weight, "backup": backup})
        })
        .collect();
    serde_json::from_value(json!({"targets": targets, "load_balancing": {"type": policy}})).unwrap()
}

fn balancer(policy: &str, targets: &[(&str, u32, bool)]) -> Balancer {
    Balancer::new("route_1", &backend(policy, targets))
}

fn three(policy: &str) -> Balancer {
    balancer(policy, &[("a", 1, false), ("b", 1, false), ("c", 1, false)])
}

fn pick(b: &Balancer) -> usize {
    b.pick(&PickContext::default()).unwrap().index
}

fn pick_ex(b: &Balancer, exclude: &[usize]) -> Option<usize> {
    b.pick(&PickContext {
        exclude,
        ..PickContext::default()
    })
    .map(|p| p.index)
}

fn counts(b: &Balancer, n: usize, ctx: &PickContext<'_>) -> Vec<usize> {
    let mut counts = vec![0; b.targets().len()];
    for _ in 0..n {
        counts[b.pick(ctx).unwrap().index] += 1;
    }
    counts
}

fn assert_near(actual: usize, expected: usize, tolerance: usize) {
    assert!(
        actual.abs_diff(expected) <= tolerance,
        "{actual} not within {tolerance} of {expected}"
    );
}

const ALL_POLICIES: [&str; 7] = [
    "RoundRobin",
    "Random",
    "PowerOfTwoRandomChoices",
    "LeastConnections",
    "IpAddressHash",
    "Sticky",
    "NaiveFailover",
];

#[test]
fn policy_names_and_fallbacks() {
    for (name, policy) in [
        ("RoundRobin", Policy::RoundRobin),
        ("Random", Policy::Random),
        ("PowerOfTwoRandomChoices", Policy::PowerOfTwoRandomChoices),
        ("LeastConnections", Policy::LeastConnections),
        ("IpAddressHash", Policy::IpAddressHash),
        ("Sticky", Policy::Sticky),
        ("NaiveFailover", Policy::NaiveFailover),
        ("BestResponseTime", Policy::RoundRobin),
        ("WeightedBestResponseTime", Policy::RoundRobin),
        ("HeaderHash", Policy::RoundRobin),
        ("CookieHash", Policy::RoundRobin),
        ("QueryHash", Policy::RoundRobin),
    ] {
        assert_eq!(Policy::from_otoroshi(name), policy, "{name}");
        assert_eq!(three(name).policy(), policy);
    }
}

#[test]
fn no_targets_no_pick() {
    let b = balancer("RoundRobin", &[]);
    assert_eq!(b.pick(&PickContext::default()), None);
}

#[test]
fn round_robin_respects_weights_exactly_and_interleaves() {
    let b = balancer(
        "RoundRobin",
        &[("a", 3, false), ("b", 1, false), ("c", 1, false)],
    );
    let sequence: Vec<usize> = (0..10_000).map(|_| pick(&b)).collect();
    let count = |i| sequence.iter().filter(|&&x| x == i).count();
    assert_eq!((count(0), count(1), count(2)), (6000, 2000, 2000));
    // Smooth: the weight-3 target never gets three turns in a row.
    let longest_run = sequence
        .chunk_by(|x, y| x == y)
        .map(<[usize]>::len)
        .max()
        .unwrap();
    assert!(longest_run <= 2, "run of {longest_run}");
}

#[test]
fn round_robin_equal_weights_rotates() {
    let b = three("RoundRobin");
    let first: Vec<usize> = (0..6).map(|_| pick(&b)).collect();
    assert_eq!(first, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn huge_weights_are_reduced_and_scaled() {
    let b = balancer(
        "RoundRobin",
        &[("a", 3_000_000, false), ("b", 1_000_000, false)],
    );
    let c = counts(&b, 10_000, &PickContext::default());
    assert_eq!(c, vec![7500, 2500]);
    // Coprime weights past the schedule cap keep their proportions closely.
    let b = balancer("RoundRobin", &[("a", 1999, false), ("b", 1000, false)]);
    let c = counts(&b, 30_000, &PickContext::default());
    assert_near(c[0], 19_990, 150);
}

#[test]
fn round_robin_with_a_target_down_spreads_its_share() {
    let b = three("RoundRobin");
    b.mark_down(0);
    let c = counts(&b, 10_000, &PickContext::default());
    assert_eq!(c[0], 0);
    assert_near(c[1], 5000, 50);
    assert_near(c[2], 5000, 50);
}

#[test]
fn random_respects_weights() {
    let b = balancer(
        "Random",
        &[("a", 1, false), ("b", 2, false), ("c", 7, false)],
    );
    let c = counts(&b, 10_000, &PickContext::default());
    assert_near(c[0], 1000, 200);
    assert_near(c[1], 2000, 250);
    assert_near(c[2], 7000, 300);
}

#[test]
fn power_of_two_spreads_and_avoids_the_loaded_target() {
    let b = three("PowerOfTwoRandomChoices");
    let c = counts(&b, 9_000, &PickContext::default());
    for n in c {
        assert_near(n, 3000, 300);
    }
    let _busy: Vec<_> = (0..5).map(|_| b.start(0)).collect();
    assert_eq!(b.in_flight(0), 5);
    // Candidates are distinct, so the loaded target always loses.
    let c = counts(&b, 1_000, &PickContext::default());
    assert_eq!(c[0], 0);
    assert!(c[1] > 300 && c[2] > 300, "{c:?}");
}

#[test]
fn least_connections_prefers_the_idle_target() {
    let b = three("LeastConnections");
    let _a = (b.start(0), b.start(0));
    let _b = b.start(1);
    for _ in 0..100 {
        assert_eq!(pick(&b), 2);
    }
    // Holding each pick keeps the load level.
    let b = three("LeastConnections");
    let mut held = Vec::new();
    for _ in 0..30 {
        let index = pick(&b);
        held.push(b.start(index));
    }
    assert_eq!(
        (b.in_flight(0), b.in_flight(1), b.in_flight(2)),
        (10, 10, 10)
    );
    drop(held);
    assert_eq!((b.in_flight(0), b.in_flight(1), b.in_flight(2)), (0, 0, 0));
}

#[test]
fn least_connections_is_weighted_and_rotates_ties() {
    let b = balancer("LeastConnections", &[("a", 2, false), ("b", 1, false)]);
    let _a = b.start(0);
    // a: 1 in flight for weight 2 is less loaded than b: 1 for weight 1.
    let _b = b.start(1);
    assert_eq!(pick(&b), 0);
    let b = three("LeastConnections");
    let picked: HashSet<usize> = (0..3).map(|_| pick(&b)).collect();
    assert_eq!(picked.len(), 3, "ties rotate over idle targets");
}

#[test]
fn in_flight_guard_counts_and_tolerates_bad_index() {
    let b = three("RoundRobin");
    let guard = b.start(1);
    assert_eq!(b.in_flight(1), 1);
    drop(guard);
    assert_eq!(b.in_flight(1), 0);
    let nothing = b.start(99);
    drop(nothing);
    b.mark_down(99);
    b.mark_up(99);
    assert_eq!(b.in_flight(99), 0);
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

#[test]
fn ip_hash_is_stable_and_weighted() {
    let b = balancer(
        "IpAddressHash",
        &[("a", 1, false), ("b", 1, false), ("c", 2, false)],
    );
    let at = |n: u32| {
        b.pick(&PickContext {
            client_ip: Some(ip(n)),
            ..PickContext::default()
        })
        .unwrap()
        .index
    };
    let first = at(7);
    for _ in 0..100 {
        assert_eq!(at(7), first);
    }
    let mut c = [0usize; 3];
    let before: Vec<usize> = (0..10_000).map(at).collect();
    for &i in &before {
        c[i] += 1;
    }
    assert_near(c[0], 2500, 300);
    assert_near(c[1], 2500, 300);
    assert_near(c[2], 5000, 300);
    // A new balancer (state recompiled) maps the same way.
    let again = balancer(
        "IpAddressHash",
        &[("a", 1, false), ("b", 1, false), ("c", 2, false)],
    );
    let same = (0..1000).all(|n| {
        again
            .pick(&PickContext {
                client_ip: Some(ip(n)),
                ..PickContext::default()
            })
            .unwrap()
            .index
            == before[n as usize]
    });
    assert!(same);
    // Only the clients of a target that goes down move.
    b.mark_down(0);
    for n in 0..2000 {
        let now = at(n);
        assert_ne!(now, 0);
        if before[n as usize] != 0 {
            assert_eq!(now, before[n as usize], "client {n} moved");
        }
    }
}

#[test]
fn ip_hash_without_ip_round_robins() {
    let b = three("IpAddressHash");
    let c = counts(&b, 3000, &PickContext::default());
    assert_eq!(c, vec![1000, 1000, 1000]);
}

#[test]
fn sticky_keeps_a_client_on_its_target() {
    let b = three("Sticky");
    let first = b.pick(&PickContext::default()).unwrap();
    let cookie = first
        .set_sticky
        .clone()
        .expect("a new client gets a cookie");
    assert_eq!(Some(cookie.as_str()), b.sticky_value(first.index));
    assert_eq!(cookie.len(), 16);
    for _ in 0..100 {
        let again = b
            .pick(&PickContext {
                sticky: Some(&cookie),
                ..PickContext::default()
            })
            .unwrap();
        assert_eq!(
            again,
            Pick {
                index: first.index,
                set_sticky: None
            }
        );
    }
    // New clients are spread round robin, each with its cookie.
    let c = counts(&b, 3000, &PickContext::default());
    for n in c {
        assert_near(n, 1000, 1);
    }
    // Unknown cookie: a new pick and a new cookie.
    let stranger = b
        .pick(&PickContext {
            sticky: Some("not-a-target"),
            ..PickContext::default()
        })
        .unwrap();
    assert!(stranger.set_sticky.is_some());
    // Target down: moved, with a cookie for the new target.
    b.mark_down(first.index);
    let moved = b
        .pick(&PickContext {
            sticky: Some(&cookie),
            ..PickContext::default()
        })
        .unwrap();
    assert_ne!(moved.index, first.index);
    assert_eq!(moved.set_sticky.as_deref(), b.sticky_value(moved.index));
}

#[test]
fn sticky_values_depend_on_route_and_target_id_not_order() {
    let b1 = Balancer::new(
        "r1",
        &backend("Sticky", &[("a", 1, false), ("b", 1, false)]),
    );
    let b2 = Balancer::new(
        "r1",
        &backend("Sticky", &[("b", 1, false), ("a", 1, false)]),
    );
    let b3 = Balancer::new(
        "r2",
        &backend("Sticky", &[("a", 1, false), ("b", 1, false)]),
    );
    assert_eq!(b1.sticky_value(0), b2.sticky_value(1));
    assert_ne!(b1.sticky_value(0), b3.sticky_value(0));
    assert_ne!(b1.sticky_value(0), b1.sticky_value(1));
}

#[test]
fn sticky_cookie_helpers() {
    let b = three("Sticky");
    let mine = b.sticky_value(2).unwrap().to_string();
    let mut headers = HeaderMap::new();
    headers.append(
        http::header::COOKIE,
        HeaderValue::from_static("session=x; otoroshi-sticky=0123456789abcdef"),
    );
    headers.append(
        http::header::COOKIE,
        HeaderValue::from_str(&format!("{STICKY_COOKIE}={mine}; other=1")).unwrap(),
    );
    assert_eq!(b.sticky_from_headers(&headers), Some(mine.as_str()));
    let mut foreign = HeaderMap::new();
    foreign.insert(
        http::header::COOKIE,
        HeaderValue::from_static("otoroshi-sticky=0123456789abcdef"),
    );
    assert_eq!(b.sticky_from_headers(&foreign), Some("0123456789abcdef"));
    assert_eq!(b.sticky_from_headers(&HeaderMap::new()), None);
    assert!(set_sticky_cookie(&mine).starts_with(&format!("otoroshi-sticky={mine}; Path=/")));
}

#[test]
fn naive_failover_takes_the_first_live_target_in_order() {
    let b = three("NaiveFailover");
    for _ in 0..10 {
        assert_eq!(pick(&b), 0);
    }
    b.mark_down(0);
    assert_eq!(pick(&b), 1);
    assert_eq!(pick_ex(&b, &[1]), Some(2));
    b.mark_up(0);
    assert_eq!(pick(&b), 0);
    assert_eq!(pick_ex(&b, &[0]), Some(1));
}

#[test]
fn backups_only_when_every_primary_is_out() {
    let targets = [("a", 1, false), ("backup", 1, true), ("b", 1, false)];
    for policy in ALL_POLICIES {
        let b = balancer(policy, &targets);
        let c = counts(&b, 1000, &PickContext::default());
        assert_eq!(c[1], 0, "{policy}: backup used while primaries are up");
        b.mark_down(0);
        assert_eq!(counts(&b, 100, &PickContext::default())[1], 0, "{policy}");
        b.mark_down(2);
        assert_eq!(counts(&b, 100, &PickContext::default())[1], 100, "{policy}");
        b.mark_up(0);
        assert_eq!(pick_ex(&b, &[0]), Some(1), "{policy}: primaries excluded");
        assert_eq!(pick(&b), 0, "{policy}");
    }
}

#[test]
fn exclude_is_honored_by_every_policy() {
    for policy in ALL_POLICIES {
        let b = three(policy);
        for n in 0..300 {
            let index = b
                .pick(&PickContext {
                    client_ip: Some(ip(n)),
                    sticky: b.sticky_value(0),
                    exclude: &[0],
                })
                .unwrap()
                .index;
            assert_ne!(index, 0, "{policy}");
        }
        assert_eq!(pick_ex(&b, &[0, 2]), Some(1), "{policy}");
        assert_eq!(pick_ex(&b, &[0, 1, 2]), None, "{policy}");
    }
}

#[test]
fn down_target_is_skipped_then_probed_once_after_the_cooldown() {
    let b = three("RoundRobin").with_cooldown(Duration::from_millis(300));
    b.mark_down(0);
    assert!(b.is_down(0));
    let c = counts(&b, 1000, &PickContext::default());
    assert_eq!(c[0], 0);
    std::thread::sleep(Duration::from_millis(400));
    // The first request after the cool-down probes the target...
    assert_eq!(pick(&b), 0);
    // ...and only that one, until the probe reports back.
    let c = counts(&b, 100, &PickContext::default());
    assert_eq!(c[0], 0);
    b.mark_up(0);
    assert!(!b.is_down(0));
    let c = counts(&b, 300, &PickContext::default());
    assert_eq!(c, vec![100, 100, 100]);
}

#[test]
fn failed_probe_waits_another_cooldown() {
    let b = three("NaiveFailover").with_cooldown(Duration::from_millis(250));
    b.mark_down(0);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(pick(&b), 0);
    b.mark_down(0);
    assert_eq!(pick(&b), 1);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(pick(&b), 0);
}

#[test]
fn all_down_still_tries_the_least_recently_failed() {
    let b = three("RoundRobin");
    b.mark_down(1);
    std::thread::sleep(Duration::from_millis(5));
    b.mark_down(2);
    std::thread::sleep(Duration::from_millis(5));
    b.mark_down(0);
    for _ in 0..10 {
        assert_eq!(pick(&b), 1);
    }
    assert_eq!(pick_ex(&b, &[1]), Some(2));
    assert_eq!(pick_ex(&b, &[1, 2]), Some(0));
    assert_eq!(pick_ex(&b, &[0, 1, 2]), None);
}

#[test]
fn all_down_including_backups_prefers_least_recent_failure() {
    let b = balancer("RoundRobin", &[("a", 1, false), ("z", 1, true)]);
    b.mark_down(1);
    std::thread::sleep(Duration::from_millis(5));
    b.mark_down(0);
    assert_eq!(pick(&b), 1);
}

#[test]
fn rebuilt_balancer_keeps_target_state() {
    let first = three("RoundRobin");
    first.mark_down(1);
    let guard = first.start(2);
    let mut changed = backend(
        "RoundRobin",
        &[("a", 1, false), ("b", 1, false), ("c", 1, false)],
    );
    changed.targets.push(changed.targets[0].clone());
    changed.targets[3].id = "d".into();
    changed.targets[3].port = 9999;
    let second = Balancer::with_previous("route_1", &changed, Some(&first));
    assert!(second.is_down(1));
    assert!(!second.is_down(3));
    assert_eq!(second.in_flight(2), 1);
    drop(guard);
    assert_eq!(second.in_flight(2), 0);
    let fresh = Balancer::new("route_1", &changed);
    assert!(!fresh.is_down(1));
}

#[test]
fn concurrent_picks_keep_round_robin_exact() {
    let b = std::sync::Arc::new(balancer(
        "RoundRobin",
        &[("a", 2, false), ("b", 1, false), ("c", 1, false)],
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut c = [0usize; 3];
                for _ in 0..2500 {
                    c[pick(&b)] += 1;
                }
                c
            })
        })
        .collect();
    let mut total = [0usize; 3];
    for h in handles {
        for (t, n) in total.iter_mut().zip(h.join().unwrap()) {
            *t += n;
        }
    }
    assert_eq!(total, [5000, 2500, 2500]);
}
