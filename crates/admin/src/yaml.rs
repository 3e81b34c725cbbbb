//! YAML bodies in and out. A YAML document can be far larger once read than
//! written: an alias repeats its anchor's whole subtree each time it is used
//! ("billion laughs"). So a document is read straight into a JSON value by a
//! visitor that charges every node it builds (and every string byte) against
//! a budget the size of the body limit, and a depth limit: the value built is
//! never larger than a JSON body could be, however the aliases nest.

use std::cell::Cell;
use std::fmt;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::AdminError;
use crate::media::{accept_ranges, essence};

/// The media types read and written as YAML.
pub const MEDIA_TYPES: [&str; 3] = ["application/yaml", "application/x-yaml", "text/yaml"];

/// Nesting deeper than this is refused (serde_json's own limit is 128).
pub const MAX_DEPTH: usize = 64;

/// Whether a `Content-Type` (or one media range of `Accept`) names YAML.
pub fn is_yaml(media_type: &str) -> bool {
    let essence = essence(media_type);
    MEDIA_TYPES
        .iter()
        .any(|yaml| essence.eq_ignore_ascii_case(yaml))
}

/// Whether the client asks for YAML: the first media range of `Accept`
/// that is JSON or YAML decides (JSON when none is).
pub fn wants_yaml(headers: &HeaderMap) -> bool {
    accept_ranges(headers)
        .find_map(|range| {
            if is_yaml(range) {
                Some(true)
            } else if is_json(range) {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
}

fn is_json(media_type: &str) -> bool {
    essence(media_type).eq_ignore_ascii_case("application/json")
}

/// Reads one YAML document into a JSON value of at most `budget` units
/// (one per node plus one per string byte) and `MAX_DEPTH` levels.
pub fn parse(bytes: &[u8], budget: usize) -> Result<Value, AdminError> {
    let limits = Limits {
        remaining: Cell::new(budget),
        depth: Cell::new(0),
        exceeded: Cell::new(None),
    };
    let result = Seed(&limits).deserialize(serde_norway::Deserializer::from_slice(bytes));
    match (limits.exceeded.get(), result) {
        (Some(Exceeded::Size), _) => Err(AdminError::TooLarge(format!(
            "the YAML body expands beyond the limit of {budget} bytes (each use of an alias counts its anchor's whole content)"
        ))),
        (Some(Exceeded::Depth), _) => Err(AdminError::BadRequest(format!(
            "malformed YAML: nested deeper than {MAX_DEPTH} levels"
        ))),
        (None, Ok(value)) => Ok(value),
        (None, Err(e)) => Err(AdminError::BadRequest(format!("malformed YAML: {e}"))),
    }
}

/// A JSON value as a YAML document.
pub fn render(value: &Value) -> Result<String, AdminError> {
    serde_norway::to_string(value).map_err(|e| AdminError::Internal(e.to_string()))
}

/// Middleware: JSON answers become YAML when the request's `Accept` asks
/// for YAML, errors included, so every endpoint honours it the same way.
pub async fn answer_in_yaml(request: Request, next: Next) -> Response {
    let yaml = wants_yaml(request.headers());
    let response = next.run(request).await;
    let is_json_answer = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    if !yaml || !is_json_answer {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Our own answer, already built in memory: no limit to apply.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let rendered = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|value| render(&value).ok());
    match rendered {
        Some(text) => {
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/yaml"),
            );
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(text))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

#[derive(Clone, Copy)]
enum Exceeded {
    Size,
    Depth,
}

struct Limits {
    remaining: Cell<usize>,
    depth: Cell<usize>,
    exceeded: Cell<Option<Exceeded>>,
}

impl Limits {
    fn charge<E: serde::de::Error>(&self, units: usize) -> Result<(), E> {
        match self.remaining.get().checked_sub(units) {
            Some(left) => {
                self.remaining.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(Some(Exceeded::Size));
                Err(E::custom("size limit exceeded"))
            }
        }
    }

    fn enter<E: serde::de::Error>(&self) -> Result<(), E> {
        let depth = self.depth.get() + 1;
        if depth > MAX_DEPTH {
            self.exceeded.set(Some(Exceeded::Depth));
            return Err(E::custom("depth limit exceeded"));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }
}

#[derive(Clone, Copy)]
struct Seed<'a>(&'a Limits);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value that has a JSON equivalent")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.charge(1)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.charge(1)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.charge(1)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.charge(1)?;
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} has no JSON equivalent")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(1 + v.len())?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.charge(1)?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(1)?;
        self.0.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        self.0.leave();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(1)?;
        self.0.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(A::Error::custom("a mapping key must be a scalar")),
            };
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        self.0.leave();
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_document_into_json() {
        let value = parse(b"a: 1\nb: [x, true, null, 1.5]\nc: {d: e}\n", 1000).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 1, "b": ["x", true, null, 1.5], "c": {"d": "e"}})
        );
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut doc = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            doc.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                [prev.as_str(); 9].join(", ")
            ));
        }
        let err = parse(doc.as_bytes(), 100_000).unwrap_err();
        assert!(matches!(err, AdminError::TooLarge(_)), "{err}");
        // Anchors used within the budget are fine.
        let small = parse(b"a: &x {k: v}\nb: *x\n", 1000).unwrap();
        assert_eq!(small["b"], serde_json::json!({"k": "v"}));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let err = parse(deep.as_bytes(), 1_000_000).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn several_documents_and_bad_syntax_are_refused() {
        assert!(parse(b"a: 1\n---\nb: 2\n", 1000).is_err());
        assert!(parse(b"a: [1, 2\n", 1000).is_err());
    }

    #[test]
    fn accept_picks_the_first_json_or_yaml_range() {
        let headers = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            h
        };
        assert!(wants_yaml(&headers("application/yaml")));
        assert!(wants_yaml(&headers("text/html, text/yaml;q=0.9")));
        assert!(!wants_yaml(&headers("application/json, application/yaml")));
        assert!(!wants_yaml(&headers("*/*")));
    }
}
