//! `/.well-known/otoroshi/monitoring/metrics` (and the node API's
//! `/apis/cluster/node/metrics`): the figures of `/metrics`, as JSON by
//! default or as Prometheus text when the client asks for it, the way
//! Otoroshi chooses: `?format=json|prometheus|prom` first, else `Accept`.
//!
//! The JSON is read back from the Prometheus text the node renders, so both
//! answers always hold the same figures: an array of `{name, type, labels,
//! value}` (Otoroshi's JSON is an array of `{name, type, ...}` too).

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::context::AdminContext;
use crate::error::AdminError;

/// The content type of the Prometheus text exposition.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Where Otoroshi serves its metrics on every host.
pub const METRICS_PATH: &str = "/.well-known/otoroshi/monitoring/metrics";

/// `GET /.well-known/otoroshi/monitoring/metrics`, on any host. As in
/// Otoroshi, open unless an access key is configured (`metrics.accessKey`);
/// then it wants `?access_key=` (Otoroshi also reads `?X-Access-Key=`) or
/// an admin key.
pub async fn well_known(
    ctx: &AdminContext,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    method: &Method,
) -> Response {
    let expected = ctx.metrics_access_key.as_deref();
    if let Err(e) = check_access(expected, params, &ctx.state.load(), headers, method) {
        return e.into_response();
    }
    node(ctx, params, headers)
}

/// The keyless metrics path's check, shared with the worker's admin host:
/// nothing to check without an `expected` key; else `?access_key=` must
/// match it (in constant time) or the call carry an admin key of `state`.
pub fn check_access(
    expected: Option<&str>,
    params: &HashMap<String, String>,
    state: &model::State,
    headers: &HeaderMap,
    method: &Method,
) -> Result<(), AdminError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let by_key = params
        .get("access_key")
        .or_else(|| params.get("X-Access-Key"))
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())));
    if by_key || crate::auth::authorize(state, headers, method).is_ok() {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

/// The node's metrics in the format asked for (credentials already checked).
pub fn node(ctx: &AdminContext, params: &HashMap<String, String>, headers: &HeaderMap) -> Response {
    let prometheus = wants_prometheus(params.get("format").map(String::as_str), headers);
    answer((ctx.metrics)(), prometheus)
}

/// Whether the client gets Prometheus text rather than JSON.
pub fn wants_prometheus(format: Option<&str>, headers: &HeaderMap) -> bool {
    match format.map(str::to_ascii_lowercase).as_deref() {
        Some("prometheus" | "prom") => return true,
        Some(_) => return false,
        None => {}
    }
    let accept: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let names = |wanted: &[&str]| accept.iter().any(|m| wanted.contains(&m.as_str()));
    // A scraper's Accept (text/plain, openmetrics) gets text unless JSON is
    // named too; no Accept, */* or JSON gets JSON.
    names(&[
        "text/plain",
        "application/prometheus",
        "application/openmetrics-text",
    ]) && !names(&["application/json"])
}

/// The answer, in the format asked for, from the Prometheus `text`.
pub fn answer(text: String, prometheus: bool) -> Response {
    if prometheus {
        let mut response = text.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_TEXT),
        );
        response
    } else {
        Json(to_json(&text)).into_response()
    }
}

/// Each sample of a Prometheus text exposition as `{name, type, labels,
/// value}`; `type` in Otoroshi's plural words (`counters`, `gauges`,
/// `histograms`, `summaries`, else `untyped`). Lines it cannot read are
/// skipped: the text is the node's own.
pub fn to_json(text: &str) -> Value {
    let mut types: HashMap<&str, &'static str> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut words = declared.split_whitespace();
            if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                types.insert(name, plural(kind));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        samples.push(json!({
            "name": name,
            "type": family_type(&types, name),
            "labels": labels,
            "value": value,
        }));
    }
    Value::Array(samples)
}

