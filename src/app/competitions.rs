//! Competitions: creating and ending them, their standings for a season, and which season is due
//! to close (for the scheduler, which announces it once).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::{Snowflake, unknown_metric};
use crate::domain::competition::{Contest, Entry, Repeat, Scoring, Season, Seasons, Standing, standings};
use crate::domain::goals::{GoalMetric, GoalPeriod, GoalSubject, GoalVersion};
use crate::domain::kpi::Totals;
use crate::domain::period::{Period, PeriodSpec, PeriodUnit, local_date, local_day_start};
use crate::domain::settings::GuildSettings;
use crate::store::StoreError;
use crate::store::competitions::{CompetitionRow, NewCompetition};

/// A season's close and a closed season, as the storage interface speaks them (its row types; for
/// now the SQLite store's own, later backend-neutral).
pub use crate::store::competitions::{ClosedSeason, SeasonClose};

/// Ended competitions stay visible in `/compete list` and `/compete show` this long.
const SHOWN_AFTER_END_DAYS: i64 = 30;

/// A stored competition with its fields parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Competition {
    pub row: CompetitionRow,
    pub metric: GoalMetric,
    pub contest: Contest,
    pub scoring: Scoring,
    pub seasons: Seasons,
}

impl Competition {
    fn from_row(row: CompetitionRow) -> AppResult<Competition> {
        let broken = || AppError::Internal(StoreError::Corrupt(format!("competition {}", row.id)));
        Ok(Competition {
            metric: GoalMetric::from_column(&row.metric).ok_or_else(broken)?,
            contest: Contest::parse(&row.contest).map_err(|_| broken())?,
            scoring: Scoring::parse(&row.scoring).map_err(|_| broken())?,
            seasons: Seasons::new(row.first_day, row.last_day, Repeat::parse(&row.repeat).map_err(|_| broken())?)
                .map_err(|_| broken())?,
            row,
        })
    }
}

/// What `/compete create` asks for, as typed.
#[derive(Clone, Debug, Default)]
pub struct CompetitionRequest {
    pub name: String,
    pub metric: String,
    pub between: String,
    pub scoring: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub repeat: Option<String>,
    /// Team names, separated by commas.
    pub teams: Option<String>,
    pub channel_id: Option<u64>,
    pub reward_role: Option<u64>,
}

/// Standings of one season as of an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Board {
    pub season: Season,
    /// The local days scored: the season, cut short where the competition was ended early.
    pub window: Period,
    pub standings: Vec<Standing>,
    /// When the season ends (or ended).
    pub ends_at: DateTime<Utc>,
    /// The season is over: these are final standings.
    pub finished: bool,
    /// When the standings were read (UTC): what "time left" counts from.
    pub as_of: DateTime<Utc>,
}

/// Where a competition's seasons stand for the scheduler.
#[derive(Clone, Debug, PartialEq)]
pub enum SeasonState {
    /// `season` is over and not yet closed. `latest`: no later season is over too (older ones
    /// are closed without an announcement). `last`: the competition ends with it.
    Due { season: Season, latest: bool, last: bool },
    /// Nothing to close until this instant.
    Upcoming(DateTime<Utc>),
    /// Every season is closed, or the competition ended before the next one began.
    Over,
}

