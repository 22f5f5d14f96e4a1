//! The deal pipeline's use cases: stages, opening, moving and closing deals, listing them, the
//! funnel of a rep or team next to its benchmark, mentor suggestions, and the reads the forecast
//! builds on (open pipeline, won revenue per day).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::report::PeriodView;
use super::{App, AppError, AppResult};
use crate::domain::activity::{Amount, Name, Snowflake};
use crate::domain::period::local_day_start;
use crate::domain::period::{Period, PeriodSpec, local_date};
use crate::domain::pipeline::{
    DealName, FunnelStats, Gap, LostReason, MIN_SAMPLE, Outcome, Pipeline, ProcessFlag, StageName, Step, TREND_PERIODS,
    mentor_matches_except, process_flags, weakest_step,
};
use crate::domain::settings::GuildSettings;
use crate::store::{CloseDeal, DealChanged, DealQuery, DealTotals, FunnelDeal, NewDeal, OpenDeal};

/// A stored deal, as the storage interface returns it (its row type; for now the SQLite store's
/// own, later backend-neutral).
pub use crate::store::DealRecord;

/// What a rep asked to open, already parsed.
#[derive(Clone, Debug)]
pub struct OpenDealRequest {
    pub guild: Snowflake,
    pub user: Snowflake,
    pub user_name: Name,
    pub name: DealName,
    pub value: Amount,
    pub stage: Option<StageName>,
    /// Expected close, a local date in the guild's timezone.
    pub close: Option<NaiveDate>,
    /// The interaction id (or another unique key): a redelivery opens nothing new.
    pub idem_key: String,
}

/// Closing a deal: who, which, and how.
#[derive(Clone, Debug)]
pub struct CloseDealRequest {
    pub guild: Snowflake,
    pub user: Snowflake,
    pub user_name: Name,
    pub name: DealName,
    pub outcome: Outcome,
    pub value: Option<Amount>,
    pub reason: Option<LostReason>,
    /// Becomes the idempotency key of the `won`/`lost` activity the close logs.
    pub idem_key: String,
}

/// Which deals to list.
#[derive(Clone, Debug, Default)]
pub struct DealFilter {
    pub user: Option<Snowflake>,
    pub team: Option<String>,
    pub stage: Option<StageName>,
}

#[derive(Clone, Debug)]
pub struct DealList {
    /// The rows asked for (one page).
    pub deals: Vec<DealRecord>,
    /// Every matching deal: how many, their value and their weighted value.
    pub totals: DealTotals,
    /// Whether open deals were listed (false: a closing stage was asked for).
    pub open: bool,
}

/// Most deals read for one autocomplete list: more would not fit one anyway.
const LIST_LIMIT: u32 = 200;

/// Whose funnel.
#[derive(Clone, Debug, PartialEq)]
pub enum FunnelSubject {
    Rep(Snowflake),
    Team(String),
    /// The whole server (every team's deals), next to its own deals of the [`HISTORY_DAYS`] before.
    Server,
}

/// A funnel next to its benchmark: a rep next to their team (all reps when they are on none), a
/// team next to the whole guild, the whole guild next to its own year before.
#[derive(Clone, Debug, Serialize)]
pub struct FunnelReport {
    pub subject: String,
    pub benchmark: String,
    pub period: PeriodView,
    pub pipeline: Pipeline,
    pub mine: FunnelStats,
    pub theirs: FunnelStats,
    /// Minor units per day: the rep's own velocity, or a team's per rep; the benchmark's per rep.
    pub my_velocity: Option<f64>,
    pub their_velocity: Option<f64>,
    /// Where the subject falls furthest below the benchmark.
    pub gap: Option<Gap>,
    /// Stages where the team (a team's funnel; a rep's team, or all reps, for a rep's) stalls as
    /// a whole: the process, not one rep.
    pub process: Vec<ProcessFlag>,
    /// The team (or `all reps`) the process flags are about.
    pub process_of: String,
    /// What one period of the trend is called: `quarter`, `month` ...
    pub trend_noun: &'static str,
    /// Whose rate the trend is: `team`, or `server` for the whole server's funnel.
    pub trend_group: &'static str,
}

