//! Feeding `changes()` with revisions written by other nodes.
//!
//! Local writes publish their revision themselves, at once. Everyone else's
//! arrive two ways: a LISTEN on a dedicated connection (the pool's
//! connections come and go, and a listener must stay put), which hears each
//! commit's NOTIFY within milliseconds and then reads the revision; and a
//! poll of the revision every `revision_poll` through the pool, for
//! whatever a dropped LISTEN connection missed. The listener reconnects with
//! backoff and re-reads the revision after each LISTEN, so a change
//! committed while it was away is announced as soon as it is back.
//! `notify::publish` keeps the three sources from moving the revision
//! backwards.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use futures_util::stream::poll_fn;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep, timeout};
use tokio_postgres::AsyncMessage;

use super::connection::{Driver, Lease};
use super::errors::{describe, unavailable};
use super::sql::quote_ident;
use super::{Shared, entities, probe};
use crate::StoreError;
use crate::connection::ConnectionTracker;
use crate::notify::publish;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Reconnection attempts slow down to one every this long while the server
/// stays away, so a restarted server is heard from again within it.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// `interval` refuses a zero period; nothing sensible polls faster anyway.
const MIN_POLL: Duration = Duration::from_millis(10);

/// The store's background tasks, stopped when the store is dropped: nothing
/// outlives it to hold connections open.
pub(super) struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Everything the background tasks share with the store.
pub(super) struct Feed {
    pub(super) shared: Arc<Shared>,
    pub(super) changes: watch::Sender<u64>,
    pub(super) timeout: Duration,
    /// The store's "connected since": the LISTEN connection is the one
    /// that stays open, so its (re)connections are the ones reported.
    pub(super) tracker: ConnectionTracker,
    /// Counts the notifications the LISTEN connection hears (`probe`).
    pub(super) notifications: watch::Sender<u64>,
}

/// Starts the listener and the poller. Returns once the first LISTEN is in
/// place (and the revision re-read after it), so that a store handed to the
/// caller already hears other nodes; fails if that first attempt does.
pub(super) async fn start(
    feed: Arc<Feed>,
    driver: Driver,
    pool: Pool,
    every: Duration,
) -> Result<Tasks, StoreError> {
    let (ready, listening) = oneshot::channel();
    let mut tasks = Tasks(Vec::with_capacity(2));
    tasks
        .0
        .push(tokio::spawn(listen(Arc::clone(&feed), driver, ready)));
    match listening.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => return Err(unavailable("the LISTEN task stopped while starting")),
    }
    if probe::notifications_arrive(&feed, &pool).await == Some(false) {
        tracing::warn!(
            poll = ?every.max(MIN_POLL),
            "postgresql store: change notifications do not reach this node (a pooler in \
             transaction mode, such as PgBouncer with pool_mode = transaction?); other \
             nodes' writes are found by the revision poll instead"
        );
    }
    tasks.0.push(tokio::spawn(poll(feed, pool, every)));
    Ok(tasks)
}

/// Runs LISTEN sessions forever, one after the other, with backoff.
async fn listen(feed: Arc<Feed>, driver: Driver, ready: oneshot::Sender<Result<(), StoreError>>) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Set once LISTEN is in place, to the tracker's epoch it began.
        let listened = OnceLock::new();
        let error = session(&feed, &driver, &listened, &mut ready).await;
        if let Some(ready) = ready.take() {
            // The first attempt failed: `connect` reports it and gives up.
            let _ = ready.send(Err(error));
            return;
        }
        if let Some(epoch) = listened.get() {
            feed.tracker.lost(*epoch);
            tracing::warn!(%error, "postgresql store: LISTEN connection lost; reconnecting");
            backoff = FIRST_BACKOFF;
        } else {
            tracing::debug!(%error, ?backoff, "postgresql store: LISTEN reconnection failed");
        }
        sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of listening. Returns only when it ends, with why.
async fn session(
    feed: &Feed,
    driver: &Driver,
    listened: &OnceLock<u64>,
    ready: &mut Option<oneshot::Sender<Result<(), StoreError>>>,
) -> StoreError {
    let shared = &feed.shared;
    let (tls, encrypted) = driver.tls.observed();
    let (client, mut connection) = match timeout(feed.timeout, driver.config.connect(tls)).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) => return shared.failed("opening the LISTEN connection", &error),
        Err(_) => {
            return unavailable(format!(
                "{}: opening the LISTEN connection timed out after {:?}",
                shared.target, feed.timeout
            ));
        }
    };
    // Driving the connection by hand is how the driver hands out
    // notifications; it also carries this session's own statements.
    let (notes, mut heard) = mpsc::unbounded_channel::<()>();
    let pump = async move {
        let mut messages = poll_fn(|cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    feed.notifications
                        .send_modify(|count| *count = count.wrapping_add(1));
                    // The receiver lives as long as this session.
                    let _ = notes.send(());
                }
                // Notices (and whatever later drivers add) carry no revision.
                Ok(_) => {}
                Err(error) => return describe(&error),
            }
        }
        "the server closed the connection".to_owned()
    };
    let work = async {
        let setup = async {
            let listen = format!("LISTEN {}", quote_ident(&shared.channel));
            client
                .batch_execute(&listen)
                .await
                .map_err(|error| shared.failed("LISTEN", &error))?;
            entities::revision(shared, &client).await
        };
        let revision = match timeout(feed.timeout, setup).await {
            Ok(Ok(revision)) => revision,
            Ok(Err(error)) => return error,
            Err(_) => return unavailable(format!("{}: LISTEN timed out", shared.target)),
        };
        publish(&feed.changes, revision);
        let _ = listened.set(feed.tracker.reconnected(encrypted.load(Ordering::Acquire)));
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        } else {
            tracing::info!(revision, "postgresql store: listening for changes again");
        }
        // A notification is a wake-up call; the revision itself is read
        // from the table, so a stray NOTIFY on the channel (someone's psql)
        // cannot push `changes()` ahead of the data. One read answers a
        // burst of notifications.
        while heard.recv().await.is_some() {
            while heard.try_recv().is_ok() {}
            match timeout(feed.timeout, entities::revision(shared, &client)).await {
                Ok(Ok(revision)) => publish(&feed.changes, revision),
                Ok(Err(error)) => return error,
                Err(_) => {
                    return unavailable(format!("{}: revision read timed out", shared.target));
                }
            }
        }
        unavailable("the notification stream ended")
    };
    tokio::select! {
        lost = pump => unavailable(format!("{}: LISTEN connection: {lost}", shared.target)),
        error = work => error,
    }
}

/// Re-reads the revision every `every`, through the pool.
async fn poll(feed: Arc<Feed>, pool: Pool, every: Duration) {
    let every = every.max(MIN_POLL);
    let mut ticks = interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let shared = &feed.shared;
        let read = async {
            let mut lease = Lease::take(&pool, &shared.target).await?;
            let revision = entities::revision(shared, lease.client()?).await;
            lease.release();
            revision
        };
        match timeout(feed.timeout, read).await {
            Ok(Ok(revision)) => publish(&feed.changes, revision),
            // Callers see the outage in their own calls; this only retries.
            Ok(Err(error)) => tracing::debug!(%error, "postgresql store: revision poll failed"),
            Err(_) => tracing::debug!("postgresql store: revision poll timed out"),
        }
    }
}
