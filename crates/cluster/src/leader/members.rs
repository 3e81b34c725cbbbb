//! The cluster members this leader has heard from, in memory (each leader
//! keeps its own list for now), in Otoroshi's JSON shape plus komainu's
//! `stateDigest` / `stateRevision` / `inSync`, which tell who runs which state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
}

pub(crate) struct Members {
    timeout_ms: u64,
    inner: Mutex<HashMap<String, Member>>,
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
        }
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
        });
        member.identity.merge(identity);
        member.last_seen = member.last_seen.max(now);
        if let Some(stats) = stats {
            member.stats = stats;
        }
    }

    /// The leader itself then every live worker (by name, then id); members
    /// older than the timeout are forgotten. `own` is the leader's current
    /// (ETag, revision), which `inSync` compares the workers' digests to.
    pub(crate) fn to_json(
        &self,
        settings: &LeaderSettings,
        own: Option<(&str, u64)>,
        now: u64,
    ) -> Vec<Value> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, m| now.saturating_sub(m.last_seen) <= self.timeout_ms);
        let mut workers: Vec<&Member> = map.values().collect();
        workers.sort_by(|a, b| {
            (a.identity.name.as_deref(), &a.identity.id)
                .cmp(&(b.identity.name.as_deref(), &b.identity.id))
        });
        let leader = json!({
            "id": settings.name, "name": settings.name, "type": "Leader",
            "version": settings.version, "location": settings.location,
            "httpPort": settings.http_port, "httpsPort": settings.https_port,
            "lastSeen": now, "timeout": self.timeout_ms, "stats": {}, "health": "green",
            "stateDigest": own.map(|(etag, _)| etag), "stateRevision": own.map(|(_, r)| r),
            "inSync": own.is_some(),
        });
        let mut list = vec![leader];
        list.extend(workers.into_iter().map(|m| {
            let i = &m.identity;
            let age = now.saturating_sub(m.last_seen);
            json!({
                "id": i.id, "name": i.name.as_deref().unwrap_or(&i.id), "type": "Worker",
                "version": i.version.as_deref().unwrap_or(""),
                "location": i.location.as_deref().unwrap_or(""),
                "httpPort": i.http_port.unwrap_or(0), "httpsPort": i.https_port.unwrap_or(0),
                "lastSeen": m.last_seen, "timeout": self.timeout_ms, "stats": m.stats,
                "health": health(age, self.timeout_ms),
                "stateDigest": i.digest, "stateRevision": i.revision,
                "inSync": matches!((&i.digest, own), (Some(d), Some((etag, _))) if d == etag),
            })
        }));
        list
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
    Json(leader.members()).into_response()
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
        let list = members.to_json(&settings, Some(("abc", 3)), 10_200);
        assert_eq!(list[1]["name"], "one");
        assert_eq!(list[1]["stats"]["rate"], 1);
        assert_eq!(list[1]["inSync"], true);
        assert_eq!(members.to_json(&settings, None, 11_101).len(), 1);
    }
}
