//! KPI reports for a period: per member and per team, ranked by points, with the change against
//! the previous period and each member's streak. Reads rollups only.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::kpi::{Totals, competition_ranks, streak};
use crate::domain::period::{Period, PeriodSpec, local_date};
use crate::domain::settings::GuildSettings;
use crate::store::{KindTotalsRow, MemberReportRead, MemberReportRows, ReportRead, ReportRows};

/// [`App::member_report_with`]'s answer: the report, and the members read for it (the guild's,
/// or with a team rank only the member and their team's) and the members the guild leaves off its
/// boards (`/kpi rep` ranks the rep among the guild's).
struct MemberReportWith {
    report: MemberReport,
    excluded: HashSet<u64>,
    members: Vec<crate::store::Member>,
    /// The member's own goals in the goal periods asked for, in that order.
    goals: Vec<super::goals::GoalProgress>,
}

/// What a report reads besides the period's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportNeeds {
    /// Points of the previous period of the same length ("vs previous").
    pub previous: bool,
    /// Each shown member's streak.
    pub streaks: bool,
    /// Per-kind counts (and the deals won and lost they give). Without them only points and
    /// revenue are read, from the kind-less rollups; counts, deals and win rates read as empty.
    pub kinds: bool,
    /// Members the guild leaves off its boards (its exclusion role) count too: a data export
    /// wants them, a board or team table does not.
    pub everyone: bool,
}

impl ReportNeeds {
    pub const ALL: ReportNeeds = ReportNeeds { previous: true, streaks: true, kinds: true, everyone: false };
    /// Everything, about everyone (`rally report`).
    pub const EVERYONE: ReportNeeds = ReportNeeds { everyone: true, ..ReportNeeds::ALL };
    /// A leaderboard by a kind: this period's totals only.
    pub const TOTALS: ReportNeeds = ReportNeeds { previous: false, streaks: false, kinds: true, everyone: false };
    /// A leaderboard by points or revenue: this period's points and revenue only.
    pub const POINTS: ReportNeeds = ReportNeeds { previous: false, streaks: false, kinds: false, everyone: false };
}

