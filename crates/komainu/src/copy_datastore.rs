//! `komainu copy-datastore`: moves a deployment's data from one datastore to
//! another (embedded → PostgreSQL, Redis → PostgreSQL, …). The source is the
//! datastore the node's configuration names; the target is the same
//! configuration with the `--to KEY=VALUE` overrides applied, so every
//! datastore key, check and error message is the one `run` uses.
//!
//! Meant for a stopped deployment: entities go over in one atomic batch, but
//! the source is read kind by kind, so writes made during the copy may be
//! missed.

use std::ops::ControlFlow;
use std::sync::Arc;

use anyhow::{Context, bail};
use config::{Config, Storage};
use model::Kind;
use store::{Increment, Op, Store, StoreError};

use crate::store_node::open_store;

/// Entities and counters read per call.
const PAGE: usize = 1000;

/// What a copy moved, for the summary line.
#[derive(Debug, Default)]
pub struct Copied {
    pub entities: Vec<(Kind, usize)>,
    /// Records besides the entity kinds, by store kind: the admin UI's
    /// (admin users, the session key) and the admin API's (the Otoroshi
    /// sections an import keeps).
    pub ui: Vec<(&'static str, usize)>,
    pub counters: usize,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, count) in &self.entities {
            write!(f, "{count} {}, ", kind.plural())?;
        }
        for (kind, count) in &self.ui {
            write!(f, "{count} {kind}, ")?;
        }
        write!(f, "{} counters", self.counters)
    }
}

/// Copies every entity and live counter of `source`'s datastore into
/// `target`'s. A target that already holds entities is refused unless
/// `replace`, which empties the copied kinds first (in the same batch).
pub async fn copy(source: &Config, target: &Config, replace: bool) -> anyhow::Result<Copied> {
    if describe(source) == describe(target) {
        bail!(
            "the source and the target are the same datastore ({}); give the target with --to KEY=VALUE, e.g. --to app.storage=postgresql",
            describe(source)
        );
    }
    let from = open_store(source).await.context("opening the source")?;
    let to = open_store(target).await.context("opening the target")?;
    if !replace {
        refuse_non_empty(to.as_ref(), target).await?;
    }
    let mut copied = Copied::default();
    let mut ops = Vec::new();
    for kind in Kind::ALL {
        let count = copy_kind(from.as_ref(), kind.store_key(), replace, &mut ops).await?;
        copied.entities.push((kind, count));
    }
    // Admin users and the UI's session key are not entity kinds but belong
    // to the deployment all the same: without them the target would start
    // with a new random admin password and sign everyone out; nor would the
    // kept sections of an Otoroshi import come back in its export.
    for kind in ui::STORED_KINDS.into_iter().chain(admin::STORED_KINDS) {
        let count = copy_kind(from.as_ref(), kind, replace, &mut ops).await?;
        copied.ui.push((kind, count));
    }
    to.write(ops)
        .await
        .context("writing entities to the target")?;
    copied.counters = copy_counters(&from, &to).await?;
    Ok(copied)
}

/// Adds to `ops` a put of every record of `kind` in `from` (after emptying
/// that kind when `replace`); returns how many.
async fn copy_kind(
    from: &dyn Store,
    kind: &str,
    replace: bool,
    ops: &mut Vec<Op>,
) -> anyhow::Result<usize> {
    if replace {
        ops.push(Op::DeleteKind {
            kind: kind.to_owned(),
        });
    }
    let before = ops.len();
    store::scan_each::<StoreError>(from, kind, PAGE, |id, bytes| {
        ops.push(Op::Put {
            kind: kind.to_owned(),
            id: id.to_owned(),
            value: bytes.to_vec(),
            condition: store::Condition::Any,
        });
        Ok(ControlFlow::Continue(()))
    })
    .await
    .context("reading the source")?;
    Ok(ops.len() - before)
}

/// Counters (quota windows, batch markers) keep their values and expiries:
/// a daily quota half used stays half used on the new datastore.
async fn copy_counters(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<usize> {
    let mut after: Option<String> = None;
    let mut total = 0;
    loop {
        let page = from
            .scan_counters("", after.as_deref(), PAGE)
            .await
            .context("reading the source's counters")?;
        let keys: Vec<String> = page.iter().map(|(key, _)| key.clone()).collect();
        let increments: Vec<Increment> = page
            .iter()
            .map(|(key, counter)| Increment {
                key: key.clone(),
                by: counter.value,
                expires_at_ms: counter.expires_at_ms,
            })
            .collect();
        // Reset first so the target ends with the source's values, not sums.
        to.reset_counters(&keys)
            .await
            .context("writing counters to the target")?;
        to.incr_batch(None, &increments)
            .await
            .context("writing counters to the target")?;
        total += page.len();
        match page.last() {
            Some((key, _)) if page.len() == PAGE => after = Some(key.clone()),
            _ => return Ok(total),
        }
    }
}

async fn refuse_non_empty(to: &dyn Store, target: &Config) -> anyhow::Result<()> {
    let mut held = Vec::new();
    for kind in Kind::ALL {
        let count = to
            .count(kind.store_key())
            .await
            .context("reading the target")?;
        if count > 0 {
            held.push(format!("{count} {}", kind.plural()));
        }
    }
    if !held.is_empty() {
        bail!(
            "the target datastore ({}) already holds {}; nothing was copied. Pass --replace to overwrite those kinds with the source's",
            describe(target),
            held.join(", ")
        );
    }
    Ok(())
}

/// A datastore's identity for messages and the same-store check; passwords
/// masked.
fn describe(config: &Config) -> String {
    let app = &config.app;
    match app.storage {
        Storage::Embedded => format!("embedded in {}", app.data_dir.display()),
        Storage::InMemory => "inmemory".to_owned(),
        Storage::Redis => {
            let at = match &app.redis_topology {
                config::RedisTopology::Standalone => config::mask_password(&app.redis_url),
                config::RedisTopology::Sentinel {
                    master, members, ..
                } => format!("master {master} of sentinels {}", members.join(",")),
                config::RedisTopology::Cluster { members } => {
                    format!("cluster {}", members.join(","))
                }
            };
            format!("redis at {at} under {}", app.storage_root)
        }
        Storage::Postgresql => format!(
            "postgresql at {} in schema {}",
            config::mask_password(&app.pg_uri),
            app.storage_root
        ),
    }
}

/// One line for the terminal once the copy is done.
pub fn summary(source: &Config, target: &Config, copied: &Copied) -> String {
    format!(
        "copied {copied} from {} to {}",
        describe(source),
        describe(target)
    )
}
