//! The cluster members, in Otoroshi's JSON shape plus komainu's
//! `stateDigest` / `stateRevision` / `inSync`, which tell who runs which state.
//!
//! Each leader keeps the workers it hears from in memory and, on a datastore
//! shared by several leaders (Redis, PostgreSQL), publishes them and itself
//! as ephemeral records every second, so that every leader lists the whole
//! cluster: the workers polling the other leaders and the other leaders.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::Store;

use super::http::bare_tag;
use super::{Leader, LeaderSettings, now_ms};
use crate::wire;

/// What a worker says about itself in its request headers. Fields it leaves
/// out keep their last known value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub location: Option<String>,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub digest: Option<String>,
    pub revision: Option<u64>,
}

impl Identity {
    /// `None` when the call carries no `Otoroshi-Worker-Id` (an operator's curl).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Identity> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Some(Identity {
            id: text(wire::HEADER_WORKER_ID)?,
            name: text(wire::HEADER_WORKER_NAME),
            version: text(wire::HEADER_WORKER_VERSION),
            location: text(wire::HEADER_WORKER_LOCATION),
            http_port: text(wire::HEADER_WORKER_HTTP_PORT).and_then(|p| p.parse().ok()),
            https_port: text(wire::HEADER_WORKER_HTTPS_PORT).and_then(|p| p.parse().ok()),
            digest: text(wire::HEADER_WORKER_STATE_DIGEST).map(|d| bare_tag(&d).to_string()),
            revision: text(wire::HEADER_WORKER_STATE_REVISION).and_then(|r| r.parse().ok()),
        })
    }

    fn merge(&mut self, newer: Identity) {
        let Identity {
            id: _,
            name,
            version,
            location,
            http_port,
            https_port,
            digest,
            revision,
        } = newer;
        self.name = name.or(self.name.take());
        self.version = version.or(self.version.take());
        self.location = location.or(self.location.take());
        self.http_port = http_port.or(self.http_port);
        self.https_port = https_port.or(self.https_port);
        self.digest = digest.or(self.digest.take());
        self.revision = revision.or(self.revision);
    }
}

struct Member {
    identity: Identity,
    last_seen: u64,
    stats: Value,
    /// Heard from since the last publication to the datastore.
    dirty: bool,
}

/// Prefix of the ephemeral records members are shared through.
pub(crate) const MEMBERS_PREFIX: &str = "cluster-members:";
/// Most records one listing reads back.
const MAX_SHARED: usize = 10_000;

/// A member as leaders share it through the datastore (and render it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
    pub location: String,
    pub http_port: u16,
    pub https_port: u16,
    pub last_seen: u64,
    pub stats: Value,
    pub state_digest: Option<String>,
    pub state_revision: Option<u64>,
    /// Read back from the datastore rather than heard by this leader: such
    /// a sighting reaches us up to a publication period late.
    #[serde(skip)]
    pub shared: bool,
}

/// How long after its last sighting a shared record stays listed beyond the
/// member timeout: it was published up to one period after that sighting and
/// is read back up to one period after that.
const SHARED_GRACE_MS: u64 = 2 * 1000;

impl Record {
    fn of(member: &Member) -> Record {
        let i = &member.identity;
        Record {
            id: i.id.clone(),
            name: i.name.clone().unwrap_or_else(|| i.id.clone()),
            kind: "Worker".into(),
            version: i.version.clone().unwrap_or_default(),
            location: i.location.clone().unwrap_or_default(),
            http_port: i.http_port.unwrap_or(0),
            https_port: i.https_port.unwrap_or(0),
            last_seen: member.last_seen,
            stats: member.stats.clone(),
            state_digest: i.digest.clone(),
            state_revision: i.revision,
            shared: false,
        }
    }

    /// This leader as a member, with its own traffic figures.
    fn leader(
        settings: &LeaderSettings,
        own: Option<(&str, u64)>,
        stats: Value,
        now: u64,
    ) -> Record {
        Record {
            id: settings.name.clone(),
            name: settings.name.clone(),
            kind: "Leader".into(),
            version: settings.version.to_string(),
            location: settings.location.clone(),
            http_port: settings.http_port,
            https_port: settings.https_port,
            last_seen: now,
            stats,
            state_digest: own.map(|(etag, _)| etag.to_string()),
            state_revision: own.map(|(_, revision)| revision),
            shared: false,
        }
    }

    fn key(&self) -> String {
        format!(
            "{MEMBERS_PREFIX}{}:{}",
            self.kind.to_ascii_lowercase(),
            self.id
        )
    }

    fn render(&self, timeout_ms: u64, own: Option<(&str, u64)>, now: u64) -> Value {
        let age = now.saturating_sub(self.last_seen);
        json!({
            "id": self.id, "name": self.name, "type": self.kind,
            "version": self.version, "location": self.location,
            "httpPort": self.http_port, "httpsPort": self.https_port,
            "lastSeen": self.last_seen, "timeout": timeout_ms, "stats": self.stats,
            "health": health(age, timeout_ms),
            "stateDigest": self.state_digest, "stateRevision": self.state_revision,
            "inSync": matches!((&self.state_digest, own), (Some(d), Some((etag, _))) if d == etag),
        })
    }
}

