//! The mask read-only admins see in place of a secret. It is refused as a
//! secret on every write: a reader's export posted back must not turn an
//! admin key's secret into a value everyone knows.

/// Shown instead of API key secrets and private keys to read-only callers.
pub const MASK: &str = "********";

/// Field names whose values are secrets, wherever they appear in an answer.
/// `secret` and `password` are those of the Otoroshi sections an import
/// keeps (JWT verifiers' signing secrets, data exporters' and admins'
/// passwords), which readers must not read either.
pub const SECRET_FIELDS: [&str; 4] = [
    "clientSecret",
    crate::certificate::PRIVATE_KEY_FIELD,
    "secret",
    "password",
];

/// Whether `value` is the mask (and so no secret at all).
pub fn is_mask(value: &str) -> bool {
    value.trim() == MASK
}

/// Why the mask is refused where a secret is expected.
pub const REFUSED: &str =
    "is the mask read-only admins see (********), not a secret: send the real value";
