//! The shared behaviour suite on `MemoryStore`.

mod suite;

use std::sync::Arc;

use store::{MemoryStore, Store};

async fn fresh() -> (Arc<dyn Store>, ()) {
    (Arc::new(MemoryStore::new()), ())
}

suite::store_suite!(fresh);

#[tokio::test]
async fn backend_is_named_inmemory() {
    assert_eq!(MemoryStore::new().backend(), "inmemory");
}
