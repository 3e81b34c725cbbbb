//! What the upstream learns about the client, and what it must not learn
//! from the client. Forwarding headers (X-Forwarded-*, Forwarded) are taken
//! from a peer only when it is a trusted proxy (`proxy.trustedProxies`);
//! from anyone else they are replaced, so a client cannot pose as another
//! address, scheme or host. Headers that some backends read as the real URL
//! or address (X-Original-URL, X-Rewrite-URL, X-Real-IP) never pass from
//! the client. A hop counter cuts loops (a route to the node itself).

use std::net::IpAddr;

use http::header::{FORWARDED, HeaderName};
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

use crate::headers::{self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, set_forwarded};

static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_REWRITE_URL: HeaderName = HeaderName::from_static("x-rewrite-url");
/// Counts the komainu nodes a request went through.
pub static HOPS: HeaderName = HeaderName::from_static("komainu-hops");

/// A request that went through this many nodes is answered 508.
pub const MAX_HOPS: u32 = 10;

/// The peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Box<[IpNet]>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks.into_boxed_slice())
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a trusted `peer`: the rightmost address of
    /// X-Forwarded-For that is not a trusted proxy (the leftmost when all
    /// are), as nginx's recursive real-ip does; the peer itself when the
    /// chain is missing or unreadable.
    pub fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let Some(chain) = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) else {
            return peer;
        };
        let mut client = peer;
        for entry in chain.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// How many nodes the request went through before this one; `Err` when
/// that is too many (a loop).
pub fn hops(headers: &HeaderMap) -> Result<u32, u32> {
    let hops = headers
        .get(&HOPS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if hops >= MAX_HOPS {
        Err(hops)
    } else {
        Ok(hops)
    }
}

/// Before any plugin runs: removes what a client must never set (the
/// forwarding headers of an untrusted peer, X-Real-IP, X-Original-URL,
/// X-Rewrite-URL); `peer_trusted` is [`TrustedProxies::trusts`] of the peer.
pub fn sanitize(headers: &mut HeaderMap, peer_trusted: bool) {
    let forbidden = if peer_trusted {
        &CLIENT_FORBIDDEN[..FORBIDDEN_FROM_ANYONE]
    } else {
        &CLIENT_FORBIDDEN[..]
    };
    plugins::headers::remove_all(headers, forbidden);
}

/// What [`sanitize`] removes: the first [`FORBIDDEN_FROM_ANYONE`] from
/// anyone, the forwarding headers after them from an untrusted peer.
static CLIENT_FORBIDDEN: [&HeaderName; 9] = [
    &X_ORIGINAL_URL,
    &X_REWRITE_URL,
    &X_REAL_IP,
    &X_FORWARDED_FOR,
    &X_FORWARDED_HOST,
    &X_FORWARDED_PROTO,
    &X_FORWARDED_PORT,
    &X_FORWARDED_PREFIX,
    &FORWARDED,
];
const FORBIDDEN_FROM_ANYONE: usize = 3;

/// Where a request came from, for the forwarding headers.
pub struct Origin<'a> {
    pub peer: IpAddr,
    /// [`TrustedProxies::trusts`] of the peer.
    pub peer_trusted: bool,
    /// The caller: the peer, or the client a trusted peer names
    /// ([`TrustedProxies::client`]).
    pub client: IpAddr,
    pub scheme: &'static str,
    pub host: Option<&'a HeaderValue>,
}

/// Sets X-Forwarded-For/-Proto/-Host and X-Real-IP (XForwardedHeaders),
/// after [`sanitize`]: a trusted proxy's chain is extended and its scheme
/// and host kept; anyone else's were removed and are set from what this
/// node saw.
pub fn add(headers: &mut HeaderMap, origin: &Origin<'_>) {
    let peer = origin.peer;
    let host = origin.host.cloned();
    if origin.peer_trusted {
        // A trusted proxy's view of the scheme and host wins over ours.
        let host = host.filter(|_| !headers.contains_key(&X_FORWARDED_HOST));
        let proto = headers.get(&X_FORWARDED_PROTO).cloned();
        set_forwarded(headers, peer, origin.scheme, host);
        if let Some(proto) = proto {
            headers.insert(X_FORWARDED_PROTO.clone(), proto);
        }
        set_real_ip(headers, origin.client);
    } else {
        set_forwarded(headers, peer, origin.scheme, host);
        set_real_ip(headers, peer);
    }
}

fn set_real_ip(headers: &mut HeaderMap, ip: IpAddr) {
    headers.insert(X_REAL_IP.clone(), headers::address_value(ip));
}

/// Counts this node in the hop counter; set on every upstream request,
/// whatever the route's plugins, so that loops are always cut.
pub fn count_hop(headers: &mut HeaderMap, hops: u32) {
    headers.insert(
        HOPS.clone(),
        plugins::numbers::header_value(u64::from(hops) + 1),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    /// What a route with XForwardedHeaders does, in order.
    fn apply(h: &mut HeaderMap, trusted: &TrustedProxies, peer: IpAddr, hops: u32) {
        let peer_trusted = trusted.trusts(peer);
        sanitize(h, peer_trusted);
        let origin = Origin {
            peer,
            peer_trusted,
            client: if peer_trusted {
                trusted.client(h, peer)
            } else {
                peer
            },
            scheme: "http",
            host: None,
        };
        add(h, &origin);
        count_hop(h, hops);
    }

    #[test]
    fn without_the_plugin_nothing_a_client_sent_passes() {
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-rewrite-url", "/admin"),
        ]);
        sanitize(&mut h, false);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn untrusted_peers_cannot_pose_as_anyone() {
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-original-url", "/admin"),
        ]);
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        apply(&mut h, &TrustedProxies::default(), peer, 0);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.9");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("x-real-ip").unwrap(), "10.0.0.9");
        assert_eq!(h.get("komainu-hops").unwrap(), "1");
        for gone in ["x-forwarded-port", "forwarded", "x-original-url"] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn trusted_chains_are_kept_and_walked_from_the_right() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.2"),
            ("x-forwarded-proto", "https"),
            ("komainu-hops", "2"),
        ]);
        let hops = hops(&h).unwrap();
        apply(&mut h, &trusted, "10.0.0.1".parse().unwrap(), hops);
        assert_eq!(
            h.get("x-forwarded-for").unwrap(),
            "6.6.6.6, 1.2.3.4, 10.0.0.2, 10.0.0.1"
        );
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(h.get("x-real-ip").unwrap(), "1.2.3.4");
        assert_eq!(h.get("komainu-hops").unwrap(), "3");
        // IPv4-mapped IPv6 peers are the IPv4 address.
        assert!(trusted.trusts("::ffff:10.1.1.1".parse().unwrap()));
    }

    #[test]
    fn too_many_hops_is_a_loop() {
        assert_eq!(hops(&headers(&[("komainu-hops", "9")])), Ok(9));
        assert_eq!(hops(&headers(&[("komainu-hops", "10")])), Err(10));
        assert_eq!(hops(&headers(&[("komainu-hops", "x")])), Ok(0));
    }
}
