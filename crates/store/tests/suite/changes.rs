use std::sync::Arc;

use store::{Condition, Store};
use tokio::time::timeout;

use super::{WAIT, put, put_if};

pub async fn changes_wake_with_the_new_revision(store: Arc<dyn Store>) {
    let mut changes = store.changes();
    let seen = *changes.borrow_and_update();
    assert_eq!(seen, store.revision().await.unwrap());

    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.write(vec![put("route", "a", b"v1")]).await })
    };
    timeout(WAIT, changes.changed()).await.unwrap().unwrap();
    let announced = *changes.borrow_and_update();
    assert_eq!(announced, seen + 1);
    // Whoever wakes can already read what the batch wrote.
    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(store.scan("route", None, 10).await.unwrap().len(), 1);
    assert_eq!(writer.await.unwrap().unwrap(), announced);

    // A receiver taken later starts from the current revision.
    assert_eq!(*store.changes().borrow(), announced);
}

pub async fn changes_ignore_failed_and_empty_batches(store: Arc<dyn Store>) {
    store.write(vec![put("route", "a", b"v")]).await.unwrap();
    let mut changes = store.changes();
    let seen = *changes.borrow_and_update();

    store.write(Vec::new()).await.unwrap();
    store
        .write(vec![put_if("route", "a", b"v", Condition::MustNotExist)])
        .await
        .unwrap_err();
    assert!(!changes.has_changed().unwrap());

    let revision = store.write(vec![put("route", "b", b"v")]).await.unwrap();
    assert!(changes.has_changed().unwrap());
    assert_eq!(*changes.borrow_and_update(), revision);
    assert_eq!(revision, seen + 1);
}

pub async fn changes_end_on_the_last_revision_under_concurrency(store: Arc<dyn Store>) {
    let start = store.revision().await.unwrap();
    let mut changes = store.changes();
    let writers: Vec<_> = (0..8)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..10 {
                    let id = format!("{task}-{n}");
                    store.write(vec![put("route", &id, b"v")]).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let end = store.revision().await.unwrap();
    assert_eq!(end, start + 80);
    timeout(WAIT, changes.wait_for(|revision| *revision == end))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.count("route").await.unwrap(), 80);
}
