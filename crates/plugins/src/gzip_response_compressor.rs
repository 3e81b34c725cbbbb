//! GzipResponseCompressor: the response body compressed with gzip as it
//! streams, for clients that accept `gzip`. The rules (content types,
//! excluded paths, what happens to the head) are in [`crate::compressor`].

use std::sync::Arc;

use serde_json::Value;

use crate::body::{BodyCtx, ResponseBody};
use crate::compressor::{Coding, Compressor, CompressorConfig};
use crate::config::{self, ConfigError};
use crate::context::Plugin;
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.GzipResponseCompressor",
    name: "Gzip compression",
    description: "Compresses response bodies with gzip as they stream, when the client accepts `gzip`, the content type is in `allowed_list` and not in `blocked_list`, the path matches no `excluded_patterns` and the response is not already encoded. Content-Length is removed, `Vary: Accept-Encoding` added and a strong ETag made weak. `compression_level` 0 to 9.",
    steps: &[Step::TransformResponseBody],
    build,
    default_config: config::defaults::<CompressorConfig>,
    config_schema: config::schema::<CompressorConfig>,
};

struct GzipResponseCompressor(Compressor);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    Ok(Arc::new(GzipResponseCompressor(Compressor::build(
        Coding::Gzip,
        value,
    )?)))
}

impl Plugin for GzipResponseCompressor {
    fn transform_response_body(
        &self,
        response: &mut BodyCtx<'_>,
        body: ResponseBody,
    ) -> ResponseBody {
        self.0.apply(response, body)
    }
}
