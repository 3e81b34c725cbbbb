//! Header rules between client and upstream: hop-by-hop headers stay on
//! their hop (RFC 9110 §7.6.1), and the upstream learns who the client was
//! through the X-Forwarded-* headers.

use std::io::Write as _;
use std::net::IpAddr;

use http::header::{CONNECTION, HeaderName, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue};
use plugins::headers::remove_all;
use smallvec::SmallVec;

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
    // Connection usually lists only `keep-alive` or `close`: a name the
    // fixed list below removes anyway is not parsed, copied and looked up
    // a second time. The values are cloned (a reference count each, kept
    // inline) so that what they name can be removed while they are read.
    let listed: SmallVec<[HeaderValue; 2]> = headers.get_all(CONNECTION).iter().cloned().collect();
    for value in &listed {
        remove_listed(headers, value, keep_upgrade);
    }
    if keep_upgrade {
        remove_all(headers, always_removed());
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        remove_all(headers, &HOP_BY_HOP);
    }
}

/// Removes the headers one Connection value names, except those of the
/// fixed list that [`remove_hop_by_hop`] removes next, and Upgrade when it
/// is kept.
fn remove_listed(headers: &mut HeaderMap, connection: &HeaderValue, keep_upgrade: bool) {
    let Ok(text) = connection.to_str() else {
        return;
    };
    for token in text.split(',').map(str::trim) {
        let removed_next = always_removed()
            .iter()
            .any(|name| token.eq_ignore_ascii_case(name.as_str()));
        let kept = keep_upgrade && token.eq_ignore_ascii_case(UPGRADE.as_str());
        if removed_next || kept {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
            headers.remove(name);
        }
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

/// The hop-by-hop headers an upgrade does not keep.
fn always_removed() -> &'static [&'static HeaderName] {
    &HOP_BY_HOP[..HOP_BY_HOP.len() - KEPT_BY_AN_UPGRADE]
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
    let previous = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok());
    let value = match previous {
        // The chain is the peer alone: its text is usually at hand.
        None => Some(address_value(client_ip)),
        Some(previous) => extended_chain(previous, client_ip),
    };
    if let Some(value) = value {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    if let Some(value) = original_host {
        headers.insert(X_FORWARDED_HOST.clone(), value);
    }
}

/// `ip` as a header value. A keep-alive connection sends many requests
/// from one address, so each thread keeps the last address it wrote.
pub fn address_value(ip: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, value)) if *at == ip => value.clone(),
            _ => {
                // An address is always a valid header value.
                let value = HeaderValue::from_str(&ip.to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static(""));
                *last = Some((ip, value.clone()));
                value
            }
        }
    })
}

/// `previous, client_ip`, formatted on the stack when it fits.
fn extended_chain(previous: &str, client_ip: IpAddr) -> Option<HeaderValue> {
    let mut text = [0u8; 512];
    let mut cursor = std::io::Cursor::new(&mut text[..]);
    let written = write!(cursor, "{previous}, {client_ip}");
    match written {
        Ok(()) => {
            let len = cursor.position() as usize;
            HeaderValue::from_bytes(text.get(..len).unwrap_or_default()).ok()
        }
        // A long chain: on the heap.
        Err(_) => HeaderValue::from_str(&format!("{previous}, {client_ip}")).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_connection_value_is_read() {
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, HeaderValue::from_static("Keep-Alive"));
        headers.append(CONNECTION, HeaderValue::from_static("X-One , close"));
        headers.append(CONNECTION, HeaderValue::from_static("x-two"));
        for name in ["x-one", "x-two", "close", "keep-alive", "x-kept"] {
            headers.insert(name, HeaderValue::from_static("1"));
        }
        remove_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn the_peer_address_is_written_for_each_address() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(address_value(v4), "10.1.2.3");
        assert_eq!(address_value(v4), "10.1.2.3");
        assert_eq!(address_value(v6), "2001:db8::1");
        assert_eq!(address_value(v4), "10.1.2.3");
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
