//! Goals: setting and clearing targets, and where each goal in force stands (actual and pace) for
//! a goal period. Used by `/goal`, by every KPI reply, and by forecast and compensation.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::{Snowflake, unknown_metric};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalStart, GoalSubject, GoalVersion, Pace};
use crate::domain::kpi::Totals;
use crate::domain::money::Money;
use crate::domain::period::Period;
use crate::domain::settings::GuildSettings;
use crate::store::SubjectRows;
use crate::store::goals::GoalCleared;

/// Which goals a reply wants (by key), shared with the read that takes them and their totals
/// together.
pub type GoalFilter = std::sync::Arc<dyn Fn(&GoalKey) -> bool + Send + Sync>;

/// What [`App::member_summary`] found.
#[derive(Clone, Debug, Default)]
pub struct MemberSummary {
    /// The member's totals, one per period asked for.
    pub totals: Vec<Totals>,
    /// The member's own goals in the current goal periods.
    pub goals: Vec<GoalProgress>,
    /// Their team's goals in the current goal periods.
    pub team_goals: Vec<GoalProgress>,
}

/// A goal in force for one goal period, with where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalProgress {
    pub key: GoalKey,
    /// In minor units for revenue.
    pub target: i64,
    /// The first day of the goal period this target has applied from.
    pub since: NaiveDate,
    /// The goal period measured (a whole week, month, fiscal quarter or fiscal year).
    pub period: Period,
    pub actual: i64,
    pub pace: Pace,
}

/// What `/goal set` did.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalSet {
    pub key: GoalKey,
    pub target: i64,
    pub effective_from: NaiveDate,
    /// The target in force for that period before, if any.
    pub replaced: Option<GoalVersion>,
    /// Where the goal stands now, when it applies to the current period.
    pub progress: Option<GoalProgress>,
}

/// Every goal in force now (one per key, in its current period) and the changes scheduled later.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GoalOverview {
    pub in_force: Vec<GoalProgress>,
    pub scheduled: Vec<GoalVersion>,
}

impl App {
    /// Sets a target, from the current goal period or the one `from` names (empty: current).
    /// `target` is an amount for revenue (`12,500.00`, read in `money`) and a whole number otherwise.
    #[allow(clippy::too_many_arguments)] // what to set, how to read its text, and the audit's who and when
    pub async fn set_goal(
        &self,
        guild: Snowflake,
        key: GoalKey,
        target: &str,
        money: Money,
        from: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<GoalSet> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        self.check_metric(guild, &key.metric).await?;
        let target = key.metric.parse_target(target, money)?;
        let effective_from = GoalStart::parse(from)?.effective_from(key.period, &settings, now)?;
        let replaced = self.store.set_goal(g, key.clone(), target, effective_from, actor, now).await?;
        let current = key.period.current(&settings, now)?;
        let progress = if current.first_day == effective_from {
            let wanted = key.clone();
            let keep: GoalFilter = std::sync::Arc::new(move |k: &GoalKey| *k == wanted);
            self.progress_in(guild, key.period, &current, &keep, None, now).await?.into_iter().next()
        } else {
            None
        };
        Ok(GoalSet { key, target, effective_from, replaced, progress })
    }

    /// Ends a goal from the current goal period on (earlier periods keep their targets) and drops
    /// any change scheduled for later. `None`: there was no such goal; nothing was written.
    pub async fn clear_goal(
        &self,
        guild: Snowflake,
        key: GoalKey,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Option<GoalCleared>> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let from = key.period.current(&settings, now)?.first_day;
        Ok(self.store.clear_goal(g, key, from, actor, now).await?)
    }

