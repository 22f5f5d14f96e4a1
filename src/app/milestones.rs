//! Goal milestones as use cases: after a `/log`, find the 50 % and 100 % levels the member's goals
//! and their team's goals have newly reached in the current goal periods and record each once; the
//! scheduler then announces what is pending in the team channel. Guild-wide goals have no team
//! channel and are not celebrated.

use chrono::{DateTime, NaiveDate, Utc};

use super::goals::GoalProgress;
use super::{App, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::GoalSubject;
use crate::domain::nudges::milestones_reached;

/// A goal milestone reached, as the storage interface returns it (its row type; for now the
/// SQLite store's own, later backend-neutral).
pub use crate::store::milestones::Milestone;

impl App {
    /// Records the 50 % and 100 % milestones that `progress` (a member's own goals and their team's,
    /// as [`App::member_summary`] measured them after a `/log`) shows reached, each once; returns
    /// how many are new and waiting to be announced. No read at all when nothing is reached.
    pub async fn record_milestones(
        &self,
        guild: Snowflake,
        user: Snowflake,
        team: i64,
        progress: impl IntoIterator<Item = &GoalProgress>,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        let g = guild.as_i64();
        let mut reached = Vec::new();
        let mut earliest: Option<NaiveDate> = None;
        for p in progress {
            if matches!(p.key.subject, GoalSubject::Guild) {
                continue;
            }
            for level in milestones_reached(p.target, p.actual) {
                earliest = Some(earliest.map_or(p.period.first_day, |e| e.min(p.period.first_day)));
                reached.push(Milestone {
                    guild_id: g,
                    key: p.key.clone(),
                    first_day: p.period.first_day,
                    level,
                    target: p.target,
                    actual: p.actual,
                    channel_id: None,
                    reached_at: now,
                });
            }
        }
        let Some(since) = earliest else {
            return Ok(0);
        };
        let subjects: Vec<GoalSubject> =
            std::iter::once(GoalSubject::Member(user)).chain((team != 0).then_some(GoalSubject::Team(team))).collect();
        // Most logs reach nothing new: a read spares the writer a transaction then.
        let known = self.store.recorded_milestones(g, subjects, since).await?;
        reached.retain(|m| !known.contains(&m.unique_key()));
        if reached.is_empty() {
            return Ok(0);
        }
        // Members and team goals alike are celebrated in the team's channel, as it is now.
        let channel = match team {
            0 => None,
            t => self.store.teams(g).await?.into_iter().find(|x| x.id == t).and_then(|x| x.channel_id),
        };
        for m in &mut reached {
            m.channel_id = channel;
        }
        Ok(self.store.record_milestones(reached, format!("user:{user}"), now).await?.len())
    }

    /// Marks the milestone announced and queues its post (if any) in one transaction: posted once
    /// across crashes and restarts. False when it was announced before.
    pub async fn announce_milestone(
        &self,
        m: Milestone,
        post: Option<crate::app::schedules::QueuedPost>,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        Ok(self.store.announce_milestone(m, post, now).await?)
    }

    /// Milestones waiting to be announced, oldest first (every guild).
    pub async fn pending_milestones(&self, limit: usize) -> AppResult<Vec<Milestone>> {
        Ok(self.store.pending_milestones(limit).await?)
    }
}
