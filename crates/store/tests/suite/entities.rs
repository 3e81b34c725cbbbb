use std::sync::Arc;

use store::Store;

use super::{ids, put};

pub async fn new_store_is_empty(store: Arc<dyn Store>) {
    assert_eq!(store.revision().await.unwrap(), 0);
    assert_eq!(*store.changes().borrow(), 0);
    assert_eq!(store.get("route", "a").await.unwrap(), None);
    assert!(store.scan("route", None, 100).await.unwrap().is_empty());
    assert_eq!(store.count("route").await.unwrap(), 0);
    store.ping().await.unwrap();
}

pub async fn put_get_scan_count(store: Arc<dyn Store>) {
    store
        .write(vec![
            put("route", "b", b"{\"b\":1}"),
            put("route", "a", b"{}"),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get("route", "b").await.unwrap().as_deref(),
        Some(&b"{\"b\":1}"[..])
    );
    assert_eq!(store.get("route", "c").await.unwrap(), None);
    assert_eq!(store.get("service", "a").await.unwrap(), None);

    let page = store.scan("route", None, 10).await.unwrap();
    assert_eq!(ids(&page), ["a", "b"]);
    assert_eq!(page[0].1, b"{}");
    assert_eq!(store.count("route").await.unwrap(), 2);

    store.write(vec![put("route", "a", b"v2")]).await.unwrap();
    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(store.count("route").await.unwrap(), 2);
}

pub async fn scan_pages_stay_inside_their_kind(store: Arc<dyn Store>) {
    store
        .write(vec![
            put("rout", "z", b"1"),
            put("route", "a", b"1"),
            put("route", "b", b"1"),
            put("route", "b1", b"1"),
            put("route", "c", b"1"),
            put("route", "d", b"1"),
            put("routes", "", b"1"),
            put("routes", "a", b"1"),
            put("routex", "a", b"1"),
        ])
        .await
        .unwrap();

    assert_eq!(
        ids(&store.scan("route", None, 100).await.unwrap()),
        ["a", "b", "b1", "c", "d"]
    );
    assert_eq!(
        ids(&store.scan("routes", None, 100).await.unwrap()),
        ["", "a"]
    );
    assert_eq!(ids(&store.scan("rout", None, 100).await.unwrap()), ["z"]);
    assert_eq!(store.count("route").await.unwrap(), 5);
    assert_eq!(store.count("routes").await.unwrap(), 2);
    assert_eq!(store.count("rou").await.unwrap(), 0);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan("route", after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        seen.extend(page.into_iter().map(|(id, _)| id));
    }
    assert_eq!(seen, ["a", "b", "b1", "c", "d"]);

    assert_eq!(
        ids(&store.scan("route", Some("b"), 2).await.unwrap()),
        ["b1", "c"]
    );
    assert_eq!(
        ids(&store.scan("route", Some("bz"), 10).await.unwrap()),
        ["c", "d"]
    );
    assert_eq!(ids(&store.scan("route", Some(""), 1).await.unwrap()), ["a"]);
    assert!(store.scan("route", Some("d"), 10).await.unwrap().is_empty());
    assert!(
        store
            .scan("route", Some("zzz"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.scan("route", None, 0).await.unwrap().is_empty());
    assert_eq!(
        ids(&store.scan("routes", Some(""), 10).await.unwrap()),
        ["a"]
    );
}

pub async fn odd_keys_and_big_values_are_plain_data(store: Arc<dyn Store>) {
    let big = vec![0xA5_u8; 8 * 1024 * 1024];
    let odd_ids = [
        "",
        " ",
        "a/b",
        "a\0b",
        "é",
        "日本語",
        "🦊",
        "\u{10FFFF}",
        "a b\n",
    ];
    let mut ops: Vec<_> = odd_ids
        .iter()
        .map(|id| put("odd", id, id.as_bytes()))
        .collect();
    ops.push(put("", "", b"empty kind"));
    ops.push(put("odd\0", "", b"nul kind"));
    ops.push(put("big", "one", &big));
    ops.push(put("empty", "value", b""));
    store.write(ops).await.unwrap();

    for id in odd_ids {
        assert_eq!(
            store.get("odd", id).await.unwrap().as_deref(),
            Some(id.as_bytes()),
            "id {id:?}"
        );
    }
    let mut sorted = odd_ids.to_vec();
    sorted.sort_unstable();
    assert_eq!(ids(&store.scan("odd", None, 100).await.unwrap()), sorted);
    assert_eq!(store.count("odd").await.unwrap(), 9);
    assert_eq!(store.count("odd\0").await.unwrap(), 1);
    assert_eq!(
        store.get("", "").await.unwrap().as_deref(),
        Some(&b"empty kind"[..])
    );
    assert_eq!(store.count("").await.unwrap(), 1);
    assert_eq!(store.get("big", "one").await.unwrap(), Some(big));
    assert_eq!(store.get("empty", "value").await.unwrap(), Some(Vec::new()));
}
