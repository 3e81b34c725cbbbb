//! The schema, as an ordered list of versioned migrations applied at
//! connect.
//!
//! `<root>.komainu_migrations` records each applied version. Connecting
//! applies the missing ones in a single transaction under a transaction-level
//! advisory lock keyed by the root, so nodes starting together on one
//! database take turns: the first creates everything, the others find it
//! done. A schema stamped with a version this binary does not know belongs
//! to a newer komainu, and is refused rather than used half-understood.
//!
//! Migrations are append-only: never edit a released one, add the next
//! version. `{schema}` in the text is replaced by the quoted schema name.

use tokio_postgres::Client;

use super::errors::{failed, unavailable};
use super::sql::{fnv1a, quote_ident};
use crate::StoreError;

pub(super) struct Migration {
    pub(super) version: i32,
    pub(super) name: &'static str,
    sql: &'static str,
}

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "entities, revision, counters",
        sql: INITIAL,
    },
    Migration {
        version: 2,
        name: "ephemeral records",
        sql: EPHEMERAL,
    },
];

/// Entities keep their bytes in `value`, exactly as the store was given them
/// (the contract is opaque bytes). `doc` is derived from it for people, not
/// for komainu: the value as JSONB when it is UTF-8 JSON, else NULL, so that
/// operators can query entities with SQL (`doc->>'name'`). The function
/// swallows every error by design: a value that is not JSON must still store.
const INITIAL: &str = r#"
CREATE FUNCTION {schema}.try_jsonb(value bytea) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN pg_catalog.convert_from(value, 'UTF8')::pg_catalog.jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

CREATE TABLE {schema}.entities (
    kind bytea NOT NULL,
    id bytea NOT NULL,
    value bytea NOT NULL,
    doc jsonb GENERATED ALWAYS AS ({schema}.try_jsonb(value)) STORED,
    PRIMARY KEY (kind, id)
);
COMMENT ON TABLE {schema}.entities IS
    'komainu configuration entities; kind and id are UTF-8 bytes, value is authoritative';
COMMENT ON COLUMN {schema}.entities.doc IS
    'value parsed as JSON for SQL queries (NULL when it is not JSON); read-only';

CREATE TABLE {schema}.revision (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    revision bigint NOT NULL CHECK (revision >= 0)
);
INSERT INTO {schema}.revision (revision) VALUES (0);
COMMENT ON TABLE {schema}.revision IS
    'bumped once per entity write batch; nodes LISTEN on <root>_changes for it';

CREATE TABLE {schema}.counters (
    key bytea PRIMARY KEY,
    value bigint NOT NULL,
    expires_at_ms bigint
);
CREATE INDEX counters_expiry ON {schema}.counters (expires_at_ms)
    WHERE expires_at_ms IS NOT NULL;
COMMENT ON TABLE {schema}.counters IS
    'quota counters; expires_at_ms is milliseconds since the Unix epoch';
"#;

/// Small records nodes share that expire by themselves (`put_ephemeral`):
/// keys are UTF-8 bytes, compared byte by byte as elsewhere.
const EPHEMERAL: &str = r#"
CREATE TABLE {schema}.ephemeral (
    key bytea PRIMARY KEY,
    value bytea NOT NULL,
    expires_at_ms bigint NOT NULL
);
CREATE INDEX ephemeral_expiry ON {schema}.ephemeral (expires_at_ms);
COMMENT ON TABLE {schema}.ephemeral IS
    'records nodes share with each other; expires_at_ms is milliseconds since the Unix epoch';
"#;

/// Brings the schema `root` up to the newest version this binary knows.
/// `target` names the server in errors.
pub(super) async fn run(client: &mut Client, root: &str, target: &str) -> Result<(), StoreError> {
    let schema = quote_ident(root);
    let fail = |doing: &str, error: tokio_postgres::Error| failed(target, doing, &error);
    let tx = client
        .transaction()
        .await
        .map_err(|error| fail("starting the migration", error))?;
    // Released by the commit (or the rollback if anything fails). The key
    // depends on the root only, so different roots migrate in parallel.
    // The hash's bits reinterpreted as the lock's bigint key.
    let hash = fnv1a(format!("komainu migrations {root}").as_bytes());
    let lock_key = i64::from_be_bytes(hash.to_be_bytes());
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .await
        .map_err(|error| fail("waiting for the migration lock", error))?;
    // Checked before creating: `CREATE SCHEMA IF NOT EXISTS` demands the
    // CREATE privilege on the database even when the schema is there, and a
    // DBA may have created it for a less privileged komainu user.
    let exists = tx
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&root])
        .await
        .map_err(|error| fail("looking for the schema", error))?
        .is_some();
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(|error| fail(&format!("creating schema {schema}"), error))?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.komainu_migrations (\
         version int PRIMARY KEY, \
         name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .await
    .map_err(|error| fail("creating the migrations table", error))?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.komainu_migrations"),
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| fail("reading the schema version", error))?;
    let known = MIGRATIONS.last().map_or(0, |migration| migration.version);
    if current > known {
        return Err(unavailable(format!(
            "{target}: schema {schema} is at version {current}, newer than the newest \
             this komainu knows ({known}): it was set up by a newer komainu; upgrade \
             this node or point it at another storage root"
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let doing = format!("migration {} ({})", migration.version, migration.name);
        tx.batch_execute(&migration.sql.replace("{schema}", &schema))
            .await
            .map_err(|error| fail(&doing, error))?;
        tx.execute(
            &format!("INSERT INTO {schema}.komainu_migrations (version, name) VALUES ($1, $2)"),
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(|error| fail(&doing, error))?;
    }
    tx.commit()
        .await
        .map_err(|error| fail("committing the migration", error))
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn versions_start_at_one_and_follow_each_other() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(migration.version).ok(), Some(index + 1));
        }
    }
}
