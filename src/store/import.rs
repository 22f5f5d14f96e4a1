//! Bulk import: many validated rows per transaction. The fast path resolves the guild, its kinds,
//! teams and members once per batch and sums the rollups in memory, writing each rollup row once.
//! Should anything unexpected fail in it, the batch is rolled back as a whole and stored again row
//! by row, each row in its own savepoint, so one bad row never stops the others.

use std::collections::HashMap;

use super::sql::{Db, params};
use chrono::{DateTime, Utc};

use super::activities::{
    Difference, Inserted, NewActivity, add_points, add_team_rollup, differences, find_key, guild_timezone,
    insert_activity, load_record, soft_delete, write_row,
};
use super::guilds::{audit, ensure_guild};
use super::teams::{find_or_create_team, upsert_member};
use super::{Result, Store, StoreError, month_number};
use crate::domain::activity::check_amount;

pub type ImportRow = NewActivity;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportRowOutcome {
    Imported,
    /// The row's key was imported (or logged) before, with the same content.
    Duplicate,
    /// The row's key was imported before with other content; the stored activity is kept as it
    /// is (a file never overwrites silently).
    Changed(Vec<Difference>),
    Rejected(String),
}

/// What removing one row of an import file did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveRowOutcome {
    Removed,
    /// No live activity holds the row's key: never imported, or already removed or undone.
    NotFound,
    Rejected(String),
}

fn insert_row(conn: &Db, row: &ImportRow, now: DateTime<Utc>) -> ImportRowOutcome {
    if let Err(e) = conn.execute_batch("SAVEPOINT import_row") {
        return ImportRowOutcome::Rejected(e.to_string());
    }
    let outcome = match insert_activity(conn, row, now) {
        Ok(logged) if logged.duplicate => {
            let differences = differences(&logged.record, row);
            if differences.is_empty() { ImportRowOutcome::Duplicate } else { ImportRowOutcome::Changed(differences) }
        }
        Ok(_) => ImportRowOutcome::Imported,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO import_row");
            ImportRowOutcome::Rejected(e.to_string())
        }
    };
    let _ = conn.execute_batch("RELEASE import_row");
    outcome
}

/// Rollup sums keyed by (day or month, user, team, kind): quantity, points, amount, activities.
pub(super) type Sums = HashMap<(i64, i64, i64, i64), [i64; 4]>;

