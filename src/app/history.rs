//! History over the last N periods of one kind: a rep against their team's spread (`/kpi rep`),
//! and a team's totals with the reps who moved most against their own past (`/kpi team
//! history:N`). Reads the rollups of the team in question (not the guild's) for all periods at
//! once, and the goals in force; never raw activities. Members the guild leaves off its boards
//! count in no median, rank or total.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::report::{PeriodView, view};
use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalMetric, GoalPeriod, GoalSubject, GoalVersion};
use crate::domain::history::{self, Judgement, Spread, Standing};
use crate::domain::kpi::{IMPROVEMENT_BASE_POINTS, Totals, competition_ranks};
use crate::domain::period::{Period, PeriodSpec, PeriodUnit, local_date};
use crate::store::{KindTotalsRow, TotalsScope};

/// Kinds a rep's history follows besides points: the ones that earned the team most points.
pub const HISTORY_KINDS: usize = 3;
/// Reps named among those who moved most up, and most down, in a team's history.
pub const MOVERS: usize = 3;

/// What one line of a history measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryMetric {
    Points,
    /// How many of one activity kind.
    Kind(String),
    /// Sum of `won` amounts, in minor units.
    Revenue,
    /// Actual over the target of the rep's goal on this metric, as a ratio (1.0 = the goal met).
    Attainment(GoalMetric),
}

impl HistoryMetric {
    /// `Points`, `call`, `Revenue`, `Attainment (points goal)`.
    pub fn name(&self) -> String {
        match self {
            HistoryMetric::Points => "Points".into(),
            HistoryMetric::Kind(k) => k.clone(),
            HistoryMetric::Revenue => "Revenue".into(),
            HistoryMetric::Attainment(m) => {
                let what = match m {
                    GoalMetric::Points => "points",
                    GoalMetric::Revenue => "revenue",
                    GoalMetric::DealsWon => "deals won",
                    GoalMetric::Kind(k) => k.as_str(),
                };
                format!("Attainment ({what} goal)")
            }
        }
    }
}

/// One metric of a rep's history, oldest period first.
#[derive(Clone, Debug)]
pub struct MetricHistory {
    pub metric: HistoryMetric,
    /// The rep's value per period; `None` before their first log in the history (or, for
    /// attainment, in a period without a goal). Revenue in minor units, attainment a ratio.
    pub rep: Vec<Option<f64>>,
    /// The team's median and quartiles per period, over the reps compared that period.
    pub team: Vec<Option<Spread>>,
    /// Below or not, period by period, and the verdict.
    pub judgement: Judgement,
}

/// `/kpi rep`'s history: one rep over the last N periods against their team.
#[derive(Clone, Debug)]
pub struct RepHistory {
    pub user_id: u64,
    pub user_name: String,
    pub unit: PeriodUnit,
    /// Oldest first; the last is the period asked for. Labels as [`history::label`] writes them.
    pub periods: Vec<PeriodView>,
    /// Whether the last period holds `now` (so "this month" rather than "in Oct 2026").
    pub latest_is_current: bool,
    /// Whom the rep was compared with each period: the team they logged most points for then
    /// (their current team in a period they logged nothing), or `None` for all reps.
    pub teams: Vec<Option<String>>,
    /// Points first, then the kinds, revenue and attainment (when the rep has a goal).
    pub metrics: Vec<MetricHistory>,
    /// (rank by points, reps compared) per period; `None` before the first log, and always for
    /// a rep the guild leaves off its boards.
    pub ranks: Vec<Option<(u32, usize)>>,
    /// The guild leaves this rep off its boards: ranked nowhere, in no team's median.
    pub left_off: bool,
}

impl RepHistory {
    /// How the latest period is named in a verdict: `this month`, or `in Oct 2026`.
    pub fn latest_words(&self) -> String {
        if self.latest_is_current {
            format!("this {}", history::noun(self.unit))
        } else {
            format!("in {}", self.periods.last().map_or("", |p| p.label.as_str()))
        }
    }
}

/// One period of a team's history.
#[derive(Clone, Debug)]
pub struct TeamPeriod {
    pub points: i64,
    /// Minor units.
    pub revenue: i64,
    pub deals_won: i64,
    /// Reps who logged anything for the team (or the guild) that period.
    pub reps: usize,
    /// The reps' points: median and quartiles.
    pub spread: Option<Spread>,
    /// The team's (or the guild's) own goal that period: actual over target, as a ratio.
    pub attainment: Option<f64>,
}

