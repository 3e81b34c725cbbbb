//! Load balancing over a route's `backend.targets`.
//!
//! One [`Balancer`] is built per route when the state is compiled; it owns
//! the per-target state (in-flight count, down mark) and the round-robin
//! cursors. Picking a target takes no lock and allocates nothing, except
//! the cookie value handed out to a new sticky client.
//!
//! # Policies (`backend.load_balancing.type`)
//!
//! | type | behaviour |
//! |---|---|
//! | `RoundRobin` | smooth weighted round robin (nginx's interleaving: weights 3,1 give `A A B A`... spread out, not `A A A B`) |
//! | `Random` | weighted random |
//! | `PowerOfTwoRandomChoices` | two distinct weighted-random candidates, the one with fewer in-flight requests (relative to weight) wins |
//! | `LeastConnections` | fewest in-flight requests relative to weight; ties rotate |
//! | `IpAddressHash` | weighted rendezvous hashing of the client IP: stable per client, and only the clients of a target that goes down move; round robin when the IP is unknown |
//! | `Sticky` | cookie [`STICKY_COOKIE`]; see below |
//! | `NaiveFailover` | always the first live target, in the order of `targets` |
//! | `BestResponseTime`, `WeightedBestResponseTime`, `HeaderHash`, `CookieHash`, `QueryHash`, anything else | **fall back to `RoundRobin`** (not implemented yet) |
//!
//! # Sticky sessions
//!
//! The cookie is named [`STICKY_COOKIE`] (`otoroshi-sticky`). Its value is
//! 16 hex digits, a hash of the route id and the target id (so it survives
//! target reordering, does not reveal the backend's host name, and a value
//! from another route is simply not recognised). A client without a valid
//! cookie, or whose target is down, excluded or a backup while primaries are
//! live, gets a weighted round-robin pick and [`Pick::set_sticky`] tells the
//! caller to set the cookie (see [`set_sticky_cookie`]). When two sticky
//! routes share a host, [`Balancer::sticky_from_headers`] picks, among all
//! `otoroshi-sticky` cookies sent, the one that names a target of this route.
//!
//! # Backups, down marking, exclusions
//!
//! Targets with `backup: true` are used only when no primary is usable
//! (every primary is down or in [`PickContext::exclude`]).
//!
//! [`Balancer::mark_down`] (e.g. connection refused) takes a target out for a
//! cool-down ([`DEFAULT_COOLDOWN`], 2 s). Once it has passed, exactly one
//! request is sent to probe it (the probe takes priority over the policy,
//! except that a sticky client whose cookie names another live target keeps
//! it); others keep skipping it for another cool-down. The caller reports
//! the outcome: [`Balancer::mark_up`] after a successful connection (cheap
//! when the target is already up, so it can be called on every success), or
//! `mark_down` again. If no target is usable at all, the pick is the target
//! that failed least recently, so the gateway still tries rather than refuses;
//! a target in `exclude` is never returned.

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;
use model::route::{Backend, Target};
use rand::Rng;

/// Name of the sticky-session cookie (policy `Sticky`).
pub const STICKY_COOKIE: &str = "otoroshi-sticky";

/// How long a target marked down is skipped before it is probed again.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(2);

/// Weights are reduced by their greatest common divisor; when a tier's total
/// is still above this, they are scaled down to it (proportions kept
/// approximately, every target keeps at least 1) so the precomputed smooth
/// round-robin schedule stays small.
const MAX_SCHEDULE: u64 = 1024;

/// The policy in force, from Otoroshi's `load_balancing.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    RoundRobin,
    Random,
    PowerOfTwoRandomChoices,
    LeastConnections,
    IpAddressHash,
    Sticky,
    NaiveFailover,
}

impl Policy {
    /// Maps an Otoroshi type name; unimplemented types fall back to
    /// `RoundRobin` (see the module documentation).
    pub fn from_otoroshi(kind: &str) -> Policy {
        match kind {
            "Random" => Policy::Random,
            "PowerOfTwoRandomChoices" => Policy::PowerOfTwoRandomChoices,
            "LeastConnections" => Policy::LeastConnections,
            "IpAddressHash" => Policy::IpAddressHash,
            "Sticky" => Policy::Sticky,
            "NaiveFailover" => Policy::NaiveFailover,
            _ => Policy::RoundRobin,
        }
    }
}

