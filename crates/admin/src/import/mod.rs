//! `POST /api/otoroshi.json`: an export of komainu or of Otoroshi 16–17.
//!
//! - `routes`, `apiKeys`, `serviceGroups`, `certificates`, `config` are run:
//!   each kind present replaces that kind; every entity is validated, and
//!   one invalid entity refuses the whole import (`native`).
//! - `serviceDescriptors` are converted to routes as Otoroshi converts them;
//!   each one that cannot be run as its author meant is refused, with its
//!   reasons, and kept as written, while the rest imports (`descriptors`).
//!   Converted routes are written over stored routes of the same id.
//! - Every other section is kept verbatim and exported back (`kept`); a
//!   malformed or oversized one refuses the whole import.
//!
//! Everything is written in one atomic store batch: a refused import
//! changes nothing.

/// Stored backends a route refers to, made inline.
mod backend_ref;
/// A descriptor as a route, as Otoroshi converts it.
mod convert;
#[cfg(test)]
mod convert_tests;
/// The legacy descriptor fields the conversion reads.
mod descriptor;
/// The `serviceDescriptors` section, one descriptor at a time.
mod descriptors;
/// Sections kept as written.
pub mod kept;
/// The legacy API key rule as an ApikeyCalls plugin.
mod legacy_apikey;
/// Legacy features as plugins; the guards that refuse a descriptor.
mod legacy_plugins;
/// The kinds komainu runs.
mod native;
/// The OpenAPI schemas of the body and answer.
pub mod schema;

use axum::Json;
use model::ValidationErrors;
use serde_json::{Map, Value, json};

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};

/// Top-level keys of an Otoroshi export that carry no entities.
pub const DESCRIPTIVE_KEYS: [&str; 4] = ["label", "dateRaw", "date", "stats"];

pub async fn import(ctx: &AdminContext, body: Value) -> AdminResult<Json<Value>> {
    let Value::Object(doc) = body else {
        return Err(AdminError::BadRequest(
            "an export document must be a JSON object".into(),
        ));
    };
    if doc.len() > kept::MAX_SECTIONS {
        return Err(AdminError::TooLarge(format!(
            "the document has {} top-level sections, more than the limit of {}",
            doc.len(),
            kept::MAX_SECTIONS
        )));
    }
    let mut errors = Vec::new();
    let native = native::plan(&doc, &mut errors)?;
    // Asked now, answered after the validation errors, which come first.
    let admin_key = native::check_admin_key(&doc, &native);
    let mut sections = Vec::new();
    for (name, value) in doc {
        if DESCRIPTIVE_KEYS.contains(&name.as_str()) || native::is_native(&name) {
            continue;
        }
        sections.extend(kept::check(&name, value, &mut errors));
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }
    admin_key?;

    let mut ops = native.ops;
    let mut answer = Map::new();
    answer.insert("done".into(), json!(true));
    answer.insert("imported".into(), Value::Object(native.imported));
    answer.insert("renamed".into(), json!(native.renamed));
    answer.insert("inlined".into(), json!(native.inlined));
    let mut converted = Vec::new();
    let mut refused = Vec::new();
    let mut kept_summary = Map::new();
    let mut ignored = Map::new();
    for section in sections {
        if section.name == descriptors::SECTION {
            let items = section.value.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let outcome = descriptors::plan(items, &native.route_ids)?;
            ops.extend(outcome.ops);
            if !outcome.refused.is_empty() {
                ignored.insert(section.name.clone(), json!(outcome.refused.len()));
            }
            converted = outcome.converted;
            refused = outcome.refused;
            continue;
        }
        if let Value::Array(items) = &section.value
            && !items.is_empty()
        {
            ignored.insert(section.name.clone(), json!(items.len()));
        }
        kept_summary.insert(section.name.clone(), kept::summary(&section));
        ops.push(section.op()?);
    }
    answer.insert("converted".into(), json!(converted));
    answer.insert("kept".into(), Value::Object(kept_summary));
    answer.insert("refused".into(), json!(refused));
    // Kept but not run, per section: the sections above plus the refused
    // descriptors (the shape earlier versions answered).
    answer.insert("ignored".into(), Value::Object(ignored));

    let revision = ctx.store.write(ops).await?;
    ctx.publisher.publish_up_to(revision).await?;
    Ok(Json(Value::Object(answer)))
}
