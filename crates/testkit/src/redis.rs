//! Filled in by the Redis work.
