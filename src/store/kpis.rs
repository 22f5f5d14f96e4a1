//! Reads for KPIs and leaderboards: they read day rollups only, so their cost grows with members
//! and days in the period, never with the number of activities. Also the consistency checks.

use chrono::NaiveDate;
use rusqlite::params;
use serde::Serialize;

use super::{Result, Store, day_from_number, day_number};

/// One member's sums for one kind under one team over a range of days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindTotalsRow {
    pub user_id: u64,
    pub team_id: i64,
    pub kind: String,
    pub quantity: i64,
    pub points: i64,
    pub amount: i64,
}

/// A rollup row that disagrees with a recomputation from raw activities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollupMismatch {
    pub guild_id: i64,
    pub local_day: NaiveDate,
    pub user_id: i64,
    pub team_id: i64,
    pub kind_id: i64,
    /// (quantity, points, amount, activities) in the rollup table, if present.
    pub stored: Option<(i64, i64, i64, i64)>,
    /// The same recomputed from activities, if any.
    pub recomputed: Option<(i64, i64, i64, i64)>,
}

impl Store {
    /// Sums per member, team and kind over local days [first, end).
    pub async fn kind_totals(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<KindTotalsRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.user_id, r.team_id, k.name, SUM(r.quantity), SUM(r.points), SUM(r.amount)
                 FROM day_rollups r JOIN activity_kinds k ON k.kind_id = r.kind_id
                 WHERE r.guild_id = ?1 AND r.local_day >= ?2 AND r.local_day < ?3
                 GROUP BY r.user_id, r.team_id, r.kind_id",
            )?;
            let rows = stmt.query_map(params![guild, day_number(first), day_number(end)], |r| {
                Ok(KindTotalsRow {
                    user_id: r.get::<_, i64>(0)? as u64,
                    team_id: r.get(1)?,
                    kind: r.get(2)?,
                    quantity: r.get(3)?,
                    points: r.get(4)?,
                    amount: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// One member's sums per kind over local days [first, end), on every team.
    pub async fn member_kind_totals(
        &self,
        guild: i64,
        user: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(String, i64, i64, i64)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT k.name, SUM(r.quantity), SUM(r.points), SUM(r.amount)
                 FROM day_rollups r JOIN activity_kinds k ON k.kind_id = r.kind_id
                 WHERE r.guild_id = ?1 AND r.user_id = ?2 AND r.local_day >= ?3 AND r.local_day < ?4
                 GROUP BY r.kind_id",
            )?;
            let rows = stmt.query_map(params![guild, user, day_number(first), day_number(end)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// The local days in [first, end) on which each member logged anything (for streaks).
    pub async fn active_days(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<(u64, NaiveDate)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT user_id, local_day FROM day_rollups
                 WHERE guild_id = ?1 AND local_day >= ?2 AND local_day < ?3",
            )?;
            let rows = stmt.query_map(params![guild, day_number(first), day_number(end)], |r| {
                Ok((r.get::<_, i64>(0)? as u64, day_from_number(r.get(1)?)))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// The same for one member (their index makes it cheap over long ranges).
    pub async fn member_active_days(
        &self,
        guild: i64,
        user: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<NaiveDate>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT local_day FROM day_rollups
                 WHERE guild_id = ?1 AND user_id = ?2 AND local_day >= ?3 AND local_day < ?4",
            )?;
            let rows = stmt.query_map(params![guild, user, day_number(first), day_number(end)], |r| {
                Ok(day_from_number(r.get(0)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// Compares the rollups with a full recomputation from live activities (all guilds, or one).
    pub async fn verify_rollups(&self, guild: Option<i64>) -> Result<Vec<RollupMismatch>> {
        self.read(move |c| {
            let sql = "
                WITH fresh AS (
                    SELECT guild_id, local_day, user_id, team_id, kind_id, SUM(quantity) AS q, SUM(points) AS p,
                           SUM(COALESCE(amount, 0)) AS a, COUNT(*) AS n
                    FROM activities WHERE deleted_at IS NULL AND (?1 IS NULL OR guild_id = ?1)
                    GROUP BY guild_id, local_day, user_id, team_id, kind_id
                ), stored AS (
                    SELECT guild_id, local_day, user_id, team_id, kind_id, quantity AS q, points AS p, amount AS a,
                           activities AS n
                    FROM day_rollups WHERE ?1 IS NULL OR guild_id = ?1
                )
                SELECT s.guild_id, s.local_day, s.user_id, s.team_id, s.kind_id, s.q, s.p, s.a, s.n,
                       f.q, f.p, f.a, f.n
                FROM stored s LEFT JOIN fresh f USING (guild_id, local_day, user_id, team_id, kind_id)
                WHERE f.q IS NULL OR s.q <> f.q OR s.p <> f.p OR s.a <> f.a OR s.n <> f.n
                UNION ALL
                SELECT f.guild_id, f.local_day, f.user_id, f.team_id, f.kind_id, NULL, NULL, NULL, NULL,
                       f.q, f.p, f.a, f.n
                FROM fresh f LEFT JOIN stored s USING (guild_id, local_day, user_id, team_id, kind_id)
                WHERE s.q IS NULL";
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([guild], |r| {
                let quad = |i: usize| -> rusqlite::Result<Option<(i64, i64, i64, i64)>> {
                    Ok(match r.get::<_, Option<i64>>(i)? {
                        Some(q) => Some((q, r.get(i + 1)?, r.get(i + 2)?, r.get(i + 3)?)),
                        None => None,
                    })
                };
                Ok(RollupMismatch {
                    guild_id: r.get(0)?,
                    local_day: day_from_number(r.get(1)?),
                    user_id: r.get(2)?,
                    team_id: r.get(3)?,
                    kind_id: r.get(4)?,
                    stored: quad(5)?,
                    recomputed: quad(9)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// SQLite's own integrity check: `ok` or a list of problems.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    pub async fn schema_version(&self) -> Result<usize> {
        self.read(super::migrations::schema_version).await
    }

    /// Copies the database to `dest` with SQLite's online backup: consistent while writes go on.
    pub async fn backup(&self, dest: std::path::PathBuf) -> Result<()> {
        self.read(move |c| {
            let mut target = rusqlite::Connection::open(&dest)
                .map_err(|source| super::StoreError::Open { path: dest.clone(), source })?;
            let backup = rusqlite::backup::Backup::new(c, &mut target)?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
            Ok(())
        })
        .await
    }
}