/// The fast path: every row checked before anything of it is written, so the only errors left are
/// the database's own, and those fail the whole batch (the caller rolls back and goes row by row).
fn insert_batch(conn: &Db, rows: &[ImportRow], now: DateTime<Utc>) -> Result<Vec<ImportRowOutcome>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let guild = first.guild;
    if rows.iter().any(|r| r.guild != guild) {
        return Err(StoreError::rule("an import batch holds one guild"));
    }
    let tz = guild_timezone(conn, guild, now)?;
    let mut kinds: HashMap<String, (i64, i64, bool)> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT name, kind_id, points, has_amount FROM activity_kinds WHERE guild_id = ?1 AND retired_at IS NULL",
        )?;
        for k in stmt.query_map([guild], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))? {
            let (name, kind) = k?;
            kinds.insert(name, kind);
        }
    }
    let mut teams: HashMap<String, i64> = HashMap::new();
    // Each member's name and team after the last upsert of this batch: a row that would change
    // neither skips the upsert.
    let mut members: HashMap<i64, (String, i64)> = HashMap::new();
    let mut days: Sums = HashMap::new();
    let mut months: Sums = HashMap::new();
    let mut outcomes = Vec::with_capacity(rows.len());
    for a in rows {
        let known = match find_key(conn, a)? {
            Some((id, via_alt)) => Some((load_record(conn, id)?, via_alt)),
            None => None,
        };
        // A row that was undone or removed is brought back (one removed under its older key is
        // stored anew); a live one is left as it is, and said to differ when it does.
        let revive = match known {
            Some((stored, false)) if stored.deleted => Some(stored.id),
            Some((stored, true)) if stored.deleted => None,
            Some((stored, _)) => {
                outcomes.push(if stored.user_id != a.user as u64 {
                    ImportRowOutcome::Rejected(format!(
                        "this row's key ({}) is another member's activity ({}); nothing was imported for it",
                        crate::domain::activity::shorten(&a.idem_key, 60),
                        stored.user_id
                    ))
                } else {
                    let differences = differences(&stored, a);
                    if differences.is_empty() {
                        ImportRowOutcome::Duplicate
                    } else {
                        ImportRowOutcome::Changed(differences)
                    }
                });
                continue;
            }
            None => None,
        };
        let Some(&(kind_id, kind_points, has_amount)) = kinds.get(a.kind.as_str()) else {
            outcomes.push(ImportRowOutcome::Rejected(format!("`{}` is not an activity kind of this server", a.kind)));
            continue;
        };
        if let Err(e) = check_amount(&a.kind, has_amount, a.amount) {
            outcomes.push(ImportRowOutcome::Rejected(e.to_string()));
            continue;
        }
        let actor = if a.actor == 0 { "cli".to_string() } else { format!("user:{}", a.actor) };
        let team = match &a.team {
            Some(name) => {
                let key = name.as_str().to_lowercase();
                let id = match teams.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = find_or_create_team(conn, guild, name, &actor, now)?;
                        teams.insert(key, id);
                        id
                    }
                };
                Some((id, a.occurred_at))
            }
            None => None,
        };
        let unchanged = members
            .get(&a.user)
            .filter(|(name, current)| *name == a.user_name && team.is_none_or(|(t, _)| t == *current))
            .map(|(_, current)| *current);
        let current_team = match unchanged {
            Some(t) => t,
            None => {
                let t = upsert_member(conn, guild, a.user, &a.user_name, team, &actor, now)?;
                members.insert(a.user, (a.user_name.clone(), t));
                t
            }
        };
        let team_id = team.map(|(t, _)| t).unwrap_or(current_team);
        let Inserted { local_day, day, quantity, points, amount, .. } =
            write_row(conn, tz, a, team_id, kind_id, kind_points, revive, now)?;
        for (sums, period) in [(&mut days, day), (&mut months, month_number(local_day))] {
            let s = sums.entry((period, a.user, team_id, kind_id)).or_insert([0; 4]);
            s[0] += quantity;
            s[1] += points;
            s[2] += amount;
            s[3] += 1;
        }
        outcomes.push(ImportRowOutcome::Imported);
    }
    add_sums(conn, guild, days, false)?;
    add_sums(conn, guild, months, true)?;
    Ok(outcomes)
}

