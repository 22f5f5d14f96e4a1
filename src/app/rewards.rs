//! Role rewards as use cases: `/reward add|list|remove`, with the checks Discord will apply to the
//! bot giving the role; and the evaluation pass the scheduler runs after members' activity changes
//! (any ingestion path marks its guild, see [`App::activity_changed`]) and at every period boundary,
//! which compares each member's figure in the current period with the threshold and the holders
//! rally recorded, and queues the role changes (see `domain::rewards` for the rule).
//!
//! Decisions: a removed reward takes its role back from the members rally gave it to; a member who
//! holds the role from elsewhere (last seen holding it, not given by rally) keeps it and is never
//! given it by rally; a member left off the boards (the exclusion role) never holds it from rally.
//! Must not import serenity: the role lookup is the [`RoleDirectory`] the Discord edge installs.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalMetric, GoalPeriod};
use crate::domain::kpi::Totals;
use crate::domain::rewards::{self as rules, RoleProblem, parse_threshold};

pub use crate::domain::rewards::RoleInfo;
pub use crate::store::rewards::{Added, RewardRow};

/// A guild's roles and the bot's own roles, as Discord lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildRoles {
    pub roles: Vec<RoleInfo>,
    /// The ids of the roles the bot's member holds.
    pub bot_roles: Vec<u64>,
}

/// Reads a guild's roles and the bot's own (Discord's `GET /guilds/{id}/roles` and the bot's
/// member). Implemented by the Discord edge; `app` never speaks HTTP. The error is a short
/// description of what failed (never a token).
pub trait RoleDirectory: Send + Sync {
    /// `guild`'s roles (@everyone among them, its id the guild's) and the roles the bot holds there.
    fn guild_roles<'a>(&'a self, guild: u64) -> Pin<Box<dyn Future<Output = Result<GuildRoles, String>> + Send + 'a>>;
}

/// A reward as a manager asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardRequest {
    pub role: u64,
    /// As typed: `won`, `deals-won`, `points`, `revenue` or a kind.
    pub metric: String,
    /// As typed: `week`, `month`, `quarter`, `year`.
    pub period: String,
    /// As typed: a whole number, or an amount for revenue.
    pub at_least: String,
    /// Where a refused role change is reported.
    pub channel: Option<u64>,
    /// Whether the bot holds Manage Roles (or Administrator) here; `None` off Discord.
    pub manage_roles: Option<bool>,
}

/// Whether rally could check that Discord will let it give the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleCheck {
    /// Manage Roles and the hierarchy both allow it.
    Passed,
    /// Not checked, and why (off Discord, or Discord did not answer).
    Unchecked(String),
}

/// A reward in domain terms: its row and its parsed rule (`None` for a row that no longer reads,
/// such as a kind that was renamed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reward {
    pub row: RewardRow,
    pub rule: Option<rules::RewardRule>,
}

/// What one evaluation pass did, and when the earliest period of the rewards it saw ends (the next
/// boundary at which holders may lose their role).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewardPass {
    pub given: usize,
    pub taken: usize,
    /// Whether every guild was looked at (asked for, or a reward was added or removed since).
    pub full: bool,
    pub next_boundary: Option<DateTime<Utc>>,
}

/// Guilds whose activity changed since the last pass; `all` asks for every guild (a reward added or
/// removed, which may also move the next boundary).
#[derive(Debug, Default)]
pub(crate) struct RewardDirty {
    guilds: HashSet<i64>,
    all: bool,
    /// The guilds with a live reward as the last pass saw them (`None` before the first): a log
    /// in any other guild does not wake the scheduler, so busy guilds without rewards cost nothing.
    with_rewards: Option<HashSet<i64>>,
}

fn rule_of(row: &RewardRow) -> Option<rules::RewardRule> {
    Some(rules::RewardRule {
        metric: GoalMetric::from_column(&row.metric)?,
        period: GoalPeriod::from_column(&row.period)?,
        threshold: row.threshold,
    })
}

impl App {
    /// Installs the role lookup `/reward add` checks the hierarchy with (the Discord edge does).
    pub fn set_role_directory(&self, directory: std::sync::Arc<dyn RoleDirectory>) {
        *self.role_directory.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(directory);
    }

