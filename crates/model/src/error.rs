use serde::Serialize;
use thiserror::Error;

/// One bad field: where it is (`backend.targets[0].port`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

/// Every problem found in one entity, reported together so that a client
/// fixes them in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Error, Default)]
#[error("invalid entity: {}", summary(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ValidationErrors {
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }

    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same errors with their paths under `prefix` (e.g. `routes[3]`),
    /// for callers that check several entities at once.
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|e| FieldError {
                    path: format!("{prefix}.{}", e.path),
                    message: e.message,
                })
                .collect(),
        )
    }

    /// Ok when nothing was pushed, so validators can end with `errors.into_result()`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}