#[derive(Clone, Debug, Serialize)]
pub struct PeriodView {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberKpis {
    pub user_id: String,
    pub user_name: String,
    /// The member's current team.
    pub team: Option<String>,
    pub points: i64,
    pub counts: std::collections::BTreeMap<String, i64>,
    pub revenue_cents: i64,
    pub deals_won: i64,
    pub deals_lost: i64,
    pub average_deal_cents: Option<i64>,
    pub win_rate: Option<f64>,
    pub streak: u32,
    pub rank: u32,
    pub previous_points: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TeamKpis {
    /// The team's id (not shown: for finding its goals without reading the teams again).
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub points: i64,
    /// Members on the team now, plus anyone who logged for it during the period.
    pub members: usize,
    pub revenue_cents: i64,
    pub deals_won: i64,
    pub counts: std::collections::BTreeMap<String, i64>,
    pub rank: u32,
    pub points_per_member: f64,
    pub previous_points: i64,
}

/// `/me`: one member's KPIs, or `None` when they have never logged here.
#[derive(Clone, Debug, Serialize)]
pub struct MemberReport {
    pub period: PeriodView,
    pub previous_period: PeriodView,
    pub member: Option<MemberKpis>,
    /// (rank, members) on the member's current team, by points in the period.
    pub team_rank: Option<(u32, usize)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub guild: String,
    pub period: PeriodView,
    pub previous_period: PeriodView,
    pub members: Vec<MemberKpis>,
    pub teams: Vec<TeamKpis>,
    pub totals: Totals,
    /// Whether the guild's leaderboards are on, read with the rows (not shown: for `/leaderboard`,
    /// which would otherwise read it on its own).
    #[serde(skip)]
    pub leaderboards: bool,
}

pub(crate) fn view(label: String, p: &Period) -> PeriodView {
    PeriodView {
        label,
        start: p.start,
        end: p.end,
        first_day: p.first_day,
        last_day: p.end_day.pred_opt().unwrap_or(p.end_day),
    }
}

/// The days [start, end) a streak as of `as_of` is first walked over (see [`STREAK_WINDOW_DAYS`]).
fn streak_window(as_of: NaiveDate) -> (NaiveDate, NaiveDate) {
    (as_of - Duration::days(STREAK_WINDOW_DAYS), as_of.succ_opt().unwrap_or(as_of))
}

/// Streaks are walked over this many days first; only members whose streak reaches the edge are
/// looked up further back, so the common case reads a bounded number of rollup rows.
const STREAK_WINDOW_DAYS: i64 = 45;

impl PeriodView {
    /// `this-month · 1 Nov – 30 Nov 2026`
    pub fn describe(&self) -> String {
        let same_year = self.first_day.format("%Y").to_string() == self.last_day.format("%Y").to_string();
        let first = if same_year {
            self.first_day.format("%-d %b").to_string()
        } else {
            self.first_day.format("%-d %b %Y").to_string()
        };
        if self.first_day == self.last_day {
            return format!("{} · {}", self.label, self.last_day.format("%a %-d %b %Y"));
        }
        format!("{} · {} – {}", self.label, first, self.last_day.format("%-d %b %Y"))
    }
}

impl App {
    /// The KPIs of every member (or of one team) for a period.
    pub async fn report(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        team: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Report> {
        self.report_with(guild, spec, team, ReportNeeds::ALL, now).await
    }

    /// The same, reading only what `needs` asks for: a leaderboard wants neither the previous
    /// period nor streaks, a team table no streaks. Left out, they read as zero.
    pub async fn report_with(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        team: Option<&str>,
        needs: ReportNeeds,
        now: DateTime<Utc>,
    ) -> AppResult<Report> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let previous = period.previous(&settings)?;
        // Teams, members and totals in one read (one trip to the database, not four).
        let read = ReportRead {
            team: team.map(str::to_string),
            current: (period.first_day, period.end_day),
            kinds: needs.kinds,
            previous: needs.previous.then_some((previous.first_day, previous.end_day)),
        };
        let ReportRows { teams, members, team: team_filter, current, points_only, before, leaderboards } =
            self.store.report_rows(g, read).await?;
        if let Some(name) = team
            && team_filter.is_none()
        {
            return Err(AppError::User(super::teams::no_such_team(name, &teams)));
        }
        let excluded = if needs.everyone { HashSet::new() } else { self.board_excluded(guild).await? };
        let current: Vec<KindTotalsRow> = current.into_iter().filter(|r| !excluded.contains(&r.user_id)).collect();
        let points_only: Vec<_> = points_only.into_iter().filter(|r| !excluded.contains(&r.0)).collect();
        let before: Vec<_> = before.into_iter().filter(|r| !excluded.contains(&r.0)).collect();
        let members: Vec<_> = members.into_iter().filter(|m| !excluded.contains(&m.user_id)).collect();
        let team_names: HashMap<i64, &str> = teams.iter().map(|t| (t.id, t.name.as_str())).collect();

        let mut by_member: HashMap<u64, Totals> = HashMap::new();
        let mut by_team: HashMap<i64, Totals> = HashMap::new();
        let mut contributors: HashMap<i64, HashSet<u64>> = HashMap::new();
        let mut all = Totals::default();
        for row in &current {
            by_member.entry(row.user_id).or_default().add(&row.kind, row.quantity, row.points, row.amount);
            all.add(&row.kind, row.quantity, row.points, row.amount);
            if row.team_id != 0 {
                by_team.entry(row.team_id).or_default().add(&row.kind, row.quantity, row.points, row.amount);
                contributors.entry(row.team_id).or_default().insert(row.user_id);
            }
        }
        for &(user, team, points, revenue) in &points_only {
            let t = by_member.entry(user).or_default();
            t.points += points;
            t.revenue += revenue;
            all.points += points;
            all.revenue += revenue;
            if team != 0 {
                let t = by_team.entry(team).or_default();
                t.points += points;
                t.revenue += revenue;
                contributors.entry(team).or_default().insert(user);
            }
        }
        let mut prev_member: HashMap<u64, i64> = HashMap::new();
        let mut prev_team: HashMap<i64, i64> = HashMap::new();
        for (user, team, points) in &before {
            *prev_member.entry(*user).or_default() += points;
            *prev_team.entry(*team).or_default() += points;
        }
        for m in &members {
            if m.team_id != 0 {
                contributors.entry(m.team_id).or_default().insert(m.user_id);
            }
        }

        let shown: Vec<_> = members
            .iter()
            .filter(|m| match team_filter {
                None => true,
                Some(t) => m.team_id == t || by_member.contains_key(&m.user_id),
            })
            .collect();
        let as_of = local_date(settings.timezone, now).min(period.end_day.pred_opt().unwrap_or(period.end_day));
        let streaks = if needs.streaks {
            self.streaks(g, &settings, as_of, shown.iter().map(|m| m.user_id)).await?
        } else {
            HashMap::new()
        };

        let mut member_rows: Vec<MemberKpis> = shown
            .iter()
            .map(|m| {
                let t = by_member.get(&m.user_id).cloned().unwrap_or_default();
                MemberKpis {
                    user_id: m.user_id.to_string(),
                    user_name: m.user_name.clone(),
                    team: team_names.get(&m.team_id).map(|s| s.to_string()),
                    points: t.points,
                    revenue_cents: t.revenue,
                    deals_won: t.deals_won(),
                    deals_lost: t.deals_lost(),
                    average_deal_cents: t.average_deal_size(),
                    win_rate: t.win_rate(),
                    counts: t.counts,
                    streak: streaks.get(&m.user_id).copied().unwrap_or(0),
                    rank: 0,
                    previous_points: prev_member.get(&m.user_id).copied().unwrap_or(0),
                }
            })
            .collect();
        member_rows.sort_by(|a, b| {
            b.points
                .cmp(&a.points)
                .then_with(|| a.user_id.parse::<u64>().unwrap_or(0).cmp(&b.user_id.parse::<u64>().unwrap_or(0)))
        });
        let ranks = competition_ranks(&member_rows.iter().map(|m| m.points).collect::<Vec<_>>());
        for (m, r) in member_rows.iter_mut().zip(ranks) {
            m.rank = r;
        }

        let mut team_rows: Vec<(i64, TeamKpis)> = teams
            .iter()
            .filter(|t| team_filter.is_none_or(|f| f == t.id))
            .map(|t| {
                let totals = by_team.get(&t.id).cloned().unwrap_or_default();
                let size = contributors.get(&t.id).map_or(0, HashSet::len);
                let per_member =
                    if size == 0 { 0.0 } else { (totals.points as f64 / size as f64 * 100.0).round() / 100.0 };
                (
                    t.id,
                    TeamKpis {
                        id: t.id,
                        name: t.name.clone(),
                        points: totals.points,
                        members: size,
                        revenue_cents: totals.revenue,
                        deals_won: totals.deals_won(),
                        counts: totals.counts.clone(),
                        rank: 0,
                        points_per_member: per_member,
                        previous_points: prev_team.get(&t.id).copied().unwrap_or(0),
                    },
                )
            })
            .collect();
        team_rows.sort_by(|(ia, a), (ib, b)| b.points.cmp(&a.points).then(ia.cmp(ib)));
        let team_ranks = competition_ranks(&team_rows.iter().map(|(_, t)| t.points).collect::<Vec<_>>());
        let team_rows: Vec<TeamKpis> =
            team_rows.into_iter().zip(team_ranks).map(|((_, t), rank)| TeamKpis { rank, ..t }).collect();

        Ok(Report {
            guild: guild.to_string(),
            period: view(spec.to_string(), &period),
            previous_period: view("previous".into(), &previous),
            members: member_rows,
            teams: team_rows,
            totals: all,
            leaderboards,
        })
    }