/// One rep's coaching suggestion.
#[derive(Clone, Debug, Serialize)]
pub struct MentorLine {
    pub rep: String,
    pub step: Step,
    /// The teammate's name and numbers on the same step.
    pub mentor: Option<(String, Step)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TeamMentoring {
    pub team: String,
    /// Stages the whole team stalls at: left out of the pairings.
    pub process: Vec<ProcessFlag>,
    pub lines: Vec<MentorLine>,
    /// Reps without enough deals at any stage to say where they convert worst.
    pub thin: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MentorReport {
    pub period: PeriodView,
    /// What one period of a process flag's trend is called.
    pub trend_noun: &'static str,
    pub teams: Vec<TeamMentoring>,
}

/// Without a period, mentoring looks at the deals opened in the last 365 days: long enough for a
/// few deals per stage, recent enough to reflect how a rep sells today.
const MENTOR_DAYS: i64 = 365;

impl App {
    /// The guild's stages in pipeline order.
    pub async fn pipeline(&self, guild: Snowflake) -> AppResult<Pipeline> {
        Ok(self.store.pipeline(guild.as_i64()).await?)
    }

    /// Adds an open stage or changes its probability and place (1-based among open stages).
    pub async fn set_stage(
        &self,
        guild: Snowflake,
        name: &str,
        probability: i64,
        position: Option<i64>,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Pipeline> {
        let name = StageName::parse(name)?;
        Ok(self.store.set_stage(guild.as_i64(), name, probability, position, actor, now).await?)
    }

    /// Removes an open stage no open deal sits in.
    pub async fn remove_stage(
        &self,
        guild: Snowflake,
        name: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Pipeline> {
        let name = StageName::parse(name)?;
        Ok(self.store.remove_stage(guild.as_i64(), name, actor, now).await?)
    }

    /// Refuses `/deal` changes where deals come from the CRM (its `won` kind is CRM-fed): the CRM
    /// is the pipeline's source of truth there, and the next sync would undo the change.
    async fn refuse_crm_deals(&self, guild: i64) -> AppResult<()> {
        let settings = self.store.guild_settings(guild).await?;
        let won = crate::domain::activity::KindName::parse(crate::domain::activity::WON)?;
        super::crm::refuse_crm_fed(&settings, &won, "Deals")
    }

    /// Opens a deal for the requester. An expected close date may not lie in the past: a deal
    /// that should have closed already is a typo or a deal to update, not one to open.
    pub async fn open_deal(&self, req: OpenDealRequest, now: DateTime<Utc>) -> AppResult<DealChanged> {
        let guild = req.guild.as_i64();
        self.refuse_crm_deals(guild).await?;
        if let Some(close) = req.close {
            let settings = self.store.guild_settings(guild).await?;
            let today = local_date(settings.timezone, now);
            if close < today {
                return Err(AppError::User(format!(
                    "the expected close date {close} is in the past (today is {today})"
                )));
            }
        }
        let deal = NewDeal {
            guild,
            user: req.user.as_i64(),
            user_name: req.user_name.as_str().to_string(),
            name: req.name,
            value: req.value,
            stage: req.stage,
            expected_close: req.close,
            idem_key: req.idem_key,
        };
        Ok(self.store.open_deal(deal, now).await?)
    }

    /// Moves one of the user's open deals to another open stage; returns it and the stage it left.
    pub async fn move_deal(
        &self,
        guild: Snowflake,
        user: Snowflake,
        name: DealName,
        stage: StageName,
        now: DateTime<Utc>,
    ) -> AppResult<(DealChanged, String)> {
        self.refuse_crm_deals(guild.as_i64()).await?;
        Ok(self.store.move_deal(guild.as_i64(), user.as_i64(), name, stage, now).await?)
    }

    /// Wins or loses one of the user's open deals, logging its `won` (with the amount) or `lost`
    /// activity in the same transaction.
    pub async fn close_deal(&self, req: CloseDealRequest, now: DateTime<Utc>) -> AppResult<DealChanged> {
        self.refuse_crm_deals(req.guild.as_i64()).await?;
        if req.outcome == Outcome::Lost && req.value.is_some() {
            return Err(AppError::User("a lost deal has no value to record".into()));
        }
        let close = CloseDeal {
            guild: req.guild.as_i64(),
            user: req.user.as_i64(),
            user_name: req.user_name.as_str().to_string(),
            name: req.name,
            outcome: req.outcome,
            value: req.value,
            reason: req.reason,
            idem_key: req.idem_key,
        };
        let changed = self.store.close_deal(close, now).await?;
        self.figures_changed(req.guild.as_i64()).await;
        Ok(changed)
    }

    /// Deals matching the filter: open ones, or those closed in a closing stage when one is asked
    /// for, soonest expected close first. `page` picks which of them to read (`rows(total)` gives
    /// the row range for the number matching), so that a page past the end can be refused.
    pub async fn list_deals(
        &self,
        guild: Snowflake,
        filter: DealFilter,
        rows: impl FnOnce(usize) -> AppResult<std::ops::Range<usize>>,
    ) -> AppResult<DealList> {
        let g = guild.as_i64();
        let team = match &filter.team {
            Some(name) => Some(self.team(guild, name).await?.id),
            None => None,
        };
        let pipeline = self.store.pipeline(g).await?;
        let stage = match &filter.stage {
            Some(name) => Some(
                pipeline
                    .get(name.as_str())
                    .ok_or_else(|| AppError::User(format!("there is no stage `{name}`")))?
                    .clone(),
            ),
            None => None,
        };
        let open = stage.as_ref().is_none_or(|s| s.is_open());
        let query = DealQuery {
            user: filter.user.map(Snowflake::as_i64),
            team,
            stage: stage.map(|s| s.name.as_str().to_string()),
            open_only: open,
            limit: 0,
            offset: 0,
        };
        let totals = self.store.count_deals(g, query.clone()).await?;
        let range = rows(usize::try_from(totals.count).unwrap_or(usize::MAX))?;
        let query = DealQuery {
            limit: u32::try_from(range.len()).unwrap_or(u32::MAX),
            offset: u32::try_from(range.start).unwrap_or(u32::MAX),
            ..query
        };
        let deals = if range.is_empty() { Vec::new() } else { self.store.deals(g, query).await? };
        Ok(DealList { deals, totals, open })
    }

    /// The user's open deals (for autocomplete).
    pub async fn open_deals_of(&self, guild: Snowflake, user: Snowflake) -> AppResult<Vec<DealRecord>> {
        let query = DealQuery { user: Some(user.as_i64()), open_only: true, limit: LIST_LIMIT, ..DealQuery::default() };
        Ok(self.store.deals(guild.as_i64(), query).await?)
    }

    /// The funnel of deals opened in the period (a cohort: every number describes the same deals,
    /// so a rep and their team are compared on the same footing), next to its benchmark.
    pub async fn funnel(
        &self,
        guild: Snowflake,
        subject: FunnelSubject,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<FunnelReport> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let pipeline = self.store.pipeline(g).await?;
        let window = ProcessWindow::new(&period, &settings)?;
        let all = self.store.funnel_deals(g, window.read_from(), period.end).await?;
        let deals: Vec<FunnelDeal> = all.iter().filter(|d| period.contains(d.facts.opened_at)).cloned().collect();
        let facts = |keep: &dyn Fn(&FunnelDeal) -> bool| {
            deals.iter().filter(|d| keep(d)).map(|d| d.facts.clone()).collect::<Vec<_>>()
        };
        // The group the process is judged on: the benchmark's team, or everyone.
        let mut group: Option<i64> = None;
        let server = subject == FunnelSubject::Server;
        let (subject_name, benchmark_name, mine, theirs, per_rep) = match subject {
            FunnelSubject::Rep(user) => {
                let member = self.store.member(g, user.as_i64()).await?;
                let name = member.as_ref().map_or_else(|| format!("<@{user}>"), |m| m.user_name.clone());
                let team_id = member.as_ref().map_or(0, |m| m.team_id);
                let team = match team_id {
                    0 => None,
                    id => self.store.teams(g).await?.into_iter().find(|t| t.id == id),
                };
                let mine = facts(&|d| d.facts.owner == user.get());
                match team {
                    Some(team) => {
                        group = Some(team.id);
                        let theirs = facts(&|d| d.team_id == team.id);
                        (name, format!("team {}", team.name), mine, theirs, false)
                    }
                    None => (name, "all reps".to_string(), mine, facts(&|_| true), false),
                }
            }
            FunnelSubject::Team(name) => {
                let team = self.team(guild, &name).await?;
                group = Some(team.id);
                let mine = facts(&|d| d.team_id == team.id);
                (format!("team {}", team.name), "all teams".to_string(), mine, facts(&|_| true), true)
            }
            FunnelSubject::Server => {
                // The server has no peer to stand next to: its own year before is the benchmark, the
                // same rate the process flags judge each stage against.
                let before: Vec<_> = window.history_deals(&all).map(|d| d.facts.clone()).collect();
                ("the server".to_string(), "the year before".to_string(), facts(&|_| true), before, true)
            }
        };
        // A team's own funnel judges that team; a rep's judges the team they are compared with.
        let process_of = if per_rep { subject_name.clone() } else { benchmark_name.clone() };
        let process = window.flags(&pipeline, &all, |d| group.is_none_or(|t| d.team_id == t));
        let mine = FunnelStats::compute(&pipeline, &mine);
        let theirs = FunnelStats::compute(&pipeline, &theirs);
        let gap = weakest_step(&mine, &theirs, MIN_SAMPLE);
        Ok(FunnelReport {
            subject: subject_name,
            benchmark: benchmark_name,
            period: super::report::view(spec.to_string(), &period),
            my_velocity: if per_rep { mine.velocity_per_rep() } else { mine.velocity() },
            their_velocity: theirs.velocity_per_rep(),
            pipeline,
            mine,
            theirs,
            gap,
            process,
            process_of,
            trend_noun: crate::domain::history::noun(period.unit),
            trend_group: if group.is_none() && server { "server" } else { "team" },
        })
    }

    /// For each rep of each team (or of one team): the stage they convert worst at, with at least
    /// [`MIN_SAMPLE`] deals reaching it, and the teammate who converts best there. A rep's own deals
    /// count whichever team they were opened under: it is the rep who is coached. Reps on no team
    /// have no teammates and are left out.
    pub async fn mentor_suggestions(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        spec: Option<&PeriodSpec>,
        now: DateTime<Utc>,
    ) -> AppResult<MentorReport> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let (label, spec) = match spec {
            Some(s) => (s.to_string(), s.clone()),
            None => {
                let today = local_date(settings.timezone, now);
                let first = today - Duration::days(MENTOR_DAYS - 1);
                (format!("last {MENTOR_DAYS} days"), PeriodSpec::Range { first, last: today })
            }
        };
        let period = Period::resolve(&spec, &settings, now)?;
        let teams = match team {
            Some(name) => vec![self.team(guild, name).await?],
            None => self.store.teams(g).await?,
        };
        let members = self.store.members(g).await?;
        let pipeline = self.store.pipeline(g).await?;
        let window = ProcessWindow::new(&period, &settings)?;
        let all = self.store.funnel_deals(g, window.read_from(), period.end).await?;
        let deals: Vec<FunnelDeal> = all.iter().filter(|d| period.contains(d.facts.opened_at)).cloned().collect();
        let mut out = Vec::new();
        for team in teams {
            let process = window.flags(&pipeline, &all, |d| d.team_id == team.id);
            let skip: Vec<String> = process.iter().map(|f| f.step.from.clone()).collect();
            let mut reps: Vec<_> = members.iter().filter(|m| m.team_id == team.id).collect();
            reps.sort_by_key(|m| (m.user_name.to_lowercase(), m.user_id));
            let stats: Vec<(u64, FunnelStats)> = reps
                .iter()
                .map(|m| {
                    let own: Vec<_> =
                        deals.iter().filter(|d| d.facts.owner == m.user_id).map(|d| d.facts.clone()).collect();
                    (m.user_id, FunnelStats::compute(&pipeline, &own))
                })
                .collect();
            let name_of =
                |id: u64| reps.iter().find(|m| m.user_id == id).map_or(id.to_string(), |m| m.user_name.clone());
            let matches = mentor_matches_except(&stats, MIN_SAMPLE, &skip);
            // Thin: no stage with enough deals at all. A rep whose only such stages are the
            // process's is not thin; the process line speaks for them.
            let thin = reps
                .iter()
                .zip(&stats)
                .filter(|(m, (_, s))| {
                    !matches.iter().any(|x| x.rep == m.user_id) && !s.steps.iter().any(|s| s.reached_from >= MIN_SAMPLE)
                })
                .map(|(m, _)| m.user_name.clone())
                .collect();
            let lines = matches
                .into_iter()
                .map(|m| MentorLine {
                    rep: name_of(m.rep),
                    step: m.step,
                    mentor: m.mentor.map(|(id, step)| (name_of(id), step)),
                })
                .collect();
            out.push(TeamMentoring { team: team.name, process, lines, thin });
        }
        Ok(MentorReport {
            period: super::report::view(label, &period),
            trend_noun: crate::domain::history::noun(period.unit),
            teams: out,
        })
    }

    /// The guild's open deals, or one team's, with value, stage probability and expected close day.
    pub async fn open_pipeline(&self, guild: Snowflake, team: Option<&str>) -> AppResult<Vec<OpenDeal>> {
        let team = match team {
            Some(name) => Some(self.team(guild, name).await?.id),
            None => None,
        };
        Ok(self.store.open_pipeline(guild.as_i64(), team).await?)
    }

    /// Won revenue per local day in the period (days without wins left out), for the guild or one
    /// team; read from the day rollups of `won`.
    pub async fn won_revenue_by_day(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        period: &Period,
    ) -> AppResult<Vec<(NaiveDate, i64)>> {
        let team = match team {
            Some(name) => Some(self.team(guild, name).await?.id),
            None => None,
        };
        Ok(self.store.won_revenue_by_day(guild.as_i64(), team, period.first_day, period.end_day).await?)
    }
}

/// Days of deals before a period that make the guild's historical rate at each stage.
pub const HISTORY_DAYS: i64 = 365;

/// The periods a process flag looks at: the period and the [`TREND_PERIODS`]` - 1` before it
/// (the team's trend), and the [`HISTORY_DAYS`] before the period (the guild's own rate).
struct ProcessWindow {
    trend: Vec<Period>,
    history: (DateTime<Utc>, DateTime<Utc>),
}

impl ProcessWindow {
    fn new(period: &Period, settings: &GuildSettings) -> AppResult<ProcessWindow> {
        let mut trend = vec![period.clone()];
        while trend.len() < TREND_PERIODS {
            let before = trend.last().map(|p| p.previous(settings)).transpose()?;
            trend.extend(before);
        }
        trend.reverse();
        let first = period.first_day - Duration::days(HISTORY_DAYS);
        Ok(ProcessWindow { trend, history: (local_day_start(settings.timezone, first), period.start) })
    }

    /// The earliest instant any part of the window reads from.
    fn read_from(&self) -> DateTime<Utc> {
        self.trend.first().map_or(self.history.0, |p| p.start.min(self.history.0))
    }

    /// The deals of `all` opened in the [`HISTORY_DAYS`] before the period: the guild's own rate.
    fn history_deals<'a>(&self, all: &'a [FunnelDeal]) -> impl Iterator<Item = &'a FunnelDeal> + use<'a> {
        let (from, to) = self.history;
        all.iter().filter(move |d| d.facts.opened_at >= from && d.facts.opened_at < to)
    }

    /// The process flags of the group `keep` selects, from `all` (deals opened since
    /// [`ProcessWindow::read_from`]): its reps' funnels in the period against the guild's rate over
    /// the year before, and its own rate in each period of the trend.
    fn flags(&self, pipeline: &Pipeline, all: &[FunnelDeal], keep: impl Fn(&FunnelDeal) -> bool) -> Vec<ProcessFlag> {
        let Some(period) = self.trend.last() else { return Vec::new() };
        let in_period: Vec<&FunnelDeal> =
            all.iter().filter(|d| keep(d) && period.contains(d.facts.opened_at)).collect();
        let group = FunnelStats::compute(pipeline, &in_period.iter().map(|d| d.facts.clone()).collect::<Vec<_>>());
        let mut owners: Vec<u64> = in_period.iter().map(|d| d.facts.owner).collect();
        owners.sort_unstable();
        owners.dedup();
        let reps: Vec<FunnelStats> = owners
            .iter()
            .map(|o| {
                let own: Vec<_> = in_period.iter().filter(|d| d.facts.owner == *o).map(|d| d.facts.clone()).collect();
                FunnelStats::compute(pipeline, &own)
            })
            .collect();
        let before: Vec<_> = self.history_deals(all).map(|d| d.facts.clone()).collect();
        let historical = FunnelStats::compute(pipeline, &before);
        let trend: Vec<FunnelStats> = self
            .trend
            .iter()
            .map(|p| {
                let facts: Vec<_> =
                    all.iter().filter(|d| keep(d) && p.contains(d.facts.opened_at)).map(|d| d.facts.clone()).collect();
                FunnelStats::compute(pipeline, &facts)
            })
            .collect();
        process_flags(&group, &reps, &historical, &trend, MIN_SAMPLE)
    }
}
