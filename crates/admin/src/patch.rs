//! PATCH bodies: an array is a JSON Patch (RFC 6902), an object a JSON Merge
//! Patch (RFC 7396), as Otoroshi's admin API decides.
//!
//! A JSON Patch is bounded: `copy` duplicates any part of the document, the
//! root included, so a few hundred bytes of operations can double it again
//! and again. Operations are counted, and each one is measured before it is
//! applied (bytes and nesting it may add); the patched document may not
//! exceed `admin.maxBodySize` (what a PUT may send) nor `MAX_DEPTH` levels.
//! The caller works on its own copy and writes nothing when this fails.

use std::io;

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use crate::error::AdminError;

/// Operations in one JSON Patch; far more than any editor sends.
pub const MAX_OPERATIONS: usize = 1000;
/// Nesting of the patched document (objects and arrays). serde_json reads
/// back at most 128 levels; entities need a handful.
pub const MAX_DEPTH: usize = 64;

pub fn apply(target: &mut Value, patch: Value, max_size: usize) -> Result<(), AdminError> {
    match patch {
        Value::Array(ops) => {
            if ops.len() > MAX_OPERATIONS {
                return Err(AdminError::BadRequest(format!(
                    "JSON Patch has {} operations; at most {MAX_OPERATIONS} are accepted",
                    ops.len()
                )));
            }
            let patch: Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| AdminError::BadRequest(format!("invalid JSON Patch document: {e}")))?;
            let mut bounds = Bounds::of(target, max_size)?;
            for op in &patch.0 {
                bounds.admit(target, op)?;
                json_patch::patch_unsafe(target, std::slice::from_ref(op))
                    .map_err(|e| AdminError::BadRequest(format!("JSON Patch failed: {e}")))?;
            }
            Ok(())
        }
        Value::Object(_) => {
            // A merge adds at most the body, which the body limit bounds;
            // the result is still checked once.
            json_patch::merge(target, &patch);
            Bounds::of(target, max_size).map(|_| ())
        }
        _ => Err(AdminError::BadRequest(
            "PATCH expects a JSON Patch array or a JSON Merge Patch object".into(),
        )),
    }
}

/// Upper bounds of the document's serialized size and depth while a patch
/// is applied: exact at the start, then raised by what each operation may
/// add (removals lower the size), so no operation re-measures the whole
/// document.
struct Bounds {
    size: usize,
    depth: usize,
    max_size: usize,
}

impl Bounds {
    fn of(doc: &Value, max_size: usize) -> Result<Self, AdminError> {
        let bounds = Bounds {
            size: size_of(doc),
            depth: depth_of(doc),
            max_size,
        };
        bounds.check()?;
        Ok(bounds)
    }

    /// Accounts for `op` before it runs; refuses it if the bounds would
    /// pass the limits.
    fn admit(&mut self, doc: &Value, op: &PatchOperation) -> Result<(), AdminError> {
        let at = |pointer: &str| doc.pointer(pointer);
        let (added, removed, placed) = match op {
            PatchOperation::Add(op) => (Some(&op.value), None, Some(&op.path)),
            PatchOperation::Replace(op) => (Some(&op.value), at(op.path.as_str()), Some(&op.path)),
            PatchOperation::Copy(op) => (at(op.from.as_str()), None, Some(&op.path)),
            // A move keeps the size (give or take the key) but may deepen.
            PatchOperation::Move(op) => {
                (at(op.from.as_str()), at(op.from.as_str()), Some(&op.path))
            }
            PatchOperation::Remove(op) => (None, at(op.path.as_str()), None),
            PatchOperation::Test(_) => (None, None, None),
        };
        if let (Some(value), Some(path)) = (added, placed) {
            // The key (escaped as JSON), a colon and a comma come with it.
            let key = path
                .tokens()
                .last()
                .map_or(0, |t| size_of(&Value::String(t.decoded().into_owned())) + 2);
            self.size = self.size.saturating_add(size_of(value) + key);
            self.depth = self.depth.max(path.count() + depth_of(value));
        }
        if let Some(value) = removed {
            self.size = self.size.saturating_sub(size_of(value));
        }
        self.check()
    }

    fn check(&self) -> Result<(), AdminError> {
        if self.size > self.max_size {
            return Err(AdminError::TooLarge(format!(
                "the patched document would exceed admin.maxBodySize ({} bytes)",
                self.max_size
            )));
        }
        if self.depth > MAX_DEPTH {
            return Err(AdminError::BadRequest(format!(
                "the patched document would exceed the nesting depth limit of {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }
}

/// Bytes of `value` serialized compactly, counted without allocating them.
fn size_of(value: &Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Levels of objects and arrays: 0 for a scalar. Values reach here parsed by
/// serde_json (at most 128 levels) or within `MAX_DEPTH`, so recursion is safe.
fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn doubling_the_root_stops_at_the_size_limit() {
        let mut doc = json!({"name": "x".repeat(100)});
        let ops: Vec<Value> = (0..30)
            .map(|n| json!({"op": "copy", "from": "", "path": format!("/a{n}")}))
            .collect();
        let err = apply(&mut doc, Value::Array(ops), 10_000).unwrap_err();
        assert!(matches!(err, AdminError::TooLarge(_)), "{err}");
        assert!(size_of(&doc) <= 10_000, "grew to {}", size_of(&doc));
    }

    #[test]
    fn removals_make_room_and_the_bound_stays_above_the_real_size() {
        let mut doc = json!({"a": "y".repeat(600)});
        let ops = json!([
            {"op": "copy", "from": "/a", "path": "/b"},
            {"op": "remove", "path": "/a"},
            {"op": "copy", "from": "/b", "path": "/c"},
            {"op": "remove", "path": "/b"},
            {"op": "move", "from": "/c", "path": "/d"},
        ]);
        apply(&mut doc, ops, 1_300).unwrap();
        assert_eq!(doc, json!({"d": "y".repeat(600)}));
    }

    #[test]
    fn depth_is_bounded() {
        let mut doc = json!({});
        let mut nested = json!(1);
        for _ in 0..MAX_DEPTH {
            nested = json!([nested]);
        }
        let err = apply(
            &mut doc,
            json!([{"op": "add", "path": "/x", "value": nested}]),
            1 << 20,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nesting depth"), "{err}");
    }
}
