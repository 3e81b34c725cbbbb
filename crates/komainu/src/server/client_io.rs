//! The client's stream as hyper sees it. Before serving, the listener asks
//! it which protocol the client speaks (`protocol`): the first bytes are
//! read and compared with the HTTP/2 preface (the same test as hyper-util's
//! detection: the preface in full, or the first byte that differs from
//! it), then handed to hyper as if unread. The connection is then served
//! by hyper's HTTP/1 or HTTP/2 server directly, without a sniffing layer
//! on every read. It also holds the connection's cap slot, so that an
//! upgraded connection, which takes this stream with it, keeps counting
//! until it closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::conn_caps::Slot;

/// What an HTTP/2 client with prior knowledge sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The first read asks for this much: a whole ordinary request head.
const FIRST_READ: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

pub struct ClientIo<S> {
    inner: S,
    /// Bytes read to choose the protocol, not yet handed to hyper.
    first: Vec<u8>,
    first_at: usize,
    _slot: Slot,
}

impl<S> ClientIo<S> {
    pub fn new(inner: S, slot: Slot) -> Self {
        Self {
            inner,
            first: Vec::new(),
            first_at: 0,
            _slot: slot,
        }
    }
}

impl<S: AsyncRead + Unpin> ClientIo<S> {
    /// Reads until the first bytes choose the protocol; `None` when the
    /// client closed (or sent nothing but part of the preface) first.
    /// Not bounded in time: the caller is (`lifecycle::choose_protocol`).
    pub async fn protocol(&mut self) -> io::Result<Option<Protocol>> {
        loop {
            if let Some(protocol) = choice(&self.first) {
                return Ok(Some(protocol));
            }
            self.first.reserve(FIRST_READ);
            if self.inner.read_buf(&mut self.first).await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// What the first bytes say, if they say it yet.
fn choice(first: &[u8]) -> Option<Protocol> {
    let compared = first.len().min(H2_PREFACE.len());
    if first.get(..compared) != H2_PREFACE.get(..compared) {
        Some(Protocol::Http1)
    } else if compared == H2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.first_at < self.first.len() {
            let this = &mut *self;
            let unread = this.first.get(this.first_at..).unwrap_or_default();
            let n = unread.len().min(buf.remaining());
            buf.put_slice(unread.get(..n).unwrap_or_default());
            this.first_at += n;
            if this.first_at == this.first.len() {
                this.first = Vec::new();
                this.first_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
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
    use std::sync::Arc;

    use super::*;
    use crate::server::conn_caps::ConnCaps;
    use proxy::metrics::Metrics;

    fn io(bytes: &'static [u8]) -> ClientIo<&'static [u8]> {
        let caps = ConnCaps::new(10, 10, Arc::new(Metrics::new()));
        let slot = caps.admit([127, 0, 0, 1].into());
        ClientIo::new(bytes, slot.unwrap())
    }

    #[test]
    fn a_partial_preface_chooses_nothing_yet() {
        assert_eq!(choice(b""), None);
        assert_eq!(choice(b"P"), None);
        assert_eq!(choice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r"), None);
        assert_eq!(choice(H2_PREFACE), Some(Protocol::Http2));
        assert_eq!(
            choice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(Protocol::Http2)
        );
    }

    #[test]
    fn the_first_byte_off_the_preface_chooses_http1() {
        assert_eq!(choice(b"G"), Some(Protocol::Http1));
        assert_eq!(choice(b"POST / HTTP/1.1\r\n"), Some(Protocol::Http1));
        assert_eq!(choice(b"PRI * HTTP/1.1\r\n"), Some(Protocol::Http1));
    }

    #[tokio::test]
    async fn the_bytes_read_to_choose_are_read_again() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        let mut io = io(head);
        assert_eq!(io.protocol().await.unwrap(), Some(Protocol::Http1));
        let mut again = Vec::new();
        io.read_to_end(&mut again).await.unwrap();
        assert_eq!(again, head);
    }

    #[tokio::test]
    async fn end_of_stream_ends_detection() {
        let mut io = io(b"PRI * HT");
        assert_eq!(io.protocol().await.unwrap(), None);
    }
}
