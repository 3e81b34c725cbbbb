//! The deadlines of one client connection, from accept to close. hyper
//! enforces none of them here: a connection that sends nothing or part of
//! the HTTP/2 preface never gets past protocol detection, an HTTP/2 client
//! that answers pings may hold a connection with no stream forever, and
//! hyper's own HTTP/1 head timeout allocates, sets and clears a timer on
//! every request (about 1% of the CPU per proxied request in a profile).
//! So the listener itself, with one timer per connection that requests do
//! not touch:
//! - closes a connection whose first bytes do not choose a protocol within
//!   `proxy.timeouts.headerRead` of serving it (after TLS, if any);
//! - closes an HTTP/1 connection with no request in flight that has not
//!   brought a whole request head within `headerRead` of its last response
//!   (a half-sent head, slowloris, or a keep-alive connection whose next
//!   request does not come), without an answer, as nginx's
//!   `client_header_timeout` does;
//! - asks a connection with no request in flight for `proxy.timeouts.idle`
//!   to shut down gracefully (HTTP/1: close; HTTP/2: GOAWAY), and drops it
//!   if it is still there, idle, `headerRead` later (a client that never
//!   reads the GOAWAY).
//!
//! A request is in flight from the moment hyper hands it to the service
//! until its response body is finished or dropped, so a long streamed
//! answer is never idle. HTTP/1 reads its next head once the last response
//! is done, so there "no request in flight" means "reading a head".

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use proxy::body::{BoxError, ProxyBody};
use proxy::metrics::Metrics;
use tokio::io::AsyncRead;
use tokio::sync::watch;
use tokio::time::Instant;

use super::client_io::{ClientIo, Protocol};

/// The connection deadlines (see the module comment).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// `proxy.timeouts.headerRead`: for the protocol choice, and for a
    /// connection told to shut down to go.
    pub header_read: Duration,
    /// `proxy.timeouts.idle`.
    pub idle: Duration,
}

/// Shared between the connection's requests and its supervisor.
pub struct Activity {
    started: Instant,
    /// HTTP/1: with no request in flight, the next head must come within
    /// `headerRead`.
    awaits_heads: bool,
    in_flight: AtomicUsize,
    /// ms after `started` when the last request in flight ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    /// `awaits_heads`: an HTTP/1 connection (see the module comment).
    pub fn new(awaits_heads: bool) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            awaits_heads,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// A request starts; it ends when the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// When the last request in flight ended (the start, before any).
    fn idle_since(&self) -> Instant {
        self.started + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    fn next_step(&self, deadlines: &Deadlines, shutdown_at: Option<Instant>, now: Instant) -> Step {
        let busy = self.in_flight.load(Ordering::Acquire) > 0;
        if let Some(asked) = shutdown_at {
            let deadline = asked + deadlines.header_read;
            return match (busy, now >= deadline) {
                // Requests finish (the node's shutdown grace bounds them).
                (true, _) => Step::WaitUntil(now + deadlines.header_read),
                (false, true) => Step::Close,
                (false, false) => Step::WaitUntil(deadline),
            };
        }
        // The head deadline, when this connection has one.
        let head_read = self.awaits_heads.then_some(deadlines.header_read);
        if busy {
            // Looked at again later; a request ending resets both clocks.
            let look_again = head_read.map_or(deadlines.idle, |h| h.min(deadlines.idle));
            return Step::WaitUntil(now + look_again);
        }
        let since = self.idle_since();
        let idle_deadline = since + deadlines.idle;
        let head_deadline = head_read.map(|h| since + h);
        if head_deadline.is_some_and(|d| now >= d) {
            Step::CutHead
        } else if now >= idle_deadline {
            Step::ShutDown
        } else {
            Step::WaitUntil(head_deadline.map_or(idle_deadline, |d| d.min(idle_deadline)))
        }
    }
}

enum Step {
    WaitUntil(Instant),
    /// Ask the connection to shut down gracefully.
    ShutDown,
    /// Drop it (closes the socket): an HTTP/1 head did not come in time.
    CutHead,
    /// Drop it (closes the socket): it was told to shut down and did not.
    Close,
}

/// The protocol of a new connection, read from its first bytes within
/// `headerRead` (see `ClientIo`). `None`: the client closed, chose none in
/// time (counted with the idle closes), or the node is shutting down.
pub async fn choose_protocol<S: AsyncRead + Unpin>(
    io: &mut ClientIo<S>,
    deadlines: &Deadlines,
    mut closing: watch::Receiver<bool>,
    metrics: &Metrics,
) -> Option<Protocol> {
    tokio::select! {
        chosen = io.protocol() => chosen.ok().flatten(),
        () = tokio::time::sleep(deadlines.header_read) => {
            metrics.closed_idle.inc();
            tracing::debug!("closing a client connection that chose no protocol in time");
            None
        }
        _ = closing.wait_for(|closing| *closing) => None,
    }
}

/// Drives `connection` until it ends, enforcing the deadlines; on node
/// shutdown (`closing` turns true) asks it to shut down gracefully.
pub async fn supervise<C, E>(
    mut connection: Pin<&mut C>,
    graceful: impl Fn(Pin<&mut C>),
    activity: &Activity,
    deadlines: &Deadlines,
    mut closing: watch::Receiver<bool>,
    metrics: &Metrics,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let watchers = Arc::new(WatchersWoken::default());
    let watchers_waker = Waker::from(watchers.clone());
    let mut shutdown_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let wake = match activity.next_step(deadlines, shutdown_at, now) {
            Step::WaitUntil(at) => at,
            Step::ShutDown => {
                metrics.closed_idle.inc();
                tracing::debug!("closing an idle client connection");
                graceful(connection.as_mut());
                shutdown_at = Some(now);
                continue;
            }
            Step::CutHead => {
                metrics.closed_idle.inc();
                tracing::debug!(
                    "closing a client connection whose request head did not come in time"
                );
                return;
            }
            Step::Close => return,
        };
        let mut timer = pin!(tokio::time::sleep_until(wake));
        // Err: the listener is gone, which means closing too.
        let mut told_to_close = pin!(closing.wait_for(|closing| *closing));
        let watching_closing = shutdown_at.is_none();
        // New watchers are polled once, to register.
        watchers.woken.store(true, Ordering::Release);
        let event = poll_fn(|cx| {
            // The connection first: it is what wakes the task on every request.
            if let Poll::Ready(ended) = connection.as_mut().poll(cx) {
                return Poll::Ready(Event::Ended(ended));
            }
            // The timer and the closing signal only when one of them woke
            // the task: polling the closing signal takes a lock shared by
            // every connection of the node.
            watchers.task.register(cx.waker());
            if !watchers.woken.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            let mut cx = Context::from_waker(&watchers_waker);
            if watching_closing && told_to_close.as_mut().poll(&mut cx).is_ready() {
                return Poll::Ready(Event::Closing);
            }
            timer.as_mut().poll(&mut cx).map(|()| Event::Timer)
        })
        .await;
        match event {
            Event::Ended(ended) => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            Event::Closing => {
                graceful(connection.as_mut());
                shutdown_at = Some(Instant::now());
            }
            Event::Timer => {}
        }
    }
}