fn plural(kind: &str) -> &'static str {
    match kind {
        "counter" => "counters",
        "gauge" => "gauges",
        "histogram" | "gaugehistogram" => "histograms",
        "summary" => "summaries",
        _ => "untyped",
    }
}

/// The type of the family a sample belongs to: a histogram's
/// `_bucket`/`_sum`/`_count` and a counter's `_total` name their family
/// without the suffix.
fn family_type(types: &HashMap<&str, &'static str>, name: &str) -> &'static str {
    if let Some(kind) = types.get(name) {
        return kind;
    }
    ["_bucket", "_sum", "_count", "_total", "_created", "_info"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find_map(|family| types.get(family).copied())
        .unwrap_or("untyped")
}

/// `name{a="x",b="y"} value [timestamp]`.
fn sample(line: &str) -> Option<(&str, Map<String, Value>, Value)> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line.get(..name_end)?;
    let mut rest = line.get(name_end..)?;
    let mut labels = Map::new();
    if let Some(inside) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inside)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value.parse::<f64>() {
        Ok(v) if v.is_finite() => json!(v),
        // JSON has no NaN or infinities: keep Prometheus' spelling.
        _ => json!(value),
    };
    Some((name, labels, value))
}

/// The labels up to the closing brace, and what follows it.
fn label_set(mut text: &str) -> Option<(Map<String, Value>, &str)> {
    let mut labels = Map::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = text.split_once("=\"")?;
        let (value, after) = quoted(after)?;
        labels.insert(key.trim().to_string(), Value::String(value));
        text = after;
    }
}

/// A label value up to its closing quote, with `\\`, `\"` and `\n` read.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, text.get(i + 1..)?)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP komainu_requests Requests.\n# TYPE komainu_requests counter\nkomainu_requests_total{route=\"r1\",status=\"200\"} 12\n# TYPE komainu_open gauge\nkomainu_open 3\n# TYPE komainu_latency histogram\nkomainu_latency_bucket{le=\"0.1\"} 4\nkomainu_latency_bucket{le=\"+Inf\"} 5\nkomainu_latency_sum 0.25\nweird{a=\"x\\\"y\\\\z\"} NaN\n# EOF\n";

    #[test]
    fn samples_keep_name_type_labels_and_value() {
        let json = to_json(TEXT);
        let all = json.as_array().unwrap();
        assert_eq!(all.len(), 6, "{json}");
        assert_eq!(all[0]["name"], "komainu_requests_total");
        assert_eq!(all[0]["type"], "counters");
        assert_eq!(all[0]["labels"]["route"], "r1");
        assert_eq!(all[0]["value"], 12.0);
        assert_eq!(all[1]["type"], "gauges");
        assert_eq!(all[2]["type"], "histograms");
        assert_eq!(all[3]["labels"]["le"], "+Inf");
        assert_eq!(all[4]["value"], 0.25);
        assert_eq!(all[5]["labels"]["a"], "x\"y\\z");
        assert_eq!(all[5]["value"], "NaN");
        assert_eq!(all[5]["type"], "untyped");
    }

    #[test]
    fn broken_lines_are_skipped() {
        let json = to_json("a{b=\"unterminated 1\nc 2\nd{e=\"f\"}\n");
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, vec!["c"]);
    }

    #[test]
    fn format_then_accept_decide() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            headers
        };
        assert!(!wants_prometheus(None, &HeaderMap::new()));
        assert!(wants_prometheus(None, &accept("text/plain")));
        assert!(wants_prometheus(
            None,
            &accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5,*/*;q=0.1")
        ));
        assert!(!wants_prometheus(
            None,
            &accept("application/json, text/plain")
        ));
        assert!(!wants_prometheus(None, &accept("*/*")));
        assert!(wants_prometheus(Some("prom"), &HeaderMap::new()));
        assert!(!wants_prometheus(Some("json"), &accept("text/plain")));
    }
}
