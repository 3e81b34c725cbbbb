//! `GET /api/otoroshi.json`: the full export in Otoroshi's layout: the kinds
//! komainu runs, then the sections of an imported Otoroshi export that it
//! keeps without running (see `import`), as they came.

use axum::Json;
use model::Kind;
use serde_json::{Map, Value, json};

use crate::context::AdminContext;
use crate::entities;
use crate::error::AdminResult;
use crate::import::kept;

pub async fn export(ctx: &AdminContext) -> AdminResult<Json<Value>> {
    let mut doc = Map::new();
    doc.insert("label".into(), json!("Otoroshi export"));
    doc.insert("dateRaw".into(), json!(crate::now_ms()));
    doc.insert(
        "stats".into(),
        json!({"calls": 0, "dataIn": 0, "dataOut": 0}),
    );
    for kind in Kind::ALL {
        let value = if kind == Kind::GlobalConfig {
            entities::load(ctx, kind, model::global_config::GLOBAL_ID).await?
        } else {
            Value::Array(entities::list_stored(ctx, kind).await?)
        };
        doc.insert(kind.export_key().into(), value);
    }
    for (name, section) in kept::load(ctx).await? {
        // A kept section never shadows a kind komainu runs.
        if !doc.contains_key(&name) {
            doc.insert(name, section);
        }
    }
    Ok(Json(Value::Object(doc)))
}
