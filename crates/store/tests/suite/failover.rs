//! After a Redis failover (Sentinel or Cluster): what a store acknowledged
//! before and during it is all there, and a second store hears new writes.

use std::time::{Duration, Instant};

use store::Store;

use super::put;

pub async fn every_acknowledged_write_survived(
    writer: &dyn Store,
    reader: &dyn Store,
    acknowledged: &[String],
    within: Duration,
) {
    for id in acknowledged {
        assert_eq!(
            writer.get("route", id).await.unwrap().as_deref(),
            Some(&b"v"[..]),
            "acknowledged write {id} survived the failover"
        );
    }
    let revision = writer
        .write(vec![put("route", "after", b"v")])
        .await
        .unwrap();
    let mut changes = reader.changes();
    tokio::time::timeout(within, changes.wait_for(|seen| *seen >= revision))
        .await
        .expect("the other node hears writes on the new master")
        .unwrap();
    assert_eq!(
        reader.get("route", "after").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// Writes `id` until the store acknowledges it: a write may be refused
/// (Unavailable) while the master cannot vouch for a replica, never lost.
pub async fn acknowledge(store: &dyn Store, id: &str, within: Duration) {
    let started = Instant::now();
    while let Err(error) = store.write(vec![put("route", id, b"v")]).await {
        let text = super::unavailable_message(error);
        assert!(started.elapsed() < within, "{id} not acknowledged: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
