//! Feeds `changes()` with the writes of other nodes. Local writes publish
//! their revision themselves; this adds two background tasks:
//!
//! - a subscriber on the `{root}:changes` channel (its own connection, as
//!   pub/sub needs), which re-reads the revision after every (re)subscribe
//!   to catch what went by while it was away, and reconnects with backoff
//!   when the connection drops or stops answering its keepalive ping: to
//!   the server the link uses then, the new master after a failover;
//! - a poll of the revision every `revision_poll`, for a notification lost
//!   in a way the subscriber cannot see.
//!
//! Both stop when the store is dropped: tests and reloads create many stores.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::Value;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::task::JoinHandle;

use super::keys::Keys;
use super::link::Link;
use super::revisions::{self, Announced};

/// Backoff between subscribe attempts while Redis is away.
const RESUBSCRIBE_DELAY: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// `tokio::time::interval` refuses a zero period.
const MIN_POLL: Duration = Duration::from_millis(10);

/// Aborts the background tasks when the store goes.
pub(super) struct Watcher {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What both tasks need: a way to re-read the revision and where to
/// announce it.
#[derive(Clone)]
struct Announcer {
    link: Link,
    keys: Arc<Keys>,
    announced: Arc<Announced>,
}

impl Announcer {
    async fn refresh(&self) {
        if let Err(error) = revisions::refresh(&self.link, &self.keys, &self.announced).await {
            tracing::debug!(%error, "redis store: could not re-read the revision");
        }
    }
}

pub(super) fn spawn(
    link: Link,
    keys: Arc<Keys>,
    announced: Arc<Announced>,
    revision_poll: Duration,
) -> Watcher {
    let channel = keys.changes_channel();
    let announcer = Announcer {
        link,
        keys,
        announced,
    };
    let every = revision_poll.max(MIN_POLL);
    let subscriber = tokio::spawn(subscribe_forever(channel, announcer.clone(), every));
    let poller = tokio::spawn(poll_forever(announcer, every));
    Watcher {
        tasks: vec![subscriber, poller],
    }
}

async fn poll_forever(announcer: Announcer, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        announcer.refresh().await;
    }
}

async fn subscribe_forever(channel: String, announcer: Announcer, every: Duration) {
    let mut delay = RESUBSCRIBE_DELAY.0;
    let mut attempt = 0;
    loop {
        let client = announcer.link.subscribe_client(attempt);
        attempt = attempt.wrapping_add(1);
        match subscribe(&client, &channel, announcer.link.timeout()).await {
            Ok((sink, stream)) => {
                delay = RESUBSCRIBE_DELAY.0;
                // Subscribed first, read second: a write in between is
                // seen by one or the other.
                announcer.refresh().await;
                listen(sink, stream, &announcer, every).await;
                tracing::debug!("redis store: change subscription lost; resubscribing");
            }
            Err(error) => {
                tracing::debug!(%error, "redis store: cannot subscribe to changes; retrying");
                // Under Sentinel the master may have moved.
                announcer.link.follow_failover();
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RESUBSCRIBE_DELAY.1);
    }
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
    timeout: Duration,
) -> Result<(PubSubSink, PubSubStream), String> {
    let connecting = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub.split())
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(split)) => Ok(split),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Announces every published revision until the connection ends or misses
/// a keepalive ping (a silently dead link sends no FIN).
async fn listen(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    announcer: &Announcer,
    every: Duration,
) {
    let mut keepalive = tokio::time::interval(every);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                match message.get_payload::<u64>() {
                    Ok(revision) => announcer.announced.heard(revision),
                    // Not ours to interpret: read the truth instead.
                    Err(_) => announcer.refresh().await,
                }
            }
            _ = keepalive.tick() => {
                let ping = tokio::time::timeout(announcer.link.timeout(), sink.ping::<Value>());
                if !matches!(ping.await, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}
