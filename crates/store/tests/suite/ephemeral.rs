//! Ephemeral records as the shared backends (Redis, PostgreSQL) keep them:
//! written on one node, read on another, gone once expired. Not part of
//! `store_suite!`: memory and embedded keep the default no-op.

use std::time::Duration;

use store::Store;

use super::now_ms;

fn texts(page: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    page.into_iter()
        .map(|(key, value)| (key, String::from_utf8(value).unwrap()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// `a` and `b` are two stores on the same root (two nodes).
pub async fn shared_and_expire(a: &dyn Store, b: &dyn Store) {
    let later = now_ms() + 60_000;
    assert!(b.scan_ephemeral("", 10).await.unwrap().is_empty());
    for (key, value) in [
        ("members/b", "B"),
        ("members/é", "É"),
        ("other/x", "X"),
        ("members/a", "A"),
        ("members", "bare"),
        ("members0", "after the range"),
    ] {
        a.put_ephemeral(key, value.as_bytes(), later).await.unwrap();
    }

    // Read on the other node: the prefix only, in byte order.
    assert_eq!(
        texts(b.scan_ephemeral("members/", 10).await.unwrap()),
        pairs(&[("members/a", "A"), ("members/b", "B"), ("members/é", "É")])
    );
    assert_eq!(
        texts(b.scan_ephemeral("", 10).await.unwrap()),
        pairs(&[
            ("members", "bare"),
            ("members/a", "A"),
            ("members/b", "B"),
            ("members/é", "É"),
            ("members0", "after the range"),
            ("other/x", "X"),
        ])
    );
    assert!(b.scan_ephemeral("none/", 10).await.unwrap().is_empty());

    // The limit.
    assert_eq!(
        texts(b.scan_ephemeral("members/", 2).await.unwrap()),
        pairs(&[("members/a", "A"), ("members/b", "B")])
    );
    assert!(b.scan_ephemeral("members/", 0).await.unwrap().is_empty());

    // An update replaces the value (from either node); any bytes do.
    b.put_ephemeral("members/a", b"A2", later).await.unwrap();
    a.put_ephemeral("members/b", &[0, 255, 1], later)
        .await
        .unwrap();
    let page = a.scan_ephemeral("members/", 2).await.unwrap();
    assert_eq!(
        page,
        vec![
            ("members/a".to_owned(), b"A2".to_vec()),
            ("members/b".to_owned(), vec![0, 255, 1]),
        ]
    );

    // A record 300 ms from its end is there, then gone.
    let soon = now_ms() + 300;
    a.put_ephemeral("members/c", b"C", soon).await.unwrap();
    assert_eq!(
        texts(b.scan_ephemeral("members/c", 10).await.unwrap()),
        pairs(&[("members/c", "C")])
    );
    tokio::time::sleep(Duration::from_millis(soon + 100 - now_ms().min(soon))).await;
    assert!(b.scan_ephemeral("members/c", 10).await.unwrap().is_empty());
    assert_eq!(b.scan_ephemeral("members/", 10).await.unwrap().len(), 3);

    // An expiry already past removes the record at once.
    a.put_ephemeral("other/x", b"X", now_ms().saturating_sub(1))
        .await
        .unwrap();
    assert!(b.scan_ephemeral("other/", 10).await.unwrap().is_empty());

    // Expired counters and records go with a sweep without disturbing the
    // live ones.
    b.sweep_expired_counters().await.unwrap();
    assert_eq!(b.scan_ephemeral("", 10).await.unwrap().len(), 5);
}
