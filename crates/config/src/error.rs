//! What went wrong while loading, and where each value came from.

use std::fmt;
use std::path::PathBuf;

/// The layer a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(&'static str),
    /// A `-D key=value` command-line override.
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "from file {}", path.display()),
            Origin::Env(var) => write!(f, "from env {var}"),
            Origin::Override => f.write_str("from -D"),
        }
    }
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{key} = {value} ({origin}): expected {expected}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        expected: String,
    },
    #[error("unknown key {key} ({origin}){}", did_you_mean(.suggestion))]
    UnknownKey {
        key: String,
        origin: Origin,
        suggestion: Option<&'static str>,
    },
    #[error("config file {}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("-D {text}: expected key=value")]
    BadOverride { text: String },
    #[error("{key}.{index} (from -D): index {index} is past the end of the list (length {len})")]
    IndexOutOfRange {
        key: String,
        index: usize,
        len: usize,
    },
    #[error("{key} is required when cluster.mode = worker{}", env_hint(.env))]
    RequiredForWorker {
        key: String,
        env: Option<&'static str>,
    },
    /// A key that only makes sense together with another one.
    #[error("{key} is required when {because}{}", env_hint(.env))]
    RequiredWith {
        key: String,
        because: String,
        env: Option<&'static str>,
    },
}

impl ConfigError {
    /// The configuration key this error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. }
            | ConfigError::UnknownKey { key, .. }
            | ConfigError::IndexOutOfRange { key, .. }
            | ConfigError::RequiredForWorker { key, .. }
            | ConfigError::RequiredWith { key, .. } => Some(key),
            ConfigError::File { .. } | ConfigError::BadOverride { .. } => None,
        }
    }
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion
        .map(|s| format!("; did you mean {s}?"))
        .unwrap_or_default()
}

fn env_hint(env: &Option<&'static str>) -> String {
    env.map(|e| format!(" (set it in the file, with env {e} or with -D)"))
        .unwrap_or_default()
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
