use std::sync::Arc;

use store::{Counter, Store};

use super::{ids, keys, now_ms};

const HOUR_MS: u64 = 3_600_000;

pub async fn incr_returns_running_totals(store: Arc<dyn Store>) {
    let revision = store.revision().await.unwrap();
    assert_eq!(store.incr("hits", 1, None).await.unwrap(), 1);
    assert_eq!(store.incr("hits", 1, None).await.unwrap(), 2);
    assert_eq!(store.incr("hits", 10, None).await.unwrap(), 12);
    assert_eq!(store.incr("hits", -5, None).await.unwrap(), 7);
    assert_eq!(store.incr("other", 3, None).await.unwrap(), 3);
    assert_eq!(store.incr("", 1, None).await.unwrap(), 1);
    assert_eq!(store.incr("hits", 0, None).await.unwrap(), 7);
    assert_eq!(
        store.counters(&keys(&["hits"])).await.unwrap(),
        [Some(Counter {
            value: 7,
            expires_at_ms: None
        })]
    );
    // Entity writes and counters are separate: counters move no revision.
    assert_eq!(store.revision().await.unwrap(), revision);
}

pub async fn live_counter_keeps_its_first_window(store: Arc<dyn Store>) {
    let first = now_ms() + HOUR_MS;
    assert_eq!(store.incr("quota", 1, Some(first)).await.unwrap(), 1);
    assert_eq!(
        store.incr("quota", 1, Some(first + HOUR_MS)).await.unwrap(),
        2
    );
    assert_eq!(store.incr("quota", 1, None).await.unwrap(), 3);
    assert_eq!(
        store.counters(&keys(&["quota"])).await.unwrap(),
        [Some(Counter {
            value: 3,
            expires_at_ms: Some(first)
        })]
    );

    // A counter created without expiry never gains one.
    store.incr("forever", 1, None).await.unwrap();
    store.incr("forever", 1, Some(first)).await.unwrap();
    assert_eq!(
        store.counters(&keys(&["forever"])).await.unwrap(),
        [Some(Counter {
            value: 2,
            expires_at_ms: None
        })]
    );
}

pub async fn expired_counter_restarts_from_zero(store: Arc<dyn Store>) {
    let past = now_ms() - HOUR_MS;
    assert_eq!(store.incr("window", 5, Some(past)).await.unwrap(), 5);
    assert_eq!(store.counters(&keys(&["window"])).await.unwrap(), [None]);
    assert!(store.scan_counters("", None, 100).await.unwrap().is_empty());

    assert_eq!(store.incr("window", 2, Some(past)).await.unwrap(), 2);

    let future = now_ms() + HOUR_MS;
    assert_eq!(store.incr("window", 4, Some(future)).await.unwrap(), 4);
    assert_eq!(store.incr("window", 1, Some(future + 1)).await.unwrap(), 5);
    assert_eq!(
        store.counters(&keys(&["window"])).await.unwrap(),
        [Some(Counter {
            value: 5,
            expires_at_ms: Some(future)
        })]
    );
}

pub async fn counters_reads_in_request_order(store: Arc<dyn Store>) {
    let future = now_ms() + HOUR_MS;
    store.incr("b", 2, None).await.unwrap();
    store.incr("a", 1, Some(future)).await.unwrap();
    store.incr("dead", 1, Some(1)).await.unwrap();

    let found = store
        .counters(&keys(&["b", "missing", "a", "dead", "b"]))
        .await
        .unwrap();
    assert_eq!(
        found,
        [
            Some(Counter {
                value: 2,
                expires_at_ms: None
            }),
            None,
            Some(Counter {
                value: 1,
                expires_at_ms: Some(future)
            }),
            None,
            Some(Counter {
                value: 2,
                expires_at_ms: None
            }),
        ]
    );
    assert!(store.counters(&[]).await.unwrap().is_empty());
}

