//! Reading a JSON or YAML body with a size limit, so that an oversized or
//! malformed body is a clean 413 or 400 in our JSON error shape (axum's own
//! rejections answer in plain text). YAML (by `Content-Type`) is read into
//! the same JSON value, bounded like the body (see `yaml`).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::context::AdminContext;
use crate::error::AdminError;

pub struct JsonBody(pub Value);

impl FromRequest<AdminContext> for JsonBody {
    type Rejection = AdminError;

    async fn from_request(request: Request, ctx: &AdminContext) -> Result<Self, Self::Rejection> {
        let limit = ctx.max_body_size;
        let yaml = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::yaml::is_yaml);
        let bytes = read_request_limited(request, limit).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AdminError::BadRequest(format!(
                "request body is empty: a {} document is expected",
                if yaml { "YAML" } else { "JSON" }
            )));
        }
        if yaml {
            return crate::yaml::parse(&bytes, limit).map(JsonBody);
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AdminError::BadRequest(format!("malformed JSON: {e}")))
    }
}

/// The body of `request`, refused (413) at once when its declared
/// `Content-Length` is over `limit`, and as soon as it passes it otherwise.
pub(crate) async fn read_request_limited(
    request: Request,
    limit: usize,
) -> Result<bytes::Bytes, AdminError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(AdminError::PayloadTooLarge { limit });
    }
    read_limited(request.into_body(), limit).await
}

async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, AdminError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(AdminError::PayloadTooLarge { limit })
        }
        Err(e) => Err(AdminError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}