    /// One member's KPIs for a period (`/me`): their own rollups, their team mates' points for the
    /// rank, and their own active days for the streak; nothing of the rest of the guild.
    pub async fn member_report(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<MemberReport> {
        Ok(self.member_report_with(guild, user, spec, now, true, false).await?.report)
    }

    /// `/me`'s figures: [`App::member_report`] and the member's own goals as
    /// [`App::goals_for_report`] gives them for the period, in one statement (the teams, the member
    /// and their team's members, the goals, every total, the mates' points and the active days).
    /// The goals' totals are the member's over each goal period, read with the period's.
    pub async fn member_report_and_goals(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<(MemberReport, Vec<super::goals::GoalProgress>)> {
        let with = self.member_report_with(guild, user, spec, now, true, true).await?;
        Ok((with.report, with.goals))
    }

    /// `/kpi rep`'s figures: [`App::member_report`]'s (without the team rank) and the rep's rank
    /// by points among every member on the guild's boards: (rank, members), `None` for a rep the
    /// guild leaves off them. The rank reads each member's points from the kind-less rollups
    /// (one row per member and month or odd day), not the guild's report with its kinds, its
    /// previous period and everyone's streaks.
    pub async fn rep_report(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<(MemberReport, Option<(u32, usize)>)> {
        // The members and who is left off the boards come with the rep's own read.
        let MemberReportWith { report, excluded, members, .. } =
            self.member_report_with(guild, user, spec, now, false, false).await?;
        if report.member.is_none() || excluded.contains(&user.get()) {
            return Ok((report, None));
        }
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let mut points: HashMap<u64, i64> = HashMap::new();
        for (member, _, p) in
            self.store.points_totals(g, period.first_day, period.end_day, crate::store::TotalsScope::Guild).await?
        {
            *points.entry(member).or_default() += p;
        }
        let theirs = points.get(&user.get()).copied().unwrap_or(0);
        let (mut above, mut ranked) = (0u32, 0usize);
        for m in members.iter().filter(|m| !excluded.contains(&m.user_id)) {
            ranked += 1;
            if points.get(&m.user_id).copied().unwrap_or(0) > theirs {
                above += 1;
            }
        }
        // Competition ranking: one more than the members strictly above.
        Ok((report, Some((above + 1, ranked))))
    }

    /// [`App::member_report`], with the rank on the member's team only when `team_rank` and
    /// the member's own goals only when `goals`; also the members read (with `team_rank` only the
    /// member and those on their team now, else the guild's) and who the guild leaves off its
    /// boards.
    async fn member_report_with(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
        team_rank: bool,
        goals: bool,
    ) -> AppResult<MemberReportWith> {
        let (g, u) = (guild.as_i64(), user.as_i64());
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let previous = period.previous(&settings)?;
        let mut report = MemberReport {
            period: view(spec.to_string(), &period),
            previous_period: view("previous".into(), &previous),
            member: None,
            team_rank: None,
        };
        // A member the guild leaves off its boards is ranked nowhere, and ranks nobody.
        let excluded = self.board_excluded(guild).await?;
        let as_of = local_date(settings.timezone, now).min(period.end_day.pred_opt().unwrap_or(period.end_day));
        let (streak_start, streak_end) = streak_window(as_of);
        let goal_periods = if goals { super::goals::report_goal_periods(&period, &settings, now)? } else { Vec::new() };
        // Who they are, their goals, their totals, their mates' points and their active days in
        // one read.
        let read = MemberReportRead {
            user: u,
            ranges: vec![(period.first_day, period.end_day), (previous.first_day, previous.end_day)],
            rank: (team_rank && !excluded.contains(&user.get())).then_some((period.first_day, period.end_day)),
            active: (streak_start, streak_end),
            goals: goal_periods.iter().map(|(unit, p)| (*unit, p.first_day, p.end_day)).collect(),
            // The team's rank needs the members on the team; a rank among everyone, everyone.
            mates_only: team_rank,
        };
        let (rows, goal_rows) = self.store.member_report_rows(g, read).await?;
        let goals: Vec<super::goals::GoalProgress> = goal_periods
            .iter()
            .zip(goal_rows)
            .flat_map(|((_, p), (versions, rows))| {
                super::goals::member_goal_progress(&settings, versions, rows, p, now)
            })
            .collect();
        let Some(MemberReportRows { member, team, members, totals: both, mates: mate_points, active_days }) = rows
        else {
            return Ok(MemberReportWith { report, excluded, members: Vec::new(), goals });
        };
        let mut both = both.into_iter();
        let mut totals = Totals::default();
        for (kind, quantity, points, amount) in both.next().unwrap_or_default() {
            totals.add(&kind, quantity, points, amount);
        }
        let previous_points = both.next().unwrap_or_default().iter().map(|r| r.2).sum();
        let team = team.map(|t| t.name);
        if team_rank && team.is_some() && !excluded.contains(&member.user_id) {
            // Rank among the members on the team now, by their points on any team.
            let mut points: HashMap<u64, i64> = HashMap::new();
            for (mate, _, p) in mate_points {
                *points.entry(mate).or_default() += p;
            }
            let mut mates: Vec<(i64, u64)> = members
                .iter()
                .filter(|m| m.team_id == member.team_id && !excluded.contains(&m.user_id))
                .map(|m| (points.get(&m.user_id).copied().unwrap_or(0), m.user_id))
                .collect();
            mates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let ranks = competition_ranks(&mates.iter().map(|m| m.0).collect::<Vec<_>>());
            let rank = mates.iter().position(|m| m.1 == member.user_id).map_or(0, |i| ranks[i]);
            report.team_rank = Some((rank, mates.len()));
        }
        let streak = self.member_streak(g, &settings, as_of, u, active_days).await?;
        report.member = Some(MemberKpis {
            user_id: member.user_id.to_string(),
            user_name: member.user_name,
            team,
            points: totals.points,
            revenue_cents: totals.revenue,
            deals_won: totals.deals_won(),
            deals_lost: totals.deals_lost(),
            average_deal_cents: totals.average_deal_size(),
            win_rate: totals.win_rate(),
            counts: totals.counts,
            streak,
            // A rank in the guild would need everyone's totals; `/me` shows the team rank.
            rank: 0,
            previous_points,
        });
        Ok(MemberReportWith { report, excluded, members, goals })
    }

    /// One member's streak as of `as_of`, from their own active days in [`streak_window`]
    /// (`window_days`), and further back only when it reaches the window's start.
    async fn member_streak(
        &self,
        guild: i64,
        settings: &GuildSettings,
        as_of: NaiveDate,
        user: i64,
        window_days: Vec<NaiveDate>,
    ) -> AppResult<u32> {
        let end = as_of.succ_opt().unwrap_or(as_of);
        let active: BTreeSet<NaiveDate> = window_days.into_iter().collect();
        let s = streak(&active, as_of, settings.working_days);
        let window_working = (0..STREAK_WINDOW_DAYS)
            .filter(|i| settings.working_days.is_working(as_of - Duration::days(*i)))
            .count() as u32;
        if s + 1 < window_working {
            return Ok(s);
        }
        let long: BTreeSet<NaiveDate> =
            self.store.member_active_days(guild, user, as_of - Duration::days(3660), end).await?.into_iter().collect();
        Ok(streak(&long, as_of, settings.working_days))
    }

    /// Each member's streak as of `as_of`.
    async fn streaks(
        &self,
        guild: i64,
        settings: &GuildSettings,
        as_of: NaiveDate,
        users: impl Iterator<Item = u64>,
    ) -> AppResult<HashMap<u64, u32>> {
        let end = as_of.succ_opt().unwrap_or(as_of);
        let window_start = as_of - Duration::days(STREAK_WINDOW_DAYS);
        let mut days: HashMap<u64, BTreeSet<NaiveDate>> = HashMap::new();
        for (user, day) in self.store.active_days(guild, window_start, end).await? {
            days.entry(user).or_default().insert(day);
        }
        let window_working = (0..STREAK_WINDOW_DAYS)
            .filter(|i| settings.working_days.is_working(as_of - Duration::days(*i)))
            .count() as u32;
        let mut out = HashMap::new();
        for user in users {
            let active = days.remove(&user).unwrap_or_default();
            let mut s = streak(&active, as_of, settings.working_days);
            // The streak may reach past the window: look further back for this member only.
            if s + 1 >= window_working {
                let long: BTreeSet<NaiveDate> = self
                    .store
                    .member_active_days(guild, user as i64, as_of - Duration::days(3660), end)
                    .await?
                    .into_iter()
                    .collect();
                s = streak(&long, as_of, settings.working_days);
            }
            out.insert(user, s);
        }
        Ok(out)
    }
}
