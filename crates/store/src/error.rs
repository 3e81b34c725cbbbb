use thiserror::Error;

/// What can go wrong in a datastore call. The admin layer maps these to HTTP.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A `Put` with `Condition::MustNotExist` found an entity already there.
    #[error("{kind} '{id}' already exists")]
    AlreadyExists { kind: String, id: String },
    /// A write with `Condition::MustExist` found nothing.
    #[error("{kind} '{id}' not found")]
    NotFound { kind: String, id: String },
    /// An `Op::Expect` found the entity changed or gone: another write got
    /// there first. Reading again and retrying is safe.
    #[error("{kind} '{id}' changed concurrently; retry")]
    Conflict { kind: String, id: String },
    /// The backend itself failed (I/O, corruption, connection lost...).
    #[error("datastore '{backend}' unavailable: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
}
