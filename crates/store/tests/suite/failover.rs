//! After a Redis failover (Sentinel or Cluster): what a store acknowledged
//! before and during it is all there, and a second store hears new writes.

use std::time::Duration;

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
