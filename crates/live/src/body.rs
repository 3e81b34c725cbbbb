//! A body wrapper that adds the size of each data frame to a byte counter
//! as it passes: the body stays streamed, and the cost is one relaxed atomic
//! add per frame.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

pub use crate::Direction;
use crate::LiveCounters;

pub struct Counted<B> {
    inner: B,
    live: Arc<LiveCounters>,
    direction: Direction,
}

impl<B> Counted<B> {
    pub fn new(inner: B, live: Arc<LiveCounters>, direction: Direction) -> Self {
        Self {
            inner,
            live,
            direction,
        }
    }
}

impl<B> Body for Counted<B>
where
    B: Body + Unpin,
    B::Data: bytes::Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let len = bytes::Buf::remaining(data) as u64;
            self.live.add_bytes(self.direction, len);
        }
        polled
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
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// Frames handed out one per poll.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    #[tokio::test]
    async fn counts_the_exact_bytes_of_every_frame() {
        let live = Arc::new(LiveCounters::default());
        let body = Frames(VecDeque::from(vec![
            Frame::data(Bytes::from(vec![1u8; 1000])),
            Frame::data(Bytes::new()),
            Frame::data(Bytes::from_static(b"abc")),
            Frame::trailers(http::HeaderMap::new()),
        ]));
        let counted = Counted::new(body, live.clone(), Direction::Out);
        let collected = counted.collect().await.unwrap().to_bytes();
        assert_eq!(collected.len(), 1003);
        assert_eq!(live.snapshot(0).bytes_out, 1003);
        assert_eq!(live.snapshot(0).bytes_in, 0);

        let counted = Counted::new(
            http_body_util::Full::new(Bytes::from_static(b"hello")),
            live.clone(),
            Direction::In,
        );
        assert_eq!(counted.size_hint().exact(), Some(5));
        counted.collect().await.unwrap();
        assert_eq!(live.snapshot(0).bytes_in, 5);
    }
}
