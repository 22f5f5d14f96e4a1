//! Goal versions (table `goals`, migration 2): setting, clearing and finding the target in force.
//! A version applies from `effective_from` (the local day number of the first day of a goal period)
//! until a later version of the same key; setting twice in one period replaces that period's version.

use super::sql::{Db, OptionalExtension, Row, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::{Result, Store, StoreError, day_from_number, day_number};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject, GoalVersion};

/// What [`Store::member_goals_and_totals`] read: per goal period, the member's and the team's goals
/// in force and their totals (empty without a goal); per range, the member's totals.
#[derive(Debug, Default)]
pub struct MemberGoalRead {
    pub member_goals: Vec<Vec<GoalVersion>>,
    pub team_goals: Vec<Vec<GoalVersion>>,
    pub team_totals: Vec<super::kpis::MemberRows>,
    /// Per goal period, the member's totals (empty without a member goal in it).
    pub member_goal_totals: Vec<super::kpis::MemberRows>,
    /// Per range asked for, the member's totals.
    pub member_totals: Vec<super::kpis::MemberRows>,
}

const VERSION_SELECT: &str = "SELECT scope, subject_id, metric, period, target, effective_from, cleared FROM goals";
/// The versions that may be in force on day ?3: each key's versions starting on or before it,
/// latest first per key, for [`in_force`] to keep the first of each. (A correlated `MAX` subquery
/// did this in SQL, but PostgreSQL ran it as a scan per version: 0.3 ms of a 1 ms `/me`.)
const UP_TO: &str = "g.effective_from <= ?3";
const LATEST_FIRST: &str = "g.effective_from DESC";

/// A row the domain cannot read (a metric written by a newer rally, say) is skipped, not fatal:
/// one odd goal must not take every KPI reply down with it.
fn version_from_row(r: &Row<'_>) -> super::sql::Result<Option<GoalVersion>> {
    let scope: String = r.get(0)?;
    let metric: String = r.get(2)?;
    let period: String = r.get(3)?;
    let key = match (
        GoalSubject::from_columns(&scope, r.get(1)?),
        GoalMetric::from_column(&metric),
        GoalPeriod::from_column(&period),
    ) {
        (Some(subject), Some(metric), Some(period)) => GoalKey { subject, metric, period },
        _ => return Ok(None),
    };
    Ok(Some(GoalVersion { key, target: r.get(4)?, effective_from: day_from_number(r.get(5)?), cleared: r.get(6)? }))
}

