//! The PostgreSQL backend (issue 13), beside SQLite's: its schema and migrations, and the scratch
//! databases of its tests. With `store`, the only module that names the `postgres` crate. Imports
//! nothing of ours outside `store` but `domain` types.
//!
//! The client is the blocking `postgres` crate: like SQLite's, every statement runs on the store's
//! own threads, never on an async task (the crate runs a runtime of its own inside each call, which
//! panics inside another runtime).

pub mod migrations;
#[doc(hidden)]
pub mod testing;
pub mod tls;

pub use migrations::{BASELINE, LATEST_VERSION, MIGRATIONS, MigrationError, migrate, schema_version};

/// The error in the server's words (see [`crate::store::sql::postgres_message`]):
/// `relation "x" already exists (42P07)`, or the driver's error with its causes.
pub(crate) fn describe(e: &postgres::Error) -> String {
    crate::store::sql::postgres_message(e)
}