/// A rep whose latest period differs most from their own typical one.
#[derive(Clone, Debug)]
pub struct Mover {
    pub user_id: u64,
    pub user_name: String,
    /// Points in the latest period.
    pub latest: i64,
    /// The median of their points over the earlier periods since their first log.
    pub own_median: f64,
    /// (latest - own_median) / max(own_median, [`IMPROVEMENT_BASE_POINTS`]): +0.5 is half again
    /// their usual. The base keeps a rep going from 1 point to 3 off the top.
    pub change: f64,
}

/// `/kpi team history:N`.
#[derive(Clone, Debug)]
pub struct TeamHistory {
    /// The team's name, or `None` for all reps.
    pub team: Option<String>,
    pub unit: PeriodUnit,
    pub periods: Vec<PeriodView>,
    pub rows: Vec<TeamPeriod>,
    /// The goal metric of the attainment column, when the team (or guild) has a goal.
    pub goal_metric: Option<GoalMetric>,
    /// Up most first (change > 0), at most [`MOVERS`].
    pub up: Vec<Mover>,
    /// Down most first (change < 0), at most [`MOVERS`].
    pub down: Vec<Mover>,
}

/// The periods both histories share, and each period's rows (what [`App::rows`] read).
struct Window {
    periods: Vec<Period>,
    views: Vec<PeriodView>,
    rows: Vec<Vec<KindTotalsRow>>,
    latest_is_current: bool,
    unit: PeriodUnit,
    goal_unit: Option<GoalPeriod>,
}

/// Every member's totals per period, on any team.
fn per_member(rows: &[KindTotalsRow], excluded: &HashSet<u64>) -> HashMap<u64, Totals> {
    let mut out: HashMap<u64, Totals> = HashMap::new();
    for r in rows.iter().filter(|r| !excluded.contains(&r.user_id)) {
        out.entry(r.user_id).or_default().add(&r.kind, r.quantity, r.points, r.amount);
    }
    out
}