pub async fn scan_counters_by_prefix_and_page(store: Arc<dyn Store>) {
    let past = now_ms() - HOUR_MS;
    for key in [
        "quota:a:1",
        "quota:a:2",
        "quota:a:3",
        "quota:ab:1",
        "quota:b",
        "other",
        "quota",
    ] {
        store.incr(key, 1, None).await.unwrap();
    }
    store.incr("quota:a:15", 1, Some(past)).await.unwrap();

    let all_a = store.scan_counters("quota:a:", None, 100).await.unwrap();
    assert_eq!(ids(&all_a), ["quota:a:1", "quota:a:2", "quota:a:3"]);
    assert_eq!(
        all_a[0].1,
        Counter {
            value: 1,
            expires_at_ms: None
        }
    );
    assert_eq!(
        ids(&store.scan_counters("quota:a", None, 100).await.unwrap()),
        ["quota:a:1", "quota:a:2", "quota:a:3", "quota:ab:1"]
    );
    assert_eq!(store.scan_counters("", None, 100).await.unwrap().len(), 7);
    assert!(
        store
            .scan_counters("nope", None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Paging skips the expired "quota:a:15" without shortening a page.
    assert_eq!(
        ids(&store
            .scan_counters("quota:a:", Some("quota:a:1"), 1)
            .await
            .unwrap()),
        ["quota:a:2"]
    );
    assert_eq!(
        ids(&store
            .scan_counters("quota:a:", Some("quota:a:2"), 5)
            .await
            .unwrap()),
        ["quota:a:3"]
    );
    assert!(
        store
            .scan_counters("quota:a:", Some("quota:a:3"), 5)
            .await
            .unwrap()
            .is_empty()
    );
    // An `after` before the prefix starts at the prefix; one past it finds nothing.
    assert_eq!(
        ids(&store.scan_counters("quota:a:", Some("a"), 2).await.unwrap()),
        ["quota:a:1", "quota:a:2"]
    );
    assert!(
        store
            .scan_counters("quota:a:", Some("z"), 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .scan_counters("quota", None, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .scan_counters("quota", after.as_deref(), 2)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        seen.extend(page.into_iter().map(|(key, _)| key));
    }
    assert_eq!(
        seen,
        [
            "quota",
            "quota:a:1",
            "quota:a:2",
            "quota:a:3",
            "quota:ab:1",
            "quota:b"
        ]
    );
}

pub async fn reset_counters_forgets_them(store: Arc<dyn Store>) {
    let future = now_ms() + HOUR_MS;
    store.incr("a", 5, Some(future)).await.unwrap();
    store.incr("b", 7, None).await.unwrap();
    store.incr("c", 9, None).await.unwrap();

    store
        .reset_counters(&keys(&["a", "b", "never-existed"]))
        .await
        .unwrap();
    store.reset_counters(&[]).await.unwrap();
    assert_eq!(
        store.counters(&keys(&["a", "b", "c"])).await.unwrap(),
        [
            None,
            None,
            Some(Counter {
                value: 9,
                expires_at_ms: None
            })
        ]
    );

    let later = future + HOUR_MS;
    assert_eq!(store.incr("a", 1, Some(later)).await.unwrap(), 1);
    assert_eq!(
        store.counters(&keys(&["a"])).await.unwrap(),
        [Some(Counter {
            value: 1,
            expires_at_ms: Some(later)
        })]
    );
}

pub async fn sweep_keeps_live_counters(store: Arc<dyn Store>) {
    let past = now_ms() - HOUR_MS;
    let future = now_ms() + HOUR_MS;
    store.incr("dead:1", 1, Some(past)).await.unwrap();
    store.incr("dead:2", 1, Some(1)).await.unwrap();
    store.incr("live:1", 1, Some(future)).await.unwrap();
    store.incr("live:2", 1, None).await.unwrap();
    // Restarted with a new window: the old, passed expiry must not sweep it.
    store.incr("revived", 1, Some(past)).await.unwrap();
    store.incr("revived", 1, Some(future)).await.unwrap();

    let removed = store.sweep_expired_counters().await.unwrap();
    // Backends that expire natively report 0; the others remove exactly two.
    assert!(removed == 0 || removed == 2, "removed {removed}");
    assert_eq!(
        store
            .counters(&keys(&["dead:1", "dead:2", "live:1", "live:2", "revived"]))
            .await
            .unwrap(),
        [
            None,
            None,
            Some(Counter {
                value: 1,
                expires_at_ms: Some(future)
            }),
            Some(Counter {
                value: 1,
                expires_at_ms: None
            }),
            Some(Counter {
                value: 1,
                expires_at_ms: Some(future)
            }),
        ]
    );
    assert_eq!(store.sweep_expired_counters().await.unwrap(), 0);
    assert_eq!(store.incr("dead:1", 3, None).await.unwrap(), 3);
}

pub async fn concurrent_incr_loses_nothing(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut last = 0;
                for _ in 0..200 {
                    let value = store.incr("shared", 1, None).await.unwrap();
                    assert!(value > last, "running totals go up: {value} after {last}");
                    last = value;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.counters(&keys(&["shared"])).await.unwrap(),
        [Some(Counter {
            value: 1600,
            expires_at_ms: None
        })]
    );
}