    fn role_directory(&self) -> Option<std::sync::Arc<dyn RoleDirectory>> {
        self.role_directory.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Notes that members' figures in `guild` changed (a log, an undo, an import, a CRM sync, the
    /// intake API, a review decision) and wakes the scheduler, which re-evaluates the guild's
    /// rewards. Cheap: no database access.
    pub fn activity_changed(&self, guild: i64) {
        let wake = {
            let mut d = self.reward_dirty.lock().unwrap_or_else(|e| e.into_inner());
            let rewarded = d.with_rewards.as_ref().is_none_or(|g| g.contains(&guild));
            if rewarded {
                d.guilds.insert(guild);
            }
            rewarded
        };
        if wake {
            self.schedules_changed();
        }
    }

    /// Adds a reward after checking what Discord will check when rally gives the role: not
    /// @everyone, not a managed role, Manage Roles, and the bot's highest role above it. A failed
    /// check changes nothing and says how to fix it. Off Discord (no role lookup installed) the
    /// hierarchy cannot be checked, and the answer says so.
    pub async fn add_reward(
        &self,
        guild: Snowflake,
        req: RewardRequest,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<(Reward, Added, RoleCheck)> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let metric = GoalMetric::parse(&req.metric)?;
        self.check_metric(guild, &metric).await?;
        let period = GoalPeriod::parse(&req.period)?;
        let threshold = parse_threshold(&metric, &req.at_least, settings.money())?;
        let mention = format!("<@&{}>", req.role);
        let refuse = |p: RoleProblem| AppError::User(p.explain(&mention));
        if req.role == guild.get() {
            return Err(refuse(RoleProblem::Everyone));
        }
        if let Some(comp) = self.competition_giving(guild, req.role, &settings, now).await? {
            return Err(AppError::User(format!(
                "{mention} is the reward role of the competition **{}**, which gives it to each season's winners and \
                 takes it back when the next season ends: as a reward too, one would take back what the other gave. \
                 Pick another role, or end the competition first (`/compete end name:{}`).",
                comp.row.name, comp.row.name
            )));
        }
        let check = match self.role_directory() {
            Some(directory) => match directory.guild_roles(guild.get()).await {
                Ok(listed) => {
                    rules::check_role(
                        guild.get(),
                        req.role,
                        &listed.roles,
                        &listed.bot_roles,
                        req.manage_roles.unwrap_or(true),
                    )
                    .map_err(refuse)?;
                    RoleCheck::Passed
                }
                Err(e) => {
                    tracing::warn!(guild = g, error = %e, "the guild's roles could not be read for /reward add");
                    if req.manage_roles == Some(false) {
                        return Err(refuse(RoleProblem::NoManageRoles));
                    }
                    RoleCheck::Unchecked("Discord did not list the server's roles just now".into())
                }
            },
            None if req.manage_roles == Some(false) => return Err(refuse(RoleProblem::NoManageRoles)),
            None => RoleCheck::Unchecked("there is no Discord connection here".into()),
        };
        let new = crate::store::rewards::NewReward {
            role: req.role,
            metric: metric.to_column(),
            period: period.as_str().to_string(),
            threshold,
            channel: req.channel,
        };
        let (row, added) = self.store.add_reward(g, new, actor, now).await?;
        {
            let mut d = self.reward_dirty.lock().unwrap_or_else(|e| e.into_inner());
            d.all = true;
            if let Some(guilds) = d.with_rewards.as_mut() {
                guilds.insert(g);
            }
        }
        self.schedules_changed();
        Ok((Reward { rule: rule_of(&row), row }, added, check))
    }

    /// The guild's live rewards, oldest first.
    pub async fn rewards(&self, guild: Snowflake) -> AppResult<Vec<Reward>> {
        Ok(self
            .store
            .rewards(Some(guild.as_i64()))
            .await?
            .into_iter()
            .map(|row| Reward { rule: rule_of(&row), row })
            .collect())
    }

    /// Removes a reward; the scheduler takes its role back from the members rally gave it to.
    pub async fn remove_reward(
        &self,
        guild: Snowflake,
        id: i64,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Reward> {
        let row = self.store.remove_reward(guild.as_i64(), id, actor, now).await?;
        self.schedules_changed();
        Ok(Reward { rule: rule_of(&row), row })
    }

    /// Discord refused a reward's role change (`item`, an outbox role change from a reward) with
    /// `error`. `for_good` (a 4xx such as 403 Missing Permissions): the reward stops until a manager
    /// adds it again, so rally does not keep asking. Either way the holder record is put back as
    /// Discord left it.
    pub async fn reward_change_refused(
        &self,
        item: &crate::app::schedules::OutboxItem,
        error: &str,
        for_good: bool,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        if !item.source.starts_with("reward:") {
            return Ok(());
        }
        let error = if for_good { Some(error.to_string()) } else { None };
        self.store.reward_change_refused(item.guild_id, item.target, item.body.clone(), error, now).await?;
        Ok(())
    }

    /// One evaluation pass at `now`: every guild with a live reward when `full` (or when a reward
    /// was added or removed since the last pass), else only the guilds whose activity changed.
    /// Queues the role changes that bring each reward's holders in line with who qualifies in the
    /// current period. `next_boundary` is set on a full pass only ([`RewardPass::full`]).
    pub async fn evaluate_rewards(&self, full: bool, now: DateTime<Utc>) -> AppResult<RewardPass> {
        let (dirty, all) = {
            let mut d = self.reward_dirty.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut d.guilds), std::mem::take(&mut d.all))
        };
        let full = full || all;
        let mut by_guild: HashMap<i64, Vec<RewardRow>> = HashMap::new();
        let mut rewarded = HashSet::new();
        for row in self.store.rewards(None).await? {
            if row.stopped_at.is_none() {
                rewarded.insert(row.guild_id);
                if full || dirty.contains(&row.guild_id) {
                    by_guild.entry(row.guild_id).or_default().push(row);
                }
            }
        }
        self.reward_dirty.lock().unwrap_or_else(|e| e.into_inner()).with_rewards = Some(rewarded);
        let mut pass = RewardPass { full, ..RewardPass::default() };
        for (guild, rows) in by_guild {
            match self.evaluate_guild(guild, rows, now).await {
                Ok((given, taken, next)) => {
                    pass.given += given;
                    pass.taken += taken;
                    if full && let Some(next) = next {
                        pass.next_boundary = Some(pass.next_boundary.map_or(next, |n| n.min(next)));
                    }
                }
                // One guild's trouble (a setting that no longer reads) must not hold up the others.
                Err(e) => {
                    tracing::error!(guild, error = %e, "role rewards not evaluated for a guild");
                    if !full {
                        self.reward_dirty.lock().unwrap_or_else(|e| e.into_inner()).guilds.insert(guild);
                    }
                }
            }
        }
        Ok(pass)
    }

