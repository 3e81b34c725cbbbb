//! Filled in by the PostgreSQL work.
