use crate::ValidationErrors;
use crate::id::{ID_RULE, is_valid_id};

pub(crate) fn id(errors: &mut ValidationErrors, path: &str, value: &str) {
    if !is_valid_id(value) {
        errors.push(path, format!("invalid id '{value}': expected {ID_RULE}"));
    }
}

pub(crate) fn non_empty(errors: &mut ValidationErrors, path: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(path, "must not be empty");
    }
}

/// A host name or IP literal as it may appear in a domain or a target: no
/// scheme, no path, no spaces. Wildcards are checked by the caller.
pub(crate) fn is_hostname(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
}

/// An HTTP method token (RFC 9110 `token`), upper case as Otoroshi stores it.
pub(crate) fn is_method(method: &str) -> bool {
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
}