pub(crate) struct Members {
    timeout_ms: u64,
    inner: Mutex<HashMap<String, Member>>,
    /// When the list was last cleared (`DELETE /api/cluster/members`):
    /// records other leaders shared about sightings before it are ignored,
    /// so that the members come back only as they sync again.
    cleared_at: AtomicU64,
}

/// Otoroshi's colours: green below half the timeout, orange below three
/// quarters, red after.
pub(crate) fn health(age_ms: u64, timeout_ms: u64) -> &'static str {
    if age_ms.saturating_mul(2) < timeout_ms {
        "green"
    } else if age_ms.saturating_mul(4) < timeout_ms.saturating_mul(3) {
        "orange"
    } else {
        "red"
    }
}

impl Members {
    pub(crate) fn new(timeout: Duration) -> Self {
        Members {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            inner: Mutex::new(HashMap::new()),
            cleared_at: AtomicU64::new(0),
        }
    }

    /// Forgets every member heard from until `now`.
    pub(crate) fn clear(&self, now: u64) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.clear();
        self.cleared_at.fetch_max(now, Ordering::Relaxed);
    }

    /// Upserts a member heard from at `now`; `stats` (a quota push's
    /// `globstats`) replaces the last ones when present.
    pub(crate) fn seen(&self, identity: Identity, stats: Option<Value>, now: u64) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Dropping the expired here too bounds memory against callers that
        // invent ids, without waiting for someone to read the list.
        map.retain(|_, m| now.saturating_sub(m.last_seen) <= self.timeout_ms);
        let member = map.entry(identity.id.clone()).or_insert_with(|| Member {
            identity: Identity {
                id: identity.id.clone(),
                ..Identity::default()
            },
            last_seen: now,
            stats: json!({}),
            dirty: true,
        });
        member.dirty = true;
        member.identity.merge(identity);
        member.last_seen = member.last_seen.max(now);
        if let Some(stats) = stats {
            member.stats = stats;
        }
    }

    /// The leader itself, then the other leaders, then every live worker
    /// (each group by name, then id): this leader's own workers merged with
    /// the `shared` records other leaders published (the latest sighting of
    /// a worker wins). Members older than the timeout are left out. `own` is
    /// the leader's current (ETag, revision), which `inSync` compares to.
    pub(crate) fn to_json(
        &self,
        settings: &LeaderSettings,
        own: Option<(&str, u64)>,
        own_stats: Value,
        now: u64,
        shared: Vec<Record>,
    ) -> Vec<Value> {
        let mut all: BTreeMap<(bool, String, String), Record> = BTreeMap::new();
        let mut latest: HashMap<(String, String), Record> = HashMap::new();
        let local = {
            let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, m| now.saturating_sub(m.last_seen) <= self.timeout_ms);
            map.values().map(Record::of).collect::<Vec<_>>()
        };
        let cleared_at = self.cleared_at.load(Ordering::Relaxed);
        let shared = shared.into_iter().filter(|r| r.last_seen > cleared_at);
        for record in local.into_iter().chain(shared) {
            if record.kind == "Leader" && record.id == settings.name {
                continue;
            }
            let key = (record.kind.clone(), record.id.clone());
            match latest.get(&key) {
                Some(known) if known.last_seen >= record.last_seen => {}
                _ => {
                    latest.insert(key, record);
                }
            }
        }
        for record in latest.into_values() {
            let grace = if record.shared { SHARED_GRACE_MS } else { 0 };
            if now.saturating_sub(record.last_seen) <= self.timeout_ms.saturating_add(grace) {
                let sort = (
                    record.kind != "Leader",
                    record.name.clone(),
                    record.id.clone(),
                );
                all.insert(sort, record);
            }
        }
        let mut list =
            vec![Record::leader(settings, own, own_stats, now).render(self.timeout_ms, own, now)];
        list.extend(all.values().map(|r| r.render(self.timeout_ms, own, now)));
        list
    }

    /// The workers heard from since the last call, marked published.
    fn take_dirty(&self) -> Vec<Record> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.values_mut()
            .filter(|m| m.dirty)
            .map(|m| {
                m.dirty = false;
                Record::of(m)
            })
            .collect()
    }
}

/// Publishes this leader and the workers it heard from as ephemeral records
/// (a no-op on unshared datastores), each living one member timeout past its
/// last sighting. A failure is retried with the next round's sightings.
pub(crate) async fn publish(
    store: &dyn Store,
    members: &Members,
    settings: &LeaderSettings,
    own: Option<(&str, u64)>,
    own_stats: Value,
) {
    let now = now_ms();
    let mut records = members.take_dirty();
    records.push(Record::leader(settings, own, own_stats, now));
    for record in records {
        let Ok(bytes) = serde_json::to_vec(&record) else {
            continue;
        };
        let expires = record
            .last_seen
            .saturating_add(members.timeout_ms)
            .saturating_add(SHARED_GRACE_MS);
        if let Err(e) = store.put_ephemeral(&record.key(), &bytes, expires).await {
            tracing::debug!(error = %e, "could not share a cluster member through the datastore");
            return;
        }
    }
}

