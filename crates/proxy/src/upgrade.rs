//! Upgraded (WebSocket) connections: once the upstream answered 101, bytes
//! are copied both ways until either side closes, or until neither side has
//! sent anything for `proxy.timeouts.idle` — an upgraded connection nobody
//! uses would otherwise hold two sockets forever.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Relays an upgraded connection in its own task; `in_flight` (the
/// balancer's count for the target) is held until the relay ends.
pub(crate) fn relay_upgrade(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    in_flight: impl Send + 'static,
    idle: Duration,
) {
    tokio::spawn(async move {
        let _in_flight = in_flight;
        match tokio::try_join!(client, upstream) {
            Ok((client, upstream)) => {
                let traffic = Arc::new(Traffic::new());
                let mut client = Watched::new(TokioIo::new(client), traffic.clone());
                let mut upstream = Watched::new(TokioIo::new(upstream), traffic.clone());
                let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
                tokio::select! {
                    copied = relay => if let Err(e) = copied {
                        tracing::debug!(error = %e, "upgraded connection ended with an error");
                    },
                    () = traffic.idle_for(idle) => {
                        tracing::debug!(idle_ms = idle.as_millis() as u64, "closing an idle upgraded connection");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
}

/// When bytes last moved, in ms since `start`.
struct Traffic {
    start: Instant,
    last_ms: AtomicU64,
}

impl Traffic {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Resolves once no byte moved for `idle`: sleeps until the last
    /// movement plus `idle`, and again when something moved meanwhile.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One side of the relay, noting every successful read or write.
struct Watched<S> {
    inner: S,
    traffic: Arc<Traffic>,
}

impl<S> Watched<S> {
    fn new(inner: S, traffic: Arc<Traffic>) -> Self {
        Self { inner, traffic }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.traffic.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.traffic.touch();
        }
        polled
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

    #[tokio::test]
    async fn idle_for_counts_from_the_last_movement() {
        let traffic = Traffic::new();
        let idle = Duration::from_millis(300);
        tokio::time::sleep(Duration::from_millis(200)).await;
        traffic.touch();
        let touched = Instant::now();
        traffic.idle_for(idle).await;
        // 300 ms after the movement at 200 ms, not 300 ms after the start.
        assert!(touched.elapsed() >= idle, "{:?}", touched.elapsed());
    }
}