/// What the caller knows about the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickContext<'a> {
    /// The client's address (policy `IpAddressHash`).
    pub client_ip: Option<IpAddr>,
    /// The value of the sticky cookie, if the client sent one (policy `Sticky`).
    pub sticky: Option<&'a str>,
    /// Target indexes already tried for this request; never returned.
    pub exclude: &'a [usize],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// Index into [`Balancer::targets`].
    pub index: usize,
    /// `Some(value)` when the response must set the sticky cookie to `value`.
    pub set_sticky: Option<String>,
}

/// Per-target state, shared (by `Arc`) with in-flight guards and, through
/// [`Balancer::with_previous`], with the balancer of the next state.
#[derive(Debug, Default)]
struct TargetState {
    in_flight: AtomicU64,
    /// 0 when up; otherwise the process-clock millisecond (see [`clock_ms`])
    /// until which the target is skipped.
    down_until: AtomicU64,
}

/// Counts one in-flight request on a target until dropped (policies
/// `LeastConnections` and `PowerOfTwoRandomChoices` read the counts). Owns
/// what it needs, so it can travel with a streaming response body.
#[derive(Debug)]
pub struct InFlight {
    state: Option<Arc<TargetState>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            state.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Primary or backup targets, with their own round-robin schedule.
#[derive(Debug, Default)]
struct Tier {
    members: Box<[usize]>,
    /// Smooth weighted round-robin sequence of target indexes.
    schedule: Box<[usize]>,
    cursor: AtomicUsize,
}

#[derive(Debug)]
pub struct Balancer {
    targets: Box<[Target]>,
    /// Effective weights (reduced), by target index.
    weights: Box<[u64]>,
    states: Box<[Arc<TargetState>]>,
    /// Per-target hash seeds (IP hash), from the target id.
    seeds: Box<[u64]>,
    /// Sticky cookie values, by target index.
    sticky_values: Box<[String]>,
    policy: Policy,
    primaries: Tier,
    backups: Tier,
    cooldown_ms: u64,
}

impl Balancer {
    pub fn new(route_id: &str, backend: &Backend) -> Balancer {
        Self::with_previous(route_id, backend, None)
    }

