//! List parameters of Otoroshi's admin API:
//! - `page` (from 1) and `pageSize` (all when absent);
//! - `filter.<field>=<value>`: the field (a dotted path) equals the value or,
//!   for an array, contains it;
//! - `filtered=f:sub,f2:a|b`: each field contains, case-insensitively, one
//!   of its `|`-separated substrings;
//! - `sorted=f:true,g`: sort by `f` descending (`true`), then `g` ascending;
//! - `fields=a,b.c`: keep only these fields in each entity.
//!
//! Each is bounded (length, number of entries, path depth) so that a query
//! costs at most a bounded amount of work per entity.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::AdminError;

/// Bounds of `page` and `pageSize`, documented in the OpenAPI document; a
/// client that wants everything leaves `pageSize` out.
pub const MAX_PAGE: usize = 1_000_000;
pub const MAX_PAGE_SIZE: usize = 100_000;
/// Longest value of `filtered`, `sorted` or `fields`, in bytes.
pub const MAX_PARAM_LENGTH: usize = 2048;
/// Most entries in one of `filtered`, `sorted`, `fields` (and `filter.*`).
pub const MAX_ENTRIES: usize = 32;
/// Most segments in a dotted field path.
pub const MAX_PATH_DEPTH: usize = 16;

type FieldPath = Vec<String>;

pub struct ListQuery {
    page: usize,
    page_size: Option<usize>,
    filters: Vec<(FieldPath, String)>,
    /// Each field with its lowercase alternatives.
    filtered: Vec<(FieldPath, Vec<String>)>,
    /// Each field, `true` for descending.
    sorted: Vec<(FieldPath, bool)>,
    fields: Vec<FieldPath>,
}

impl ListQuery {
    pub fn parse(params: &HashMap<String, String>) -> Result<Self, AdminError> {
        let number = |name: &str, max: usize| -> Result<Option<usize>, AdminError> {
            match params.get(name) {
                None => Ok(None),
                Some(raw) => match raw.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(bad(
                        name,
                        raw,
                        &format!("expected an integer from 1 to {max}"),
                    )),
                },
            }
        };
        let mut filters = Vec::new();
        for (key, value) in params {
            if let Some(field) = key.strip_prefix("filter.") {
                if value.len() > MAX_PARAM_LENGTH {
                    return Err(bad(
                        key,
                        value,
                        &format!("longer than {MAX_PARAM_LENGTH} bytes"),
                    ));
                }
                filters.push((path(key, field)?, value.clone()));
            }
        }
        if filters.len() > MAX_ENTRIES {
            return Err(AdminError::BadRequest(format!(
                "more than {MAX_ENTRIES} filter.* query parameters"
            )));
        }
        filters.sort();
        let filtered = entries(params, "filtered")?
            .into_iter()
            .map(|entry| {
                let Some((field, wanted)) = entry.split_once(':') else {
                    return Err(bad(
                        "filtered",
                        entry,
                        "expected field:substring[|substring...]",
                    ));
                };
                let alternatives = wanted.split('|').map(str::to_lowercase).collect();
                Ok((path("filtered", field)?, alternatives))
            })
            .collect::<Result<_, _>>()?;
        let sorted = entries(params, "sorted")?
            .into_iter()
            .map(|entry| {
                let (field, descending) = match entry.split_once(':') {
                    None => (entry, false),
                    Some((field, "true")) => (field, true),
                    Some((field, "false")) => (field, false),
                    Some(_) => {
                        return Err(bad("sorted", entry, "expected field or field:true|false"));
                    }
                };
                Ok((path("sorted", field)?, descending))
            })
            .collect::<Result<_, _>>()?;
        let fields = entries(params, "fields")?
            .into_iter()
            .map(|field| path("fields", field))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            page: number("page", MAX_PAGE)?.unwrap_or(1),
            page_size: number("pageSize", MAX_PAGE_SIZE)?,
            filters,
            filtered,
            sorted,
            fields,
        })
    }

    pub fn matches(&self, entity: &Value) -> bool {
        let exact = self
            .filters
            .iter()
            .all(|(field, expected)| match lookup(entity, field) {
                Some(Value::Array(items)) => items.iter().any(|item| scalar_eq(item, expected)),
                Some(value) => scalar_eq(value, expected),
                None => false,
            });
        exact
            && self.filtered.iter().all(|(field, alternatives)| {
                lookup(entity, field).is_some_and(|value| contains_any(value, alternatives))
            })
    }

    pub fn is_sorted(&self) -> bool {
        !self.sorted.is_empty()
    }

    /// Sorts matching entities by the `sorted` fields (stable: ties keep
    /// the store's order).
    pub fn sort(&self, entities: &mut [Value]) {
        entities.sort_by(|a, b| {
            self.sorted
                .iter()
                .map(|(field, descending)| {
                    let order = compare(lookup(a, field), lookup(b, field));
                    if *descending { order.reverse() } else { order }
                })
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }

    /// The entity with only the `fields` asked for (all without `fields`).
    pub fn project(&self, entity: Value) -> Value {
        if self.fields.is_empty() {
            return entity;
        }
        let mut projected = Value::Object(Map::new());
        for field in &self.fields {
            if let Some(value) = lookup(&entity, field) {
                insert(&mut projected, field, value.clone());
            }
        }
        projected
    }

    /// The window of matching entities to return: all of them without `pageSize`.
    pub fn window(&self) -> (usize, usize) {
        match self.page_size {
            None => (0, usize::MAX),
            Some(size) => (self.page.saturating_sub(1).saturating_mul(size), size),
        }
    }

    /// The paging headers of a list of `total` matching entities:
    /// `X-Count`, `X-Offset`, `X-Page`, `X-Page-Size` and `X-Pages`.
    pub fn headers(&self, total: usize) -> [(&'static str, String); 5] {
        let (offset, _) = self.window();
        let size = self.page_size.unwrap_or(total.max(1));
        [
            ("X-Count", total.to_string()),
            ("X-Offset", offset.to_string()),
            ("X-Page", self.page.to_string()),
            ("X-Page-Size", size.to_string()),
            ("X-Pages", total.div_ceil(size).to_string()),
        ]
    }
}

fn bad(name: &str, raw: &str, why: &str) -> AdminError {
    let shown: String = raw.chars().take(64).collect();
    AdminError::BadRequest(format!("query parameter {name}='{shown}': {why}"))
}

/// The comma-separated entries of a parameter, bounded.
fn entries<'a>(
    params: &'a HashMap<String, String>,
    name: &str,
) -> Result<Vec<&'a str>, AdminError> {
    let Some(raw) = params.get(name) else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_PARAM_LENGTH {
        return Err(bad(
            name,
            raw,
            &format!("longer than {MAX_PARAM_LENGTH} bytes"),
        ));
    }
    let list: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if list.len() > MAX_ENTRIES {
        return Err(bad(name, raw, &format!("more than {MAX_ENTRIES} entries")));
    }
    Ok(list)
}