    async fn evaluate_guild(
        &self,
        g: i64,
        rows: Vec<RewardRow>,
        now: DateTime<Utc>,
    ) -> AppResult<(usize, usize, Option<DateTime<Utc>>)> {
        let settings = self.store.guild_settings(g).await?;
        let excluded = self.board_excluded(Snowflake::new(g as u64)?).await?;
        let mut figures: HashMap<(chrono::NaiveDate, chrono::NaiveDate), HashMap<u64, Totals>> = HashMap::new();
        let (mut given, mut taken, mut next) = (0, 0, None::<DateTime<Utc>>);
        for row in rows {
            let Some(rule) = rule_of(&row) else {
                tracing::error!(reward = row.id, metric = %row.metric, "a stored reward no longer reads; skipped");
                continue;
            };
            let period = rule.period.current(&settings, now)?;
            next = Some(next.map_or(period.end, |n| n.min(period.end)));
            let key = (period.first_day, period.end_day);
            if let std::collections::hash_map::Entry::Vacant(slot) = figures.entry(key) {
                let mut per: HashMap<u64, Totals> = HashMap::new();
                for r in self.store.kind_totals(g, period.first_day, period.end_day).await? {
                    per.entry(r.user_id).or_default().add(&r.kind, r.quantity, r.points, r.amount);
                }
                slot.insert(per);
            }
            let qualified: HashSet<u64> = figures
                .get(&key)
                .into_iter()
                .flatten()
                .filter(|(user, totals)| !excluded.contains(user) && rule.reached(rule.metric.value(totals)))
                .map(|(user, _)| *user)
                .collect();
            let holders = self.store.reward_holders(row.id).await?;
            let outside: HashSet<u64> = self
                .store
                .members_with_role(g, row.role_id)
                .await?
                .into_iter()
                .filter(|u| !holders.contains(u))
                .collect();
            let changes = rules::changes(&qualified, &holders, &outside);
            if changes.is_empty() {
                continue;
            }
            let touched: Vec<u64> = changes.add.iter().chain(&changes.remove).copied().collect();
            let (g_n, t_n) =
                self.store.apply_reward_changes(g, row.id, period.first_day, changes.add, changes.remove, now).await?;
            // The roles stored for these members changed under the cache of what was last seen.
            let mut seen = self.roles_seen.lock().unwrap_or_else(|e| e.into_inner());
            for user in touched {
                seen.remove(&(g, user));
            }
            if g_n + t_n > 0 {
                tracing::info!(reward = row.id, given = g_n, taken = t_n, "reward roles changed");
            }
            given += g_n;
            taken += t_n;
        }
        Ok((given, taken, next))
    }
}
