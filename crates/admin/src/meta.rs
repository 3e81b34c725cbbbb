//! Endpoints that describe the node rather than its entities, in Otoroshi's
//! shapes (`/api/version`, `/api/infos`, `/apis/entities`), and the
//! Prometheus text of `/metrics`.

use axum::Json;
use model::Kind;
use serde_json::{Value, json};

use crate::context::{AdminContext, NodeInfo};

/// A version string read the way Otoroshi reads its own: `major.minor.patch`,
/// an optional fourth number (`build`) and an optional `-suffix` such as
/// `-dev` or `-rc2` (its letters are the suffix, its digits the suffix version).
#[derive(Debug, PartialEq)]
struct Version<'a> {
    raw: &'a str,
    major: u64,
    minor: u64,
    patch: u64,
    build: Option<u64>,
    suffix: Option<String>,
    suffix_version: Option<u64>,
}

impl<'a> Version<'a> {
    fn parse(raw: &'a str) -> Self {
        let bare = raw.trim().trim_start_matches('v');
        let (numbers, suffix) = match bare.split_once('-') {
            Some((numbers, suffix)) => (numbers, Some(suffix)),
            None => (bare, None),
        };
        let mut parts = numbers.split('.').map(|p| p.parse::<u64>().ok());
        let mut next = || parts.next().flatten();
        let (major, minor, patch, build) = (next(), next(), next(), next());
        let letters = suffix.map(|s| {
            s.chars()
                .take_while(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_ascii_lowercase()
        });
        let suffix_version = suffix.and_then(|s| {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        Version {
            raw,
            major: major.unwrap_or(0),
            minor: minor.unwrap_or(0),
            patch: patch.unwrap_or(0),
            build,
            suffix: letters.filter(|l| !l.is_empty()),
            suffix_version,
        }
    }

    /// Otoroshi's normalised form: `17.0.0`, `17.0.0-rc.2`.
    fn str(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if let Some(build) = self.build {
            s.push_str(&format!(".{build}"));
        }
        if let Some(suffix) = &self.suffix {
            s.push_str(&format!("-{suffix}"));
        }
        if let Some(n) = self.suffix_version {
            s.push_str(&format!(".{n}"));
        }
        s
    }

    /// Otoroshi's version object, numbers at the top level.
    fn json(&self) -> Value {
        json!({
            "raw": self.raw,
            "major": self.major, "minor": self.minor, "patch": self.patch,
            "build": self.build, "suffix": self.suffix, "suffix_version": self.suffix_version,
            "str": self.str(),
        })
    }
}

/// `/api/version`: Otoroshi's object, plus `version` (the raw string, as
/// Otoroshi's docs show it), and komainu's `version_raw` and `name`.
pub fn version(ctx: &AdminContext) -> Json<Value> {
    Json(version_body(ctx.info.version))
}

/// The body of `/api/version` for the version string `raw` (shared with
/// the worker's admin host).
pub fn version_body(raw: &str) -> Value {
    let mut body = Version::parse(raw).json();
    body["version"] = json!(raw);
    body["version_raw"] = json!(raw);
    body["name"] = json!("komainu");
    body
}

/// `/api/infos`: Otoroshi's fields (a JVM's `java_version` has no
/// equivalent: null), plus komainu's cluster mode, node name and start time.
pub fn infos(ctx: &AdminContext) -> Json<Value> {
    Json(infos_body(&ctx.info, ctx.store.backend()))
}

/// The body of `/api/infos` for a node and its datastore's kind (shared
/// with the worker's admin host).
pub fn infos_body(info: &NodeInfo, datastore: &str) -> Value {
    json!({
        "otoroshi_cluster_id": info.name,
        "otoroshi_version": info.version,
        "otoroshi_version_sem": Version::parse(info.version).json(),
        "java_version": null,
        "os": {"name": std::env::consts::OS, "version": os_version(), "arch": std::env::consts::ARCH},
        "backoffice_url": null,
        "datastore": datastore,
        "env": "prod",
        "cluster_mode": info.mode,
        "node_name": info.name,
        "started_at": info.started_at_ms,
    })
}

/// The kernel release where `/proc` tells it, else "unknown".
fn os_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_string())
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Prometheus text exposition of the node's metrics.
pub fn metrics(ctx: &AdminContext) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics_json::PROMETHEUS_TEXT,
        )],
        (ctx.metrics)(),
    )
}

/// `/apis/entities`: the kinds served by the generic API, in Otoroshi's shape.
pub fn entities() -> Json<Value> {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "kind": k.name(),
                "plural_name": k.plural(),
                "singular_name": k.singular(),
                "group": k.group(),
                "version": {"name": k.version(), "served": true, "deprecated": false, "storage": true},
            })
        })
        .collect();
    Json(json!({"version": "v1", "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_like_otoroshi() {
        let v = Version::parse("17.2.1");
        assert_eq!((v.major, v.minor, v.patch, v.build), (17, 2, 1, None));
        assert_eq!(v.suffix, None);
        assert_eq!(v.str(), "17.2.1");
        let v = Version::parse("0.1.0-rc2");
        assert_eq!((v.major, v.minor, v.patch), (0, 1, 0));
        assert_eq!(
            (v.suffix.as_deref(), v.suffix_version),
            (Some("rc"), Some(2))
        );
        assert_eq!(v.str(), "0.1.0-rc.2");
        let v = Version::parse("v1.2.3.4-dev");
        assert_eq!((v.build, v.suffix.as_deref()), (Some(4), Some("dev")));
        let v = Version::parse("garbage");
        assert_eq!((v.major, v.minor, v.patch), (0, 0, 0));
        assert_eq!(v.json()["raw"], "garbage");
    }
}
