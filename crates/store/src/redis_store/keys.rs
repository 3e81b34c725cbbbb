//! The key layout under one root. Every key starts with `{root}:`: the braces
//! are a Redis Cluster hash tag, so all of a deployment's keys share one slot
//! and the multi-key Lua scripts stay legal should cluster support come.
//!
//! ```text
//! {root}:revision              string   revision of the last entity write
//! {root}:epoch                 string   names this life of the data (see lua/epoch_rules.lua)
//! {root}:changes               channel  pub/sub: the new revision after each write
//! {root}:entity:<hex>:values   hash     id -> stored bytes, for kind <hex>
//! {root}:entity:<hex>:ids      zset     ids of kind <hex>, all scored 0 (byte order)
//! {root}:counter:<key>         string   counter value, native expiry at its window end
//! {root}:counter-index         zset     counter keys, all scored 0 (byte order)
//! {root}:ephemeral:<key>       string   ephemeral record, native expiry (PXAT)
//! {root}:ephemeral-index       zset     ephemeral keys, all scored 0 (byte order)
//! ```
//!
//! Kinds are hex-encoded so that any bytes (":", NUL, empty) name exactly one
//! pair of keys: "odd" and "odd\0" must not meet. Counter and ephemeral keys
//! need no encoding: they end the key name, so the fixed prefix keeps them
//! apart.

pub(super) struct Keys {
    prefix: String,
}

/// The two keys that hold one kind.
pub(super) struct KindKeys {
    pub(super) values: String,
    pub(super) ids: String,
}

impl Keys {
    pub(super) fn new(root: &str) -> Self {
        Self {
            prefix: format!("{{{root}}}:"),
        }
    }

    /// The Redis Cluster hash slot of every key under this root: CRC16
    /// (XMODEM) of the hash tag, the root, modulo 16384.
    pub(super) fn home_slot(&self) -> u16 {
        let tag = self.prefix.trim_end_matches(':');
        let root = &tag.as_bytes()[1..tag.len() - 1];
        crc16_xmodem(root) % 16384
    }

    pub(super) fn revision(&self) -> String {
        format!("{}revision", self.prefix)
    }

    pub(super) fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    pub(super) fn changes_channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    pub(super) fn kind(&self, kind: &str) -> KindKeys {
        let base = format!("{}entity:{}", self.prefix, hex(kind.as_bytes()));
        KindKeys {
            values: format!("{base}:values"),
            ids: format!("{base}:ids"),
        }
    }

    /// What every counter's key starts with; the scripts that walk the index
    /// prepend it to a counter name.
    pub(super) fn counter_prefix(&self) -> String {
        format!("{}counter:", self.prefix)
    }

    pub(super) fn counter(&self, key: &str) -> String {
        format!("{}counter:{key}", self.prefix)
    }

    pub(super) fn counter_index(&self) -> String {
        format!("{}counter-index", self.prefix)
    }

    /// What every ephemeral record's key starts with (the scripts prepend it
    /// to a record name, as for counters).
    pub(super) fn ephemeral_prefix(&self) -> String {
        format!("{}ephemeral:", self.prefix)
    }

    pub(super) fn ephemeral(&self, key: &str) -> String {
        format!("{}ephemeral:{key}", self.prefix)
    }

    pub(super) fn ephemeral_index(&self) -> String {
        format!("{}ephemeral-index", self.prefix)
    }
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_slot_is_the_cluster_slot_of_the_hash_tag() {
        // The check value of CRC-16/XMODEM, and the slot the Redis docs
        // show `CLUSTER KEYSLOT foo{hash_tag}` answer.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
        assert_eq!(Keys::new("hash_tag").home_slot(), 2515);
    }

    #[test]
    fn kinds_that_differ_in_any_byte_get_their_own_keys() {
        let keys = Keys::new("app");
        assert_eq!(keys.kind("odd").values, "{app}:entity:6f6464:values");
        assert_eq!(keys.kind("odd\0").values, "{app}:entity:6f646400:values");
        assert_eq!(keys.kind("").ids, "{app}:entity::ids");
        assert_eq!(keys.counter("q:1"), "{app}:counter:q:1");
        assert!(keys.counter("q").starts_with(&keys.counter_prefix()));
        assert!(!keys.counter_index().starts_with(&keys.counter_prefix()));
        assert_eq!(keys.ephemeral("m:1"), "{app}:ephemeral:m:1");
        assert!(keys.ephemeral("m").starts_with(&keys.ephemeral_prefix()));
        assert!(!keys.ephemeral_index().starts_with(&keys.ephemeral_prefix()));
        assert!(!keys.ephemeral("m").starts_with(&keys.counter_prefix()));
    }
}