fn collect(rows: impl Iterator<Item = super::sql::Result<Option<GoalVersion>>>) -> Result<Vec<GoalVersion>> {
    let mut out = Vec::new();
    for row in rows {
        if let Some(v) = row? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The versions in force among `rows` read with [`UP_TO`] ordered by key, then [`LATEST_FIRST`]:
/// the first (latest) version of each key, unless it clears the goal. A row the domain cannot read
/// is skipped, as [`version_from_row`] says.
fn in_force(
    rows: impl Iterator<Item = super::sql::Result<(String, i64, String, Option<GoalVersion>)>>,
) -> Result<Vec<GoalVersion>> {
    let mut out = Vec::new();
    let mut last: Option<(String, i64, String)> = None;
    for row in rows {
        let (scope, subject, metric, version) = row?;
        let key = (scope, subject, metric);
        if last.as_ref() == Some(&key) {
            continue;
        }
        last = Some(key);
        if let Some(v) = version.filter(|v| !v.cleared) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The raw key columns of a version row and the version, for [`in_force`].
fn keyed_version_from_row(r: &Row<'_>) -> super::sql::Result<(String, i64, String, Option<GoalVersion>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, version_from_row(r)?))
}

/// Every goal of one period kind in force for the period starting on `first_day`, ordered by
/// scope, subject and metric ([`Store::goals_in_force`]).
fn versions_in_force(c: &Db, guild: i64, period: GoalPeriod, first_day: NaiveDate) -> Result<Vec<GoalVersion>> {
    Ok(versions_in_force_many(c, guild, period, &[first_day])?.pop().unwrap_or_default())
}

/// [`versions_in_force`] for each of several periods of one kind (their first days), in one
/// statement: the versions up to the latest of them, from which each period keeps those starting
/// on or before its own first day (a history's six periods were six statements).
fn versions_in_force_many(
    c: &Db,
    guild: i64,
    period: GoalPeriod,
    first_days: &[NaiveDate],
) -> Result<Vec<Vec<GoalVersion>>> {
    let Some(latest) = first_days.iter().max() else { return Ok(Vec::new()) };
    let mut stmt = c.prepare_cached(&format!(
        "{VERSION_SELECT} AS g WHERE g.guild_id = ?1 AND g.period = ?2 AND {UP_TO}
         ORDER BY g.scope, g.subject_id, g.metric, {LATEST_FIRST}"
    ))?;
    let rows = stmt
        .query_map(params![guild, period.as_str(), day_number(*latest)], |r| {
            Ok((r.get::<_, i64>(5)?, keyed_version_from_row(r)?))
        })?
        .collect::<super::sql::Result<Vec<_>>>()?;
    first_days
        .iter()
        .map(|&day| {
            let at = day_number(day);
            in_force(rows.iter().filter(|(from, _)| *from <= at).map(|(_, keyed)| Ok(keyed.clone())))
        })
        .collect()
}

/// The tag of the first goal period's rows in [`MemberGoalsRead`] (the next follow it; at most
/// six, below the member figures' first range, `kpis::RANGE0`).
const GOALS0: i64 = 10;

/// One member's own goals in force for several goal periods, read as branches of a statement of
/// the kind rollups' reads (`kpis::Branches`: a tag, an integer, a text and five integers): each
/// version's (target, metric, effective_from, cleared), scope and period fixed by the branch. A
/// branch cannot order its rows, so [`MemberGoalsRead::finish`] orders them as
/// [`versions_in_force`] does (by metric, latest first; `metric` is `COLLATE "C"` on PostgreSQL,
/// byte order as here) and keeps the version in force of each.
pub(super) struct MemberGoalsRead {
    user: i64,
    units: Vec<GoalPeriod>,
    rows: Vec<Vec<(String, i64, i64, bool)>>,
}

impl MemberGoalsRead {
    /// Adds a branch to `more` per goal period (kind, first day): `user`'s own versions that may
    /// be in force for it.
    pub(super) fn new(
        more: &mut super::kpis::Branches,
        user: i64,
        units: &[(GoalPeriod, NaiveDate)],
    ) -> MemberGoalsRead {
        for (j, &(unit, first_day)) in units.iter().take(6).enumerate() {
            let tag = GOALS0 + j as i64;
            let (u, p, d) = (more.bind(user), more.bind_text(unit.as_str()), more.bind(day_number(first_day)));
            more.sql.push(format!(
                "SELECT CAST({tag} AS BIGINT), target, metric, effective_from, cleared, CAST(0 AS BIGINT), \
                 CAST(0 AS BIGINT), CAST(0 AS BIGINT) FROM goals WHERE guild_id = ?1 AND scope = 'member' \
                 AND subject_id = ?{u} AND period = ?{p} AND effective_from <= ?{d}"
            ));
        }
        let units: Vec<GoalPeriod> = units.iter().take(6).map(|u| u.0).collect();
        MemberGoalsRead { user, rows: vec![Vec::new(); units.len()], units }
    }

    /// Takes a row tagged `tag` if it is one of these goals' (whether it was).
    pub(super) fn take(&mut self, tag: i64, r: &Row<'_>) -> Result<bool> {
        let Some(rows) = usize::try_from(tag - GOALS0).ok().and_then(|j| self.rows.get_mut(j)) else {
            return Ok(false);
        };
        rows.push((r.get(2)?, r.get(3)?, r.get(1)?, r.get(4)?));
        Ok(true)
    }

    /// The versions in force for each goal period, in the order asked for, each ordered by metric.
    pub(super) fn finish(self) -> Vec<Vec<GoalVersion>> {
        let user = self.user;
        self.rows
            .into_iter()
            .zip(self.units)
            .map(|(mut rows, unit)| {
                rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                let mut out = Vec::new();
                let mut last: Option<String> = None;
                for (metric, from, target, cleared) in rows {
                    if last.as_deref() == Some(metric.as_str()) {
                        continue;
                    }
                    // A metric this rally cannot read is skipped, as `version_from_row` does.
                    let key = match (GoalSubject::from_columns("member", user), GoalMetric::from_column(&metric)) {
                        (Some(subject), Some(metric)) => Some(GoalKey { subject, metric, period: unit }),
                        _ => None,
                    };
                    last = Some(metric);
                    if let Some(key) = key.filter(|_| !cleared) {
                        out.push(GoalVersion { key, target, effective_from: day_from_number(from), cleared });
                    }
                }
                out
            })
            .collect()
    }
}

/// The latest version of `key` starting on or before `day`, cleared or not.
fn latest_version(conn: &Db, guild: i64, key: &GoalKey, day: NaiveDate) -> Result<Option<GoalVersion>> {
    Ok(conn
        .prepare_cached(&format!(
            "{VERSION_SELECT} WHERE guild_id = ?1 AND scope = ?2 AND subject_id = ?3 AND metric = ?4 AND period = ?5
             AND effective_from <= ?6 ORDER BY effective_from DESC LIMIT 1"
        ))?
        .query_row(
            params![
                guild,
                key.subject.scope(),
                key.subject.subject_id(),
                key.metric.to_column(),
                key.period.as_str(),
                day_number(day)
            ],
            version_from_row,
        )
        .optional()?
        .flatten())
}

/// Versions of `key` that start after `day`: changes scheduled with `from`.
fn later_versions(conn: &Db, guild: i64, key: &GoalKey, day: NaiveDate) -> Result<Vec<GoalVersion>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{VERSION_SELECT} WHERE guild_id = ?1 AND scope = ?2 AND subject_id = ?3 AND metric = ?4 AND period = ?5
         AND effective_from > ?6 ORDER BY effective_from"
    ))?;
    let rows = stmt.query_map(
        params![
            guild,
            key.subject.scope(),
            key.subject.subject_id(),
            key.metric.to_column(),
            key.period.as_str(),
            day_number(day)
        ],
        version_from_row,
    )?;
    collect(rows)
}

#[allow(clippy::too_many_arguments)] // one value per column of the version
fn upsert_version(
    conn: &Db,
    guild: i64,
    key: &GoalKey,
    target: i64,
    from: NaiveDate,
    cleared: bool,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO goals (guild_id, scope, subject_id, metric, period, target, effective_from, cleared, created_at,
                            created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (guild_id, scope, subject_id, metric, period, effective_from) DO UPDATE SET
            target = excluded.target, cleared = excluded.cleared, created_at = excluded.created_at,
            created_by = excluded.created_by",
    )?
    .execute(params![
        guild,
        key.subject.scope(),
        key.subject.subject_id(),
        key.metric.to_column(),
        key.period.as_str(),
        target,
        day_number(from),
        cleared,
        super::millis(now),
        actor
    ])?;
    Ok(())
}

fn version_json(v: &GoalVersion) -> serde_json::Value {
    json!({
        "target": v.target,
        "effective_from": v.effective_from.to_string(),
        "cleared": v.cleared,
    })
}

fn goal_target(guild: i64, key: &GoalKey) -> String {
    format!(
        "goal:{guild}:{}:{}:{}:{}",
        key.subject.scope(),
        key.subject.subject_id(),
        key.metric.to_column(),
        key.period.as_str()
    )
}

/// What a clear did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoalCleared {
    /// The version that was in force when cleared, if any.
    pub ended: Option<GoalVersion>,
    /// Scheduled versions (later `from`) that were dropped; they had never applied.
    pub dropped: Vec<GoalVersion>,
}

