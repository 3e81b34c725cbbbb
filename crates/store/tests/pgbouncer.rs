#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The PostgreSQL store through a private PgBouncer in front of the
//! machine's PostgreSQL: session pooling carries writes, reads, counters and
//! change notifications; transaction pooling, which hands a client's
//! statements to whichever server connection is free, carries them too,
//! changes being found by the revision poll.

use std::time::Duration;

use store::{Condition, Op, PostgresStore, RemoteSettings, Store};
use testkit::pgbouncer::{PgBouncer, PoolMode};
use testkit::postgres::SchemaGuard;

/// A bouncer in `mode` in front of the machine's PostgreSQL, settings
/// through it under a fresh root, and the guard that drops the root's schema
/// (on the server itself).
fn through_bouncer(mode: PoolMode) -> Option<(PgBouncer, RemoteSettings, SchemaGuard)> {
    let uri = testkit::postgres::shared_uri()?;
    let (bouncer, through) = PgBouncer::in_front_of(&uri, mode)?;
    let root = testkit::unique_name("komainu_pgb");
    let guard = SchemaGuard::new(&uri, &root);
    Some((bouncer, RemoteSettings::new(through, root), guard))
}

fn put(id: &str, value: &str) -> Op {
    Op::Put {
        kind: "routes".to_owned(),
        id: id.to_owned(),
        value: value.as_bytes().to_vec(),
        condition: Condition::Any,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_carries_writes_reads_and_notifications() {
    let Some((bouncer, mut settings, _guard)) = through_bouncer(PoolMode::Session) else {
        return;
    };
    // So slow that only a notification can wake the other store in time.
    settings.revision_poll = Duration::from_secs(120);
    let writer = PostgresStore::connect(settings.clone()).await.unwrap();
    let reader = PostgresStore::connect(settings).await.unwrap();
    let mut changes = reader.changes();

    let revision = writer.write(vec![put("r1", "{\"a\":1}")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while *changes.borrow_and_update() < revision {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the other store hears of the write through NOTIFY");
    assert_eq!(
        reader.get("routes", "r1").await.unwrap(),
        Some(b"{\"a\":1}".to_vec())
    );
    assert_eq!(writer.incr("calls", 2, None).await.unwrap(), 2);
    assert_eq!(reader.incr("calls", 3, None).await.unwrap(), 5);

    let connection = reader.connection();
    assert!(
        connection
            .endpoint
            .contains(&format!("127.0.0.1:{}", bouncer.port())),
        "{connection:?}"
    );
    assert!(connection.connected_since_ms.is_some(), "{connection:?}");
}

/// Under transaction pooling each statement may run on another server
/// connection: the store keeps nothing on one (statements are sent unnamed
/// with their types), so writes, reads and counters work, and another
/// store hears of a write by its revision poll (notifications reach a
/// LISTEN only on the server connection that ran it). Two stores working
/// at once make the moves between server connections certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_carries_writes_reads_and_changes() {
    let Some((_bouncer, mut settings, _guard)) = through_bouncer(PoolMode::Transaction) else {
        return;
    };
    settings.revision_poll = Duration::from_millis(200);
    let first = PostgresStore::connect(settings.clone()).await.unwrap();
    let second = PostgresStore::connect(settings).await.unwrap();
    let mut changes = second.changes();
    for round in 0..50 {
        let id = format!("r{round}");
        let (wrote, counted) = tokio::join!(
            first.write(vec![put(&id, "{}")]),
            second.incr("calls", 1, None)
        );
        wrote.unwrap();
        counted.unwrap();
        assert_eq!(
            second.get("routes", &id).await.unwrap(),
            Some(b"{}".to_vec())
        );
    }
    assert_eq!(first.count("routes").await.unwrap(), 50);
    assert_eq!(first.incr("calls", 0, None).await.unwrap(), 50);
    let revision = first.revision().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while *changes.borrow_and_update() < revision {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the other store sees the writes");
}
