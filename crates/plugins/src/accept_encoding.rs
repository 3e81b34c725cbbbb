//! `Accept-Encoding` with its q-values, read the way Otoroshi's compressors
//! read it: a coding is used when its q-value (its own, else `*`'s, else 0)
//! is above 0 and not below identity's (its own, else `*`'s, else 0.001).
//! So `gzip;q=0` refuses gzip, `identity` alone refuses every coding, and
//! no header at all means no compression.

use http::HeaderValue;

/// Whether the client accepts `coding` (`gzip`, `br`) and prefers it to
/// the uncompressed body.
pub fn accepts(header: Option<&HeaderValue>, coding: &str) -> bool {
    let Some(text) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let q = |name: &str| {
        q_value(text, name)
            .or_else(|| q_value(text, "*"))
            .unwrap_or(if name == "identity" { 0.001 } else { 0.0 })
    };
    let wanted = q(coding);
    wanted > 0.0 && wanted >= q("identity")
}

/// The q-value the header gives `name` itself; an item whose q-value does
/// not parse is ignored (RFC 9110: a recipient may ignore it).
fn q_value(text: &str, name: &str) -> Option<f32> {
    text.split(',').find_map(|item| {
        let mut params = item.split(';');
        let coding = params.next()?.trim();
        if !coding.eq_ignore_ascii_case(name) {
            return None;
        }
        let mut q = Some(1.0);
        for param in params {
            if let Some((key, value)) = param.split_once('=')
                && key.trim().eq_ignore_ascii_case("q")
            {
                q = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q));
            }
        }
        q
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accepts_str(header: &str, coding: &str) -> bool {
        accepts(Some(&HeaderValue::from_str(header).unwrap()), coding)
    }

    #[test]
    fn plain_lists_accept_what_they_name() {
        assert!(accepts_str("gzip", "gzip"));
        assert!(accepts_str("gzip, deflate, br", "br"));
        assert!(accepts_str("GZip", "gzip"));
        assert!(!accepts_str("deflate", "gzip"));
        assert!(!accepts(None, "gzip"));
        assert!(!accepts_str("", "gzip"));
    }

    #[test]
    fn q_values_are_honoured() {
        assert!(!accepts_str("gzip;q=0", "gzip"));
        assert!(!accepts_str("gzip; q=0.0, br", "gzip"));
        assert!(accepts_str("gzip; q=0.0, br", "br"));
        assert!(accepts_str("gzip;q=0.5", "gzip"));
        // Identity preferred to gzip: no compression.
        assert!(!accepts_str("gzip;q=0.5, identity", "gzip"));
        assert!(accepts_str("gzip;q=0.5, identity;q=0.5", "gzip"));
        // A q-value that does not parse drops the item.
        assert!(!accepts_str("gzip;q=abc", "gzip"));
        assert!(!accepts_str("gzip;q=2", "gzip"));
    }

    #[test]
    fn identity_and_wildcards() {
        assert!(!accepts_str("identity", "gzip"));
        assert!(accepts_str("*", "gzip"));
        assert!(!accepts_str("*;q=0", "br"));
        assert!(accepts_str("*;q=0, gzip", "gzip"));
        assert!(!accepts_str("*;q=0.1, identity", "gzip"));
    }
}
