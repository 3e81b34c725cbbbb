//! Between Rust values and their columns: strings as `bytea`, `u64`
//! milliseconds and revisions as `bigint`, and the byte-order bounds that
//! page scans use.

use std::ops::Bound;

use crate::counter_rules::scan_start;

/// Stored kinds, ids and keys came from Rust strings, so they are UTF-8; a
/// row an operator wrote by hand might not be, and is still listed (with
/// replacement characters) rather than failing the whole read.
pub(super) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// A u64 for a `bigint` column. Milliseconds past `i64::MAX` are 292 million
/// years away, so clamping loses nothing real.
pub(super) fn to_bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `bigint` read back as u64. Only a hand-edited row can be negative; it
/// reads as 0 (an expiry long past, revision zero).
pub(super) fn from_bigint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A page size for `LIMIT`.
pub(super) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The smallest byte string strictly after `bytes`: appending NUL, the
/// lowest byte. Turns "strictly after the last id" into an inclusive bound.
pub(super) fn successor(bytes: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(bytes.len() + 1);
    next.extend_from_slice(bytes);
    next.push(0);
    next
}

/// Where an entity page starts (inclusive): the first id, or just after the
/// last one seen.
pub(super) fn scan_from(after: Option<&str>) -> Vec<u8> {
    after.map_or_else(Vec::new, |after| successor(after.as_bytes()))
}

/// The inclusive start and exclusive end of a counter scan: from the prefix
/// (or just after `after`, as the other backends do) to the first key that
/// no longer starts with the prefix.
pub(super) fn counter_range(prefix: &str, after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let start = match scan_start(prefix, after) {
        Bound::Excluded(after) => successor(after.as_bytes()),
        Bound::Included(from) => from.as_bytes().to_vec(),
        Bound::Unbounded => prefix.as_bytes().to_vec(),
    };
    (start, prefix_end(prefix.as_bytes()))
}

/// The first byte string after every string starting with `prefix`: the
/// prefix with its last byte raised by one. UTF-8 never holds 0xFF, so that
/// byte can always be raised, and `[0xFF]` lies past every key when the
/// prefix is empty.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if let Some(raised) = last.checked_add(1) {
            end.push(raised);
            return end;
        }
    }
    vec![0xFF]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_ranges_follow_byte_order() {
        assert_eq!(counter_range("ab", None), (b"ab".to_vec(), b"ac".to_vec()));
        assert_eq!(
            counter_range("ab", Some("ab:1")),
            (b"ab:1\0".to_vec(), b"ac".to_vec())
        );
        // An `after` before the prefix starts at the prefix.
        assert_eq!(
            counter_range("ab", Some("a")),
            (b"ab".to_vec(), b"ac".to_vec())
        );
        assert_eq!(counter_range("", None), (Vec::new(), vec![0xFF]));
        assert_eq!(prefix_end(&[b'a', 0xFF]), b"b".to_vec());
        assert_eq!(scan_from(None), b"".to_vec());
        assert_eq!(scan_from(Some("x")), b"x\0".to_vec());
    }

    #[test]
    fn bigints_clamp() {
        assert_eq!(to_bigint(u64::MAX), i64::MAX);
        assert_eq!(from_bigint(-1), 0);
        assert_eq!(text(vec![b'a', 0xFF]), "a\u{FFFD}");
    }
}
