//! `Op::Expect`: a guard that read before writing names what it counted on,
//! and the batch fails with `Conflict` when that changed meanwhile. This is
//! how "the last admin key stays" holds under concurrent deletes.

use std::sync::Arc;

use store::{Condition, Op, Store, StoreError};

use super::{delete, put};

fn expect(kind: &str, id: &str, value: &[u8]) -> Op {
    Op::Expect {
        kind: kind.to_owned(),
        id: id.to_owned(),
        value: value.to_vec(),
    }
}

pub async fn expect_passes_on_the_same_bytes(store: Arc<dyn Store>) {
    store.write(vec![put("keys", "a", b"A")]).await.unwrap();
    store
        .write(vec![
            expect("keys", "a", b"A"),
            delete("keys", "b", Condition::Any),
        ])
        .await
        .unwrap();
    // It sees the batch's own earlier ops.
    store
        .write(vec![put("keys", "c", b"C"), expect("keys", "c", b"C")])
        .await
        .unwrap();
    assert_eq!(store.count("keys").await.unwrap(), 2);
}

pub async fn expect_on_changed_or_missing_rejects_the_batch(store: Arc<dyn Store>) {
    store
        .write(vec![put("keys", "a", b"A"), put("keys", "b", b"B")])
        .await
        .unwrap();
    let before = store.revision().await.unwrap();
    for guard in [
        expect("keys", "a", b"A-changed"),
        expect("keys", "missing", b"A"),
    ] {
        let error = store
            .write(vec![delete("keys", "b", Condition::MustExist), guard])
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StoreError::Conflict { kind, .. } if kind == "keys"),
            "{error:?}"
        );
    }
    // An earlier op of the batch that removes the guarded entity fails it too.
    let error = store
        .write(vec![
            delete("keys", "a", Condition::MustExist),
            expect("keys", "a", b"A"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");
    assert_eq!(store.count("keys").await.unwrap(), 2);
    assert_eq!(store.revision().await.unwrap(), before);
}

/// The attack: two admins delete the last two admin keys at once, each
/// having seen the other key still there. Each delete names the key it
/// counted on; at most one of them may pass, and a key always remains.
pub async fn concurrent_deletes_guarded_by_each_other_leave_one(store: Arc<dyn Store>) {
    for round in 0..20 {
        store
            .write(vec![put("keys", "a", b"A"), put("keys", "b", b"B")])
            .await
            .unwrap();
        let (first, second) = tokio::join!(
            store.write(vec![
                delete("keys", "a", Condition::MustExist),
                expect("keys", "b", b"B"),
            ]),
            store.write(vec![
                delete("keys", "b", Condition::MustExist),
                expect("keys", "a", b"A"),
            ]),
        );
        let passed = usize::from(first.is_ok()) + usize::from(second.is_ok());
        assert_eq!(passed, 1, "round {round}: {first:?} {second:?}");
        assert_eq!(store.count("keys").await.unwrap(), 1, "round {round}");
    }
}
