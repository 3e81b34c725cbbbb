//! Node configuration: this crate owns the table of known keys (Otoroshi's
//! dotted camelCase names, `otoroshi.` prefix optional), reading them from
//! built-in defaults < TOML file < environment variables < `-D key=value`
//! overrides, checking every value (all problems reported at once), and
//! producing the validated runtime [`Config`] plus a printable, secret-masked
//! view of where each effective value came from.

/// What went wrong while loading, and the origin of each value.
mod error;
/// Printing the effective configuration as commented TOML.
mod render;
/// The validated runtime `Config` type the rest of the node reads.
pub mod runtime;
/// The table of every key: name, env var, kind and default.
mod schema;
/// Reading the file, environment and `-D` layers into raw values.
mod sources;
/// Checking raw values and building `Config`.
mod validate;

use std::collections::HashMap;
use std::path::Path;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use render::mask_password;
pub use runtime::*;

/// Where environment variables come from (the process, or a map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// Reads the process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The layers to read: an optional TOML file, the environment, and the
/// `key=value` texts given after `-D`, in command-line order.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub env: &'a dyn Env,
    pub overrides: &'a [String],
}

/// A loaded configuration and what is needed to show where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    entries: Vec<validate::Entry>,
}

impl Loaded {
    /// The effective configuration as TOML, one key per line with its
    /// origin as a comment; secrets shown as `"********"`.
    pub fn render(&self) -> String {
        render::render(&self.entries)
    }

    /// Where the effective value of `key` (with or without `otoroshi.`) came from.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        let key = schema::strip_prefix(key);
        self.entries
            .iter()
            .find(|e| e.key.name == key)
            .map(|e| &e.origin)
    }
}

/// Reads and checks every layer; returns every problem found, not just the first.
pub fn load(sources: &Sources) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let layers = sources::collect(sources, &mut errors);
    let entries = validate::resolve(&layers, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Loaded {
        config: validate::build(&entries),
        entries,
    })
}