/// Adds summed contributions to the day (or month) rollups, one upsert per rollup row, and to the
/// kind-less day (or month) points rollups.
pub(super) fn add_sums(conn: &Db, guild: i64, sums: Sums, month: bool) -> Result<()> {
    let sql = if month {
        "INSERT INTO month_rollups (guild_id, month, user_id, team_id, kind_id, quantity, points, amount, activities)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (guild_id, month, user_id, team_id, kind_id) DO UPDATE SET
            quantity = month_rollups.quantity + excluded.quantity, points = month_rollups.points + excluded.points,
            amount = month_rollups.amount + excluded.amount, activities = month_rollups.activities + excluded.activities"
    } else {
        "INSERT INTO day_rollups (guild_id, local_day, user_id, team_id, kind_id, quantity, points, amount, activities)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (guild_id, local_day, user_id, team_id, kind_id) DO UPDATE SET
            quantity = day_rollups.quantity + excluded.quantity, points = day_rollups.points + excluded.points,
            amount = day_rollups.amount + excluded.amount, activities = day_rollups.activities + excluded.activities"
    };
    let mut upsert = conn.prepare_cached(sql)?;
    let mut keys: Vec<_> = sums.into_iter().collect();
    // Key order makes the WITHOUT ROWID b-tree inserts mostly sequential.
    keys.sort_unstable_by_key(|(k, _)| *k);
    // The same without the kind, for the points rollups: revenue is the amounts of `won`.
    let won: std::collections::HashSet<i64> = conn
        .prepare_cached("SELECT kind_id FROM activity_kinds WHERE guild_id = ?1 AND name = ?2")?
        .query_map(params![guild, crate::domain::activity::WON], |r| r.get(0))?
        .collect::<super::sql::Result<_>>()?;
    let mut points: std::collections::BTreeMap<(i64, i64, i64), [i64; 3]> = std::collections::BTreeMap::new();
    // And without the member, for the team rollups.
    let mut teams: std::collections::BTreeMap<(i64, i64, i64), [i64; 4]> = std::collections::BTreeMap::new();
    for ((period, user, team, kind), [q, p, a, n]) in keys {
        upsert.execute(params![guild, period, user, team, kind, q, p, a, n])?;
        let e = points.entry((period, user, team)).or_insert([0; 3]);
        e[0] += p;
        e[1] += if won.contains(&kind) { a } else { 0 };
        e[2] += n;
        let t = teams.entry((period, team, kind)).or_insert([0; 4]);
        for (total, v) in t.iter_mut().zip([q, p, a, n]) {
            *total += v;
        }
    }
    for ((period, team, kind), sums) in teams {
        add_team_rollup(conn, month, guild, period, team, kind, sums)?;
    }
    for ((period, user, team), sums) in points {
        add_points(conn, month, guild, period, user, team, sums)?;
    }
    Ok(())
}

impl Store {
    /// Stores a batch of rows of one guild in one durable transaction; one outcome per row, in
    /// order. Rows already stored (same key) are duplicates, so a re-import changes nothing.
    pub async fn import_batch(&self, rows: Vec<ImportRow>, now: DateTime<Utc>) -> Result<Vec<ImportRowOutcome>> {
        self.write(move |c| {
            c.execute_batch("SAVEPOINT import_batch")?;
            match insert_batch(c, &rows, now) {
                Ok(outcomes) => {
                    c.execute_batch("RELEASE import_batch")?;
                    Ok(outcomes)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "import batch failed as a whole; storing it row by row");
                    c.execute_batch("ROLLBACK TO import_batch; RELEASE import_batch")?;
                    Ok(rows.iter().map(|row| insert_row(c, row, now)).collect())
                }
            }
        })
        .await
    }

    /// Soft-deletes the live activities holding the keys of a batch of one guild's import rows, in
    /// one durable transaction, exactly as `/undo` does (rollups, audit, reopened deals); one
    /// outcome per row, in order. A key held by another member's activity is not this file's row,
    /// so it is rejected and left alone.
    pub async fn remove_import_batch(
        &self,
        rows: Vec<ImportRow>,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<RemoveRowOutcome>> {
        self.write(move |c| {
            let mut outcomes = Vec::with_capacity(rows.len());
            for row in &rows {
                let live = match find_key(c, row)? {
                    Some((id, _)) => Some(load_record(c, id)?).filter(|r| !r.deleted).map(|r| (r.id, r.user_id as i64)),
                    None => None,
                };
                outcomes.push(match live {
                    None => RemoveRowOutcome::NotFound,
                    Some((_, owner)) if owner != row.user => RemoveRowOutcome::Rejected(format!(
                        "the activity with this key belongs to another member ({owner}); nothing was removed"
                    )),
                    Some((id, _)) => {
                        soft_delete(c, &load_record(c, id)?, &actor, "activity.remove", now)?;
                        RemoveRowOutcome::Removed
                    }
                });
            }
            Ok(outcomes)
        })
        .await
    }

    /// Records a finished import (`activity.import`) or removal (`activity.import.remove`) run in
    /// the audit trail.
    pub async fn audit_import(
        &self,
        guild: i64,
        actor: String,
        action: &'static str,
        summary: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            audit(c, guild, &actor, action, &format!("guild:{guild}"), None, Some(&summary), now)
        })
        .await
    }
}
