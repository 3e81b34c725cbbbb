//! The address lists of IpAddressAllowedList / IpAddressBlockList: exact
//! addresses, CIDR ranges and IPv4 `*` wildcards (`10.1.*.*`), all parsed
//! once at build time into ranges and octet patterns.

use std::net::IpAddr;
use std::str::FromStr;

use bytes::Bytes;
use http::Response;
use http::StatusCode;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::context::json_answer;

/// `addresses: [..]`, the config of both IP list plugins.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct AddressesConfig {
    pub addresses: Vec<String>,
}

/// An IPv4 pattern: `None` is a `*` octet.
type Octets = [Option<u8>; 4];

pub struct IpList {
    nets: Box<[IpNet]>,
    wildcards: Box<[Octets]>,
}

impl IpList {
    pub fn parse(addresses: &[String]) -> Result<IpList, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut nets = Vec::new();
        let mut wildcards = Vec::new();
        for (i, entry) in addresses.iter().enumerate() {
            let entry = entry.trim();
            let parsed = if entry.contains('/') {
                IpNet::from_str(entry)
                    .map(|net| nets.push(net))
                    .map_err(|_| "not a CIDR range (e.g. 10.0.0.0/8 or fd00::/8)")
            } else if entry.contains('*') {
                octets(entry)
                    .map(|o| wildcards.push(o))
                    .ok_or("not a wildcard pattern: `*`, or four IPv4 parts each a number or `*` (e.g. 10.1.*.*)")
            } else {
                IpAddr::from_str(entry)
                    .map(|ip| nets.push(IpNet::from(ip.to_canonical())))
                    .map_err(|_| "not an IP address, CIDR range or wildcard pattern")
            };
            if let Err(message) = parsed {
                errors.push(ConfigError::new(format!("addresses[{i}]"), message));
            }
        }
        if errors.is_empty() {
            Ok(IpList {
                nets: nets.into_boxed_slice(),
                wildcards: wildcards.into_boxed_slice(),
            })
        } else {
            Err(errors)
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        if self.nets.iter().any(|net| net.contains(&ip)) {
            return true;
        }
        match ip {
            IpAddr::V4(v4) => {
                let actual = v4.octets();
                self.wildcards.iter().any(|pattern| {
                    pattern
                        .iter()
                        .zip(actual)
                        .all(|(want, got)| want.is_none_or(|w| w == got))
                })
            }
            // `*` alone matches every address, IPv6 included.
            IpAddr::V6(_) => self.wildcards.iter().any(|p| p.iter().all(Option::is_none)),
        }
    }
}

/// `*` (everything) or `a.b.c.d` with `*` parts.
fn octets(entry: &str) -> Option<Octets> {
    if entry == "*" {
        return Some([None; 4]);
    }
    let mut out = [None; 4];
    let mut parts = entry.split('.');
    for slot in &mut out {
        let part = parts.next()?;
        *slot = match part {
            "*" => None,
            number => Some(number.parse::<u8>().ok()?),
        };
    }
    parts.next().is_none().then_some(out)
}

/// Otoroshi's refusal for both lists.
pub fn refusal() -> Response<Bytes> {
    json_answer(
        StatusCode::FORBIDDEN,
        "ip_address_not_allowed",
        "your IP address is not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> IpList {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        IpList::parse(&owned).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        IpAddr::from_str(s).unwrap()
    }

    #[test]
    fn exact_cidr_and_wildcards() {
        let l = list(&["192.168.1.10", "10.0.0.0/8", "172.16.*.*", "fd00::/8"]);
        assert!(l.contains(ip("192.168.1.10")));
        assert!(!l.contains(ip("192.168.1.11")));
        assert!(l.contains(ip("10.200.3.4")));
        assert!(l.contains(ip("172.16.9.9")));
        assert!(!l.contains(ip("172.17.9.9")));
        assert!(l.contains(ip("fd12::1")));
        assert!(l.contains(ip("::ffff:10.1.1.1")), "mapped IPv4");
        assert!(!l.contains(ip("::1")));
        assert!(list(&["*"]).contains(ip("::1")));
    }

    #[test]
    fn bad_entries_name_their_index() {
        let bad: Vec<String> = ["10.0.0.1", "10.0.0.0/33", "10.*", "1.2.3.300", "host"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let paths: Vec<String> = IpList::parse(&bad)
            .err()
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "addresses[1]",
                "addresses[2]",
                "addresses[3]",
                "addresses[4]"
            ]
        );
    }
}