impl Store {
    /// Sets `key`'s target from the goal period starting on `from` on. Returns the version that was
    /// in force for that period before (to say what was replaced).
    pub async fn set_goal(
        &self,
        guild: i64,
        key: GoalKey,
        target: i64,
        from: NaiveDate,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Option<GoalVersion>> {
        if target <= 0 {
            return Err(StoreError::rule("a target must be more than 0"));
        }
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let before = latest_version(c, guild, &key, from)?.filter(|v| !v.cleared);
            upsert_version(c, guild, &key, target, from, false, &actor, now)?;
            let after = GoalVersion { key: key.clone(), target, effective_from: from, cleared: false };
            audit(
                c,
                guild,
                &actor,
                "goal.set",
                &goal_target(guild, &key),
                before.as_ref().map(version_json).as_ref(),
                Some(&version_json(&after)),
                now,
            )?;
            Ok(before)
        })
        .await
    }

    /// Ends `key` from the goal period starting on `from` on, and drops changes scheduled after it.
    /// Writes nothing (and returns `None`) when there is nothing to end or drop.
    pub async fn clear_goal(
        &self,
        guild: i64,
        key: GoalKey,
        from: NaiveDate,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Option<GoalCleared>> {
        self.write(move |c| {
            let ended = latest_version(c, guild, &key, from)?.filter(|v| !v.cleared);
            let dropped = later_versions(c, guild, &key, from)?;
            if ended.is_none() && dropped.is_empty() {
                return Ok(None);
            }
            ensure_guild(c, guild, now)?;
            if ended.is_some() {
                upsert_version(c, guild, &key, 0, from, true, &actor, now)?;
            }
            c.prepare_cached(
                "DELETE FROM goals WHERE guild_id = ?1 AND scope = ?2 AND subject_id = ?3 AND metric = ?4
                 AND period = ?5 AND effective_from > ?6",
            )?
            .execute(params![
                guild,
                key.subject.scope(),
                key.subject.subject_id(),
                key.metric.to_column(),
                key.period.as_str(),
                day_number(from)
            ])?;
            audit(
                c,
                guild,
                &actor,
                "goal.clear",
                &goal_target(guild, &key),
                Some(&json!({
                    "in_force": ended.as_ref().map(version_json),
                    "scheduled": dropped.iter().map(version_json).collect::<Vec<_>>(),
                })),
                Some(&json!({"cleared_from": from.to_string()})),
                now,
            )?;
            Ok(Some(GoalCleared { ended, dropped }))
        })
        .await
    }

    /// The target of `key` in force for the goal period starting on `first_day`, if any.
    pub async fn goal_in_force(&self, guild: i64, key: GoalKey, first_day: NaiveDate) -> Result<Option<GoalVersion>> {
        self.read(move |c| Ok(latest_version(c, guild, &key, first_day)?.filter(|v| !v.cleared))).await
    }

    /// Every goal of one period kind in force for the period starting on `first_day`, ordered by
    /// scope, subject and metric.
    pub async fn goals_in_force(
        &self,
        guild: i64,
        period: GoalPeriod,
        first_day: NaiveDate,
    ) -> Result<Vec<GoalVersion>> {
        Ok(self.goals_in_force_many(guild, vec![(period, first_day)]).await?.into_iter().next().unwrap_or_default())
    }

    /// The goals of one period kind in force for the period starting on `first_day` that `keep`
    /// accepts, and the rows their subjects' totals over local days [first, end) are made of, in
    /// one read (a reply's goals used to take two or three).
    ///
    /// With `team_table` (a team's name), only the goals a table of that team may show: the team's
    /// own and those of the members it shows (on it now, or with rows credited to it over the
    /// range; see [`super::kpis::Shown`]); the rows read are theirs alone, not the guild's
    /// (`super::kpis::team_table_subject_rows`). The guild's own goal is never among them.
    pub async fn goals_with_rows(
        &self,
        guild: i64,
        period: GoalPeriod,
        first_day: NaiveDate,
        range: (NaiveDate, NaiveDate),
        keep: std::sync::Arc<dyn Fn(&GoalKey) -> bool + Send + Sync>,
        team_table: Option<String>,
    ) -> Result<(Vec<GoalVersion>, super::kpis::SubjectRows)> {
        self.read(move |c| {
            let mut versions: Vec<GoalVersion> =
                versions_in_force(c, guild, period, first_day)?.into_iter().filter(|v| keep(&v.key)).collect();
            if team_table.is_some() {
                versions.retain(|v| !matches!(v.key.subject, GoalSubject::Guild));
            }
            if versions.is_empty() {
                return Ok((versions, super::kpis::SubjectRows::default()));
            }
            let subjects = versions.iter().map(|v| v.key.subject).collect();
            let Some(team) = &team_table else {
                return Ok((versions, super::kpis::subject_rows(c, guild, &subjects, range.0, range.1)?));
            };
            let (rows, shown) = super::kpis::team_table_subject_rows(c, guild, &subjects, range, team)?;
            versions.retain(|v| shown.shows(&v.key.subject));
            Ok((versions, rows))
        })
        .await
    }

    /// [`Store::goals_in_force`] for several periods in one read, a statement per period kind
    /// (the `/log` reply asks for the current week, month, quarter and year at once; a history
    /// for six periods of one kind).
    pub async fn goals_in_force_many(
        &self,
        guild: i64,
        periods: Vec<(GoalPeriod, NaiveDate)>,
    ) -> Result<Vec<Vec<GoalVersion>>> {
        self.read(move |c| {
            let mut out = vec![Vec::new(); periods.len()];
            let mut kinds: Vec<GoalPeriod> = Vec::new();
            for &(kind, _) in &periods {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            for kind in kinds {
                let at: Vec<usize> = (0..periods.len()).filter(|&i| periods[i].0 == kind).collect();
                let days: Vec<NaiveDate> = at.iter().map(|&i| periods[i].1).collect();
                for (i, versions) in at.into_iter().zip(versions_in_force_many(c, guild, kind, &days)?) {
                    out[i] = versions;
                }
            }
            Ok(out)
        })
        .await
    }

    /// One member's own goals and their team's goals in force for several period kinds, the
    /// member's totals over several ranges, and the team's totals over each goal period that has a
    /// team goal, in one read: all the `/log` reply and its milestone check need after the write.
    /// `team` 0: no team.
    pub async fn member_goals_and_totals(
        &self,
        guild: i64,
        user: i64,
        team: i64,
        periods: Vec<(GoalPeriod, NaiveDate, NaiveDate)>,
        ranges: Vec<(NaiveDate, NaiveDate)>,
    ) -> Result<MemberGoalRead> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{VERSION_SELECT} AS g WHERE g.guild_id = ?1 AND g.scope = ?5 AND g.subject_id = ?4
                 AND g.period = ?2 AND {UP_TO}
                 ORDER BY g.scope, g.subject_id, g.metric, {LATEST_FIRST}"
            ))?;
            let mut read = MemberGoalRead::default();
            let mut goal_ranges = Vec::new();
            for &(period, first_day, end_day) in &periods {
                let mut both = |scope: &str, subject: i64| -> Result<Vec<GoalVersion>> {
                    let at = day_number(first_day);
                    in_force(
                        stmt.query_map(params![guild, period.as_str(), at, subject, scope], keyed_version_from_row)?,
                    )
                };
                let member_goals = both("member", user)?;
                // The member's totals over a goal period only when they have a goal for it.
                goal_ranges.push((!member_goals.is_empty()).then_some((first_day, end_day)));
                read.member_goals.push(member_goals);
                let team_goals = if team == 0 { Vec::new() } else { both("team", team)? };
                let team_totals = if team_goals.is_empty() {
                    Vec::new()
                } else {
                    super::kpis::team_totals(c, guild, team, first_day, end_day)?
                };
                read.team_goals.push(team_goals);
                read.team_totals.push(team_totals);
            }
            // Each distinct range read once: the reply's week is often a goal period too.
            let mut distinct: Vec<(NaiveDate, NaiveDate)> = ranges.clone();
            distinct.extend(goal_ranges.iter().flatten().copied());
            distinct.sort_unstable();
            distinct.dedup();
            let totals = super::kpis::member_totals(c, guild, user, &distinct)?;
            let of = |range: &(NaiveDate, NaiveDate)| {
                distinct.binary_search(range).ok().and_then(|i| totals.get(i).cloned()).unwrap_or_default()
            };
            read.member_totals = ranges.iter().map(of).collect();
            read.member_goal_totals = goal_ranges.iter().map(|r| r.as_ref().map(of).unwrap_or_default()).collect();
            Ok(read)
        })
        .await
    }

    /// Every stored version of the guild's goals, cleared ones included, oldest first per key.
    pub async fn goal_versions(&self, guild: i64) -> Result<Vec<GoalVersion>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{VERSION_SELECT} WHERE guild_id = ?1 ORDER BY scope, subject_id, metric, period, effective_from"
            ))?;
            let rows = stmt.query_map([guild], version_from_row)?;
            collect(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::goals::{GoalMetric, GoalPeriod, GoalSubject};

    fn version(subject: u64, from: NaiveDate, target: i64, cleared: bool) -> GoalVersion {
        let key = GoalKey {
            subject: GoalSubject::Member(crate::domain::activity::Snowflake::new(subject).unwrap()),
            metric: GoalMetric::Points,
            period: GoalPeriod::Week,
        };
        GoalVersion { key, target, effective_from: from, cleared }
    }

    fn row(v: &GoalVersion) -> super::super::sql::Result<(String, i64, String, Option<GoalVersion>)> {
        Ok((v.key.subject.scope().into(), v.key.subject.subject_id(), v.key.metric.to_column(), Some(v.clone())))
    }

    #[test]
    fn the_latest_version_of_each_key_is_in_force_unless_it_clears_the_goal() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        // Ordered as the read orders them: by key, latest first.
        let a_new = version(1, d(23), 80, false);
        let a_old = version(1, d(2), 50, false);
        let b_cleared = version(2, d(16), 0, true);
        let b_old = version(2, d(9), 40, false);
        let c_only = version(3, d(2), 30, false);
        let rows = [&a_new, &a_old, &b_cleared, &b_old, &c_only].map(row);
        assert_eq!(in_force(rows.into_iter()).unwrap(), vec![a_new.clone(), c_only.clone()]);

        // A version this rally cannot read (a metric of a newer rally) is skipped; the rest stand.
        let unreadable = Ok(("member".to_string(), 1, "from-a-newer-rally".to_string(), None));
        let rows = [row(&a_new), unreadable, row(&c_only)];
        assert_eq!(in_force(rows.into_iter()).unwrap(), vec![a_new, c_only]);
    }
}
