//! Whether a NOTIFY reaches this store's LISTEN connection. Behind a pooler
//! in transaction mode (PgBouncer's `pool_mode = transaction`) it does not:
//! the LISTEN ran on whichever server connection was free, which then went
//! back to the pool. The store still works there, finding other nodes'
//! writes by its revision poll; this says so once, at start, instead of
//! leaving an operator to wonder why changes arrive late.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::time::timeout;

use super::changes::Feed;
use super::connection::Lease;
use super::typed;

/// How long a probe waits for its notification: PostgreSQL delivers one in
/// milliseconds.
const WAIT: Duration = Duration::from_secs(1);

/// Sends a NOTIFY on the store's channel from a pooled connection and waits
/// for the listener to hear it. `None` when the probe could not be sent.
pub(super) async fn notifications_arrive(feed: &Feed, pool: &Pool) -> Option<bool> {
    let shared = &feed.shared;
    let mut heard = feed.notifications.subscribe();
    heard.mark_unchanged();
    let send = async {
        let mut lease = Lease::take(pool, &shared.target).await.ok()?;
        let client = lease.client().ok()?;
        typed::query(&***client, &shared.sql.notify, &[&shared.channel, &"probe"])
            .await
            .ok()?;
        lease.release();
        Some(())
    };
    timeout(feed.timeout, send).await.ok()??;
    Some(timeout(WAIT, heard.changed()).await.is_ok())
}
