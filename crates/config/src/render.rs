//! Printing the effective configuration as TOML, secrets masked, each line
//! commented with where its value came from.

use crate::error::Origin;
use crate::schema::{DefaultValue, Kind};
use crate::validate::{Entry, Val};

const MASK: &str = "********";

pub(crate) fn render(entries: &[Entry]) -> String {
    let mut lines = vec!["# komainu effective configuration".to_string()];
    let mut section = "";
    for entry in entries {
        let (sec, name) = entry
            .key
            .name
            .rsplit_once('.')
            .unwrap_or(("", entry.key.name));
        if sec != section {
            lines.push(String::new());
            lines.push(format!("[{sec}]"));
            section = sec;
        }
        let comment = comment(entry);
        lines.push(match value(entry) {
            Some(value) => format!("{name} = {value}  # {comment}"),
            None => format!("# {name} is unset  # {comment}"),
        });
    }
    lines.push(String::new());
    lines.join("\n")
}

fn comment(entry: &Entry) -> String {
    match (&entry.origin, entry.key.default) {
        (Origin::Default, DefaultValue::SameAs(other)) => format!("default: same as {other}"),
        (Origin::Default, _) => "default".into(),
        (Origin::File(_), _) => "file".into(),
        (Origin::Env(var), _) => format!("env {var}"),
        (Origin::Override, _) => "-D".into(),
    }
}

/// The value as TOML, or None when unset.
fn value(entry: &Entry) -> Option<String> {
    let text = match &entry.val {
        Val::Unset => return None,
        Val::Int(n) => return Some(n.to_string()),
        Val::List(items) => {
            let items = items.iter().cloned().map(toml::Value::String).collect();
            return Some(toml::Value::Array(items).to_string());
        }
        // Yes/no keys print as TOML booleans, as a file would set them.
        Val::Str(text)
            if matches!(entry.key.kind, Kind::Choice(..))
                && (text == "true" || text == "false") =>
        {
            return Some(toml::Value::Boolean(text == "true").to_string());
        }
        Val::Str(text) => match entry.key.kind {
            Kind::Secret => MASK.to_string(),
            Kind::Dsn => mask_password(text),
            _ => text.clone(),
        },
    };
    Some(toml::Value::String(text).to_string())
}

/// `redis://user:pw@host/db` → `redis://user:********@host/db`.
pub fn mask_password(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return dsn.to_string();
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return dsn.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{MASK}@{host}{path}"),
        None => dsn.to_string(),
    }
}
