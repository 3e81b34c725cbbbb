//! A backend's response body. On a pooled plain HTTP/1 connection the body
//! also carries the connection it arrives on: whoever reads the body (the
//! client connection's task) drives the connection too, so no task of its
//! own serves it. When the body is dropped, the connection goes back to
//! the idle pool if its exchange finished, and is closed otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::{Idle, IdlePool, Target};

pub struct UpstreamBody {
    incoming: Incoming,
    driver: Option<Driver>,
}

/// The connection under a body, and where it goes back to.
pub(super) struct Driver {
    pub idle: Idle,
    pub target: Target,
    pub pool: Arc<IdlePool>,
}

impl UpstreamBody {
    /// A body whose connection is driven elsewhere (the legacy client's
    /// task, or an upgrade's).
    pub(super) fn detached(incoming: Incoming) -> Self {
        Self {
            incoming,
            driver: None,
        }
    }

    pub(super) fn driven(incoming: Incoming, driver: Driver) -> Self {
        Self {
            incoming,
            driver: Some(driver),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        // What the connection already delivered is read without polling it.
        if let Poll::Ready(frame) = Pin::new(&mut this.incoming).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let Some(driver) = this.driver.as_mut() else {
            return Poll::Pending;
        };
        if Pin::new(&mut driver.idle.conn).poll(cx).is_ready() {
            // Closed (or failed): the body has all it will get, or the error.
            this.driver = None;
            return Pin::new(&mut this.incoming).poll_frame(cx);
        }
        // What the connection read now reaches the body through its
        // channel, which wakes this task: the caller sees Pending first and
        // flushes what it holds (the response head, earlier chunks), as it
        // did when another task drove the connection. Reading it here at
        // once would let an error later in the body (a limiter's) close the
        // client connection before the head was sent.
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        let Some(Driver { idle, target, pool }) = self.driver.take() else {
            return;
        };
        pool.checkin(target, idle);
    }
}
