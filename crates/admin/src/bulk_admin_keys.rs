//! The last usable admin key must survive a bulk, as it must survive a single
//! write (see `entities::admin_key_guard`): here for the whole batch at once.
//! When the batch disables or deletes usable admin keys and writes no usable
//! one itself, another stored key must remain; the batch then carries an
//! `Op::Expect` of that key as read, so a concurrent change of it fails the
//! batch (which is checked again) instead of slipping past.

use std::collections::HashMap;
use std::ops::ControlFlow;

use model::Kind;
use model::apikey::ApiKey;
use serde_json::Value;
use store::Op;

use crate::context::AdminContext;
use crate::error::{AdminError, AdminResult};

/// Why a bulk would leave no usable admin key, and the keys it takes away.
pub struct Refusal {
    pub ids: Vec<String>,
    pub message: String,
}

/// `stored`: each key the bulk read, as stored before it; `written`: each
/// key it writes (`None`: deleted). Ok(the expectation the batch must
/// carry), or the refusal.
pub async fn guard(
    ctx: &AdminContext,
    stored: &HashMap<String, Option<Value>>,
    written: &HashMap<String, Option<Value>>,
) -> AdminResult<Result<Option<Op>, Refusal>> {
    let now = crate::now_ms();
    let usable = |value: &Value| {
        serde_json::from_value::<ApiKey>(value.clone()).is_ok_and(|k| k.can_administer(now))
    };
    let mut lost: Vec<String> = written
        .iter()
        .filter(|(id, after)| {
            let was = stored.get(*id).and_then(Option::as_ref).is_some_and(usable);
            was && !after.as_ref().is_some_and(usable)
        })
        .map(|(id, _)| id.clone())
        .collect();
    let writes_one = written.values().flatten().any(usable);
    if lost.is_empty() || writes_one {
        return Ok(Ok(None));
    }
    let store_key = Kind::ApiKey.store_key();
    let mut survivor = None;
    store::scan_each(ctx.store.as_ref(), store_key, 500, |id, bytes| {
        let kept = !written.contains_key(id);
        let is_usable =
            serde_json::from_slice::<ApiKey>(bytes).is_ok_and(|k| k.can_administer(now));
        if kept && is_usable {
            survivor = Some((id.to_string(), bytes.to_vec()));
            return Ok::<_, AdminError>(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    match survivor {
        Some((id, value)) => Ok(Ok(Some(Op::Expect {
            kind: store_key.into(),
            id,
            value,
        }))),
        None => {
            lost.sort();
            Ok(Err(Refusal {
                message: format!(
                    "this bulk would leave no enabled read-write admin API key (it removes or restricts {}); keep or create another",
                    lost.join(", ")
                ),
                ids: lost,
            }))
        }
    }
}
