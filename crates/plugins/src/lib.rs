//! Route plugins with Otoroshi's ids and config shapes.
//!
//! This crate owns the plugin registry (one table: write-time validation,
//! `GET /api/plugins`, the OpenAPI document and the UI all read it), each
//! plugin's typed config and the steps it works in, and the [`Chain`] a
//! route's plugins are compiled into once per published state. It knows
//! HTTP heads, not the gateway's entities: what a plugin needs from the node
//! (API key checks, the HTTPS port) it asks through [`Services`].

/// The response body as body steps see and wrap it.
pub mod body;
/// A route's plugins compiled for the request path, step by step.
pub mod chain;
/// Typed configs from JSON, with the path of every bad field.
pub mod config;
/// What a plugin sees of a request or a response, and what it may answer.
pub mod context;
/// What `${...}` expressions read of a request.
pub mod facts;
/// The global config's maintenance mode and IP filtering.
pub mod gate;
/// Header map helpers shared with the node.
pub mod headers;
/// Numbers as header values, the small ones without an allocation.
pub mod numbers;
/// The table of every plugin komainu implements.
pub mod registry;
/// Rendering parsed expressions, and header values fixed or rendered.
pub mod render;
/// The steps of the request path a plugin may declare.
pub mod step;
/// `${...}` expressions in plugin values, parsed once.
pub mod template;
/// Times as plugins write them.
pub mod timestamp;

/// Accept-Encoding and its q-values, for the compressors.
mod accept_encoding;
/// `cp:otoroshi.next.plugins.AdditionalHeadersIn`
mod additional_headers_in;
/// `cp:otoroshi.next.plugins.AdditionalHeadersOut`
mod additional_headers_out;
/// `cp:otoroshi.next.plugins.AllowHttpMethods`
mod allow_http_methods;
/// `cp:otoroshi.next.plugins.ApikeyCalls`
pub mod apikey_calls;
/// `cp:otoroshi.next.plugins.BrotliResponseCompressor`
mod brotli_response_compressor;
/// What the gzip and brotli compressors share: config, decision, encoder.
mod compressor;
/// `cp:otoroshi.next.plugins.Cors`
mod cors;
/// `cp:otoroshi.next.plugins.ForceHttpsTraffic`
mod force_https_traffic;
/// `cp:otoroshi.next.plugins.GzipResponseCompressor`
mod gzip_response_compressor;
/// Shared by the header plugins: names and values checked once.
mod header_list;
/// `cp:otoroshi.next.plugins.HeadersValidation`
mod headers_validation;
/// `cp:otoroshi.next.plugins.IpAddressAllowedList`
mod ip_address_allowed_list;
/// `cp:otoroshi.next.plugins.IpAddressBlockList`
mod ip_address_block_list;
/// Shared by the IP list plugins: addresses, ranges and wildcards parsed once.
mod ip_list;
/// `cp:otoroshi.next.plugins.MaintenanceMode` and the answer it shares with BuildMode.
mod maintenance_mode;
/// Content-type masks of the compressors' allowed and blocked lists.
mod media_type;
/// `cp:otoroshi.next.plugins.MissingHeadersIn`
mod missing_headers_in;
/// `cp:otoroshi.next.plugins.MissingHeadersOut`
mod missing_headers_out;
/// `cp:otoroshi.next.plugins.OtoroshiHeadersIn`
pub mod otoroshi_headers_in;
/// `cp:otoroshi.next.plugins.OverrideHost`
mod override_host;
/// bcrypt checks off the async workers, bounded, and their memory.
mod password_checks;
/// `cp:otoroshi.next.plugins.ReadOnlyCalls`
mod read_only_calls;
/// `cp:otoroshi.next.plugins.Redirection`
mod redirection;
/// `cp:otoroshi.next.plugins.RemoveHeadersIn`
mod remove_headers_in;
/// `cp:otoroshi.next.plugins.RemoveHeadersOut`
mod remove_headers_out;
/// `cp:otoroshi.next.plugins.RequestBodyLengthLimiter`
mod request_body_length_limiter;
/// `cp:otoroshi.next.plugins.ResponseBodyLengthLimiter`
mod response_body_length_limiter;
/// `cp:otoroshi.next.plugins.Robots`
mod robots;
/// `cp:otoroshi.next.plugins.SecurityHeadersPlugin`
mod security_headers;
/// `cp:otoroshi.next.plugins.SendOtoroshiHeadersBack`
pub mod send_otoroshi_headers_back;
/// `cp:otoroshi.next.plugins.SimpleBasicAuth`
mod simple_basic_auth;
/// `cp:otoroshi.next.plugins.StaticResponse`
mod static_response;
/// `cp:otoroshi.next.plugins.XForwardedHeaders`
mod x_forwarded_headers;

pub use body::{BodyCtx, ResponseBody};
pub use chain::{Chain, Declared, Instance};
pub use config::ConfigError;
pub use context::{CallInfo, Flow, Latency, Pending, Plugin, RequestCtx, ResponseCtx, Services};
pub use facts::{KeyFacts, Lookup, RequestFacts};
pub use step::Step;
pub use template::{Needs, Reads, Template};