    /// The version of `key` in force for the goal period that holds local day `day`.
    pub async fn goal_in_force(
        &self,
        guild: Snowflake,
        key: &GoalKey,
        day: NaiveDate,
    ) -> AppResult<Option<GoalVersion>> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let first = key.period.containing(day, &settings)?.first_day;
        Ok(self.store.goal_in_force(g, key.clone(), first).await?)
    }

    /// Where `key` stands in the goal period that holds local day `day` (attainment and pace at
    /// `now`); `None` when no target is in force for that period.
    pub async fn goal_progress_of(
        &self,
        guild: Snowflake,
        key: &GoalKey,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> AppResult<Option<GoalProgress>> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let period = key.period.containing(day, &settings)?;
        let wanted = key.clone();
        let keep: GoalFilter = std::sync::Arc::new(move |k: &GoalKey| *k == wanted);
        Ok(self.progress_in(guild, key.period, &period, &keep, None, now).await?.into_iter().next())
    }

    /// The goals `keep` accepts that are in force for `period` (one whole goal period of kind
    /// `unit`), each with its actual over that period and its pace at `now`.
    pub async fn goal_progress(
        &self,
        guild: Snowflake,
        unit: GoalPeriod,
        period: &Period,
        keep: &GoalFilter,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<GoalProgress>> {
        self.progress_in(guild, unit, period, keep, None, now).await
    }

    /// Goals for a KPI reply about `period`: when `period` is a whole goal period (`this-week`,
    /// `last-month`, `2026-Q4` where that is a fiscal quarter) the goals of that period; otherwise
    /// (a day, a range, a calendar year that is not the fiscal one) the current week's and month's
    /// goals, since those are the ones a rep can still act on.
    ///
    /// With `team_table` (a team's name, for that team's table), only the goals the table may
    /// show, reading only their subjects' rows: see [`crate::store::Store::goals_with_rows`].
    pub async fn goals_for_report(
        &self,
        guild: Snowflake,
        period: &Period,
        keep: &GoalFilter,
        team_table: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<GoalProgress>> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let mut out = Vec::new();
        for (unit, goal_period) in report_goal_periods(period, &settings, now)? {
            out.extend(self.progress_in(guild, unit, &goal_period, keep, team_table, now).await?);
        }
        Ok(out)
    }

    /// The targets in force for `period` when it is a whole goal period (none otherwise), without
    /// reading any totals: for a board that has its participants' totals already. Cleared goals
    /// are left out; revenue targets are in minor units.
    pub async fn goal_targets(&self, guild: Snowflake, period: &Period) -> AppResult<Vec<(GoalKey, i64)>> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let Some(unit) = GoalPeriod::matching(period, &settings) else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .goals_in_force(guild.as_i64(), unit, period.first_day)
            .await?
            .into_iter()
            .filter(|v| !v.cleared && v.target > 0)
            .map(|v| (v.key, v.target))
            .collect())
    }

    /// The goals `keep` accepts in their current periods, week first.
    pub async fn current_goals(
        &self,
        guild: Snowflake,
        keep: &(dyn Fn(&GoalKey) -> bool + Sync),
        now: DateTime<Utc>,
    ) -> AppResult<Vec<GoalProgress>> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let mut currents = Vec::new();
        for unit in GoalPeriod::ALL {
            currents.push((unit, unit.current(&settings, now)?));
        }
        // One read for the targets of every period kind; totals only where a goal is in force.
        let versions =
            self.store.goals_in_force_many(g, currents.iter().map(|(u, p)| (*u, p.first_day)).collect()).await?;
        let mut out = Vec::new();
        for ((_, current), versions) in currents.iter().zip(versions) {
            let versions: Vec<GoalVersion> = versions.into_iter().filter(|v| keep(&v.key)).collect();
            out.extend(self.progress_of(g, &settings, versions, current, now).await?);
        }
        Ok(out)
    }

    /// After a `/log`: the member's totals over `periods`, and the progress of their own goals
    /// and of their team's goals (`team` 0: none) in the current goal periods, in one read.
    pub async fn member_summary(
        &self,
        guild: Snowflake,
        user: Snowflake,
        team: i64,
        settings: &GuildSettings,
        periods: &[&Period],
        now: DateTime<Utc>,
    ) -> AppResult<MemberSummary> {
        let mut currents = Vec::new();
        for unit in GoalPeriod::ALL {
            currents.push(unit.current(settings, now)?);
        }
        let read = self
            .store
            .member_goals_and_totals(
                guild.as_i64(),
                user.as_i64(),
                team,
                GoalPeriod::ALL.iter().zip(&currents).map(|(u, p)| (*u, p.first_day, p.end_day)).collect(),
                periods.iter().map(|p| (p.first_day, p.end_day)).collect(),
            )
            .await?;
        let totals_of = |rows: Vec<(String, i64, i64, i64)>| {
            let mut t = Totals::default();
            for (kind, quantity, points, amount) in rows {
                t.add(&kind, quantity, points, amount);
            }
            t
        };
        let progress = |v: GoalVersion, period: &Period, actual: &Totals| {
            let value = v.key.metric.value(actual);
            GoalProgress {
                pace: Pace::compute(v.target, value, period, settings, now),
                target: v.target,
                since: v.effective_from,
                period: period.clone(),
                actual: value,
                key: v.key,
            }
        };
        let totals: Vec<Totals> = read.member_totals.into_iter().map(totals_of).collect();
        let mut mine = Vec::new();
        for ((versions, rows), period) in read.member_goals.into_iter().zip(read.member_goal_totals).zip(&currents) {
            let actual = totals_of(rows);
            mine.extend(versions.into_iter().map(|v| progress(v, period, &actual)));
        }
        let mut team_goals = Vec::new();
        for ((versions, rows), period) in read.team_goals.into_iter().zip(read.team_totals).zip(&currents) {
            let actual = totals_of(rows);
            team_goals.extend(versions.into_iter().map(|v| progress(v, period, &actual)));
        }
        Ok(MemberSummary { totals, goals: mine, team_goals })
    }

    /// Every goal `keep` accepts, in force now or scheduled to start later. Goals of deleted teams
    /// are left out: no reply can name them any more.
    pub async fn goal_overview(
        &self,
        guild: Snowflake,
        keep: &(dyn Fn(&GoalKey) -> bool + Sync),
        now: DateTime<Utc>,
    ) -> AppResult<GoalOverview> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let teams: BTreeSet<i64> = self.store.teams(g).await?.into_iter().map(|t| t.id).collect();
        let live = |k: &GoalKey| keep(k) && !matches!(k.subject, GoalSubject::Team(t) if !teams.contains(&t));
        let mut overview = GoalOverview::default();
        for unit in GoalPeriod::ALL {
            let current = unit.current(&settings, now)?;
            // The store's one-read `progress_in` takes a 'static filter; `keep` is borrowed.
            let versions: Vec<GoalVersion> = self
                .store
                .goals_in_force(g, unit, current.first_day)
                .await?
                .into_iter()
                .filter(|v| live(&v.key))
                .collect();
            overview.in_force.extend(self.progress_of(g, &settings, versions, &current, now).await?);
        }
        let mut current_first: HashMap<GoalPeriod, NaiveDate> = HashMap::new();
        for unit in GoalPeriod::ALL {
            current_first.insert(unit, unit.current(&settings, now)?.first_day);
        }
        overview.scheduled = self
            .store
            .goal_versions(g)
            .await?
            .into_iter()
            .filter(|v| live(&v.key) && current_first.get(&v.key.period).is_some_and(|first| v.effective_from > *first))
            .collect();
        overview.scheduled.sort_by(|a, b| a.effective_from.cmp(&b.effective_from).then_with(|| a.key.cmp(&b.key)));
        Ok(overview)
    }

    /// A kind metric must name one of the guild's active kinds.
    pub(crate) async fn check_metric(&self, guild: Snowflake, metric: &GoalMetric) -> AppResult<()> {
        let GoalMetric::Kind(kind) = metric else {
            return Ok(());
        };
        let kinds = self.store.kinds(guild.as_i64()).await?;
        if kinds.iter().any(|k| k.name == *kind) {
            return Ok(());
        }
        Err(AppError::User(unknown_metric(kind.as_str(), &GoalMetric::NAMED, &kinds)))
    }

    async fn progress_in(
        &self,
        guild: Snowflake,
        unit: GoalPeriod,
        period: &Period,
        keep: &GoalFilter,
        team_table: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<GoalProgress>> {
        // The guild's settings come from the store's cache, as the caller's did.
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        // The goals and their subjects' rows in one read.
        let range = (period.first_day, period.end_day);
        let team_table = team_table.map(str::to_owned);
        let (versions, rows) =
            self.store.goals_with_rows(guild.as_i64(), unit, period.first_day, range, keep.clone(), team_table).await?;
        let subjects: BTreeSet<GoalSubject> = versions.iter().map(|v| v.key.subject).collect();
        Ok(progress(&settings, versions, totals_of(&subjects, rows), period, now))
    }

    /// Where each of `versions` (targets in force for `period`) stands.
    async fn progress_of(
        &self,
        g: i64,
        settings: &GuildSettings,
        versions: Vec<GoalVersion>,
        period: &Period,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<GoalProgress>> {
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let totals = self.subject_totals(g, &versions, period).await?;
        Ok(progress(settings, versions, totals, period, now))
    }

    /// Totals over `period` for each subject of `versions`: a member's on every team they logged
    /// for, a team's as credited to it when logged (so members who moved count where they were),
    /// the guild's for everyone.
    async fn subject_totals(
        &self,
        guild: i64,
        versions: &[GoalVersion],
        period: &Period,
    ) -> AppResult<HashMap<GoalSubject, Totals>> {
        let subjects: BTreeSet<GoalSubject> = versions.iter().map(|v| v.key.subject).collect();
        let rows = self.store.subject_rows(guild, subjects.clone(), period.first_day, period.end_day).await?;
        Ok(totals_of(&subjects, rows))
    }
}

/// The goal periods a KPI reply about `period` shows goals of ([`App::goals_for_report`]):
/// `period` itself when it is a whole goal period, else the current week and month.
pub(crate) fn report_goal_periods(
    period: &Period,
    settings: &GuildSettings,
    now: DateTime<Utc>,
) -> AppResult<Vec<(GoalPeriod, Period)>> {
    if let Some(unit) = GoalPeriod::matching(period, settings) {
        return Ok(vec![(unit, period.clone())]);
    }
    let mut out = Vec::new();
    for unit in [GoalPeriod::Week, GoalPeriod::Month] {
        out.push((unit, unit.current(settings, now)?));
    }
    Ok(out)
}

/// Where one member's own goals `versions` for `period` stand, given the member's
/// (kind, quantity, points, amount) rows over it.
pub(crate) fn member_goal_progress(
    settings: &GuildSettings,
    versions: Vec<GoalVersion>,
    rows: crate::store::MemberRows,
    period: &Period,
    now: DateTime<Utc>,
) -> Vec<GoalProgress> {
    let mut actual = Totals::default();
    for (kind, quantity, points, amount) in rows {
        actual.add(&kind, quantity, points, amount);
    }
    let totals: HashMap<GoalSubject, Totals> = versions.iter().map(|v| (v.key.subject, actual.clone())).collect();
    progress(settings, versions, totals, period, now)
}

/// Each of `subjects`' totals from the rows they are made of ([`SubjectRows`]).
fn totals_of(subjects: &BTreeSet<GoalSubject>, rows: SubjectRows) -> HashMap<GoalSubject, Totals> {
    let mut out: HashMap<GoalSubject, Totals> = HashMap::new();
    for (team, kind, quantity, points, amount) in rows.teams {
        let mut add = |subject: GoalSubject| {
            if subjects.contains(&subject) {
                out.entry(subject).or_default().add(&kind, quantity, points, amount);
            }
        };
        if team != 0 {
            add(GoalSubject::Team(team));
        }
        add(GoalSubject::Guild);
    }
    for (user, rows) in rows.members {
        let Ok(user) = Snowflake::new(user as u64) else { continue };
        let totals = out.entry(GoalSubject::Member(user)).or_default();
        for (kind, quantity, points, amount) in rows {
            totals.add(&kind, quantity, points, amount);
        }
    }
    out
}

/// Where each of `versions` (targets in force for `period`) stands, given its subjects' totals.
fn progress(
    settings: &GuildSettings,
    versions: Vec<GoalVersion>,
    totals: HashMap<GoalSubject, Totals>,
    period: &Period,
    now: DateTime<Utc>,
) -> Vec<GoalProgress> {
    versions
        .into_iter()
        .map(|v| {
            let actual = totals.get(&v.key.subject).map_or(0, |t| v.key.metric.value(t));
            GoalProgress {
                pace: Pace::compute(v.target, actual, period, settings, now),
                target: v.target,
                since: v.effective_from,
                period: period.clone(),
                actual,
                key: v.key,
            }
        })
        .collect()
}
