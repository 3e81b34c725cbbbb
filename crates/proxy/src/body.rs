use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type the listener, the admin API and the proxy answer with:
/// a boxed stream, so a proxied body passes through without being buffered.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn boxed<B>(body: B) -> ProxyBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    boxed(Full::new(bytes.into()))
}

pub fn empty() -> ProxyBody {
    boxed(Empty::<Bytes>::new())
}

/// An error of a client's request body (a bad chunk, a cut upload) on its
/// way upstream: found in an upstream call's error chain, it makes the
/// failure the client's (400), not the backend's.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read: {0}")]
pub struct ClientBodyError(pub BoxError);

/// The client's body cut after `max` bytes: the upstream call fails as a
/// client body error, and `over` tells it was the limit (413, not 400).
pub fn limited<B>(body: B, max: u64, over: &Arc<AtomicBool>) -> ProxyBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let over = over.clone();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    boxed(http_body_util::Limited::new(body, max).map_err(move |e| {
        if e.is::<http_body_util::LengthLimitError>() {
            over.store(true, Ordering::Relaxed);
        }
        ClientBodyError(e)
    }))
}
