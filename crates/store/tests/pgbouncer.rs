#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The PostgreSQL store through a private PgBouncer in front of the
//! machine's PostgreSQL: session pooling carries writes, reads, counters and
//! change notifications; transaction pooling, which hands a client's
//! statements to whichever server connection is free, is refused with what
//! to configure instead.

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

/// Under transaction pooling the store's prepared statements go missing as
/// its statements move between server connections: the error says what to
/// configure. Two stores working at once make the moves certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_is_refused_naming_what_to_configure() {
    let Some((_bouncer, settings, _guard)) = through_bouncer(PoolMode::Transaction) else {
        return;
    };
    let error = async {
        let first = PostgresStore::connect(settings.clone()).await?;
        let second = PostgresStore::connect(settings).await?;
        for round in 0..200 {
            let id = format!("r{round}");
            let (wrote, read) =
                tokio::join!(first.write(vec![put(&id, "{}")]), second.get("routes", &id));
            wrote?;
            read?;
            second.count("routes").await?;
        }
        Ok::<_, store::StoreError>(())
    }
    .await
    .expect_err("transaction pooling breaks prepared statements")
    .to_string();
    assert!(error.contains("postgresql"), "{error}");
    assert!(error.contains("pool_mode = session"), "{error}");
}
