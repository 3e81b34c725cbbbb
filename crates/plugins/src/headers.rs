//! Header map helpers the plugins and the node share.

use http::{HeaderMap, HeaderName};

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

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::TE;

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
}
