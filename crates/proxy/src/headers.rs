//! Header rules between client and upstream: hop-by-hop headers stay on
//! their hop (RFC 9110 §7.6.1), and the upstream learns who the client was
//! through the X-Forwarded-* headers.

use std::io::Write as _;
use std::net::IpAddr;

use http::header::{CONNECTION, HeaderName, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue};

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub use plugins::otoroshi_headers_in::REQUEST_ID;

/// Removes hop-by-hop headers, including those the Connection header names.
/// With `keep_upgrade`, the Upgrade handshake headers survive so that a
/// WebSocket upgrade can be relayed.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    if keep_upgrade {
        remove_all(
            headers,
            &HOP_BY_HOP[..HOP_BY_HOP.len() - KEPT_BY_AN_UPGRADE],
        );
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        remove_all(headers, &HOP_BY_HOP);
    }
}

/// The hop-by-hop headers; the last [`KEPT_BY_AN_UPGRADE`] are the
/// handshake's.
static HOP_BY_HOP: [&HeaderName; 7] = [
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &TE,
    &TRAILER,
    &TRANSFER_ENCODING,
    &CONNECTION,
    &UPGRADE,
];
const KEPT_BY_AN_UPGRADE: usize = 2;

/// Removes `names` (at most 64) from `headers`. A lookup hashes the name
/// and most of these names are absent, so one pass over the few names the
/// message carries finds those present first, and only they are removed.
pub fn remove_all(headers: &mut HeaderMap, names: &[&HeaderName]) {
    debug_assert!(names.len() <= 64, "remove_all takes at most 64 names");
    let mut present = 0u64;
    for key in headers.keys() {
        if let Some(i) = names.iter().take(64).position(|name| *name == key) {
            present |= 1 << i;
        }
    }
    for (i, name) in names.iter().enumerate().take(64) {
        if present & (1 << i) != 0 {
            headers.remove(*name);
        }
    }
}

/// Whether the client asks to switch protocols (WebSocket).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Appends the client to X-Forwarded-For and sets -Proto and -Host (when
/// the original host is known).
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client_ip: IpAddr,
    proto: &'static str,
    original_host: Option<HeaderValue>,
) {
    // Formatted on the stack: the only allocation is the header value's.
    let mut text = [0u8; 512];
    let mut cursor = std::io::Cursor::new(&mut text[..]);
    let written = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) => write!(cursor, "{previous}, {client_ip}"),
        None => write!(cursor, "{client_ip}"),
    };
    let value = match written {
        Ok(()) => {
            let len = cursor.position() as usize;
            HeaderValue::from_bytes(text.get(..len).unwrap_or_default()).ok()
        }
        // A long chain: fall back to the heap.
        Err(_) => {
            let previous = headers
                .get(&X_FORWARDED_FOR)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            HeaderValue::from_str(&format!("{previous}, {client_ip}")).ok()
        }
    };
    if let Some(value) = value {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    if let Some(value) = original_host {
        headers.insert(X_FORWARDED_HOST.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_all_removes_every_value_of_the_present_names_only() {
        let mut headers = HeaderMap::new();
        headers.append("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        headers.append("x-real-ip", HeaderValue::from_static("5.6.7.8"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("yes"));
        let x_real_ip = HeaderName::from_static("x-real-ip");
        let absent = HeaderName::from_static("x-absent");
        remove_all(&mut headers, &[&absent, &x_real_ip, &TE]);
        assert!(!headers.contains_key("x-real-ip"));
        assert!(!headers.contains_key(TE));
        assert_eq!(headers.len(), 1);
        assert_eq!(headers.get("x-kept").unwrap(), "yes");
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&headers));
        remove_hop_by_hop(&mut headers, true);
        assert_eq!(headers.get(UPGRADE).unwrap(), "websocket");
        assert_eq!(headers.get(CONNECTION).unwrap(), "upgrade");
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("10.0.0.1"),
        );
        set_forwarded(
            &mut headers,
            "127.0.0.1".parse().unwrap(),
            "http",
            Some(HeaderValue::from_static("api.oto.tools")),
        );
        assert_eq!(
            headers.get(&X_FORWARDED_FOR).unwrap(),
            "10.0.0.1, 127.0.0.1"
        );
        assert_eq!(headers.get(&X_FORWARDED_HOST).unwrap(), "api.oto.tools");
    }

    #[test]
    fn long_forwarded_for_chains_are_kept() {
        let mut headers = HeaderMap::new();
        let chain = vec!["10.0.0.1"; 100].join(", ");
        headers.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_str(&chain).unwrap(),
        );
        set_forwarded(&mut headers, "::1".parse().unwrap(), "http", None);
        assert_eq!(
            headers.get(&X_FORWARDED_FOR).unwrap(),
            format!("{chain}, ::1").as_str()
        );
        assert!(headers.get(&X_FORWARDED_HOST).is_none());
    }
}
