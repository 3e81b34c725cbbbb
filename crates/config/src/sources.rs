//! Reading the layers (TOML file, environment, `-D` overrides) into raw texts
//! per key, each with its origin; a higher layer replaces a lower one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::{ConfigError, Origin};
use crate::schema::{self, DefaultValue, Key, Kind};
use crate::{Env, Sources};

/// A value as written, before checking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Text(String),
    List(Vec<String>),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(text) => f.write_str(text),
            Raw::List(items) => write!(f, "{items:?}"),
        }
    }
}

/// The winning raw value of every key some layer sets.
pub(crate) type Layers = BTreeMap<&'static str, (Raw, Origin)>;

/// Reads every layer in order, collecting problems instead of stopping.
pub(crate) fn collect(sources: &Sources, errors: &mut Vec<ConfigError>) -> Layers {
    let mut set = Layers::new();
    if let Some(path) = sources.file {
        read_file(path, &mut set, errors);
    }
    read_env(sources.env, &mut set);
    for text in sources.overrides {
        apply_override(text, &mut set, errors);
    }
    set
}

fn insert(set: &mut Layers, key: &'static Key, raw: Raw, origin: Origin) {
    let raw = match (key.kind, raw) {
        (Kind::UrlList | Kind::CidrList | Kind::HostPortList, Raw::Text(text)) => {
            Raw::List(split(&text))
        }
        (_, raw) => raw,
    };
    set.insert(key.name, (raw, origin));
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn read_file(path: &Path, set: &mut Layers, errors: &mut Vec<ConfigError>) {
    let fail = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return errors.push(fail(format!("cannot read: {e}"))),
    };
    match text.parse::<toml::Table>() {
        Ok(table) => walk(&table, "", &Origin::File(path.to_path_buf()), set, errors),
        Err(e) => errors.push(fail(syntax_message(&text, &e))),
    }
}

/// A one-line TOML syntax error with its line and column.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("invalid TOML at line {line}, column {column}: {message}")
        }
        None => format!("invalid TOML: {message}"),
    }
}

/// Flattens nested or dotted tables into known keys, `otoroshi.` optional.
fn walk(
    table: &toml::Table,
    prefix: &str,
    origin: &Origin,
    set: &mut Layers,
    errors: &mut Vec<ConfigError>,
) {
    for (name, value) in table {
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let short = schema::strip_prefix(&full);
        if let Some(key) = schema::find(short) {
            insert(set, key, from_toml(value), origin.clone());
            continue;
        }
        match value {
            toml::Value::Table(inner) if full == "otoroshi" || schema::is_section(short) => {
                walk(inner, &full, origin, set, errors)
            }
            toml::Value::Table(_) => errors.push(ConfigError::UnknownKey {
                suggestion: schema::suggest_section(&full).or_else(|| schema::suggest(&full)),
                key: full,
                origin: origin.clone(),
            }),
            _ => errors.push(ConfigError::UnknownKey {
                suggestion: schema::suggest(&full),
                key: full,
                origin: origin.clone(),
            }),
        }
    }
}

/// Scalars become text (so `8080` and `"8080"` are the same); arrays become lists.
fn from_toml(value: &toml::Value) -> Raw {
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match value {
        toml::Value::Array(items) => Raw::List(items.iter().map(text).collect()),
        other => Raw::Text(text(other)),
    }
}

fn read_env(env: &dyn Env, set: &mut Layers) {
    for key in schema::KEYS {
        let Some(var) = key.env else { continue };
        if let Some(value) = env.var(var).filter(|v| !v.trim().is_empty()) {
            insert(set, key, Raw::Text(value), Origin::Env(var));
        }
    }
}

/// `key=value`, or `listkey.N=value` to replace (N < len) or append (N == len).
fn apply_override(text: &str, set: &mut Layers, errors: &mut Vec<ConfigError>) {
    let Some((name, value)) = text.split_once('=') else {
        return errors.push(ConfigError::BadOverride {
            text: text.to_string(),
        });
    };
    let name = name.trim();
    let short = schema::strip_prefix(name);
    if let Some(key) = schema::find(short) {
        return insert(set, key, Raw::Text(value.to_string()), Origin::Override);
    }
    let Some((key, index)) = list_index(short) else {
        return errors.push(ConfigError::UnknownKey {
            key: name.to_string(),
            origin: Origin::Override,
            suggestion: schema::suggest(name),
        });
    };
    let mut items = match set.get(key.name) {
        Some((Raw::List(items), _)) => items.clone(),
        Some((Raw::Text(text), _)) => split(text),
        None => match key.default {
            DefaultValue::List(items) => items.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        },
    };
    let len = items.len();
    match items.get_mut(index) {
        Some(item) => *item = value.trim().to_string(),
        None if index == len => items.push(value.trim().to_string()),
        None => {
            return errors.push(ConfigError::IndexOutOfRange {
                key: key.name.to_string(),
                index,
                len,
            });
        }
    }
    set.insert(key.name, (Raw::List(items), Origin::Override));
}

/// `cluster.leader.urls.3` → (the urls key, 3).
fn list_index(name: &str) -> Option<(&'static Key, usize)> {
    let (list, index) = name.rsplit_once('.')?;
    let key = schema::find(list)
        .filter(|k| matches!(k.kind, Kind::UrlList | Kind::CidrList | Kind::HostPortList))?;
    Some((key, index.parse().ok()?))
}
