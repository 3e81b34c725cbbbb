//! Idle keep-alive connections to plain HTTP/1 targets, by target
//! authority. The pool is sharded by thread: a request takes and returns
//! connections in its own thread's shard, so the lock it takes is
//! uncontended (the sweeper is the only other visitor) and a connection
//! usually stays on the core whose task drives it. No task and no channel
//! stand behind an idle connection: it is a parked hyper connection that
//! the next request on that shard polls itself.
//!
//! An idle connection is checked before reuse: polled once, it notices a
//! close or unexpected bytes from the backend; then its sender must be
//! ready for a new request. Connections idle for longer than the idle
//! timeout are closed, at checkout or by a sweep every idle timeout.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::uri::Authority;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::ProxyBody;

/// One HTTP/1 connection to a backend: the handle requests go through,
/// and the connection state machine that whoever waits on it polls.
pub(super) type Sender = SendRequest<ProxyBody>;
pub(super) type Conn = Connection<TokioIo<TcpStream>, ProxyBody>;

/// Shards: more than the worker threads of any machine this runs on is
/// not needed, since a thread keeps to one shard.
const SHARDS: usize = 64;
/// Idle connections kept per target and shard (the legacy client kept
/// 1024 per target).
const MAX_IDLE_PER_TARGET: usize = 1024;
/// The sweep never runs more often than this, whatever the idle timeout.
const MIN_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A connection ready for its next request. The connection state machine
/// is boxed once when the connection opens: it is 680 bytes, and an idle
/// connection moves half a dozen times per request (out of the pool, into
/// the exchange, into the response body, back into the pool).
pub(super) struct Idle {
    pub sender: Sender,
    pub conn: Box<Conn>,
}

struct Parked {
    idle: Idle,
    since: Instant,
}

/// A target as the pool knows it: its authority as the route wrote it,
/// hashed and compared as one string (a target spelled in two cases gets
/// two entries, which is harmless).
#[derive(Clone)]
pub(super) struct Target(pub Authority);

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Target {}

impl Hash for Target {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One write: `Authority`'s own Hash feeds the hasher byte by byte.
        state.write(self.0.as_str().as_bytes());
    }
}

type Shard = HashMap<Target, Vec<Parked>, foldhash::fast::RandomState>;

pub(super) struct IdlePool {
    shards: Box<[Mutex<Shard>]>,
    idle_timeout: Duration,
    sweeper_started: AtomicBool,
}

impl IdlePool {
    pub fn new(idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            idle_timeout,
            sweeper_started: AtomicBool::new(false),
        })
    }

    fn shard(&self) -> std::sync::MutexGuard<'_, Shard> {
        // In range: there are exactly SHARDS shards.
        self.shards[live::thread_number() % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently parked live connection to `target`, if any; `now`
    /// is the caller's clock reading.
    pub fn checkout(&self, target: &Target, now: std::time::Instant) -> Option<Idle> {
        let now = Instant::from_std(now);
        let mut shard = self.shard();
        let parked = shard.get_mut(target)?;
        while let Some(Parked { mut idle, since }) = parked.pop() {
            if now.duration_since(since) < self.idle_timeout && usable(&mut idle) {
                return Some(idle);
            }
        }
        None
    }

    /// Parks a connection whose response body is done with, when it can
    /// take another request; drops (closes) it otherwise.
    pub fn checkin(self: &Arc<Self>, target: Target, mut idle: Idle) {
        // Usually ready already; if not, the exchange may need one more
        // step to finish (an end of body buffered but not yet seen).
        if !idle.sender.is_ready() && !usable(&mut idle) {
            self.finish_then_park(target, idle);
            return;
        }
        self.park(target, idle);
    }

    /// The exchange is not over although its answer was read: the backend
    /// answered before it had the whole request body (an early 200, 413 or
    /// 401). Dropping the connection would cut the client's upload; the
    /// connection is driven on a task of its own instead, as the legacy
    /// client's task did, until the exchange ends (then it is parked) or it
    /// closes, for at most the idle timeout. Nothing is spawned outside a
    /// runtime (at shutdown): the connection just closes.
    fn finish_then_park(self: &Arc<Self>, target: Target, idle: Idle) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = Arc::downgrade(self);
        let limit = self.idle_timeout;
        runtime.spawn(async move {
            let Idle {
                mut sender,
                mut conn,
            } = idle;
            let finished = tokio::time::timeout(limit, async {
                tokio::select! {
                    ready = sender.ready() => ready.is_ok(),
                    _ = &mut conn => false,
                }
            })
            .await;
            if let (Ok(true), Some(pool)) = (finished, pool.upgrade()) {
                pool.park(target, Idle { sender, conn });
            }
        });
    }

    fn park(self: &Arc<Self>, target: Target, idle: Idle) {
        self.start_sweeper();
        let mut shard = self.shard();
        let parked = shard.entry(target).or_default();
        if parked.len() < MAX_IDLE_PER_TARGET {
            parked.push(Parked {
                idle,
                since: Instant::now(),
            });
        }
    }

    /// Closes the connections idle for too long, and those the backend
    /// closed, in every shard.
    fn sweep(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|_, parked| {
                parked.retain_mut(|p| {
                    now.duration_since(p.since) < self.idle_timeout && usable(&mut p.idle)
                });
                !parked.is_empty()
            });
        }
    }

    /// The sweep task, started with the first parked connection (from
    /// inside the runtime); it ends when the pool is dropped.
    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeper_started.load(Ordering::Relaxed)
            || self.sweeper_started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeper_started.store(false, Ordering::Relaxed);
            return;
        };
        let pool: Weak<Self> = Arc::downgrade(self);
        let every = self.idle_timeout.max(MIN_SWEEP_EVERY);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match pool.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }
}

/// Polls an idle connection once, without a task to wake: it reads what
/// arrived meanwhile (a close, or bytes no request asked for, which make
/// hyper close it). Then it can take a request if its sender is ready.
/// No system call is made unless the socket had an event.
fn usable(idle: &mut Idle) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut idle.conn).poll(&mut cx) {
        Poll::Ready(_) => false,
        Poll::Pending => idle.sender.is_ready(),
    }
}
