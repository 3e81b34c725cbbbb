#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Two leaders on the machine's PostgreSQL through a private PgBouncer: in
//! session mode a write on one is served by the other, woken by NOTIFY (the
//! revision poll is set to a minute, far past the test's patience); in
//! transaction mode, where notifications do not arrive, by the revision
//! poll (every `cacheStateFor`, 500 ms at least).

mod common;

use std::time::Duration;

use common::datastore::{Backend, SharedRoot, datastore_args};
use common::{eventually, leader, route_to, upstream};
use testkit::pgbouncer::{PgBouncer, PoolMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_share_writes_through_pgbouncer_in_session_mode() {
    two_leaders_share_writes(PoolMode::Session, 60_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_share_writes_through_pgbouncer_in_transaction_mode() {
    two_leaders_share_writes(PoolMode::Transaction, 500).await;
}

async fn two_leaders_share_writes(mode: PoolMode, cache_state_for_ms: u64) {
    let Some(shared) = SharedRoot::new(Backend::Postgres) else {
        return;
    };
    let Some((_bouncer, through)) = PgBouncer::in_front_of(&shared.url, mode) else {
        return;
    };
    let mut args = datastore_args(Backend::Postgres, &through, &shared.root);
    args.push(format!(
        "-Dcluster.leader.cacheStateFor={cache_state_for_ms}"
    ));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (first, _d1) = leader(&args);
    let (second, _d2) = leader(&args);
    let up = upstream::start("up").await;

    first
        .create_route(&route_to("bounced", "bounced.oto.tools", &[up.port]))
        .await;
    let took = eventually(Duration::from_secs(10), || async {
        second.status_of("bounced.oto.tools", "/").await == 200
    })
    .await
    .expect("a write on the first leader is served by the second");
    eprintln!("through pgbouncer ({mode:?}): served by the second leader after {took:?}");
    // In session mode the poll would take a minute: this was the notification.
    assert!(took < Duration::from_secs(5), "{mode:?}: {took:?}");
    assert_eq!(second.get_json("/api/routes/bounced").await.0, 200);
    let (_, health) = second.health().await;
    let endpoint = health["datastore_connection"]["endpoint"].as_str().unwrap();
    assert!(
        through.contains(endpoint.split('/').next().unwrap()),
        "{endpoint} vs {through}"
    );
}