/// The members other leaders published; unreadable records are skipped.
pub(crate) async fn shared(store: &dyn Store) -> Vec<Record> {
    match store.scan_ephemeral(MEMBERS_PREFIX, MAX_SHARED).await {
        Ok(records) => records
            .iter()
            .filter_map(|(_, bytes)| serde_json::from_slice::<Record>(bytes).ok())
            .map(|record| Record {
                shared: true,
                ..record
            })
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "members shared by other leaders unavailable");
            Vec::new()
        }
    }
}

impl Leader {
    /// Records the caller as a member when it names itself.
    pub(crate) fn saw(&self, headers: &HeaderMap, stats: Option<Value>) {
        if let Some(identity) = Identity::from_headers(headers) {
            self.members.seen(identity, stats, now_ms());
        }
    }

    /// Keeps a member alive while the leader holds its request (a long-poll
    /// may outlast the member timeout).
    pub(crate) fn still_there(&self, identity: Option<&Identity>) {
        if let Some(identity) = identity {
            self.members.seen(identity.clone(), None, now_ms());
        }
    }
}

/// `GET /api/cluster/members`.
pub(crate) async fn get_members(State(leader): State<Arc<Leader>>, headers: HeaderMap) -> Response {
    leader.saw(&headers, None);
    // Bring the leader's own digest up to date when the store moved (a
    // revision read otherwise); a store failure still lists the members.
    if let Err(e) = leader.cache.current().await {
        tracing::warn!(error = %e, "member list without a current state digest");
    }
    Json(leader.members().await).into_response()
}

/// `DELETE /api/cluster/members`: forgets the members (Otoroshi's answer);
/// each comes back at its next sync or push.
pub(crate) async fn delete_members(State(leader): State<Arc<Leader>>) -> Response {
    leader.members.clear(now_ms());
    tracing::info!("cluster member list cleared");
    Json(json!({"done": true})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_otoroshi() {
        assert_eq!(health(0, 1000), "green");
        assert_eq!(health(499, 1000), "green");
        assert_eq!(health(500, 1000), "orange");
        assert_eq!(health(749, 1000), "orange");
        assert_eq!(health(750, 1000), "red");
    }

    #[test]
    fn missing_headers_keep_known_values_and_expiry_forgets() {
        let members = Members::new(Duration::from_millis(1000));
        let id = |digest: Option<&str>| Identity {
            id: "w1".into(),
            name: digest.is_none().then(|| "one".to_string()),
            digest: digest.map(str::to_string),
            ..Identity::default()
        };
        members.seen(id(None), None, 10_000);
        members.seen(id(Some("abc")), Some(json!({"rate": 1})), 10_100);
        let settings = LeaderSettings {
            name: "l".into(),
            version: "v",
            compression: -1,
            cache_state_for: Duration::ZERO,
            grouping_by: 10,
            state_dump_path: None,
            member_timeout: Duration::from_millis(1000),
            http_port: 1,
            https_port: 2,
            location: String::new(),
        };
        let list = members.to_json(
            &settings,
            Some(("abc", 3)),
            json!({"rate": 2}),
            10_200,
            Vec::new(),
        );
        assert_eq!(list[0]["type"], "Leader");
        assert_eq!(list[0]["stats"]["rate"], 2);
        assert_eq!(list[1]["name"], "one");
        assert_eq!(list[1]["stats"]["rate"], 1);
        assert_eq!(list[1]["inSync"], true);
        assert_eq!(
            members
                .to_json(&settings, None, json!({}), 11_101, Vec::new())
                .len(),
            1
        );
    }

    #[test]
    fn a_cleared_list_refills_only_with_later_sightings() {
        let members = Members::new(Duration::from_millis(10_000));
        let settings = LeaderSettings {
            name: "l".into(),
            version: "v",
            compression: -1,
            cache_state_for: Duration::ZERO,
            grouping_by: 10,
            state_dump_path: None,
            member_timeout: Duration::from_millis(10_000),
            http_port: 1,
            https_port: 2,
            location: String::new(),
        };
        let worker = |id: &str| Identity {
            id: id.into(),
            ..Identity::default()
        };
        let shared_at = |last_seen: u64| Record {
            shared: true,
            last_seen,
            ..Record::of(&Member {
                identity: worker("far"),
                last_seen,
                stats: json!({}),
                dirty: false,
            })
        };
        members.seen(worker("w1"), None, 1_000);
        members.clear(2_000);
        let list = members.to_json(&settings, None, json!({}), 2_500, vec![shared_at(1_500)]);
        assert_eq!(list.len(), 1, "only the leader itself: {list:?}");
        members.seen(worker("w1"), None, 3_000);
        let list = members.to_json(&settings, None, json!({}), 3_500, vec![shared_at(3_200)]);
        let ids: Vec<&str> = list.iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(ids, vec!["l", "far", "w1"]);
    }
}