/// What woke the supervisor.
enum Event<E> {
    Ended(Result<(), E>),
    Closing,
    Timer,
}

/// The waker the supervisor's timer and closing signal get: it notes that
/// they have news, then wakes the connection's task.
#[derive(Default)]
struct WatchersWoken {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WatchersWoken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Marks one request in flight while alive.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let ms = activity.started.elapsed().as_millis() as u64;
            activity.idle_since_ms.store(ms, Ordering::Release);
        }
    }
}

/// The response body, holding its request's `InFlight` until it is done.
/// Handed to hyper as it is: boxing it again would cost an allocation and
/// a second dynamic call per frame.
pub fn track(body: ProxyBody, in_flight: InFlight) -> Tracked {
    Tracked {
        inner: body,
        _in_flight: in_flight,
    }
}

pub struct Tracked {
    inner: ProxyBody,
    _in_flight: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines(header_read_s: u64, idle_s: u64) -> Deadlines {
        Deadlines {
            header_read: Duration::from_secs(header_read_s),
            idle: Duration::from_secs(idle_s),
        }
    }

    #[test]
    fn idle_after_the_last_request_then_shut_down_then_close() {
        let activity = Activity::new(false);
        let d = deadlines(2, 4);
        let t0 = activity.started;
        let request = activity.begin();
        assert!(matches!(
            activity.next_step(&d, None, t0 + Duration::from_secs(9)),
            Step::WaitUntil(_)
        ));
        drop(request);
        let ended = activity.idle_since();
        assert!(matches!(
            activity.next_step(&d, None, ended + Duration::from_secs(3)),
            Step::WaitUntil(at) if at == ended + d.idle
        ));
        assert!(matches!(
            activity.next_step(&d, None, ended + d.idle),
            Step::ShutDown
        ));
        let asked = ended + d.idle;
        assert!(matches!(
            activity.next_step(&d, Some(asked), asked + Duration::from_secs(1)),
            Step::WaitUntil(_)
        ));
        assert!(matches!(
            activity.next_step(&d, Some(asked), asked + d.header_read),
            Step::Close
        ));
    }

    #[test]
    fn an_http1_head_must_come_within_header_read_of_the_last_response() {
        let activity = Activity::new(true);
        let d = deadlines(2, 4);
        let t0 = activity.started;
        // The first head: counted from the start.
        assert!(matches!(
            activity.next_step(&d, None, t0 + Duration::from_secs(1)),
            Step::WaitUntil(at) if at == t0 + d.header_read
        ));
        assert!(matches!(
            activity.next_step(&d, None, t0 + d.header_read),
            Step::CutHead
        ));
        // A request in flight is looked at again within headerRead.
        let request = activity.begin();
        let now = t0 + Duration::from_secs(9);
        assert!(matches!(
            activity.next_step(&d, None, now),
            Step::WaitUntil(at) if at == now + d.header_read
        ));
        drop(request);
        let ended = activity.idle_since();
        assert!(matches!(
            activity.next_step(&d, None, ended + Duration::from_secs(1)),
            Step::WaitUntil(at) if at == ended + d.header_read
        ));
        assert!(matches!(
            activity.next_step(&d, None, ended + d.header_read),
            Step::CutHead
        ));
        // With idle the shorter, idle comes first.
        let d = deadlines(8, 3);
        assert!(matches!(
            activity.next_step(&d, None, ended + d.idle),
            Step::ShutDown
        ));
    }
}
