use crate::{Condition, StoreError};

/// Whether a write may stand given that its target did or did not exist.
/// Backends check after writing, inside the batch, since a failure throws the
/// whole batch away anyway: one lookup instead of two.
pub(crate) fn check(
    condition: Condition,
    existed: bool,
    kind: String,
    id: String,
) -> Result<(), StoreError> {
    match (condition, existed) {
        (Condition::MustNotExist, true) => Err(StoreError::AlreadyExists { kind, id }),
        (Condition::MustExist, false) => Err(StoreError::NotFound { kind, id }),
        _ => Ok(()),
    }
}
