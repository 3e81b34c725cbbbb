//! The deadlines of one client connection, from accept to close. hyper
//! alone cuts only a half-sent HTTP/1 head (`header_read_timeout`, which
//! also closes a keep-alive connection whose next head does not come); a
//! connection that sends nothing or part of the HTTP/2 preface never gets
//! past protocol detection, and an HTTP/2 client that answers pings may
//! hold a connection with no stream forever. So the listener itself:
//! - closes a connection whose first bytes do not choose a protocol within
//!   `proxy.timeouts.headerRead` of serving it (after TLS, if any);
//! - asks a connection with no request in flight for `proxy.timeouts.idle`
//!   to shut down gracefully (HTTP/1: close; HTTP/2: GOAWAY), and drops it
//!   if it is still there, idle, `headerRead` later (a client that never
//!   reads the GOAWAY).
//!
//! A request is in flight from the moment hyper hands it to the service
//! until its response body is finished or dropped, so a long streamed
//! answer is never idle.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use proxy::body::{BoxError, ProxyBody, boxed};
use proxy::metrics::Metrics;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn_caps::Slot;

/// What hyper's protocol detection reads first: HTTP/2 with prior knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection deadlines (see the module comment).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// `proxy.timeouts.headerRead`: for the protocol choice, and for a
    /// connection told to shut down to go.
    pub header_read: Duration,
    /// `proxy.timeouts.idle`.
    pub idle: Duration,
}

/// Shared between the connection's I/O, its requests and its supervisor.
pub struct Activity {
    started: Instant,
    /// The first bytes decided between HTTP/1 and HTTP/2 (or the peer closed).
    chosen: AtomicBool,
    in_flight: AtomicUsize,
    /// ms after `started` when the last request in flight ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            chosen: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// A request starts; it ends when the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn next_step(&self, deadlines: &Deadlines, shutdown_at: Option<Instant>, now: Instant) -> Step {
        if !self.chosen.load(Ordering::Acquire) {
            let deadline = self.started + deadlines.header_read;
            // Nothing wakes the supervisor when the protocol gets chosen:
            // look again by the earliest idle deadline too.
            let idle_deadline = self.started + deadlines.idle;
            return if now >= deadline {
                Step::Close
            } else {
                Step::WaitUntil(if now < idle_deadline {
                    deadline.min(idle_deadline)
                } else {
                    deadline
                })
            };
        }
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
        if busy {
            // Looked at again later; a request ending resets the idle clock.
            return Step::WaitUntil(now + deadlines.idle);
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        let deadline = self.started + since + deadlines.idle;
        if now >= deadline {
            Step::ShutDown
        } else {
            Step::WaitUntil(deadline)
        }
    }
}

enum Step {
    WaitUntil(Instant),
    /// Ask the connection to shut down gracefully.
    ShutDown,
    /// Drop it (closes the socket).
    Close,
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
            Step::Close => {
                if shutdown_at.is_none() {
                    metrics.closed_idle.inc();
                    tracing::debug!("closing a client connection that chose no protocol in time");
                }
                return;
            }
        };
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            // Err: the listener is gone, which means closing too.
            _ = closing.wait_for(|closing| *closing), if shutdown_at.is_none() => {
                graceful(connection.as_mut());
                shutdown_at = Some(Instant::now());
            }
            () = tokio::time::sleep_until(wake) => {}
        }
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
pub fn track(body: ProxyBody, in_flight: InFlight) -> ProxyBody {
    boxed(Tracked {
        inner: body,
        _in_flight: in_flight,
    })
}

struct Tracked {
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

/// The client's stream as hyper sees it: notes when the first bytes have
/// chosen the protocol (the same test as hyper-util's detection: the
/// HTTP/2 preface in full, or the first byte that differs from it), and
/// holds the connection's cap slot, so that an upgraded connection, which
/// takes this stream with it, keeps counting until it closes.
pub struct ClientIo<S> {
    inner: S,
    activity: Arc<Activity>,
    /// Preface bytes matched so far.
    matched: usize,
    _slot: Slot,
}

impl<S> ClientIo<S> {
    pub fn new(inner: S, activity: Arc<Activity>, slot: Slot) -> Self {
        Self {
            inner,
            activity,
            matched: 0,
            _slot: slot,
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        let chosen = bytes.is_empty()
            || bytes.iter().any(|byte| {
                let expected = H2_PREFACE.get(self.matched);
                self.matched += 1;
                expected != Some(byte)
            })
            || self.matched >= H2_PREFACE.len();
        if chosen {
            self.activity.chosen.store(true, Ordering::Release);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && !self.activity.chosen.load(Ordering::Relaxed) {
            let new = buf.filled().get(before..).unwrap_or_default();
            self.saw(new);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::conn_caps::ConnCaps;

    fn io() -> ClientIo<tokio::io::Empty> {
        let caps = ConnCaps::new(10, 10, Arc::new(Metrics::new()));
        let slot = caps.admit([127, 0, 0, 1].into());
        ClientIo::new(tokio::io::empty(), Activity::new(), slot.unwrap())
    }

    fn chosen(io: &ClientIo<tokio::io::Empty>) -> bool {
        io.activity.chosen.load(Ordering::Relaxed)
    }

    #[test]
    fn a_partial_preface_chooses_nothing_yet() {
        let mut io = io();
        io.saw(b"PRI * HTTP/2.0\r\n");
        assert!(!chosen(&io));
        io.saw(b"\r\nSM\r\n\r");
        assert!(!chosen(&io));
        io.saw(b"\n");
        assert!(chosen(&io));
    }

    #[test]
    fn the_first_byte_off_the_preface_chooses_http1() {
        let mut io = io();
        io.saw(b"P");
        assert!(!chosen(&io));
        io.saw(b"OST / HTTP/1.1\r\n");
        assert!(chosen(&io));
    }

    #[test]
    fn end_of_stream_ends_detection() {
        let mut io = io();
        io.saw(b"");
        assert!(chosen(&io));
    }

    #[test]
    fn idle_after_the_last_request_then_shut_down_then_close() {
        let activity = Activity::new();
        activity.chosen.store(true, Ordering::Relaxed);
        let d = Deadlines {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(4),
        };
        let t0 = activity.started;
        let request = activity.begin();
        assert!(matches!(
            activity.next_step(&d, None, t0 + Duration::from_secs(9)),
            Step::WaitUntil(_)
        ));
        drop(request);
        let ended = activity.started
            + Duration::from_millis(activity.idle_since_ms.load(Ordering::Relaxed));
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
    fn no_protocol_choice_within_header_read_closes() {
        let activity = Activity::new();
        let d = Deadlines {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(60),
        };
        let t0 = activity.started;
        assert!(matches!(
            activity.next_step(&d, None, t0 + Duration::from_secs(1)),
            Step::WaitUntil(at) if at == t0 + d.header_read
        ));
        // With a shorter idle, looked at again by then.
        let short = Deadlines {
            idle: Duration::from_secs(1),
            ..d
        };
        assert!(matches!(
            activity.next_step(&short, None, t0),
            Step::WaitUntil(at) if at == t0 + short.idle
        ));
        assert!(matches!(
            activity.next_step(&d, None, t0 + d.header_read),
            Step::Close
        ));
    }
}
