use std::sync::Arc;

use store::{Condition, Store, StoreError};

use super::{delete, delete_kind, ids, put, put_if};

pub async fn must_not_exist_conflict_changes_nothing(store: Arc<dyn Store>) {
    store
        .write(vec![put_if(
            "route",
            "a",
            b"first",
            Condition::MustNotExist,
        )])
        .await
        .unwrap();
    let before = store.revision().await.unwrap();

    let error = store
        .write(vec![
            put("route", "b", b"new"),
            put("service", "s", b"new"),
            put_if("route", "a", b"second", Condition::MustNotExist),
        ])
        .await
        .unwrap_err();
    match error {
        StoreError::AlreadyExists { kind, id } => {
            assert_eq!((kind.as_str(), id.as_str()), ("route", "a"))
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(store.get("route", "b").await.unwrap(), None);
    assert_eq!(store.get("service", "s").await.unwrap(), None);
    assert_eq!(store.count("route").await.unwrap(), 1);
    assert_eq!(store.revision().await.unwrap(), before);
}

pub async fn must_exist_on_missing_changes_nothing(store: Arc<dyn Store>) {
    store
        .write(vec![
            put("route", "a", b"a"),
            put("route", "b", b"b"),
            put("api", "x", b"x"),
        ])
        .await
        .unwrap();
    let before = store.revision().await.unwrap();

    let error = store
        .write(vec![put_if("route", "missing", b"v", Condition::MustExist)])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::NotFound { kind, id } if kind == "route" && id == "missing"),
        "{error:?}"
    );

    // Everything earlier in the batch, a DeleteKind included, is undone.
    let error = store
        .write(vec![
            put("route", "a", b"changed"),
            delete("route", "b", Condition::Any),
            delete_kind("api"),
            put("api", "y", b"y"),
            delete("route", "ghost", Condition::MustExist),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::NotFound { kind, id } if kind == "route" && id == "ghost"),
        "{error:?}"
    );

    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"a"[..])
    );
    assert_eq!(
        store.get("route", "b").await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(ids(&store.scan("api", None, 10).await.unwrap()), ["x"]);
    assert_eq!(store.get("route", "missing").await.unwrap(), None);
    assert_eq!(store.revision().await.unwrap(), before);
}

pub async fn conditions_pass_when_met(store: Arc<dyn Store>) {
    store
        .write(vec![put_if("route", "a", b"1", Condition::MustNotExist)])
        .await
        .unwrap();
    store
        .write(vec![put_if("route", "a", b"2", Condition::MustExist)])
        .await
        .unwrap();
    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    store
        .write(vec![delete("route", "a", Condition::MustExist)])
        .await
        .unwrap();
    assert_eq!(store.get("route", "a").await.unwrap(), None);
    // Deleting what is not there is fine without a condition.
    store
        .write(vec![delete("route", "a", Condition::Any)])
        .await
        .unwrap();
    store
        .write(vec![delete("route", "a", Condition::MustNotExist)])
        .await
        .unwrap();
}

pub async fn ops_apply_in_batch_order(store: Arc<dyn Store>) {
    store.write(vec![put("route", "a", b"old")]).await.unwrap();

    store
        .write(vec![
            delete("route", "a", Condition::MustExist),
            put_if("route", "a", b"new", Condition::MustNotExist),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get("route", "a").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );

    store
        .write(vec![
            put_if("route", "b", b"1", Condition::MustNotExist),
            put_if("route", "b", b"2", Condition::MustExist),
            put("route", "c", b"c"),
            delete("route", "c", Condition::MustExist),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get("route", "b").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.get("route", "c").await.unwrap(), None);

    let error = store
        .write(vec![
            put_if("route", "d", b"1", Condition::MustNotExist),
            put_if("route", "d", b"2", Condition::MustNotExist),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::AlreadyExists { .. }),
        "{error:?}"
    );
    assert_eq!(store.get("route", "d").await.unwrap(), None);
}

pub async fn delete_kind_then_puts_replaces_a_kind(store: Arc<dyn Store>) {
    store
        .write(vec![
            put("route", "old1", b"1"),
            put("route", "keep", b"old"),
            put("routes", "other", b"1"),
            put("rout", "other", b"1"),
        ])
        .await
        .unwrap();

    store
        .write(vec![
            delete_kind("route"),
            put_if("route", "keep", b"new", Condition::MustNotExist),
            put("route", "new1", b"1"),
        ])
        .await
        .unwrap();

    assert_eq!(
        ids(&store.scan("route", None, 10).await.unwrap()),
        ["keep", "new1"]
    );
    assert_eq!(
        store.get("route", "keep").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(store.count("route").await.unwrap(), 2);
    assert_eq!(store.count("routes").await.unwrap(), 1);
    assert_eq!(store.count("rout").await.unwrap(), 1);

    store.write(vec![delete_kind("route")]).await.unwrap();
    assert_eq!(store.count("route").await.unwrap(), 0);
    assert!(store.scan("route", None, 10).await.unwrap().is_empty());
    // Deleting a kind that holds nothing is still a (trivially successful) write.
    store.write(vec![delete_kind("nothing")]).await.unwrap();
}

pub async fn revision_bumps_once_per_batch(store: Arc<dyn Store>) {
    let start = store.revision().await.unwrap();

    let after_batch = store
        .write(vec![
            put("a", "1", b""),
            put("a", "2", b""),
            put("b", "1", b""),
        ])
        .await
        .unwrap();
    assert_eq!(after_batch, start + 1);
    assert_eq!(store.revision().await.unwrap(), start + 1);

    assert_eq!(store.write(Vec::new()).await.unwrap(), start + 1);
    assert_eq!(store.revision().await.unwrap(), start + 1);

    store
        .write(vec![put_if("a", "1", b"", Condition::MustNotExist)])
        .await
        .unwrap_err();
    assert_eq!(store.revision().await.unwrap(), start + 1);

    assert_eq!(
        store.write(vec![delete_kind("a")]).await.unwrap(),
        start + 2
    );
    assert_eq!(
        store
            .write(vec![delete("zz", "zz", Condition::Any)])
            .await
            .unwrap(),
        start + 3
    );
}
