//! The pages' script and style sheet, compiled into the binary so that the UI
//! needs no other server, CDN or network access. They are served with a
//! version in their URL (`?v=`), so browsers may cache them for good.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::UiError;

const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");

/// A digest of both files: it goes in their URLs, so a cached copy never
/// outlives a change.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(SCRIPT)
            .chain_update(STYLE)
            .finalize();
        hex::encode(&digest[..6])
    })
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, UiError> {
    let (body, kind) = match file.as_str() {
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(UiError::NotFound(format!("no asset named {file}"))),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
