//! Every statement the store runs, written once per store with its schema
//! (`settings.root`) spelled in, so that call sites only pick one and bind
//! parameters. Each carries its parameter types, so that it is sent unnamed
//! in one round trip (`typed`): nothing stays prepared on a connection.
//!
//! Kinds, ids and counter keys are `bytea`: Rust strings may hold NUL, which
//! `text` cannot, and `bytea` compares byte by byte, which is the order of
//! Rust's `str` and of the other backends, whatever the database collation.

use tokio_postgres::types::Type;

use super::typed::Sql;

const BYTEA: Type = Type::BYTEA;
const BYTEA_ARRAY: Type = Type::BYTEA_ARRAY;
const INT8: Type = Type::INT8;
const TEXT: Type = Type::TEXT;

/// `"name"`, safe inside any statement. Roots are already restricted to
/// letters, digits and `_` (`valid_root`); quoting keeps their case and any
/// clash with a keyword harmless.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The NOTIFY channel of a root: `<root>_changes`. A channel is an
/// identifier (63 bytes at most, longer ones are cut, and `pg_notify`
/// refuses them), so a long root keeps its first 46 bytes and appends a
/// hash of the whole root instead: two roots never share a channel.
pub(super) fn channel(root: &str) -> String {
    let plain = format!("{root}_changes");
    if plain.len() <= 63 {
        return plain;
    }
    // Roots are ASCII (`valid_root`), so any byte index is a char boundary.
    let head = root.get(..46).unwrap_or(root);
    format!("{head}_{:016x}", fnv1a(root.as_bytes()))
}

/// FNV-1a, 64 bits: a stable hash (unlike `DefaultHasher`), since nodes
/// running different builds must agree on channel names and lock keys.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) struct Statements {
    pub(super) get: Sql,
    pub(super) scan: Sql,
    pub(super) count: Sql,
    pub(super) revision: Sql,
    /// Taken first by every write: it serializes writers (on every node), so
    /// revisions are handed out gap-free and in commit order.
    pub(super) lock_revision: Sql,
    pub(super) bump_revision: Sql,
    pub(super) notify: Sql,
    pub(super) put_any: Sql,
    /// Affects no row when the entity exists.
    pub(super) put_new: Sql,
    /// Affects no row when the entity is missing.
    pub(super) put_existing: Sql,
    pub(super) delete: Sql,
    pub(super) delete_kind: Sql,
    pub(super) expect: Sql,
    pub(super) incr: Sql,
    pub(super) claim_marker: Sql,
    pub(super) counters: Sql,
    pub(super) scan_counters: Sql,
    pub(super) reset_counters: Sql,
    pub(super) sweep_counters: Sql,
    pub(super) put_ephemeral: Sql,
    pub(super) scan_ephemeral: Sql,
    pub(super) sweep_ephemeral: Sql,
}

/// The statements' text, before their parameter types are attached.
struct Texts {
    get: String,
    scan: String,
    count: String,
    revision: String,
    /// Taken first by every write: it serializes writers (on every node), so
    /// revisions are handed out gap-free and in commit order.
    lock_revision: String,
    bump_revision: String,
    notify: String,
    put_any: String,
    /// Affects no row when the entity exists.
    put_new: String,
    /// Affects no row when the entity is missing.
    put_existing: String,
    delete: String,
    delete_kind: String,
    expect: String,
    incr: String,
    claim_marker: String,
    counters: String,
    scan_counters: String,
    reset_counters: String,
    sweep_counters: String,
    put_ephemeral: String,
    scan_ephemeral: String,
    sweep_ephemeral: String,
}

impl Statements {
    pub(super) fn new(root: &str) -> Self {
        let texts = Texts::new(root);
        Self {
            get: Sql::new(texts.get, &[BYTEA, BYTEA]),
            scan: Sql::new(texts.scan, &[BYTEA, BYTEA, INT8]),
            count: Sql::new(texts.count, &[BYTEA]),
            revision: Sql::new(texts.revision, &[]),
            lock_revision: Sql::new(texts.lock_revision, &[]),
            bump_revision: Sql::new(texts.bump_revision, &[]),
            notify: Sql::new(texts.notify, &[TEXT, TEXT]),
            put_any: Sql::new(texts.put_any, &[BYTEA, BYTEA, BYTEA]),
            put_new: Sql::new(texts.put_new, &[BYTEA, BYTEA, BYTEA]),
            put_existing: Sql::new(texts.put_existing, &[BYTEA, BYTEA, BYTEA]),
            delete: Sql::new(texts.delete, &[BYTEA, BYTEA]),
            delete_kind: Sql::new(texts.delete_kind, &[BYTEA]),
            expect: Sql::new(texts.expect, &[BYTEA, BYTEA, BYTEA]),
            incr: Sql::new(texts.incr, &[BYTEA, INT8, INT8, INT8]),
            claim_marker: Sql::new(texts.claim_marker, &[BYTEA, INT8, INT8]),
            counters: Sql::new(texts.counters, &[BYTEA_ARRAY]),
            scan_counters: Sql::new(texts.scan_counters, &[BYTEA, BYTEA, INT8, INT8]),
            reset_counters: Sql::new(texts.reset_counters, &[BYTEA_ARRAY]),
            sweep_counters: Sql::new(texts.sweep_counters, &[INT8, INT8]),
            put_ephemeral: Sql::new(texts.put_ephemeral, &[BYTEA, BYTEA, INT8]),
            scan_ephemeral: Sql::new(texts.scan_ephemeral, &[BYTEA, BYTEA, INT8, INT8]),
            sweep_ephemeral: Sql::new(texts.sweep_ephemeral, &[INT8, INT8]),
        }
    }
}

