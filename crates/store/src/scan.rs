use std::ops::ControlFlow;

use crate::{Store, StoreError};

/// Visits every entity of a kind in id order, `batch` at a time, until the
/// visitor breaks or the kind is exhausted: the paging loop every full read
/// of a kind needs, written once.
pub async fn scan_each<E: From<StoreError>>(
    store: &dyn Store,
    kind: &str,
    batch: usize,
    mut visit: impl FnMut(&str, &[u8]) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    let batch = batch.max(1);
    let mut after: Option<String> = None;
    loop {
        let page = store.scan(kind, after.as_deref(), batch).await?;
        for (id, bytes) in &page {
            if visit(id, bytes)?.is_break() {
                return Ok(());
            }
        }
        match page.last() {
            Some((id, _)) if page.len() == batch => after = Some(id.clone()),
            _ => return Ok(()),
        }
    }
}
