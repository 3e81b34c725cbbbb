//! The global config's gate, checked before any route is matched:
//! `maintenanceMode` closes every route (503), `ipFiltering.whitelist` lets
//! only the listed client addresses in and `ipFiltering.blacklist` keeps the
//! listed ones out (403). Lists take what the IP list plugins take: exact
//! addresses, CIDR ranges and IPv4 `*` wildcards, parsed once per publish.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use crate::config::ConfigError;
use crate::context::json_answer;
use crate::ip_list::IpList;
use crate::maintenance_mode::closed;

#[derive(Default)]
pub struct GlobalGate {
    maintenance: bool,
    /// `None` when the whitelist is empty: everyone may call.
    allowed: Option<IpList>,
    blocked: Option<IpList>,
}

impl GlobalGate {
    /// Errors name the list and the entry (`whitelist[2]`).
    pub fn compile(
        maintenance: bool,
        whitelist: &[String],
        blacklist: &[String],
    ) -> Result<GlobalGate, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut list = |name: &str, entries: &[String]| {
            if entries.is_empty() {
                return None;
            }
            IpList::parse(entries)
                .map_err(|problems| {
                    errors.extend(problems.into_iter().map(|p| {
                        // `addresses[2]` in the plugins' config is `whitelist[2]` here.
                        let index = p.path.trim_start_matches("addresses");
                        ConfigError::new(format!("{name}{index}"), p.message)
                    }))
                })
                .ok()
        };
        let allowed = list("whitelist", whitelist);
        let blocked = list("blacklist", blacklist);
        if errors.is_empty() {
            Ok(GlobalGate {
                maintenance,
                allowed,
                blocked,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether the gate stops nothing (the common case: skip it).
    pub fn is_open(&self) -> bool {
        !self.maintenance && self.allowed.is_none() && self.blocked.is_none()
    }

    /// The answer for a call the gate stops; `client` is the caller's
    /// address as the node believes it (behind trusted proxies only).
    pub fn check(&self, client: IpAddr, headers: &HeaderMap) -> Option<Response<Bytes>> {
        let refused = self.allowed.as_ref().is_some_and(|l| !l.contains(client))
            || self.blocked.as_ref().is_some_and(|l| l.contains(client));
        if refused {
            return Some(json_answer(
                StatusCode::FORBIDDEN,
                "ip_address_not_allowed",
                "your IP address is not allowed",
            ));
        }
        self.maintenance.then(|| {
            closed(
                headers,
                "service_in_maintenance",
                "The service is in maintenance. Please try again later.",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_and_maintenance() {
        let headers = HeaderMap::new();
        let gate =
            GlobalGate::compile(false, &strings(&["10.0.0.0/8"]), &strings(&["10.6.*.*"])).unwrap();
        assert!(gate.check("10.1.2.3".parse().unwrap(), &headers).is_none());
        let blocked = gate.check("10.6.2.3".parse().unwrap(), &headers).unwrap();
        assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
        assert!(
            gate.check("192.168.0.1".parse().unwrap(), &headers)
                .is_some()
        );
        let closed = GlobalGate::compile(true, &[], &[]).unwrap();
        assert!(!closed.is_open());
        let answer = closed
            .check("127.0.0.1".parse().unwrap(), &headers)
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(GlobalGate::compile(false, &[], &[]).unwrap().is_open());
    }

    #[test]
    fn bad_entries_are_named() {
        let errors =
            GlobalGate::compile(false, &strings(&["10.0.0.1", "nope"]), &strings(&["x/99"]))
                .err()
                .unwrap();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["whitelist[1]", "blacklist[0]"]);
    }
}
