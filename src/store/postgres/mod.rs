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

/// The error with its causes: `postgres::Error` alone says only "db error", and the server's message
/// (`ERROR: relation "x" already exists`) is its source.
pub(crate) fn describe(e: &postgres::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
