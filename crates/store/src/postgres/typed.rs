//! Statements sent with their parameter types, unnamed and in one round
//! trip (`query_typed`), instead of prepared once per connection and kept.
//!
//! Nothing is left on the server connection between calls, so the store
//! works through a pooler that hands each transaction to whichever server
//! connection is free (PgBouncer's `pool_mode = transaction`), where a
//! statement prepared by one call is gone for the next.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, GenericClient, Row};

/// A statement's text and the types of its `$n` parameters, in order.
pub(super) struct Sql {
    pub(super) text: String,
    types: &'static [Type],
}

impl Sql {
    pub(super) fn new(text: impl Into<String>, types: &'static [Type]) -> Self {
        Self {
            text: text.into(),
            types,
        }
    }

    /// The parameters paired with their types. A count that does not match
    /// is the server's to refuse, as it would refuse a prepared statement.
    fn bind<'a>(&self, params: &[&'a (dyn ToSql + Sync)]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
        params
            .iter()
            .zip(self.types.iter())
            .map(|(param, kind)| (*param, kind.clone()))
            .collect()
    }
}

pub(super) async fn query(
    client: &(impl GenericClient + Sync),
    sql: &Sql,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Error> {
    client.query_typed(&sql.text, &sql.bind(params)).await
}

pub(super) async fn query_one(
    client: &(impl GenericClient + Sync),
    sql: &Sql,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, Error> {
    client.query_typed_one(&sql.text, &sql.bind(params)).await
}

pub(super) async fn query_opt(
    client: &(impl GenericClient + Sync),
    sql: &Sql,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, Error> {
    client.query_typed_opt(&sql.text, &sql.bind(params)).await
}

/// The number of rows the statement changed.
pub(super) async fn execute(
    client: &(impl GenericClient + Sync),
    sql: &Sql,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, Error> {
    client.execute_typed(&sql.text, &sql.bind(params)).await
}