impl App {
    /// The last `n` periods of `spec`'s kind, without rows yet.
    async fn window(&self, guild: Snowflake, spec: &PeriodSpec, n: usize, now: DateTime<Utc>) -> AppResult<Window> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let latest = Period::resolve(spec, &settings, now)?;
        let periods = history::periods(&latest, n, &settings)?;
        let views = periods.iter().map(|p| view(history::label(p), p)).collect();
        let today = local_date(settings.timezone, now);
        Ok(Window {
            latest_is_current: latest.first_day <= today && today < latest.end_day,
            unit: latest.unit,
            goal_unit: GoalPeriod::matching(&latest, &settings),
            periods,
            views,
            rows: Vec::new(),
        })
    }

    /// Each of `w`'s periods' rows in the scope `scope` gives it, in one read.
    async fn rows(
        &self,
        guild: Snowflake,
        w: &Window,
        scope: impl Fn(usize) -> TotalsScope,
    ) -> AppResult<Vec<Vec<KindTotalsRow>>> {
        let ranges = w.periods.iter().enumerate().map(|(i, p)| (p.first_day, p.end_day, scope(i))).collect();
        Ok(self.store.kind_totals_many(guild.as_i64(), ranges).await?)
    }

    /// The goals in force in each of the window's periods, when they are whole goal periods.
    async fn window_goals(&self, guild: Snowflake, w: &Window) -> AppResult<Vec<Vec<GoalVersion>>> {
        let Some(unit) = w.goal_unit else {
            return Ok(vec![Vec::new(); w.periods.len()]);
        };
        let versions = self
            .store
            .goals_in_force_many(guild.as_i64(), w.periods.iter().map(|p| (unit, p.first_day)).collect())
            .await?;
        Ok(versions.into_iter().map(|v| v.into_iter().filter(|v| !v.cleared && v.target > 0).collect()).collect())
    }

    /// `user`'s last `n` periods of `spec`'s kind (the last is `spec`) against their team's
    /// median and quartiles: points, the [`HISTORY_KINDS`] kinds that earned the team most,
    /// revenue, attainment of their goal, and rank.
    pub async fn rep_history(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        n: usize,
        now: DateTime<Utc>,
    ) -> AppResult<RepHistory> {
        let g = guild.as_i64();
        let u = user.get();
        let member = self
            .store
            .member(g, user.as_i64())
            .await?
            .ok_or_else(|| AppError::User(format!("<@{u}> has not logged anything on this server yet.")))?;
        let mut w = self.window(guild, spec, n, now).await?;
        let excluded = self.board_excluded(guild).await?;
        let left_off = excluded.contains(&u);
        let team_names: HashMap<i64, String> = self.store.teams(g).await?.into_iter().map(|t| (t.id, t.name)).collect();

        // The rep's team in each period: the one they earned most points for, then the lowest id
        // (a tie reads the same every time), else the team they are on now.
        let mine = self.rows(guild, &w, |_| TotalsScope::Member(user.as_i64())).await?;
        let period_teams: Vec<Option<i64>> = mine
            .iter()
            .map(|rows| {
                let mut by_team: HashMap<i64, i64> = HashMap::new();
                for r in rows.iter().filter(|r| r.team_id != 0) {
                    *by_team.entry(r.team_id).or_default() += r.points;
                }
                by_team
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                    .map(|(t, _)| t)
                    .or((member.team_id != 0).then_some(member.team_id))
            })
            .collect();
        // That team's rows (the guild's for a rep on none), and the rep's own on any other team:
        // teammates count with what they did for the team, the rep with everything.
        w.rows = self.rows(guild, &w, |i| period_teams[i].map_or(TotalsScope::Guild, TotalsScope::Team)).await?;
        for ((rows, own), team) in w.rows.iter_mut().zip(mine).zip(&period_teams) {
            if team.is_some() {
                rows.extend(own.into_iter().filter(|r| Some(r.team_id) != *team));
            }
        }

        // Per period: everyone's totals and whom the rep is compared with.
        let mut totals: Vec<HashMap<u64, Totals>> = Vec::new();
        let mut groups: Vec<Vec<u64>> = Vec::new();
        let mut teams: Vec<Option<String>> = Vec::new();
        let mut active: Vec<bool> = Vec::new();
        for (rows, &team) in w.rows.iter().zip(&period_teams) {
            let mut group: Vec<u64> = rows
                .iter()
                .filter(|r| team.is_none_or(|t| r.team_id == t) && !excluded.contains(&r.user_id))
                .map(|r| r.user_id)
                .collect();
            if !left_off {
                group.push(u);
            }
            group.sort_unstable();
            group.dedup();
            active.push(rows.iter().any(|r| r.user_id == u));
            teams.push(team.and_then(|t| team_names.get(&t).cloned()));
            groups.push(group);
            // The rep's own totals are kept even when the guild leaves them off its boards.
            let mut t = per_member(rows, &excluded);
            if left_off {
                let mine: Vec<KindTotalsRow> = rows.iter().filter(|r| r.user_id == u).cloned().collect();
                t.extend(per_member(&mine, &HashSet::new()));
            }
            totals.push(t);
        }
        // Periods before the rep's first log in the window are not theirs to be judged on.
        let first = active.iter().position(|a| *a).unwrap_or(active.len());
        let judged = |i: usize| i >= first;

        let mut metrics = Vec::new();
        let mut line = |metric: HistoryMetric, value: &dyn Fn(&Totals) -> Option<f64>| {
            let zero = Totals::default();
            let mut rep = Vec::new();
            let mut team = Vec::new();
            for (i, group) in groups.iter().enumerate() {
                let of = |m: &u64| value(totals[i].get(m).unwrap_or(&zero));
                rep.push(if judged(i) { of(&u) } else { None });
                let values: Vec<f64> = group.iter().filter_map(of).collect();
                team.push(Spread::of(&values));
            }
            // A metric nobody moved (no revenue all half-year) says nothing; points always show.
            let nothing = rep.iter().flatten().all(|v| *v == 0.0) && team.iter().flatten().all(|s| s.q3 == 0.0);
            if nothing && metric != HistoryMetric::Points {
                return;
            }
            let standings: Vec<Standing> = rep.iter().zip(&team).map(|(v, s)| Standing::of(*v, s.as_ref())).collect();
            metrics.push(MetricHistory { metric, rep, team, judgement: Judgement::of(&standings) });
        };
        line(HistoryMetric::Points, &|t| Some(t.points as f64));
        // The kinds that earned the rep's teams most over the window.
        let mut kind_points: BTreeMap<String, i64> = BTreeMap::new();
        for (i, group) in groups.iter().enumerate() {
            for r in &w.rows[i] {
                if group.contains(&r.user_id) {
                    *kind_points.entry(r.kind.clone()).or_default() += r.points;
                }
            }
        }
        let mut kinds: Vec<(String, i64)> = kind_points.into_iter().filter(|(_, p)| *p > 0).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (kind, _) in kinds.into_iter().take(HISTORY_KINDS) {
            let k = kind.clone();
            line(HistoryMetric::Kind(kind), &move |t| Some(t.count(&k) as f64));
        }
        line(HistoryMetric::Revenue, &|t| Some(t.revenue as f64));

        // Attainment of the rep's own goal: points when they have one, else their most common.
        let goals = self.window_goals(guild, &w).await?;
        let member_goals: Vec<HashMap<(u64, GoalMetric), i64>> = goals
            .iter()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| match v.key.subject {
                        GoalSubject::Member(m) => Some(((m.get(), v.key.metric.clone()), v.target)),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let mut mine: BTreeMap<GoalMetric, usize> = BTreeMap::new();
        for p in &member_goals {
            for (who, metric) in p.keys() {
                if *who == u {
                    *mine.entry(metric.clone()).or_default() += 1;
                }
            }
        }
        let goal_metric = if mine.contains_key(&GoalMetric::Points) {
            Some(GoalMetric::Points)
        } else {
            mine.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(m, _)| m.clone())
        };
        if let Some(metric) = goal_metric {
            let zero = Totals::default();
            let mut rep = Vec::new();
            let mut team = Vec::new();
            for (i, group) in groups.iter().enumerate() {
                let of = |m: &u64| {
                    member_goals[i]
                        .get(&(*m, metric.clone()))
                        .map(|target| metric.value(totals[i].get(m).unwrap_or(&zero)) as f64 / *target as f64)
                };
                rep.push(if judged(i) { of(&u) } else { None });
                let values: Vec<f64> = group.iter().filter_map(of).collect();
                team.push(Spread::of(&values));
            }
            let standings: Vec<Standing> = rep.iter().zip(&team).map(|(v, s)| Standing::of(*v, s.as_ref())).collect();
            metrics.push(MetricHistory {
                metric: HistoryMetric::Attainment(metric),
                rep,
                team,
                judgement: Judgement::of(&standings),
            });
        }

        let ranks = groups
            .iter()
            .enumerate()
            .map(|(i, group)| {
                if left_off || !judged(i) {
                    return None;
                }
                let mut points: Vec<(i64, u64)> =
                    group.iter().map(|m| (totals[i].get(m).map_or(0, |t| t.points), *m)).collect();
                points.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let ranks = competition_ranks(&points.iter().map(|p| p.0).collect::<Vec<_>>());
                points.iter().position(|p| p.1 == u).map(|at| (ranks[at], group.len()))
            })
            .collect();

        Ok(RepHistory {
            user_id: u,
            user_name: member.user_name,
            unit: w.unit,
            periods: w.views,
            latest_is_current: w.latest_is_current,
            teams,
            metrics,
            ranks,
            left_off,
        })
    }

    /// A team's (or, with `team` `None`, all reps') last `n` periods of `spec`'s kind: totals,
    /// the reps' median and quartiles, attainment of the team's own goal, and the reps now on the
    /// team who moved most against their own earlier periods.
    pub async fn team_history(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        spec: &PeriodSpec,
        n: usize,
        now: DateTime<Utc>,
    ) -> AppResult<TeamHistory> {
        let g = guild.as_i64();
        let teams = self.store.teams(g).await?;
        let team = match team {
            Some(name) => Some(
                teams
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
                    .cloned()
                    .ok_or_else(|| AppError::User(super::teams::no_such_team(name, &teams)))?,
            ),
            None => None,
        };
        let mut w = self.window(guild, spec, n, now).await?;
        // A team's history reads its own rows, and its members' now on any team (their own
        // history, for the movers); all reps' reads the guild's once for both.
        let periods = w.periods.len();
        let (credited, own) = match &team {
            Some(t) => {
                let ranges = [TotalsScope::Team(t.id), TotalsScope::CurrentTeam(t.id)]
                    .into_iter()
                    .flat_map(|scope| w.periods.iter().map(move |p| (p.first_day, p.end_day, scope)))
                    .collect();
                let mut rows = self.store.kind_totals_many(g, ranges).await?;
                let own = rows.split_off(periods);
                (rows, Some(own))
            }
            None => (self.rows(guild, &w, |_| TotalsScope::Guild).await?, None),
        };
        w.rows = credited;
        let excluded = self.board_excluded(guild).await?;
        let subject = team.as_ref().map_or(GoalSubject::Guild, |t| GoalSubject::Team(t.id));
        let goals = self.window_goals(guild, &w).await?;
        let group_goals: Vec<Vec<(GoalMetric, i64)>> = goals
            .iter()
            .map(|vs| {
                vs.iter().filter(|v| v.key.subject == subject).map(|v| (v.key.metric.clone(), v.target)).collect()
            })
            .collect();
        // The goal metric most periods have, points first among equals.
        let mut counts: BTreeMap<GoalMetric, usize> = BTreeMap::new();
        for (metric, _) in group_goals.iter().flatten() {
            *counts.entry(metric.clone()).or_default() += 1;
        }
        let goal_metric = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(m, _)| m.clone());

        let mut rows = Vec::new();
        let mut points_by: Vec<HashMap<u64, i64>> = Vec::new();
        for (i, period_rows) in w.rows.iter().enumerate() {
            let credited: Vec<KindTotalsRow> = period_rows
                .iter()
                .filter(|r| team.as_ref().is_none_or(|t| r.team_id == t.id) && !excluded.contains(&r.user_id))
                .cloned()
                .collect();
            let by_member = per_member(&credited, &HashSet::new());
            let mut all = Totals::default();
            for t in by_member.values() {
                all.merge(t);
            }
            let values: Vec<f64> = by_member.values().map(|t| t.points as f64).collect();
            let attainment = goal_metric.as_ref().and_then(|metric| {
                group_goals[i]
                    .iter()
                    .find(|(m, _)| m == metric)
                    .map(|(_, target)| metric.value(&all) as f64 / *target as f64)
            });
            rows.push(TeamPeriod {
                points: all.points,
                revenue: all.revenue,
                deals_won: all.deals_won(),
                reps: by_member.len(),
                spread: Spread::of(&values),
                attainment,
            });
            // A rep's own history counts what they logged on any team.
            let theirs = own.as_ref().map_or(period_rows, |o| &o[i]);
            points_by.push(per_member(theirs, &excluded).into_iter().map(|(m, t)| (m, t.points)).collect());
        }

        let members = self.store.members(g).await?;
        let last = w.periods.len() - 1;
        let mut movers: Vec<Mover> = members
            .iter()
            .filter(|m| team.as_ref().is_none_or(|t| m.team_id == t.id) && !excluded.contains(&m.user_id))
            .filter_map(|m| {
                let first = points_by.iter().position(|p| p.contains_key(&m.user_id))?;
                let earlier: Vec<f64> =
                    (first..last).map(|i| points_by[i].get(&m.user_id).copied().unwrap_or(0) as f64).collect();
                // One earlier period is no history to move against.
                if earlier.len() < 2 {
                    return None;
                }
                let own_median = history::median(&earlier)?;
                let latest = points_by[last].get(&m.user_id).copied().unwrap_or(0);
                let change = (latest as f64 - own_median) / own_median.max(IMPROVEMENT_BASE_POINTS as f64);
                Some(Mover { user_id: m.user_id, user_name: m.user_name.clone(), latest, own_median, change })
            })
            .collect();
        movers.sort_by(|a, b| b.change.total_cmp(&a.change).then(a.user_id.cmp(&b.user_id)));
        let up: Vec<Mover> = movers.iter().filter(|m| m.change > 0.0).take(MOVERS).cloned().collect();
        let mut down: Vec<Mover> = movers.iter().rev().filter(|m| m.change < 0.0).take(MOVERS).cloned().collect();
        down.sort_by(|a, b| a.change.total_cmp(&b.change).then(a.user_id.cmp(&b.user_id)));

        Ok(TeamHistory { team: team.map(|t| t.name), unit: w.unit, periods: w.views, rows, goal_metric, up, down })
    }
}
