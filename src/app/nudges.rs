//! Nudges and reminders as use cases: turning them off and on per member, and who gets one at a
//! slot: reps behind pace on their goals, teams behind pace on theirs, and reps who logged nothing
//! on a working day. Nothing is sent from here: the scheduler's handlers turn these into messages.
//! Every selection happens at the slot's instant, and only inside the guild's working time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::goals::GoalProgress;
use super::{App, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalKey, GoalSubject};
use crate::domain::nudges::{Quiet, needs_nudge, quiet};
use crate::store::{Member, Team};

/// A rep behind pace on at least one goal, with those goals.
#[derive(Clone, Debug, PartialEq)]
pub struct RepBehind {
    pub user: u64,
    pub name: String,
    pub goals: Vec<GoalProgress>,
}

/// A team behind pace on at least one team goal.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamBehind {
    pub team: Team,
    pub goals: Vec<GoalProgress>,
    /// The team's reps behind on their own goals by more than the threshold.
    pub reps_behind: usize,
}

/// Who a slot is for, or why it is quiet.
pub type Selection<T> = Result<Vec<T>, Quiet>;

impl App {
    /// Turns nudges and reminders off or on for `user`; false when nothing changed.
    pub async fn set_nudges(
        &self,
        guild: Snowflake,
        user: Snowflake,
        enabled: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        Ok(self.store.set_nudges(guild.as_i64(), user.as_i64(), enabled, actor, now).await?)
    }

    /// When `user` turned nudges off; `None` while they are on.
    pub async fn nudges_off_since(&self, guild: Snowflake, user: Snowflake) -> AppResult<Option<DateTime<Utc>>> {
        Ok(self.store.nudges_off_since(guild.as_i64(), user.as_i64()).await?)
    }

    /// Reps (optionally of one team) behind on a goal by more than `threshold` points of attainment
    /// at `at`, opted-out reps left out; each with every goal they are behind on.
    pub async fn reps_behind(
        &self,
        guild: Snowflake,
        team: Option<i64>,
        threshold: u32,
        at: DateTime<Utc>,
    ) -> AppResult<Selection<RepBehind>> {
        let settings = self.settings(guild).await?;
        if let Some(q) = quiet(&settings, at) {
            return Ok(Err(q));
        }
        let optouts = self.store.nudge_optouts(guild.as_i64()).await?;
        let members = self.members_by_id(guild).await?;
        let behind = self.member_goals_behind(guild, threshold, at).await?;
        Ok(Ok(behind
            .into_iter()
            .filter(|(user, _)| !optouts.contains(user))
            .filter(|(user, _)| team.is_none() || members.get(user).map(|m| m.team_id) == team)
            .map(|(user, goals)| RepBehind {
                user,
                name: members.get(&user).map_or_else(|| format!("rep {user}"), |m| m.user_name.clone()),
                goals,
            })
            .collect()))
    }

    /// Teams (optionally one) behind on a team goal by more than `threshold` points at `at`, with
    /// how many of their reps are behind on their own goals. Nobody is named, so opted-out reps
    /// count too: the number describes the team, not them.
    pub async fn teams_behind(
        &self,
        guild: Snowflake,
        team: Option<i64>,
        threshold: u32,
        at: DateTime<Utc>,
    ) -> AppResult<Selection<TeamBehind>> {
        let settings = self.settings(guild).await?;
        if let Some(q) = quiet(&settings, at) {
            return Ok(Err(q));
        }
        let teams: BTreeMap<i64, Team> = self
            .store
            .teams(guild.as_i64())
            .await?
            .into_iter()
            .filter(|t| team.is_none_or(|only| only == t.id))
            .map(|t| (t.id, t))
            .collect();
        let is_team_goal = |k: &GoalKey| matches!(k.subject, GoalSubject::Team(t) if teams.contains_key(&t));
        let mut by_team: BTreeMap<i64, Vec<GoalProgress>> = BTreeMap::new();
        for p in self.current_goals(guild, &is_team_goal, at).await? {
            if let GoalSubject::Team(t) = p.key.subject
                && needs_nudge(&p.pace, threshold)
            {
                by_team.entry(t).or_default().push(p);
            }
        }
        if by_team.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let members = self.members_by_id(guild).await?;
        let mut reps_behind: BTreeMap<i64, usize> = BTreeMap::new();
        for user in self.member_goals_behind(guild, threshold, at).await?.keys() {
            if let Some(m) = members.get(user) {
                *reps_behind.entry(m.team_id).or_default() += 1;
            }
        }
        Ok(Ok(by_team
            .into_iter()
            .filter_map(|(id, goals)| {
                let team = teams.get(&id)?.clone();
                Some(TeamBehind { team, goals, reps_behind: reps_behind.get(&id).copied().unwrap_or(0) })
            })
            .collect()))
    }

    /// Reps on a team (optionally one) who logged nothing on the local day of `at`, when `at` is
    /// inside working time; opted-out reps left out. Returns the day too.
    pub async fn reps_without_activity(
        &self,
        guild: Snowflake,
        team: Option<i64>,
        at: DateTime<Utc>,
    ) -> AppResult<Result<(NaiveDate, Vec<Member>), Quiet>> {
        let settings = self.settings(guild).await?;
        if let Some(q) = quiet(&settings, at) {
            return Ok(Err(q));
        }
        let day = crate::domain::period::local_date(settings.timezone, at);
        let g = guild.as_i64();
        let active = self.store.active_on(g, day).await?;
        let optouts = self.store.nudge_optouts(g).await?;
        let reps = self
            .store
            .members(g)
            .await?
            .into_iter()
            .filter(|m| m.team_id != 0 && team.is_none_or(|only| only == m.team_id))
            .filter(|m| !active.contains(&m.user_id) && !optouts.contains(&m.user_id))
            .collect();
        Ok(Ok((day, reps)))
    }

    async fn members_by_id(&self, guild: Snowflake) -> AppResult<BTreeMap<u64, Member>> {
        Ok(self.store.members(guild.as_i64()).await?.into_iter().map(|m| (m.user_id, m)).collect())
    }

    /// Every member's goals in force at `at` that are behind by more than `threshold`, by member.
    async fn member_goals_behind(
        &self,
        guild: Snowflake,
        threshold: u32,
        at: DateTime<Utc>,
    ) -> AppResult<BTreeMap<u64, Vec<GoalProgress>>> {
        let is_member_goal = |k: &GoalKey| matches!(k.subject, GoalSubject::Member(_));
        let mut out: BTreeMap<u64, Vec<GoalProgress>> = BTreeMap::new();
        let mut seen: BTreeSet<GoalKey> = BTreeSet::new();
        for p in self.current_goals(guild, &is_member_goal, at).await? {
            // One goal, one line: a key appears once per slot even if a lookup repeated it.
            if !seen.insert(p.key.clone()) {
                continue;
            }
            if let GoalSubject::Member(user) = p.key.subject
                && needs_nudge(&p.pace, threshold)
            {
                out.entry(user.get()).or_default().push(p);
            }
        }
        Ok(out)
    }
}
