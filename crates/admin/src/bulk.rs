//! `_bulk`: many writes of one kind in one request, in Otoroshi's NDJSON
//! shape. The body is `application/x-ndjson`, one entity (POST, PUT),
//! `{"id", "patch"}` (PATCH) or `{"id"}` (DELETE) per line; the answer has one
//! line per input line, in order, each with its own status.
//!
//! Unlike Otoroshi's, a bulk is all or nothing: every line is checked as the
//! single write would check it, and only when all pass are they written, in
//! one atomic store batch and one state publish. When a line fails, nothing
//! is written: that line says why, and the valid ones say they were not
//! written (424). The store makes this cheap: it already applies a batch
//! atomically, with each line's condition (exists / does not exist).

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use model::Kind;
use serde_json::{Value, json};
use store::StoreError;

use crate::body::read_request_limited;
use crate::bulk_plan::{Outcome, Plan, plan};
use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};
use crate::ndjson;

/// Lines in one bulk; more is refused whole (413).
pub const MAX_LINES: usize = 1000;
/// Bytes in one line (an entity), and at most `admin.maxBodySize`.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How many times a bulk is checked again after a concurrent write broke
/// one of its conditions.
const ATTEMPTS: usize = 5;

/// What each line of a bulk does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOp {
    /// POST: each line is a new entity.
    Create,
    /// PUT: each line replaces the entity its id names.
    Replace,
    /// PATCH: each line is `{"id": ..., "patch": <JSON Patch or Merge Patch>}`.
    Patch,
    /// DELETE: each line is `{"id": ...}`.
    Delete,
}

pub async fn run(
    ctx: &AdminContext,
    kind: Kind,
    op: BulkOp,
    request: Request,
) -> AdminResult<Response> {
    check_content_type(op, request.headers())?;
    let limit = ctx.max_body_size;
    let bytes = read_request_limited(request, limit).await?;
    let lines = split_lines(&bytes, MAX_LINE_BYTES.min(limit))?;
    if lines.is_empty() {
        return Ok(ndjson::answer(StatusCode::OK, String::new()));
    }
    for _ in 0..ATTEMPTS {
        let Plan { ops, outcomes } = plan(ctx, kind, op, &lines).await?;
        if let Some(failed) = outcomes.iter().position(|o| !o.is_ok()) {
            return Ok(answer(kind, &outcomes, Some(failed + 1)));
        }
        match ctx.store.write(ops).await {
            // A concurrent write changed what the lines were checked
            // against (nothing of the batch was written): check again.
            Err(
                StoreError::Conflict { .. }
                | StoreError::AlreadyExists { .. }
                | StoreError::NotFound { .. },
            ) => continue,
            Err(e) => return Err(e.into()),
            Ok(revision) => {
                ctx.publisher.publish_up_to(revision).await?;
                return Ok(answer(kind, &outcomes, None));
            }
        }
    }
    Err(AdminError::Conflict(format!(
        "the {} of this bulk kept changing concurrently while it was checked; retry",
        kind.plural()
    )))
}

/// Otoroshi reads only `application/x-ndjson`; for DELETE, whose body some
/// clients cannot type, `X-Content-Type` may say it instead.
fn check_content_type(op: BulkOp, headers: &HeaderMap) -> AdminResult<()> {
    let names_ndjson = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(ndjson::is_ndjson)
    };
    if names_ndjson(header::CONTENT_TYPE.as_str())
        || (op == BulkOp::Delete && names_ndjson("X-Content-Type"))
    {
        return Ok(());
    }
    Err(AdminError::BadContentType(format!(
        "a bulk body must be sent with Content-Type: {}, one JSON document per line",
        ndjson::MEDIA_TYPE
    )))
}

/// The non-blank lines of the body (a trailing `\r` dropped), bounded in
/// count and length: over a bound, the whole bulk is refused before any
/// line is read.
fn split_lines(bytes: &[u8], max_line: usize) -> AdminResult<Vec<&[u8]>> {
    let mut lines = Vec::new();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > max_line {
            return Err(AdminError::TooLarge(format!(
                "line {} of the bulk has {} bytes; a line may have at most {max_line}",
                index + 1,
                line.len()
            )));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if lines.len() == MAX_LINES {
            return Err(AdminError::TooLarge(format!(
                "a bulk may have at most {MAX_LINES} lines; send the rest in another bulk"
            )));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// The NDJSON answer: 200 when every line was written; otherwise 400 and
/// nothing was written, `first_failed` (1-based, counting non-blank lines)
/// being the first line that failed.
fn answer(kind: Kind, outcomes: &[Outcome], first_failed: Option<usize>) -> Response {
    let id_field = kind.id_field();
    let lines: Vec<Value> = outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Written { status, verb, id } if first_failed.is_none() => {
                let mut line = serde_json::Map::new();
                line.insert("status".into(), json!(status));
                line.insert((*verb).into(), json!(true));
                line.insert("id".into(), json!(id));
                line.insert("id_field".into(), json!(id_field));
                Value::Object(line)
            }
            Outcome::Written { id, .. } => json!({
                "status": StatusCode::FAILED_DEPENDENCY.as_u16(),
                "error": "not_written",
                "error_description": format!(
                    "valid, but not written: line {} failed and a bulk is all or nothing",
                    first_failed.unwrap_or(0)
                ),
                "id": id,
                "id_field": id_field,
            }),
            Outcome::Failed { id, error } => {
                let mut line = error.body();
                line["status"] = json!(error.status().as_u16());
                if let Some(id) = id {
                    line["id"] = json!(id);
                    line["id_field"] = json!(id_field);
                }
                line
            }
        })
        .collect();
    let status = if first_failed.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    ndjson::answer(status, ndjson::lines(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_in_count_and_length() {
        let lines = split_lines(b"{}\r\n\n  \n{\"a\":1}", 100).unwrap_or_default();
        assert_eq!(lines, vec![&b"{}"[..], &b"{\"a\":1}"[..]]);
        let long = format!("{{}}\n{}\n", "x".repeat(101));
        assert!(matches!(
            split_lines(long.as_bytes(), 100),
            Err(AdminError::TooLarge(_))
        ));
        let many = "{}\n".repeat(MAX_LINES + 1);
        assert!(matches!(
            split_lines(many.as_bytes(), 100),
            Err(AdminError::TooLarge(_))
        ));
        let enough = "{}\n".repeat(MAX_LINES);
        assert_eq!(
            split_lines(enough.as_bytes(), 100).map(|l| l.len()).ok(),
            Some(MAX_LINES)
        );
    }

    #[test]
    fn only_ndjson_bodies_are_read() {
        let headers = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap_or(header::CONTENT_TYPE),
                axum::http::HeaderValue::from_str(value)
                    .unwrap_or(axum::http::HeaderValue::from_static("")),
            );
            h
        };
        let ndjson = headers("content-type", "application/x-ndjson");
        assert!(check_content_type(BulkOp::Create, &ndjson).is_ok());
        let json = headers("content-type", "application/json");
        assert!(matches!(
            check_content_type(BulkOp::Create, &json),
            Err(AdminError::BadContentType(_))
        ));
        let x = headers("x-content-type", "application/x-ndjson");
        assert!(check_content_type(BulkOp::Delete, &x).is_ok());
        assert!(check_content_type(BulkOp::Patch, &x).is_err());
    }
}
