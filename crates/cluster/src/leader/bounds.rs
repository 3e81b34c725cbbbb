//! What one worker push may add to the quota counters. A worker holds the
//! cluster state, so a compromised one could otherwise push
//! `i64::MAX` calls on any key and put its consumer on 429 everywhere.
//!
//! The bound: a counter must be a well-formed quota counter
//! (`quotas:<clientId>:<throttling|daily|monthly>:<digits>`) of an API key
//! the leader knows, and one push may add to it at most that key's quota for
//! the window. A worker admits a call only while the total it last heard
//! plus its own unacknowledged calls stays under the quota, so an honest
//! push never carries more than one quota's worth for a window; anything
//! beyond is not a count of real calls. Refused increments are dropped (the
//! rest of the push applies), logged and counted in
//! `komainu_cluster_refused_quota_increments_total`.

use std::collections::HashMap;
use std::sync::Arc;

use model::apikey::ApiKey;

/// How the leader finds an API key by client id: its current state
/// snapshot, so that no push costs a datastore read per key.
pub type ApiKeys = Arc<dyn Fn(&str) -> Option<Arc<ApiKey>> + Send + Sync>;

/// A window lasts at most a month (31 days); a counter set to live longer
/// than 32 days is kept only that long.
const LONGEST_WINDOW_MS: u64 = 32 * 86_400_000;

/// One refused counter of a push: all its increments, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub key: String,
    pub by: i64,
    pub why: String,
}

/// Keeps the increments (key, by, expiry) the bound allows, in order, and
/// says which counters were refused. A counter named several times is judged
/// on its sum.
pub(crate) fn check(
    increments: Vec<(String, i64, u64)>,
    keys: &ApiKeys,
    now_ms: u64,
) -> (Vec<(String, i64, u64)>, Vec<Refused>) {
    let mut sums: HashMap<&str, i64> = HashMap::new();
    for (key, by, _) in &increments {
        let sum = sums.entry(key.as_str()).or_default();
        *sum = sum.saturating_add(*by);
    }
    let mut refused: Vec<Refused> = Vec::new();
    let mut verdicts: HashMap<String, bool> = HashMap::new();
    for (key, sum) in sums {
        // Zero only asks for the total (a worker asks for every window it
        // serves, a deleted key's too): nothing to judge.
        let verdict = if sum == 0 {
            Ok(())
        } else {
            allowed(key, sum, keys)
        };
        if let Err(why) = &verdict {
            refused.push(Refused {
                key: key.to_string(),
                by: sum,
                why: why.clone(),
            });
        }
        verdicts.insert(key.to_string(), verdict.is_ok());
    }
    refused.sort_by(|a, b| a.key.cmp(&b.key));
    let latest = now_ms.saturating_add(LONGEST_WINDOW_MS);
    let kept = increments
        .into_iter()
        .filter(|(key, _, _)| verdicts.get(key).copied().unwrap_or(false))
        .map(|(key, by, expiry)| (key, by, expiry.min(latest)))
        .collect();
    (kept, refused)
}

/// Whether one push may add `sum` to the counter `key`.
fn allowed(key: &str, sum: i64, keys: &ApiKeys) -> Result<(), String> {
    let (client_id, window) = parse(key).ok_or("not a quota counter key")?;
    let api_key = keys(client_id).ok_or_else(|| format!("no API key '{client_id}'"))?;
    let quota = match window {
        "throttling" => api_key.throttling_quota,
        "daily" => api_key.daily_quota,
        _ => api_key.monthly_quota,
    };
    if u64::try_from(sum).is_ok_and(|sum| sum <= quota) {
        Ok(())
    } else {
        Err(format!(
            "{sum} calls in one push is more than the key's {window} quota of {quota}"
        ))
    }
}

/// `quotas:<clientId>:<window>:<digits>` to (client id, window); client ids
/// may hold `:`, so the key is read from the right.
fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("quotas:")?;
    let mut parts = rest.rsplitn(3, ':');
    let id = parts.next()?;
    let window = parts.next()?;
    let client_id = parts.next()?;
    let well_formed = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && matches!(window, "throttling" | "daily" | "monthly")
        && !client_id.is_empty();
    well_formed.then_some((client_id, window))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> ApiKeys {
        Arc::new(|id: &str| {
            (id == "k" || id == "a:b").then(|| {
                let mut key: ApiKey = serde_json::from_value(serde_json::json!({})).unwrap();
                key.client_id = id.to_string();
                key.daily_quota = 10;
                Arc::new(key)
            })
        })
    }

    #[test]
    fn keeps_what_the_quota_allows_and_refuses_the_rest() {
        let push = vec![
            ("quotas:k:daily:20260101".to_string(), 6, 5),
            ("quotas:a:b:daily:20260101".to_string(), 10, 5),
            ("quotas:k:daily:20260101".to_string(), 5, 5),
            ("quotas:k:monthly:202601".to_string(), 1000, 5),
            ("quotas:ghost:daily:20260101".to_string(), 1, 5),
            ("quotas:k:weekly:1".to_string(), 1, 5),
            ("quotas:k:daily:x".to_string(), 1, 5),
            ("quotas:gone:daily:20260101".to_string(), 0, 5),
        ];
        let (kept, refused) = check(push, &keys(), 0);
        assert_eq!(
            kept,
            vec![
                ("quotas:a:b:daily:20260101".to_string(), 10, 5),
                ("quotas:k:monthly:202601".to_string(), 1000, 5),
                ("quotas:gone:daily:20260101".to_string(), 0, 5)
            ]
        );
        let refused: Vec<&str> = refused.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            refused,
            [
                "quotas:ghost:daily:20260101",
                "quotas:k:daily:20260101",
                "quotas:k:daily:x",
                "quotas:k:weekly:1"
            ]
        );
    }

    #[test]
    fn an_expiry_beyond_a_month_is_cut() {
        let push = vec![("quotas:k:daily:1".to_string(), 1, u64::MAX)];
        let (kept, _) = check(push, &keys(), 1000);
        assert_eq!(kept[0].2, 1000 + LONGEST_WINDOW_MS);
    }
}