/// A dotted field path: 1 to `MAX_PATH_DEPTH` non-empty segments.
fn path(name: &str, field: &str) -> Result<FieldPath, AdminError> {
    let segments: FieldPath = field.split('.').map(str::to_string).collect();
    if field.is_empty() || segments.iter().any(String::is_empty) {
        return Err(bad(name, field, "expected a dotted field path such as a.b"));
    }
    if segments.len() > MAX_PATH_DEPTH {
        return Err(bad(
            name,
            field,
            &format!("more than {MAX_PATH_DEPTH} segments"),
        ));
    }
    Ok(segments)
}

fn lookup<'a>(entity: &'a Value, field: &[String]) -> Option<&'a Value> {
    field.iter().try_fold(entity, |v, segment| v.get(segment))
}

/// Sets `value` at `field` in `target`, creating the objects on the way.
fn insert(target: &mut Value, field: &[String], value: Value) {
    let Some((last, parents)) = field.split_last() else {
        return;
    };
    let mut current = target;
    for segment in parents {
        let Some(object) = current.as_object_mut() else {
            return;
        };
        current = object
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(object) = current.as_object_mut() {
        object.insert(last.clone(), value);
    }
}

fn scalar_eq(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Number(n) => n.to_string() == expected,
        Value::Bool(b) => b.to_string() == expected,
        _ => false,
    }
}

/// Case-insensitive "contains one of": an array when one of its items
/// does, an object by its JSON text.
fn contains_any(value: &Value, alternatives: &[String]) -> bool {
    let text = match value {
        Value::Array(items) => return items.iter().any(|item| contains_any(item, alternatives)),
        Value::String(s) => s.to_lowercase(),
        Value::Null => return false,
        other => other.to_string().to_lowercase(),
    };
    alternatives
        .iter()
        .any(|wanted| text.contains(wanted.as_str()))
}

/// Missing and null first, then booleans, numbers, strings
/// (case-insensitively), and arrays and objects by their JSON text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Some(x), Some(y)) if rank(a) == 4 && rank(b) == 4 => x.to_string().cmp(&y.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListQuery, AdminError> {
        let params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListQuery::parse(&params)
    }

    #[test]
    fn filtered_sorted_and_fields() {
        let q = parse(&[
            ("filtered", "name:ALP|gam,tags:x"),
            ("sorted", "order:true,name"),
            ("fields", "name,meta.a"),
        ])
        .unwrap();
        let e = |name: &str, order: i64| serde_json::json!({"name": name, "order": order, "tags": ["x1"], "meta": {"a": 1, "b": 2}});
        assert!(q.matches(&e("alpha", 1)));
        assert!(q.matches(&e("Gamma", 1)));
        assert!(!q.matches(&e("beta", 1)));
        let mut list = vec![e("b", 1), e("a", 1), e("c", 2)];
        q.sort(&mut list);
        let names: Vec<_> = list.iter().map(|v| v["name"].clone()).collect();
        assert_eq!(names, vec!["c", "a", "b"]);
        assert_eq!(
            q.project(e("a", 1)),
            serde_json::json!({"name": "a", "meta": {"a": 1}})
        );
    }

    #[test]
    fn list_parameters_are_bounded() {
        let long = "a".repeat(MAX_PARAM_LENGTH + 1);
        let many = vec!["a"; MAX_ENTRIES + 1].join(",");
        let deep = vec!["a"; MAX_PATH_DEPTH + 1].join(".");
        for (name, raw) in [
            ("fields", long.as_str()),
            ("fields", many.as_str()),
            ("fields", deep.as_str()),
            ("fields", "a..b"),
            ("filtered", "nocolon"),
            ("sorted", "a:maybe"),
        ] {
            let err = parse(&[(name, raw)]).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(name)),
                "{name}={raw}: {err:?}"
            );
        }
    }

    #[test]
    fn page_and_page_size_are_bounded() {
        assert!(parse(&[("page", "1000000"), ("pageSize", "100000")]).is_ok());
        for (name, raw) in [
            ("page", "0"),
            ("page", "1000001"),
            ("pageSize", "100001"),
            ("pageSize", "99999999999999999999999"),
            ("pageSize", "-1"),
        ] {
            let err = parse(&[(name, raw)]).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(name)),
                "{name}={raw}: {err:?}"
            );
        }
    }
}
