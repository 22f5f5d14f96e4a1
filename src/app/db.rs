//! The database as a whole, for `rally db`: an online backup, a copy into another database (SQLite
//! or PostgreSQL, either way), and the check that its pages, its schema version and its rollups are
//! sound, with the totals a copy must keep.

use super::{App, AppError, AppResult, Location};

/// Row counts per table and the sums that matter, equal on both sides of a finished copy.
pub use crate::store::copy::DbTotals;
/// How a copy runs, where it is, and what it did (`rally db copy`; see [`copy_database`]).
pub use crate::store::copy::{CopyOptions, CopyProgress, CopySummary};

/// A rollup row that differs from the activities it sums, as the storage interface reports it
/// (its row type; for now the SQLite store's own, later backend-neutral).
pub use crate::store::RollupMismatch;

/// What `rally db check` found.
#[derive(Clone, Debug)]
pub struct DbCheck {
    /// The engine's integrity check, `["ok"]` when sound.
    pub integrity: Vec<String>,
    /// The schema version the database is at, and the latest this build knows.
    pub version: usize,
    pub latest: usize,
    /// Every guild's rollup rows that differ from their activities.
    pub mismatches: Vec<RollupMismatch>,
    /// Rows per table and the sums that matter: what a copy must keep.
    pub totals: DbTotals,
    /// On PostgreSQL, whether the connection is encrypted: `TLS (TLSv1.3)` or `not encrypted`.
    pub connection: Option<String>,
}

impl DbCheck {
    pub fn ok(&self) -> bool {
        self.integrity == ["ok"] && self.mismatches.is_empty()
    }
}

impl App {
    /// Copies the whole database to `dest` while it stays in use.
    pub async fn backup(&self, dest: std::path::PathBuf) -> AppResult<()> {
        Ok(self.store.backup(dest).await?)
    }

    pub async fn db_check(&self) -> AppResult<DbCheck> {
        Ok(DbCheck {
            integrity: self.store.integrity_check().await?,
            version: self.store.schema_version().await?,
            latest: crate::store::MIGRATIONS.len(),
            mismatches: self.store.verify_rollups(None).await?,
            totals: self.store.totals().await?,
            connection: self.store.connection_security().await?,
        })
    }
}

/// Copies the whole rally database at `from` into `to` (`rally db copy FROM TO`): every table, every
/// row, parents first, in batches of `options.batch_rows` rows, each committed with its progress, so
/// that running it again after an interruption (even `kill -9`) finishes the copy without a row lost
/// or doubled. `progress` is called after each batch, on the copy's own thread.
///
/// `to` is a SQLite file (created if missing) or an existing PostgreSQL database (rally creates its
/// tables). Stop rally on `from` first: the copy reads one consistent snapshot of it, and leaves the
/// copy unfinished (an error) when `from` was written to meanwhile.
///
/// Errors: [`AppError::User`] for every refusal, with nothing changed: `from` missing, not a rally
/// database or of a newer schema; `to` of a newer schema or holding rally rows not from an interrupted
/// copy of `from`; `from` and `to` the same database. [`AppError::Internal`] when a database fails.
pub async fn copy_database(
    from: Location,
    to: Location,
    options: CopyOptions,
    mut progress: impl FnMut(&CopyProgress) + Send + 'static,
) -> AppResult<CopySummary> {
    tokio::task::spawn_blocking(move || crate::store::copy::copy(&from, &to, &options, &mut progress))
        .await
        .map_err(|e| AppError::User(format!("the copy stopped unexpectedly: {e}")))?
        .map_err(AppError::from)
}
