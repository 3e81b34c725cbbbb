//! What a read-only caller may not read: any secret. Every JSON answer it
//! gets has the values of secret fields (API key secrets, private keys)
//! replaced by the mask, whatever the path, so a new endpoint cannot leak
//! one by forgetting to ask; and the cluster state, which is made of
//! secrets, is refused outright. The mask is refused as a secret on writes
//! (`model::secret`), so a reader's export posted back changes no secret.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use model::secret::{MASK, SECRET_FIELDS};
use serde_json::Value;

use crate::error::AdminError;

/// Refused outright for read-only callers.
pub fn forbidden_to_readers(path: &str) -> bool {
    path == "/api/cluster/state"
}

/// Replaces every non-empty secret value in `value`, at any depth.
pub fn hide_secrets(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(hide_secrets),
        Value::Object(object) => {
            for (name, field) in object.iter_mut() {
                match field {
                    Value::String(secret)
                        if !secret.is_empty() && SECRET_FIELDS.contains(&name.as_str()) =>
                    {
                        *secret = MASK.to_string();
                    }
                    other => hide_secrets(other),
                }
            }
        }
        _ => {}
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The answer of a read-only caller's request, with admin secrets hidden.
/// Streams (SSE) and other media types carry no entities and pass as they are.
pub async fn for_reader(method: &Method, response: Response) -> Response {
    if method != Method::GET || response.status() != StatusCode::OK || !is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return AdminError::Internal(format!("reading an answer: {e}")).into_response(),
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    hide_secrets(&mut value);
    let text = value.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_secret_is_hidden_at_any_depth() {
        let admin = json!({"clientId": "a", "clientSecret": "s", "authorizedEntities": ["group_admin-api-group"]});
        let plain =
            json!({"clientId": "b", "clientSecret": "t", "authorizedEntities": ["group_default"]});
        let mut list = json!([admin.clone(), plain.clone()]);
        hide_secrets(&mut list);
        assert_eq!(list[0]["clientSecret"], MASK);
        assert_eq!(list[1]["clientSecret"], MASK);
        assert_eq!(list[1]["clientId"], "b");
        let mut export = json!({"apiKeys": [admin], "certificates": [{"id": "c", "privateKey": "-----BEGIN", "chain": "x"}], "x": {"deep": [{"privateKey": "k"}]}});
        hide_secrets(&mut export);
        assert_eq!(export["apiKeys"][0]["clientSecret"], MASK);
        assert_eq!(export["certificates"][0]["privateKey"], MASK);
        assert_eq!(export["certificates"][0]["chain"], "x");
        assert_eq!(export["x"]["deep"][0]["privateKey"], MASK);
        // An empty secret (a template) stays empty: nothing to hide.
        let mut template = json!({"clientSecret": ""});
        hide_secrets(&mut template);
        assert_eq!(template["clientSecret"], "");
    }
}
