//! Node-wide and per-client connection caps (`proxy.maxConnections`,
//! `proxy.maxConnectionsPerClient`): without them one client can open
//! connections until the node runs out of file descriptors, and then the
//! admin API and health are gone too. A connection over a cap is closed as
//! soon as it is accepted, before any byte is read or a TLS handshake costs
//! anything; each refusal is counted, and a warning is logged at most every
//! `LOG_EVERY` with the number refused since the last one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use proxy::metrics::Metrics;

const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct ConnCaps {
    max_total: usize,
    /// 0: no per-client cap.
    max_per_client: usize,
    total: AtomicUsize,
    per_client: Mutex<HashMap<ClientKey, usize>>,
    metrics: Arc<Metrics>,
    log: RefusalLog,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Node,
    Client,
}

/// A client address as the per-client cap counts it: IPv4 as is, IPv6 by
/// its /64 (one subscriber holds a whole /64, so counting single addresses
/// would cap nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey(IpAddr);

impl ClientKey {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => ClientKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl ConnCaps {
    pub fn new(max_total: usize, max_per_client: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_client,
            total: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            metrics,
            log: RefusalLog::new(),
        })
    }

    /// A slot for a new connection from `peer`, held until the connection
    /// (or what it was upgraded to) is dropped; or which cap refused it.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let refused = self.try_admit(peer);
        match refused {
            Ok(slot) => Ok(slot),
            Err(which) => {
                match which {
                    Refused::Node => self.metrics.refused_node_cap.inc(),
                    Refused::Client => self.metrics.refused_client_cap.inc(),
                };
                self.log
                    .refused(which, peer, self.max_total, self.max_per_client);
                Err(which)
            }
        }
    }

    fn try_admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let key = ClientKey::of(peer);
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Node);
        }
        if self.max_per_client > 0 {
            let mut per_client = self.lock();
            let count = per_client.entry(key).or_insert(0);
            if *count >= self.max_per_client {
                drop(per_client);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::Client);
            }
            *count += 1;
        }
        Ok(Slot {
            caps: self.clone(),
            key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, usize>> {
        // The map holds plain counts: a panic elsewhere cannot leave it torn.
        self.per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, key: ClientKey) {
        if self.max_per_client > 0 {
            let mut per_client = self.lock();
            if let Some(count) = per_client.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    per_client.remove(&key);
                }
            }
        }
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One admitted connection; dropping it frees its place under both caps.
pub struct Slot {
    caps: Arc<ConnCaps>,
    key: ClientKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.caps.release(self.key);
    }
}

/// One warning per `LOG_EVERY` at most, however fast connections are refused.
struct RefusalLog {
    start: Instant,
    /// ms since `start` before which nothing is logged.
    next_ms: AtomicU64,
    since_last: AtomicU64,
}

impl RefusalLog {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            next_ms: AtomicU64::new(0),
            since_last: AtomicU64::new(0),
        }
    }

    fn refused(&self, which: Refused, peer: IpAddr, max_total: usize, max_per_client: usize) {
        self.since_last.fetch_add(1, Ordering::Relaxed);
        let now = self.start.elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        let later = now + LOG_EVERY.as_millis() as u64;
        if now < next
            || self
                .next_ms
                .compare_exchange(next, later, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Refusals since the last line, this one included.
        let refused = self.since_last.swap(0, Ordering::Relaxed);
        match which {
            Refused::Node => tracing::warn!(
                refused,
                %peer,
                "refusing connections: proxy.maxConnections ({max_total}) reached on this node"
            ),
            Refused::Client => tracing::warn!(
                refused,
                %peer,
                "refusing connections: proxy.maxConnectionsPerClient ({max_per_client}) reached for a client"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(total: usize, per_client: usize) -> Arc<ConnCaps> {
        ConnCaps::new(total, per_client, Arc::new(Metrics::new()))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn per_client_cap_counts_each_address_and_frees_on_drop() {
        let caps = caps(10, 2);
        let a = ip("10.0.0.1");
        let first = caps.admit(a);
        let second = caps.admit(a);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(caps.admit(a).err(), Some(Refused::Client));
        assert!(caps.admit(ip("10.0.0.2")).is_ok());
        drop(first);
        assert!(caps.admit(a).is_ok());
        assert_eq!(caps.metrics.refused_client_cap.get(), 1);
    }

    #[test]
    fn node_cap_applies_across_clients() {
        let caps = caps(2, 0);
        let held: Vec<_> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|a| caps.admit(ip(a)))
            .collect();
        assert!(held.iter().all(Result::is_ok));
        assert_eq!(caps.admit(ip("10.0.0.3")).err(), Some(Refused::Node));
        assert_eq!(caps.metrics.refused_node_cap.get(), 1);
        drop(held);
        assert!(caps.admit(ip("10.0.0.3")).is_ok());
        assert_eq!(caps.total.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let caps = caps(10, 1);
        let _held = caps.admit(ip("2001:db8:1:2::1"));
        assert_eq!(
            caps.admit(ip("2001:db8:1:2:ffff::9")).err(),
            Some(Refused::Client)
        );
        assert!(caps.admit(ip("2001:db8:1:3::1")).is_ok());
        // IPv4-mapped addresses count as the IPv4 address.
        let _v4 = caps.admit(ip("192.0.2.1"));
        assert_eq!(
            caps.admit(ip("::ffff:192.0.2.1")).err(),
            Some(Refused::Client)
        );
    }
}
