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

/// What a PostgreSQL error says: the server's message with its SQLSTATE and detail
/// (`permission denied for schema public (42501)`), since `postgres::Error` alone says only
/// "db error"; else the driver's error with its causes ("error connecting to server: ..." and why:
/// refused, no such socket, a timeout, TLS).
pub(crate) fn describe(e: &postgres::Error) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match e.as_db_error() {
        Some(db) => {
            let _ = write!(out, "{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                let _ = write!(out, ": {detail}");
            }
        }
        None => {
            let _ = write!(out, "{e}");
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let _ = write!(out, ": {c}");
                cause = c.source();
            }
        }
    }
    out
}
