//! History over the last N periods of one kind: a rep against their team's spread (`/kpi rep`),
//! and a team's totals with the reps who moved most against their own past (`/kpi team
//! history:N`). Reads, for all periods at once, the team in question's reps (not the guild's) as
//! one row per rep and period summed in SQL with only the kinds the reply shows, the team's own
//! kind totals, and the goals in force; never raw activities. Members the guild leaves off its
//! boards count in no median, rank or total.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::report::{PeriodView, view};
use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::activity::WON;
use crate::domain::goals::{GoalMetric, GoalPeriod, GoalSubject, GoalVersion};
use crate::domain::history::{self, Judgement, Spread, Standing};
use crate::domain::kpi::{IMPROVEMENT_BASE_POINTS, Totals, competition_ranks};
use crate::domain::period::{Period, PeriodSpec, PeriodUnit, local_date};
use crate::store::TotalsScope;

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

/// The periods both histories share.
struct Window {
    periods: Vec<Period>,
    views: Vec<PeriodView>,
    latest_is_current: bool,
    unit: PeriodUnit,
    goal_unit: Option<GoalPeriod>,
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
        })
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
        let w = self.window(guild, spec, n, now).await?;
        let excluded = self.board_excluded(guild).await?;
        let left_off = excluded.contains(&u);
        let team_names: HashMap<i64, String> = self.store.teams(g).await?.into_iter().map(|t| (t.id, t.name)).collect();
        let ranges = |scope: &dyn Fn(usize) -> TotalsScope| -> Vec<(NaiveDate, NaiveDate, TotalsScope)> {
            w.periods.iter().enumerate().map(|(i, p)| (p.first_day, p.end_day, scope(i))).collect()
        };

        // The rep's team in each period: the one they earned most points for, then the lowest id
        // (a tie reads the same every time), else the team they are on now.
        let mine = self.store.kind_totals_many(g, ranges(&|_| TotalsScope::Member(user.as_i64()))).await?;
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
        let scopes: Vec<TotalsScope> =
            period_teams.iter().map(|t| t.map_or(TotalsScope::Guild, TotalsScope::Team)).collect();

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
        let mut goal_counts: BTreeMap<GoalMetric, usize> = BTreeMap::new();
        for p in &member_goals {
            for (who, metric) in p.keys() {
                if *who == u {
                    *goal_counts.entry(metric.clone()).or_default() += 1;
                }
            }
        }
        let goal_metric = if goal_counts.contains_key(&GoalMetric::Points) {
            Some(GoalMetric::Points)
        } else {
            goal_counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(m, _)| m.clone())
        };

        // The kinds that earned the rep's teams most over the window: each team's own rollups
        // (the guild's for a rep on none) less what members left off the boards did for it, and
        // the rep's own on their other teams.
        let team_kinds = self
            .store
            .team_kind_totals_many(
                g,
                w.periods.iter().zip(&period_teams).map(|(p, t)| (p.first_day, p.end_day, *t)).collect(),
            )
            .await?;
        let mut kind_points: BTreeMap<String, i64> = BTreeMap::new();
        for rows in &team_kinds {
            for (_, kind, _, points, _) in rows {
                *kind_points.entry(kind.clone()).or_default() += points;
            }
        }
        let mut left: Vec<u64> = excluded.iter().copied().collect();
        left.sort_unstable();
        let theirs: Vec<(NaiveDate, NaiveDate, TotalsScope)> = left
            .iter()
            .flat_map(|x| w.periods.iter().map(move |p| (p.first_day, p.end_day, TotalsScope::Member(*x as i64))))
            .collect();
        let theirs = if theirs.is_empty() { Vec::new() } else { self.store.kind_totals_many(g, theirs).await? };
        for (j, rows) in theirs.iter().enumerate() {
            let team = period_teams[j % w.periods.len()];
            for r in rows.iter().filter(|r| team.is_none_or(|t| r.team_id == t)) {
                *kind_points.entry(r.kind.clone()).or_default() -= r.points;
            }
        }
        if !left_off {
            for (rows, team) in mine.iter().zip(&period_teams) {
                for r in rows.iter().filter(|r| team.is_some_and(|t| r.team_id != t)) {
                    *kind_points.entry(r.kind.clone()).or_default() += r.points;
                }
            }
        }
        let mut kinds: Vec<(String, i64)> = kind_points.into_iter().filter(|(_, p)| *p > 0).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let kinds: Vec<String> = kinds.into_iter().take(HISTORY_KINDS).map(|(k, _)| k).collect();

        // Per period: the team's reps' sums (with the kinds above and the goal's), and whom the rep
        // is compared with.
        let mut wanted = kinds.clone();
        match &goal_metric {
            Some(GoalMetric::DealsWon) => wanted.push(WON.to_string()),
            Some(GoalMetric::Kind(k)) => wanted.push(k.as_str().to_string()),
            _ => {}
        }
        wanted.sort_unstable();
        wanted.dedup();
        let sums = self.store.member_sums_many(g, wanted.clone(), ranges(&|i| scopes[i])).await?;
        let mut totals: Vec<HashMap<u64, Totals>> = Vec::new();
        let mut groups: Vec<Vec<u64>> = Vec::new();
        let mut teams: Vec<Option<String>> = Vec::new();
        let mut active: Vec<bool> = Vec::new();
        for ((rows, own), &team) in sums.iter().zip(&mine).zip(&period_teams) {
            let mut t: HashMap<u64, Totals> = HashMap::new();
            for s in rows.iter().filter(|s| s.user_id != u && !excluded.contains(&s.user_id)) {
                let e = t.entry(s.user_id).or_default();
                e.points += s.points;
                e.revenue += s.revenue;
                for (kind, n) in wanted.iter().zip(&s.counts).filter(|(_, n)| **n != 0) {
                    *e.counts.entry(kind.clone()).or_default() += n;
                }
            }
            // The rep with everything they logged, on any team (even when the guild leaves them
            // off its boards); teammates with what they did for the team.
            let mut group: Vec<u64> = t.keys().copied().collect();
            if !left_off {
                group.push(u);
            }
            group.sort_unstable();
            active.push(!own.is_empty());
            if !own.is_empty() {
                let e = t.entry(u).or_default();
                for r in own {
                    e.add(&r.kind, r.quantity, r.points, r.amount);
                }
            }
            teams.push(team.and_then(|t| team_names.get(&t).cloned()));
            groups.push(group);
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
        for kind in kinds {
            let k = kind.clone();
            line(HistoryMetric::Kind(kind), &move |t| Some(t.count(&k) as f64));
        }
        line(HistoryMetric::Revenue, &|t| Some(t.revenue as f64));

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
        let w = self.window(guild, spec, n, now).await?;
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

        // Each rep's points, revenue and deals won for the team (and the goal's kind), one row per
        // rep and period; a team's own history reads its members' points now on any team too.
        let mut kinds = vec![WON.to_string()];
        if let Some(GoalMetric::Kind(k)) = &goal_metric
            && k.as_str() != WON
        {
            kinds.push(k.as_str().to_string());
        }
        let scope = team.as_ref().map_or(TotalsScope::Guild, |t| TotalsScope::Team(t.id));
        let ranges = |scope: TotalsScope| w.periods.iter().map(|p| (p.first_day, p.end_day, scope)).collect();
        let credited = self.store.member_sums_many(g, kinds.clone(), ranges(scope)).await?;
        let own = match &team {
            Some(t) => Some(self.store.points_totals_many(g, ranges(TotalsScope::CurrentTeam(t.id))).await?),
            None => None,
        };

        let mut rows = Vec::new();
        let mut points_by: Vec<HashMap<u64, i64>> = Vec::new();
        for (i, sums) in credited.iter().enumerate() {
            let mut by_member: HashMap<u64, i64> = HashMap::new();
            let mut all = Totals::default();
            for s in sums.iter().filter(|s| !excluded.contains(&s.user_id)) {
                *by_member.entry(s.user_id).or_default() += s.points;
                all.points += s.points;
                all.revenue += s.revenue;
                for (kind, n) in kinds.iter().zip(&s.counts).filter(|(_, n)| **n != 0) {
                    *all.counts.entry(kind.clone()).or_default() += n;
                }
            }
            let values: Vec<f64> = by_member.values().map(|p| *p as f64).collect();
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
            points_by.push(match &own {
                Some(own) => {
                    let mut theirs: HashMap<u64, i64> = HashMap::new();
                    for (user, _, points) in own[i].iter().filter(|r| !excluded.contains(&r.0)) {
                        *theirs.entry(*user).or_default() += points;
                    }
                    theirs
                }
                None => by_member,
            });
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
