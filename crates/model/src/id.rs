//! Ids travel in URL paths, datastore keys and log lines, so they are limited
//! to a set that needs no escaping anywhere: ASCII letters, digits and
//! `_ - . : ~`, 1 to 128 characters.

use rand::Rng;
use rand::distr::Alphanumeric;

pub const MAX_ID_LEN: usize = 128;
pub const ID_RULE: &str = "1 to 128 characters among A-Z a-z 0-9 _ - . : ~";

pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'~'))
}

/// `prefix_` followed by a random UUID-shaped hex string, as Otoroshi makes them.
pub fn generate(prefix: &str) -> String {
    let mut rng = rand::rng();
    let hex: String = (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    if prefix.is_empty() {
        uuid
    } else {
        format!("{prefix}_{uuid}")
    }
}

/// Random lowercase alphanumeric text: client ids and secrets.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}
