//! Bulk import: many validated rows per transaction, each row in its own savepoint so that one
//! failing row leaves nothing half-written and does not stop the others.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::activities::{NewActivity, insert_activity};
use super::guilds::{audit, ensure_guild};
use super::{Result, Store};

pub type ImportRow = NewActivity;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportRowOutcome {
    Imported,
    /// The row's key was imported (or logged) before.
    Duplicate,
    Rejected(String),
}

fn insert_row(conn: &Connection, row: &ImportRow, now: DateTime<Utc>) -> ImportRowOutcome {
    if let Err(e) = conn.execute_batch("SAVEPOINT import_row") {
        return ImportRowOutcome::Rejected(e.to_string());
    }
    let outcome = match insert_activity(conn, row, now) {
        Ok(logged) if logged.duplicate => ImportRowOutcome::Duplicate,
        Ok(_) => ImportRowOutcome::Imported,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO import_row");
            ImportRowOutcome::Rejected(e.to_string())
        }
    };
    let _ = conn.execute_batch("RELEASE import_row");
    outcome
}

impl Store {
    /// Stores a batch of rows in one durable transaction; one outcome per row, in order.
    pub async fn import_batch(&self, rows: Vec<ImportRow>, now: DateTime<Utc>) -> Result<Vec<ImportRowOutcome>> {
        self.write(move |c| Ok(rows.iter().map(|row| insert_row(c, row, now)).collect())).await
    }

    /// Records a finished import run in the audit trail.
    pub async fn audit_import(
        &self,
        guild: i64,
        actor: String,
        summary: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            audit(c, guild, &actor, "activity.import", &format!("guild:{guild}"), None, Some(&summary), now)
        })
        .await
    }
}