impl Texts {
    fn new(root: &str) -> Self {
        let schema = quote_ident(root);
        let entities = format!("{schema}.entities");
        let revision = format!("{schema}.revision");
        let counters = format!("{schema}.counters");
        let ephemeral = format!("{schema}.ephemeral");
        Self {
            get: format!("SELECT value FROM {entities} WHERE kind = $1 AND id = $2"),
            // `$2` is an inclusive lower bound: "" for the first page, the
            // last id plus a NUL byte (its immediate successor) after it.
            scan: format!(
                "SELECT id, value FROM {entities} WHERE kind = $1 AND id >= $2 \
                 ORDER BY id LIMIT $3"
            ),
            count: format!("SELECT count(*) FROM {entities} WHERE kind = $1"),
            revision: format!("SELECT revision FROM {revision}"),
            lock_revision: format!("SELECT revision FROM {revision} FOR UPDATE"),
            bump_revision: format!(
                "UPDATE {revision} SET revision = revision + 1 RETURNING revision"
            ),
            // Delivered to listeners only when (and if) the transaction commits.
            notify: "SELECT pg_notify($1, $2)".to_owned(),
            put_any: format!(
                "INSERT INTO {entities} (kind, id, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value"
            ),
            put_new: format!(
                "INSERT INTO {entities} (kind, id, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO NOTHING"
            ),
            put_existing: format!("UPDATE {entities} SET value = $3 WHERE kind = $1 AND id = $2"),
            delete: format!("DELETE FROM {entities} WHERE kind = $1 AND id = $2"),
            delete_kind: format!("DELETE FROM {entities} WHERE kind = $1"),
            expect: format!("SELECT 1 FROM {entities} WHERE kind = $1 AND id = $2 AND value = $3"),
            // One statement, so concurrent increments of a key (from any
            // node) queue on its row lock and none is lost. `$4` is the
            // node's clock: an expiry at or before it is over and the
            // counter restarts with the caller's value and expiry; a live
            // counter keeps its expiry and adds, saturating at the bigint
            // bounds (PostgreSQL raises on overflow, numeric does not).
            incr: format!(
                "INSERT INTO {counters} AS c (key, value, expires_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET \
                 value = CASE WHEN c.expires_at_ms <= $4 THEN excluded.value \
                 ELSE LEAST(GREATEST(c.value::numeric + excluded.value, \
                 -9223372036854775808), 9223372036854775807)::bigint END, \
                 expires_at_ms = CASE WHEN c.expires_at_ms <= $4 \
                 THEN excluded.expires_at_ms ELSE c.expires_at_ms END \
                 RETURNING value"
            ),
            // Returns a row only when it set the marker: created, or found
            // expired at `$3`. A live marker is left alone and no row comes
            // back. The row lock an upsert takes makes this race-free: a
            // concurrent claim of the same key waits for the first to commit,
            // then finds it live.
            claim_marker: format!(
                "INSERT INTO {counters} AS c (key, value, expires_at_ms) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = 1, expires_at_ms = excluded.expires_at_ms \
                 WHERE c.expires_at_ms <= $3 \
                 RETURNING true"
            ),
            counters: format!(
                "SELECT key, value, expires_at_ms FROM {counters} WHERE key = ANY($1)"
            ),
            // `$1` inclusive lower bound, `$2` exclusive upper bound (the end
            // of the prefix range), `$3` now: expired counters are skipped
            // inside the query so they never shorten a page.
            scan_counters: format!(
                "SELECT key, value, expires_at_ms FROM {counters} \
                 WHERE key >= $1 AND key < $2 \
                 AND (expires_at_ms IS NULL OR expires_at_ms > $3) \
                 ORDER BY key LIMIT $4"
            ),
            reset_counters: format!("DELETE FROM {counters} WHERE key = ANY($1)"),
            // A bounded batch: a backlog never makes one huge statement.
            // Rows an increment holds are skipped (it may be reviving them),
            // and the expiry is checked again on the locked row, so a counter
            // restarted with a new window in the meantime stays.
            sweep_counters: format!(
                "WITH due AS (SELECT key FROM {counters} WHERE expires_at_ms <= $1 \
                 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM {counters} AS c USING due \
                 WHERE c.key = due.key AND c.expires_at_ms <= $1"
            ),
            put_ephemeral: format!(
                "INSERT INTO {ephemeral} (key, value, expires_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 expires_at_ms = excluded.expires_at_ms"
            ),
            // `$1` inclusive lower bound (the prefix), `$2` exclusive upper
            // bound (the end of the prefix range), `$3` now.
            scan_ephemeral: format!(
                "SELECT key, value FROM {ephemeral} \
                 WHERE key >= $1 AND key < $2 AND expires_at_ms > $3 \
                 ORDER BY key LIMIT $4"
            ),
            // Bounded like `sweep_counters`; rows a put holds are skipped,
            // and the expiry is checked again on the locked row.
            sweep_ephemeral: format!(
                "WITH due AS (SELECT key FROM {ephemeral} WHERE expires_at_ms <= $1 \
                 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM {ephemeral} AS e USING due \
                 WHERE e.key = due.key AND e.expires_at_ms <= $1"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_fit_an_identifier_and_stay_apart() {
        assert_eq!(channel("komainu"), "komainu_changes");
        let long_a = "a".repeat(63);
        let mut long_b = "a".repeat(62);
        long_b.push('b');
        assert_eq!(channel(&long_a).len(), 63);
        assert_ne!(channel(&long_a), channel(&long_b));
        assert_eq!(
            channel(&"x".repeat(55)),
            format!("{}_changes", "x".repeat(55))
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("Root_1"), "\"Root_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
