//! The shared behaviour suite on `EmbeddedStore`, plus what only a
//! persistent, file-locked backend has to show.

// Tests fail by panicking; the suite helpers are plain fns, which
// clippy's allow-*-in-tests settings do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::sync::Arc;

use store::{Condition, Counter, EmbeddedStore, Store, StoreError};
use tempfile::TempDir;

use suite::{keys, now_ms, put, put_if};

async fn fresh() -> Option<(Arc<dyn Store>, TempDir)> {
    let dir = TempDir::new().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Some((Arc::new(store), dir))
}

suite::store_suite!(fresh);

#[tokio::test]
async fn data_revision_and_counters_survive_reopen() {
    let dir = TempDir::new().unwrap();
    let future = now_ms() + 3_600_000;
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.backend(), "embedded");
        store
            .write(vec![put("route", "a", b"A"), put("route", "b", b"B")])
            .await
            .unwrap();
        store.write(vec![put("service", "s", b"S")]).await.unwrap();
        store.incr("quota", 41, Some(future)).await.unwrap();
        store.incr("plain", 1, None).await.unwrap();
        assert_eq!(store.revision().await.unwrap(), 2);
    }

    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.revision().await.unwrap(), 2);
    assert_eq!(*store.changes().borrow(), 2);
    assert_eq!(
        store.get("route", "b").await.unwrap().as_deref(),
        Some(&b"B"[..])
    );
    assert_eq!(store.count("route").await.unwrap(), 2);
    assert_eq!(
        store.get("service", "s").await.unwrap().as_deref(),
        Some(&b"S"[..])
    );
    assert_eq!(store.incr("quota", 1, None).await.unwrap(), 42);
    assert_eq!(
        store.counters(&keys(&["quota", "plain"])).await.unwrap(),
        [
            Some(Counter {
                value: 42,
                expires_at_ms: Some(future)
            }),
            Some(Counter {
                value: 1,
                expires_at_ms: None
            }),
        ]
    );
    // Conditions see the reopened data, and the revision carries on.
    store
        .write(vec![put_if(
            "route",
            "a",
            b"again",
            Condition::MustNotExist,
        )])
        .await
        .unwrap_err();
    assert_eq!(store.write(vec![put("route", "c", b"C")]).await.unwrap(), 3);
}

#[tokio::test]
async fn second_open_of_a_folder_in_use_is_unavailable() {
    let dir = TempDir::new().unwrap();
    let first = EmbeddedStore::open(dir.path()).unwrap();
    first.write(vec![put("route", "a", b"A")]).await.unwrap();

    let Err(error) = EmbeddedStore::open(dir.path()) else {
        panic!("a second open of a folder in use must fail");
    };
    match &error {
        StoreError::Unavailable { backend, message } => {
            assert_eq!(*backend, "embedded");
            assert!(message.contains("in use"), "{message}");
            assert!(
                message.contains(&dir.path().display().to_string()),
                "{message}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("datastore 'embedded' unavailable")
    );

    // The first store is unharmed, and the folder frees up once it closes.
    assert_eq!(
        first.get("route", "a").await.unwrap().as_deref(),
        Some(&b"A"[..])
    );
    drop(first);
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(reopened.revision().await.unwrap(), 1);
}

#[tokio::test]
async fn open_creates_missing_folders() {
    let dir = TempDir::new().unwrap();
    let nested = dir.path().join("a").join("b");
    let store = EmbeddedStore::open(&nested).unwrap();
    assert!(nested.join("komainu.redb").is_file());
    assert_eq!(store.path(), nested.join("komainu.redb"));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("komainu.redb"), vec![0x42_u8; 64 * 1024]).unwrap();
    let Err(error) = EmbeddedStore::open(dir.path()) else {
        panic!("garbage must not open as a database");
    };
    assert!(
        matches!(
            error,
            StoreError::Unavailable {
                backend: "embedded",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_folder_that_is_a_file_is_unavailable() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let Err(error) = EmbeddedStore::open(&file) else {
        panic!("a file is no data folder");
    };
    assert!(
        matches!(
            error,
            StoreError::Unavailable {
                backend: "embedded",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn sweep_removes_exactly_the_expired_counters() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let past = now_ms() - 1_000;
    // Queued all at once, so group commit writes them in a few transactions.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..5000 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.incr(&format!("old:{n}"), 1, Some(past)).await });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 1);
    }
    store.incr("new", 1, Some(now_ms() + 60_000)).await.unwrap();
    // More than one sweep batch is due, and all of it goes in one call.
    assert_eq!(store.sweep_expired_counters().await.unwrap(), 5000);
    assert_eq!(store.sweep_expired_counters().await.unwrap(), 0);
    assert_eq!(
        store.scan_counters("", None, 10).await.unwrap().len(),
        1,
        "only the live counter is left"
    );
}