    /// Like [`Balancer::new`], but targets that `previous` also had (same
    /// id, host, port and TLS) keep their down mark and in-flight count, so
    /// recompiling the state does not forget a dead backend or the load.
    pub fn with_previous(
        route_id: &str,
        backend: &Backend,
        previous: Option<&Balancer>,
    ) -> Balancer {
        let targets: Box<[Target]> = backend.targets.clone().into_boxed_slice();
        let states = targets
            .iter()
            .map(|t| {
                previous
                    .and_then(|p| {
                        p.targets
                            .iter()
                            .position(|o| same_target(o, t))
                            .and_then(|i| p.states.get(i))
                    })
                    .map(Arc::clone)
                    .unwrap_or_default()
            })
            .collect();
        let seeds = targets
            .iter()
            .map(|t| mix64(fnv1a(target_key(t).as_bytes(), FNV_OFFSET)))
            .collect();
        let sticky_values = targets
            .iter()
            .map(|t| {
                let h = fnv1a(route_id.as_bytes(), FNV_OFFSET);
                let h = fnv1a(&[0], h);
                format!("{:016x}", mix64(fnv1a(target_key(t).as_bytes(), h)))
            })
            .collect();
        let primary: Vec<usize> = (0..targets.len()).filter(|&i| !targets[i].backup).collect();
        let backup: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].backup).collect();
        let mut weights = vec![1u64; targets.len()];
        reduce_weights(&targets, &primary, &mut weights);
        reduce_weights(&targets, &backup, &mut weights);
        let primaries = Tier::new(primary, &weights);
        let backups = Tier::new(backup, &weights);
        Balancer {
            targets,
            weights: weights.into_boxed_slice(),
            states,
            seeds,
            sticky_values,
            policy: Policy::from_otoroshi(&backend.load_balancing.kind),
            primaries,
            backups,
            cooldown_ms: duration_ms(DEFAULT_COOLDOWN),
        }
    }

    /// Sets the cool-down of down targets (default [`DEFAULT_COOLDOWN`]).
    pub fn with_cooldown(mut self, cooldown: Duration) -> Balancer {
        self.cooldown_ms = duration_ms(cooldown).max(1);
        self
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Requests currently counted in flight on a target.
    pub fn in_flight(&self, index: usize) -> u64 {
        self.states
            .get(index)
            .map_or(0, |s| s.in_flight.load(Ordering::Relaxed))
    }

    /// Whether a target is marked down (including while it is being probed).
    pub fn is_down(&self, index: usize) -> bool {
        self.states
            .get(index)
            .is_some_and(|s| s.down_until.load(Ordering::Relaxed) != 0)
    }

    /// The sticky cookie value that designates a target.
    pub fn sticky_value(&self, index: usize) -> Option<&str> {
        self.sticky_values.get(index).map(String::as_str)
    }

    /// The value of the `otoroshi-sticky` cookie to pass as
    /// [`PickContext::sticky`]: among all such cookies in the `Cookie`
    /// headers, the first that names a target of this balancer, else the
    /// first one.
    pub fn sticky_from_headers<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let mut first = None;
        for value in headers.get_all(http::header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for pair in value.split(';') {
                let Some((name, v)) = pair.split_once('=') else {
                    continue;
                };
                if name.trim() != STICKY_COOKIE {
                    continue;
                }
                let v = v.trim().trim_matches('"');
                if self.sticky_values.iter().any(|s| s == v) {
                    return Some(v);
                }
                first = first.or(Some(v));
            }
        }
        first
    }

    /// Starts counting one in-flight request on `index`; the count drops
    /// with the guard. An index out of range gives a guard that counts
    /// nothing.
    pub fn start(&self, index: usize) -> InFlight {
        let state = self.states.get(index).map(|s| {
            s.in_flight.fetch_add(1, Ordering::Relaxed);
            Arc::clone(s)
        });
        InFlight { state }
    }

    /// Takes a target out for the cool-down (connection refused, etc.).
    pub fn mark_down(&self, index: usize) {
        if let Some(state) = self.states.get(index) {
            let until = clock_ms().saturating_add(self.cooldown_ms);
            state.down_until.store(until, Ordering::Relaxed);
        }
    }

    /// Puts a target back in rotation. Cheap when it is already up.
    pub fn mark_up(&self, index: usize) {
        if let Some(state) = self.states.get(index)
            && state.down_until.load(Ordering::Relaxed) != 0
        {
            state.down_until.store(0, Ordering::Relaxed);
        }
    }

    /// Picks a target for a request; `None` only when there is no target
    /// left outside `exclude`.
    pub fn pick(&self, ctx: &PickContext<'_>) -> Option<Pick> {
        let clock = LazyClock::default();
        self.pick_in(&self.primaries, ctx, &clock)
            .or_else(|| self.pick_in(&self.backups, ctx, &clock))
            .or_else(|| self.last_resort(ctx))
    }

    fn pick_in(&self, tier: &Tier, ctx: &PickContext<'_>, clock: &LazyClock) -> Option<Pick> {
        if tier.members.is_empty() {
            return None;
        }
        if self.policy == Policy::Sticky
            && let Some(index) = self.sticky_target(tier, ctx, clock)
        {
            return Some(Pick {
                index,
                set_sticky: None,
            });
        }
        let mut live = 0usize;
        let mut live_weight = 0u64;
        for &i in tier.members.iter() {
            if ctx.exclude.contains(&i) {
                continue;
            }
            let until = self.down_until(i);
            if until == 0 {
                live += 1;
                live_weight += self.weight(i);
            } else if self.claim_probe(i, until, clock) {
                return Some(self.finish(i, ctx));
            }
        }
        if live == 0 {
            return None;
        }
        let all_live = live == tier.members.len();
        let index = match self.policy {
            Policy::RoundRobin | Policy::Sticky => {
                self.round_robin(tier, ctx, all_live, live_weight)
            }
            Policy::Random => {
                let r = rand::rng().random_range(0..live_weight.max(1));
                self.nth_by_weight(tier, ctx, r, None)
            }
            Policy::PowerOfTwoRandomChoices => self.power_of_two(tier, ctx, live, live_weight),
            Policy::LeastConnections => self.least_connections(tier, ctx),
            Policy::IpAddressHash => match ctx.client_ip {
                Some(ip) => self.ip_hash(tier, ctx, ip),
                None => self.round_robin(tier, ctx, all_live, live_weight),
            },
            Policy::NaiveFailover => tier.members.iter().copied().find(|&i| self.is_live(i, ctx)),
        }?;
        Some(self.finish(index, ctx))
    }

    /// The target named by the client's sticky cookie, if it is in this tier
    /// and usable (live, or due for its probe).
    fn sticky_target(
        &self,
        tier: &Tier,
        ctx: &PickContext<'_>,
        clock: &LazyClock,
    ) -> Option<usize> {
        let value = ctx.sticky?;
        let index = self.sticky_values.iter().position(|v| v == value)?;
        if !tier.members.contains(&index) || ctx.exclude.contains(&index) {
            return None;
        }
        let until = self.down_until(index);
        (until == 0 || self.claim_probe(index, until, clock)).then_some(index)
    }

    fn finish(&self, index: usize, ctx: &PickContext<'_>) -> Pick {
        let set_sticky = if self.policy == Policy::Sticky {
            self.sticky_values
                .get(index)
                .filter(|v| ctx.sticky != Some(v.as_str()))
                .cloned()
        } else {
            None
        };
        Pick { index, set_sticky }
    }

    /// A down target whose cool-down has passed: the first request to get
    /// here claims the probe (and pushes the next one a cool-down away).
    fn claim_probe(&self, index: usize, until: u64, clock: &LazyClock) -> bool {
        let now = clock.now();
        until <= now
            && self.states.get(index).is_some_and(|s| {
                s.down_until
                    .compare_exchange(
                        until,
                        now.saturating_add(self.cooldown_ms),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            })
    }

    fn round_robin(
        &self,
        tier: &Tier,
        ctx: &PickContext<'_>,
        all_live: bool,
        live_weight: u64,
    ) -> Option<usize> {
        let n = tier.cursor.fetch_add(1, Ordering::Relaxed);
        let len = tier.schedule.len().max(1);
        let scheduled = tier.schedule.get(n % len).copied();
        match scheduled {
            // `all_live` means nothing in this tier is down or excluded.
            Some(i) if all_live || self.is_live(i, ctx) => Some(i),
            // The scheduled target is out: spread its turn over the live
            // ones by weight.
            _ => self.nth_by_weight(tier, ctx, (n as u64) % live_weight.max(1), None),
        }
    }

    /// The live target at weighted position `r`, optionally skipping one.
    fn nth_by_weight(
        &self,
        tier: &Tier,
        ctx: &PickContext<'_>,
        mut r: u64,
        skip: Option<usize>,
    ) -> Option<usize> {
        let mut last = None;
        for &i in tier.members.iter() {
            if Some(i) == skip || !self.is_live(i, ctx) {
                continue;
            }
            let w = self.weight(i);
            if r < w {
                return Some(i);
            }
            r -= w;
            last = Some(i);
        }
        // A target went down between counting and walking: take the last.
        last
    }

    fn power_of_two(
        &self,
        tier: &Tier,
        ctx: &PickContext<'_>,
        live: usize,
        live_weight: u64,
    ) -> Option<usize> {
        let mut rng = rand::rng();
        let a = self.nth_by_weight(tier, ctx, rng.random_range(0..live_weight.max(1)), None)?;
        if live < 2 {
            return Some(a);
        }
        let rest = live_weight.saturating_sub(self.weight(a)).max(1);
        let Some(b) = self.nth_by_weight(tier, ctx, rng.random_range(0..rest), Some(a)) else {
            return Some(a);
        };
        Some(if self.less_loaded(b, a) { b } else { a })
    }

    fn least_connections(&self, tier: &Tier, ctx: &PickContext<'_>) -> Option<usize> {
        let len = tier.members.len();
        let start = tier.cursor.fetch_add(1, Ordering::Relaxed) % len.max(1);
        let mut best: Option<usize> = None;
        for k in 0..len {
            let Some(&i) = tier.members.get((start + k) % len) else {
                continue;
            };
            if !self.is_live(i, ctx) {
                continue;
            }
            best = match best {
                Some(b) if !self.less_loaded(i, b) => Some(b),
                _ => Some(i),
            };
        }
        best
    }

    /// Whether `a` has strictly fewer in-flight requests than `b`, relative
    /// to their weights.
    fn less_loaded(&self, a: usize, b: usize) -> bool {
        let load = |i: usize| u128::from(self.in_flight(i));
        load(a) * u128::from(self.weight(b)) < load(b) * u128::from(self.weight(a))
    }

    /// Weighted rendezvous hashing: each live target scores
    /// `weight / -ln(u)` with `u` uniform from hash(ip, target); highest wins.
    fn ip_hash(&self, tier: &Tier, ctx: &PickContext<'_>, ip: IpAddr) -> Option<usize> {
        let ip_hash = match ip {
            IpAddr::V4(v4) => fnv1a(&v4.octets(), FNV_OFFSET),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => fnv1a(&v4.octets(), FNV_OFFSET),
                None => fnv1a(&v6.octets(), FNV_OFFSET),
            },
        };
        let mut best: Option<(usize, f64)> = None;
        for &i in tier.members.iter() {
            if !self.is_live(i, ctx) {
                continue;
            }
            let seed = self.seeds.get(i).copied().unwrap_or(0);
            let h = mix64(ip_hash ^ seed);
            // 53 random bits, in (0, 1).
            let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = self.weight(i) as f64 / -u.ln();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Nothing usable: the non-excluded target that failed least recently.
    fn last_resort(&self, ctx: &PickContext<'_>) -> Option<Pick> {
        let index = (0..self.targets.len())
            .filter(|i| !ctx.exclude.contains(i))
            .min_by_key(|&i| (self.down_until(i), self.targets[i].backup))?;
        Some(Pick {
            index,
            set_sticky: None,
        })
    }

    fn is_live(&self, index: usize, ctx: &PickContext<'_>) -> bool {
        self.down_until(index) == 0 && !ctx.exclude.contains(&index)
    }

    fn down_until(&self, index: usize) -> u64 {
        self.states
            .get(index)
            .map_or(u64::MAX, |s| s.down_until.load(Ordering::Relaxed))
    }

    fn weight(&self, index: usize) -> u64 {
        self.weights.get(index).copied().unwrap_or(1)
    }
}

impl Tier {
    fn new(members: Vec<usize>, weights: &[u64]) -> Tier {
        let weight = |i: usize| weights.get(i).copied().unwrap_or(1) as i64;
        let total: i64 = members.iter().map(|&i| weight(i)).sum();
        // nginx's smooth weighted round robin, unrolled over one cycle.
        let mut current = vec![0i64; members.len()];
        let mut schedule = Vec::with_capacity(total.max(0) as usize);
        for _ in 0..total {
            let mut best = 0;
            for (k, &i) in members.iter().enumerate() {
                current[k] += weight(i);
                if current[k] > current[best] {
                    best = k;
                }
            }
            current[best] -= total;
            schedule.push(members[best]);
        }
        Tier {
            members: members.into_boxed_slice(),
            schedule: schedule.into_boxed_slice(),
            cursor: AtomicUsize::new(0),
        }
    }
}

fn reduce_weights(targets: &[Target], members: &[usize], weights: &mut [u64]) {
    let raw = |i: usize| u64::from(targets[i].weight.max(1));
    let divisor = members.iter().fold(0u64, |g, &i| gcd(g, raw(i))).max(1);
    let total: u64 = members.iter().map(|&i| raw(i) / divisor).sum();
    for &i in members {
        let w = raw(i) / divisor;
        weights[i] = if total > MAX_SCHEDULE {
            ((w as u128 * MAX_SCHEDULE as u128) / total as u128).max(1) as u64
        } else {
            w
        };
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn same_target(a: &Target, b: &Target) -> bool {
    a.id == b.id && a.hostname == b.hostname && a.port == b.port && a.tls == b.tls
}

fn target_key(target: &Target) -> String {
    if target.id.is_empty() {
        format!("{}:{}", target.hostname, target.port)
    } else {
        target.id.clone()
    }
}

/// `Set-Cookie` value for a sticky pick: the cookie lives for the browser
/// session, on every path of the host, out of scripts' reach.
pub fn set_sticky_cookie(value: &str) -> String {
    format!("{STICKY_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax")
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds on a process-wide monotonic clock, never 0 (0 means "up").
fn clock_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    duration_ms(epoch.elapsed()).saturating_add(1)
}

/// Reads the clock at most once per pick, and only if a target is down.
#[derive(Default)]
struct LazyClock(Cell<Option<u64>>);

impl LazyClock {
    fn now(&self) -> u64 {
        match self.0.get() {
            Some(now) => now,
            None => {
                let now = clock_ms();
                self.0.set(Some(now));
                now
            }
        }
    }
}
