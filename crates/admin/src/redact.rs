//! What a read-only caller may not read: the secrets of admin keys (with one
//! it could sign in as a writer) and the cluster state, which holds every
//! secret. A read-only admin may still see other keys' secrets: showing
//! them to the people who manage them is what the key pages are for.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use model::apikey::ADMIN_API_GROUP;
use serde_json::Value;

use crate::error::AdminError;

pub const HIDDEN: &str = "********";

/// Paths whose answers hold API keys.
fn holds_keys(path: &str) -> bool {
    path.starts_with("/api/apikeys")
        || path.starts_with("/apis/apim.otoroshi.io/")
        || path == "/api/otoroshi.json"
}

/// Refused outright for read-only callers.
pub fn forbidden_to_readers(path: &str) -> bool {
    path == "/api/cluster/state"
}

fn is_admin_key(key: &Value) -> bool {
    let admin = format!("group_{ADMIN_API_GROUP}");
    key.get("authorizedEntities")
        .and_then(Value::as_array)
        .is_some_and(|entities| entities.iter().any(|e| e.as_str() == Some(&admin)))
}

fn hide_in_key(key: &mut Value) {
    if is_admin_key(key)
        && let Some(secret) = key.get_mut("clientSecret")
    {
        *secret = Value::String(HIDDEN.to_string());
    }
}

/// Hides admin keys' secrets in a key, a list of keys or a full export.
pub fn hide_admin_secrets(value: &mut Value) {
    match value {
        Value::Array(keys) => keys.iter_mut().for_each(hide_in_key),
        Value::Object(object) => match object.get_mut("apiKeys") {
            Some(Value::Array(keys)) => keys.iter_mut().for_each(hide_in_key),
            _ => hide_in_key(value),
        },
        _ => {}
    }
}

/// The answer of a read-only caller's request, with admin secrets hidden.
pub async fn for_reader(method: &Method, path: &str, response: Response) -> Response {
    if method != Method::GET || !holds_keys(path) || response.status() != StatusCode::OK {
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
    hide_admin_secrets(&mut value);
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
    fn only_admin_keys_lose_their_secret() {
        let admin = json!({"clientId": "a", "clientSecret": "s", "authorizedEntities": ["group_admin-api-group"]});
        let plain =
            json!({"clientId": "b", "clientSecret": "t", "authorizedEntities": ["group_default"]});
        let mut list = json!([admin.clone(), plain.clone()]);
        hide_admin_secrets(&mut list);
        assert_eq!(list[0]["clientSecret"], HIDDEN);
        assert_eq!(list[1]["clientSecret"], "t");
        let mut export = json!({"apiKeys": [admin.clone()], "routes": []});
        hide_admin_secrets(&mut export);
        assert_eq!(export["apiKeys"][0]["clientSecret"], HIDDEN);
        let mut one = admin;
        hide_admin_secrets(&mut one);
        assert_eq!(one["clientSecret"], HIDDEN);
    }
}
