//! `Store::incr_batch`: many counters moved in one atomic step, at most once
//! per marker (how a leader applies a worker's quota push).

use std::sync::Arc;

use store::{Increment, Once, Store};

use super::{keys, now_ms};

const HOUR_MS: u64 = 3_600_000;

fn inc(key: &str, by: i64, expires_at_ms: Option<u64>) -> Increment {
    Increment {
        key: key.to_owned(),
        by,
        expires_at_ms,
    }
}

fn once(key: &str, expires_at_ms: u64) -> Once {
    Once {
        key: key.to_owned(),
        expires_at_ms,
    }
}

async fn values(store: &dyn Store, names: &[&str]) -> Vec<Option<i64>> {
    store
        .counters(&keys(names))
        .await
        .unwrap()
        .into_iter()
        .map(|counter| counter.map(|counter| counter.value))
        .collect()
}

pub async fn incr_batch_applies_every_increment(store: Arc<dyn Store>) {
    let window = now_ms() + HOUR_MS;
    store.incr("b", 5, Some(window)).await.unwrap();
    let applied = store
        .incr_batch(
            None,
            &[
                inc("a", 2, Some(window)),
                inc("b", 3, None),
                inc("a", 4, None),
            ],
        )
        .await
        .unwrap();
    assert!(applied);
    assert_eq!(
        values(store.as_ref(), &["a", "b"]).await,
        [Some(6), Some(8)]
    );
    let counters = store.counters(&keys(&["a", "b"])).await.unwrap();
    assert_eq!(counters[0].unwrap().expires_at_ms, Some(window));
    assert_eq!(counters[1].unwrap().expires_at_ms, Some(window));
    // Without a marker the same batch counts again.
    assert!(store.incr_batch(None, &[inc("a", 1, None)]).await.unwrap());
    assert_eq!(values(store.as_ref(), &["a"]).await, [Some(7)]);
}

pub async fn incr_batch_with_a_marker_applies_once(store: Arc<dyn Store>) {
    let window = now_ms() + HOUR_MS;
    let marker = once("batch:w1:1", window);
    let batch = [inc("q1", 10, Some(window)), inc("q2", 1, Some(window))];
    assert!(store.incr_batch(Some(&marker), &batch).await.unwrap());
    assert!(!store.incr_batch(Some(&marker), &batch).await.unwrap());
    assert_eq!(
        values(store.as_ref(), &["q1", "q2", "batch:w1:1"]).await,
        [Some(10), Some(1), Some(1)]
    );
    // Another marker is another batch.
    assert!(
        store
            .incr_batch(Some(&once("batch:w1:2", window)), &batch)
            .await
            .unwrap()
    );
    assert_eq!(values(store.as_ref(), &["q1"]).await, [Some(20)]);
}

pub async fn incr_batch_marker_that_expired_applies_again(store: Arc<dyn Store>) {
    store
        .incr("batch:old", 1, Some(now_ms().saturating_sub(1000)))
        .await
        .unwrap();
    let marker = once("batch:old", now_ms() + HOUR_MS);
    assert!(
        store
            .incr_batch(Some(&marker), &[inc("q", 1, None)])
            .await
            .unwrap()
    );
    assert_eq!(
        values(store.as_ref(), &["q", "batch:old"]).await,
        [Some(1), Some(1)]
    );
}

pub async fn concurrent_batches_with_one_marker_apply_once(store: Arc<dyn Store>) {
    let window = now_ms() + HOUR_MS;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .incr_batch(
                        Some(&once("batch:race", window)),
                        &[inc("raced", 1, Some(window)), inc("raced2", 2, None)],
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        if task.await.unwrap() {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one of the racing pushes applies");
    assert_eq!(
        values(store.as_ref(), &["raced", "raced2"]).await,
        [Some(1), Some(2)]
    );
}

pub async fn concurrent_batches_lose_nothing(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..50 {
                    store
                        .incr_batch(None, &[inc("sum", 1, None), inc("sum", 2, None)])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(values(store.as_ref(), &["sum"]).await, [Some(600)]);
}