impl App {
    pub async fn create_competition(
        &self,
        guild: Snowflake,
        req: CompetitionRequest,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Competition> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(AppError::User("give the competition a name of 1 to 60 characters".into()));
        }
        let metric = GoalMetric::parse(&req.metric)?;
        if let GoalMetric::Kind(kind) = &metric {
            let kinds = self.store.kinds(g).await?;
            if !kinds.iter().any(|k| k.name == *kind) {
                return Err(AppError::User(unknown_metric(kind.as_str(), &GoalMetric::NAMED, &kinds)));
            }
        }
        let contest = Contest::parse(&req.between)?;
        let scoring = Scoring::parse(&req.scoring)?;
        if contest == Contest::Reps && scoring == Scoring::PerCapita {
            return Err(AppError::User(
                "per-capita scoring evens out teams of different size; between reps use total or percent-of-goal"
                    .into(),
            ));
        }
        let repeat = Repeat::parse(req.repeat.as_deref().unwrap_or(""))?;
        let start = req.start.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("today");
        let first_day = Period::resolve(&PeriodSpec::parse(start)?, &settings, now)?.first_day;
        let last_day = match req.end.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(end) => day_before(Period::resolve(&PeriodSpec::parse(end)?, &settings, now)?.end_day)?,
            None => match repeat {
                Repeat::None | Repeat::Weekly => first_day + Duration::days(6),
                Repeat::Monthly => first_day
                    .checked_add_months(chrono::Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .ok_or_else(|| AppError::User("that start is out of range".into()))?,
            },
        };
        let seasons = Seasons::new(first_day, last_day, repeat)?;
        if repeat == Repeat::None && local_day_start(settings.timezone, day_after(last_day)?) <= now {
            return Err(AppError::User(format!("that competition would already be over (its last day is {last_day})")));
        }
        let teams = self.team_ids(guild, req.teams.as_deref()).await?;
        let Some(channel_id) = req.channel_id else {
            return Err(AppError::User("choose the channel for standings and the winner announcement".into()));
        };
        let new = NewCompetition {
            name: name.to_string(),
            metric: metric.to_column(),
            contest: contest.as_str().into(),
            scoring: scoring.as_str().into(),
            first_day: seasons.first_day,
            last_day: seasons.last_day,
            repeat: repeat.as_str().into(),
            teams,
            channel_id: Some(channel_id),
            reward_role: req.reward_role,
        };
        if let Some(role) = req.reward_role {
            self.refuse_shared_reward_role(guild, role, &settings, now).await?;
        }
        let row = self.store.create_competition(g, new, actor, now).await?;
        self.schedules_changed();
        Competition::from_row(row)
    }

    /// A new competition's reward role must be nobody else's to give and take: not a `/reward`
    /// role (which follows members' numbers) and not the reward role of another competition that
    /// still has a season to close (each would take it from the other's winners). Errors: which
    /// one holds it, and what to do.
    async fn refuse_shared_reward_role(
        &self,
        guild: Snowflake,
        role: u64,
        settings: &GuildSettings,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        if let Some(reward) = self.rewards(guild).await?.into_iter().find(|r| r.row.role_id == role) {
            return Err(AppError::User(format!(
                "<@&{role}> is already given by `/reward` (reward {}), which gives and takes it by members' numbers: \
                 winners could lose it mid-season, or keep it past their season. Pick another role for the winners, \
                 or `/reward remove` it first.",
                reward.row.id
            )));
        }
        if let Some(other) = self.competition_giving(guild, role, settings, now).await? {
            return Err(AppError::User(format!(
                "<@&{role}> is already the reward role of the competition **{}**: each would take it from the \
                 other's winners. Pick another role for the winners.",
                other.row.name
            )));
        }
        Ok(())
    }

    /// The competition that gives `role` to its winners and still has a season to close (not
    /// ended, and its last season not over on the guild's local `now`), if any.
    pub(crate) async fn competition_giving(
        &self,
        guild: Snowflake,
        role: u64,
        settings: &GuildSettings,
        now: DateTime<Utc>,
    ) -> AppResult<Option<Competition>> {
        let today = local_date(settings.timezone, now);
        Ok(self.competitions(guild, now).await?.into_iter().find(|c| {
            c.row.reward_role == Some(role) && c.row.ended_at.is_none() && c.seasons.at_or_after(today).is_some()
        }))
    }

    /// Team ids from comma-separated names; every name must be a team. Empty: every team.
    async fn team_ids(&self, guild: Snowflake, names: Option<&str>) -> AppResult<Vec<i64>> {
        let mut ids = BTreeSet::new();
        for name in names.unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty()) {
            ids.insert(self.team(guild, name).await?.id);
        }
        Ok(ids.into_iter().collect())
    }

    /// The guild's competitions still running or ended in the last 30 days, newest first.
    pub async fn competitions(&self, guild: Snowflake, now: DateTime<Utc>) -> AppResult<Vec<Competition>> {
        let since = now - Duration::days(SHOWN_AFTER_END_DAYS);
        self.store
            .competitions(Some(guild.as_i64()), Some(since))
            .await?
            .into_iter()
            .map(Competition::from_row)
            .collect()
    }

    /// Records a season's close once, with its announcement and reward-role posts; false when it
    /// was recorded before.
    pub async fn close_season(&self, close: SeasonClose, now: DateTime<Utc>) -> AppResult<bool> {
        Ok(self.store.close_season(close, now).await?)
    }

    /// The competition's closed seasons, oldest first.
    pub async fn closed_seasons(&self, comp: &Competition) -> AppResult<Vec<ClosedSeason>> {
        Ok(self.store.closed_seasons(comp.row.id).await?)
    }

    /// Every guild's competitions that may still have a season to close (the scheduler's view).
    pub async fn competitions_to_close(&self, now: DateTime<Utc>) -> AppResult<Vec<Competition>> {
        let since = now - Duration::days(SHOWN_AFTER_END_DAYS);
        self.store.competitions(None, Some(since)).await?.into_iter().map(Competition::from_row).collect()
    }

    /// A competition by name (running ones first); without a name, the one running competition.
    pub async fn competition(
        &self,
        guild: Snowflake,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Competition> {
        let all = self.competitions(guild, now).await?;
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let mut matching: Vec<Competition> = match name {
            Some(n) => all.into_iter().filter(|c| c.row.name.eq_ignore_ascii_case(n)).collect(),
            None => all.into_iter().filter(|c| c.row.ended_at.is_none()).collect(),
        };
        matching.sort_by_key(|c| (c.row.ended_at.is_some(), std::cmp::Reverse(c.row.id)));
        match (name, matching.len()) {
            (Some(n), 0) => Err(AppError::User(format!("there is no competition named `{n}`; see /compete list"))),
            (None, 0) => Err(AppError::User("no competition is running; start one with /compete create".into())),
            (None, n) if n > 1 => Err(AppError::User(format!("{n} competitions are running; name the one you mean"))),
            _ => Ok(matching.swap_remove(0)),
        }
    }

    pub async fn end_competition(
        &self,
        guild: Snowflake,
        name: Option<&str>,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Competition> {
        let comp = self.competition(guild, name, now).await?;
        let row = self.store.end_competition(guild.as_i64(), comp.row.id, actor, now).await?;
        self.schedules_changed();
        Competition::from_row(row)
    }

    /// The standings of the season in progress (or the next to start, or the last one when the
    /// competition is over) as of `now`.
    pub async fn current_board(&self, comp: &Competition, now: DateTime<Utc>) -> AppResult<Board> {
        let settings = self.store.guild_settings(comp.row.guild_id).await?;
        let as_of = comp.row.ended_at.map_or(now, |e| e.min(now));
        let today = local_date(settings.timezone, as_of);
        let season = match comp.seasons.at_or_after(today) {
            Some(s) if comp.row.ended_at.is_none() || local_day_start(settings.timezone, s.first_day) < as_of => s,
            _ => self.last_season(comp, &settings, as_of)?,
        };
        self.board(comp, season, now).await
    }

    /// The season that ended last before `as_of`.
    fn last_season(&self, comp: &Competition, settings: &GuildSettings, as_of: DateTime<Utc>) -> AppResult<Season> {
        let today = local_date(settings.timezone, as_of);
        let next = comp.seasons.at_or_after(today).map_or(u32::MAX, |s| s.index);
        (0..next.min(100_000))
            .rev()
            .find_map(|i| comp.seasons.season(i))
            .or_else(|| comp.seasons.season(0))
            .ok_or_else(|| AppError::Internal(StoreError::Corrupt("a competition without seasons".into())))
    }

    /// The standings of `season` as of `now`.
    pub async fn board(&self, comp: &Competition, season: Season, now: DateTime<Utc>) -> AppResult<Board> {
        let g = comp.row.guild_id;
        let settings = self.store.guild_settings(g).await?;
        let mut end_day = season.end_day;
        let mut ends_at = local_day_start(settings.timezone, season.end_day);
        if let Some(ended) = comp.row.ended_at
            && ended < ends_at
        {
            ends_at = ended.max(local_day_start(settings.timezone, season.first_day));
            end_day = day_after(local_date(settings.timezone, ended))?.clamp(day_after(season.first_day)?, end_day);
        }
        let window = Period::from_days(season.first_day, end_day, PeriodUnit::Range, &settings)?;
        let entries = self.entries(comp, &window, &settings).await?;
        Ok(Board {
            season,
            standings: standings(comp.scoring, entries),
            window,
            ends_at,
            finished: ends_at <= now,
            as_of: now,
        })
    }

    /// Each participant's total, active members and (for percent-of-goal) target over `window`.
    async fn entries(&self, comp: &Competition, window: &Period, settings: &GuildSettings) -> AppResult<Vec<Entry>> {
        let g = comp.row.guild_id;
        let only: BTreeSet<i64> = comp.row.teams.iter().copied().collect();
        let teams: Vec<_> =
            self.store.teams(g).await?.into_iter().filter(|t| only.is_empty() || only.contains(&t.id)).collect();
        // Members the guild leaves off its boards (its exclusion role) neither compete nor add to
        // their team's total or its count of active members.
        let excluded = self.board_excluded(Snowflake::new(g as u64)?).await?;
        let members: Vec<_> =
            self.store.members(g).await?.into_iter().filter(|m| !excluded.contains(&m.user_id)).collect();
        let mut by_team: HashMap<i64, Totals> = HashMap::new();
        let mut by_user: HashMap<u64, Totals> = HashMap::new();
        let mut active: HashMap<i64, BTreeSet<u64>> = HashMap::new();
        for row in self.store.kind_totals(g, window.first_day, window.end_day).await? {
            if excluded.contains(&row.user_id) {
                continue;
            }
            by_team.entry(row.team_id).or_default().add(&row.kind, row.quantity, row.points, row.amount);
            by_user.entry(row.user_id).or_default().add(&row.kind, row.quantity, row.points, row.amount);
            if row.quantity > 0 {
                active.entry(row.team_id).or_default().insert(row.user_id);
            }
        }
        let subjects: Vec<(GoalSubject, u64, String, i64, u32)> = match comp.contest {
            Contest::Teams => teams
                .iter()
                .map(|t| {
                    let total = by_team.get(&t.id).map_or(0, |x| comp.metric.value(x));
                    let active = active.get(&t.id).map_or(0, |a| a.len() as u32);
                    (GoalSubject::Team(t.id), t.id as u64, t.name.clone(), total, active)
                })
                .collect(),
            Contest::Reps => {
                let team_ids: BTreeSet<i64> = teams.iter().map(|t| t.id).collect();
                members
                    .iter()
                    .filter(|m| team_ids.contains(&m.team_id) || (only.is_empty() && by_user.contains_key(&m.user_id)))
                    .filter_map(|m| {
                        let user = Snowflake::new(m.user_id).ok()?;
                        let totals = by_user.get(&m.user_id);
                        let total = totals.map_or(0, |x| comp.metric.value(x));
                        let active = u32::from(totals.is_some_and(|x| x.counts.values().any(|c| *c > 0)));
                        Some((GoalSubject::Member(user), m.user_id, m.user_name.clone(), total, active))
                    })
                    .collect()
            }
        };
        let targets = if comp.scoring == Scoring::PercentOfGoal {
            self.season_targets(g, &comp.metric, window, settings).await?
        } else {
            BTreeMap::new()
        };
        Ok(subjects
            .into_iter()
            .map(|(subject, id, name, total, active)| Entry {
                id,
                name,
                total,
                active,
                target: targets.get(&subject).copied(),
            })
            .collect())
    }

    /// Each subject's goal on `metric` for `window`: the goal of the period that equals the
    /// window, else the shortest goal period holding its first day, pro-rated by working days.
    async fn season_targets(
        &self,
        guild: i64,
        metric: &GoalMetric,
        window: &Period,
        settings: &GuildSettings,
    ) -> AppResult<BTreeMap<GoalSubject, f64>> {
        let exact = GoalPeriod::matching(window, settings);
        let mut units: Vec<GoalPeriod> = exact.into_iter().collect();
        units.extend(GoalPeriod::ALL.into_iter().filter(|u| Some(*u) != exact));
        let window_days = f64::from(window.working_days_between(window.first_day, window.end_day, settings));
        let mut out = BTreeMap::new();
        for unit in units {
            let period = unit.containing(window.first_day, settings)?;
            let period_days = f64::from(period.working_days_between(period.first_day, period.end_day, settings));
            if period_days <= 0.0 {
                continue;
            }
            let versions: Vec<GoalVersion> = self.store.goals_in_force(guild, unit, period.first_day).await?;
            for v in versions.into_iter().filter(|v| v.key.metric == *metric) {
                let share = if Some(unit) == exact { 1.0 } else { window_days / period_days };
                out.entry(v.key.subject).or_insert(v.target as f64 * share);
            }
        }
        Ok(out)
    }

    /// The season the scheduler should close next, if one is over.
    pub async fn due_season(&self, comp: &Competition, now: DateTime<Utc>) -> AppResult<SeasonState> {
        let settings = self.store.guild_settings(comp.row.guild_id).await?;
        let closed = self.store.closed_seasons(comp.row.id).await?;
        let next = closed.last().map_or(0, |s| s.season + 1);
        let tz = settings.timezone;
        // When season `i` ends, cut short by an early end; `None` when it never runs.
        let end_of = |i: u32| -> Option<DateTime<Utc>> {
            let season = comp.seasons.season(i)?;
            let start = local_day_start(tz, season.first_day);
            let end = local_day_start(tz, season.end_day);
            match comp.row.ended_at {
                Some(e) if e <= start => None,
                Some(e) => Some(end.min(e.max(start))),
                None => Some(end),
            }
        };
        let Some(ends) = end_of(next) else { return Ok(SeasonState::Over) };
        if ends > now {
            return Ok(SeasonState::Upcoming(ends));
        }
        let season = comp
            .seasons
            .season(next)
            .ok_or_else(|| AppError::Internal(StoreError::Corrupt("a season past the calendar".into())))?;
        let later = end_of(next + 1);
        let latest = later.is_none_or(|l| l > now);
        let last = later.is_none() || comp.row.ended_at.is_some_and(|e| e <= local_day_start(tz, season.end_day));
        Ok(SeasonState::Due { season, latest, last })
    }

    /// Who gets the reward for a board: the winning reps, or every current member of a winning
    /// team.
    pub async fn winner_users(&self, comp: &Competition, board: &Board) -> AppResult<Vec<u64>> {
        let winners: BTreeSet<u64> =
            crate::domain::competition::winners(&board.standings).iter().map(|s| s.entry.id).collect();
        if comp.contest == Contest::Reps {
            return Ok(winners.into_iter().collect());
        }
        let excluded = self.board_excluded(Snowflake::new(comp.row.guild_id as u64)?).await?;
        let members = self.store.members(comp.row.guild_id).await?;
        Ok(members
            .into_iter()
            .filter(|m| winners.contains(&(m.team_id as u64)) && !excluded.contains(&m.user_id))
            .map(|m| m.user_id)
            .collect())
    }
}

fn day_after(d: NaiveDate) -> AppResult<NaiveDate> {
    d.succ_opt().ok_or_else(|| AppError::User("that date is out of range".into()))
}

fn day_before(d: NaiveDate) -> AppResult<NaiveDate> {
    d.pred_opt().ok_or_else(|| AppError::User("that date is out of range".into()))
}
