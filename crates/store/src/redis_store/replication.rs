//! When an entity write may be acknowledged under Sentinel or Cluster: only
//! once a replica holds it, or when the master is alone for good. A write
//! that only the master holds is lost if a replica takes over now.

use redis::Value;

use super::link::Link;
use crate::StoreError;

impl Link {
    /// Waits until a replica has every write this node made so far (WAIT 1,
    /// half the call timeout). A master that lists no connected replica is
    /// asked why (see `alone_for_good`).
    pub(super) async fn replicated(&self) -> Result<(), StoreError> {
        if !self.failover_possible() {
            return Ok(());
        }
        // ROLE on a master: ["master", offset, [[host, port, offset], ...]],
        // listing the replicas that are in sync.
        let role: Vec<Value> = self.query_home(&redis::cmd("ROLE")).await?;
        let has_replicas =
            matches!(role.get(2), Some(Value::Array(replicas)) if !replicas.is_empty());
        if !has_replicas {
            return self.alone_for_good().await;
        }
        let wait_ms = u64::try_from(self.timeout().as_millis() / 2).unwrap_or(u64::MAX);
        let acknowledged: u64 = self
            .query_home(redis::cmd("WAIT").arg(1).arg(wait_ms.max(1)))
            .await?;
        if acknowledged == 0 {
            return Err(self.endpoint().error(format!(
                "written on the master, but no replica acknowledged it within {wait_ms} ms: \
                 a failover now could lose it"
            )));
        }
        Ok(())
    }

    /// A master with no replica in sync is either alone for good (none
    /// configured, or the last one failed: nobody can take over, nothing to
    /// wait for), or it is being replaced without knowing it yet: its
    /// replica left to become master (a failover decided while this master
    /// was slow or cut off), and whatever it acknowledges now is thrown
    /// away when it rejoins as a replica. A replica that is resyncing is
    /// not in sync either. Only the first case may acknowledge.
    async fn alone_for_good(&self) -> Result<(), StoreError> {
        if let Some(master) = self.master_named_by_sentinels().await? {
            if master != self.address() {
                self.follow_failover();
                return Err(self.endpoint().error(format!(
                    "the sentinels name {master} as master now: a write here could be lost"
                )));
            }
            return Ok(());
        }
        // Cluster: the replicas this master's own view still counts as
        // alive (not flagged failed or in doubt).
        let me: String = self.query_home(redis::cmd("CLUSTER").arg("MYID")).await?;
        let replicas: Vec<String> = self
            .query_home(redis::cmd("CLUSTER").arg("REPLICAS").arg(&me))
            .await?;
        match replicas.iter().find_map(|line| live_replica(line)) {
            Some(replica) => Err(self.endpoint().error(format!(
                "replica {replica} of this master is not in sync (a failover may be under way, \
                 or it is resyncing): a write here could be lost"
            ))),
            None => Ok(()),
        }
    }
}

/// The address of the replica a `CLUSTER REPLICAS` line describes, unless
/// its flags say it failed, may have failed, has no address or is still
/// joining. Line: `<id> <ip:port@cport> <flags> <master> ...`.
fn live_replica(line: &str) -> Option<&str> {
    let mut fields = line.split_ascii_whitespace();
    let (_id, address, flags) = (fields.next()?, fields.next()?, fields.next()?);
    let doubtful = flags
        .split(',')
        .any(|flag| matches!(flag, "fail" | "fail?" | "noaddr" | "handshake"));
    (!doubtful).then(|| address.split('@').next().unwrap_or(address))
}

#[cfg(test)]
mod tests {
    use super::live_replica;

    #[test]
    fn replicas_flagged_failed_or_in_doubt_do_not_count() {
        let line = |flags: &str| {
            format!("07c3 127.0.0.1:30004@40004 {flags} e7d1 0 1700000000000 3 connected")
        };
        assert_eq!(live_replica(&line("slave")), Some("127.0.0.1:30004"));
        assert_eq!(live_replica(&line("slave,fail?")), None);
        assert_eq!(live_replica(&line("slave,fail")), None);
        assert_eq!(live_replica(&line("slave,noaddr")), None);
        assert_eq!(live_replica(""), None);
    }
}
