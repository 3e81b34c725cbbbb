//! List parameters of Otoroshi's admin API: `page` (from 1), `pageSize`, and
//! `filter.<field>=<value>` where the field may be a dotted path; a filter
//! matches a string, number or boolean equal to the value, or an array that
//! contains it.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::AdminError;

/// Bounds of `page` and `pageSize`, documented in the OpenAPI document; a
/// client that wants everything leaves `pageSize` out.
pub const MAX_PAGE: usize = 1_000_000;
pub const MAX_PAGE_SIZE: usize = 100_000;

pub struct ListQuery {
    page: usize,
    page_size: Option<usize>,
    filters: Vec<(String, String)>,
}

impl ListQuery {
    pub fn parse(params: &HashMap<String, String>) -> Result<Self, AdminError> {
        let number = |name: &str, max: usize| -> Result<Option<usize>, AdminError> {
            match params.get(name) {
                None => Ok(None),
                Some(raw) => match raw.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(AdminError::BadRequest(format!(
                        "query parameter {name}='{raw}': expected an integer from 1 to {max}"
                    ))),
                },
            }
        };
        let mut filters: Vec<(String, String)> = params
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("filter.")
                    .map(|field| (field.to_string(), v.clone()))
            })
            .collect();
        filters.sort();
        Ok(Self {
            page: number("page", MAX_PAGE)?.unwrap_or(1),
            page_size: number("pageSize", MAX_PAGE_SIZE)?,
            filters,
        })
    }

    pub fn matches(&self, entity: &Value) -> bool {
        self.filters.iter().all(|(field, expected)| {
            let found = field
                .split('.')
                .try_fold(entity, |v, segment| v.get(segment));
            match found {
                Some(Value::Array(items)) => items.iter().any(|item| scalar_eq(item, expected)),
                Some(value) => scalar_eq(value, expected),
                None => false,
            }
        })
    }

    /// The window of matching entities to return: all of them without `pageSize`.
    pub fn window(&self) -> (usize, usize) {
        match self.page_size {
            None => (0, usize::MAX),
            Some(size) => (self.page.saturating_sub(1).saturating_mul(size), size),
        }
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
