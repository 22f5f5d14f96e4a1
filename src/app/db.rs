//! The database as a whole, for `rally db`: an online backup, and the check that its pages, its
//! schema version and its rollups are sound.

use super::{App, AppResult};

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
        })
    }
}
