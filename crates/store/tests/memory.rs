//! The shared behaviour suite on `MemoryStore`.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::sync::Arc;

use store::{MemoryStore, Store};

async fn fresh() -> Option<(Arc<dyn Store>, ())> {
    Some((Arc::new(MemoryStore::new()), ()))
}

suite::store_suite!(fresh);

#[tokio::test]
async fn backend_is_named_inmemory() {
    assert_eq!(MemoryStore::new().backend(), "inmemory");
}
