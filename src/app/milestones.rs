//! Goal milestones as use cases: after a `/log`, find the 50 % and 100 % levels the member's goals
//! and their team's goals have newly reached in the current goal periods and record each once; the
//! scheduler then announces what is pending in the team channel. Guild-wide goals have no team
//! channel and are not celebrated.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::{App, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalPeriod, GoalSubject};
use crate::domain::kpi::Totals;
use crate::domain::nudges::milestones_reached;
use crate::store::TotalsScope;
use crate::store::milestones::Milestone;

impl App {
    /// Records the milestones `user`'s logging has reached by `now`; returns how many are new and
    /// waiting to be announced. Cheap for members without goals: one indexed probe and out.
    pub async fn record_milestones_after_log(
        &self,
        guild: Snowflake,
        user: Snowflake,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        let g = guild.as_i64();
        let team = self.store.member(g, user.as_i64()).await?.map_or(0, |m| m.team_id);
        if !self.store.has_goals_for(g, user.as_i64(), team).await? {
            return Ok(0);
        }
        let settings = self.store.guild_settings(g).await?;
        // Members and team goals alike are celebrated in the team's channel, as it is now.
        let channel = match team {
            0 => None,
            t => self.store.teams(g).await?.into_iter().find(|x| x.id == t).and_then(|x| x.channel_id),
        };
        let subjects: Vec<GoalSubject> =
            std::iter::once(GoalSubject::Member(user)).chain((team != 0).then_some(GoalSubject::Team(team))).collect();
        let mut reached = Vec::new();
        let mut earliest = None;
        for unit in GoalPeriod::ALL {
            let period = unit.current(&settings, now)?;
            let versions: Vec<_> = self
                .store
                .goals_in_force(g, unit, period.first_day)
                .await?
                .into_iter()
                .filter(|v| subjects.contains(&v.key.subject))
                .collect();
            let mut totals: HashMap<GoalSubject, Totals> = HashMap::new();
            for subject in versions.iter().map(|v| v.key.subject).collect::<BTreeSet<_>>() {
                let scope = match subject {
                    GoalSubject::Member(u) => TotalsScope::Member(u.as_i64()),
                    GoalSubject::Team(t) => TotalsScope::Team(t),
                    GoalSubject::Guild => continue,
                };
                let sums = totals.entry(subject).or_default();
                for row in self.store.scoped_totals(g, period.first_day, period.end_day, scope).await? {
                    sums.add(&row.kind, row.quantity, row.points, row.amount);
                }
            }
            for v in versions {
                let actual = totals.get(&v.key.subject).map_or(0, |t| v.key.metric.value(t));
                for level in milestones_reached(v.target, actual) {
                    earliest = Some(earliest.map_or(period.first_day, |e: chrono::NaiveDate| e.min(period.first_day)));
                    reached.push(Milestone {
                        guild_id: g,
                        key: v.key.clone(),
                        first_day: period.first_day,
                        level,
                        target: v.target,
                        actual,
                        channel_id: channel,
                        reached_at: now,
                    });
                }
            }
        }
        let Some(since) = earliest else {
            return Ok(0);
        };
        // Most logs reach nothing new: a read spares the writer a transaction then.
        let known = self.store.recorded_milestones(g, subjects, since).await?;
        reached.retain(|m| !known.contains(&m.unique_key()));
        if reached.is_empty() {
            return Ok(0);
        }
        Ok(self.store.record_milestones(reached, format!("user:{user}"), now).await?.len())
    }

    /// Milestones waiting to be announced, oldest first (every guild).
    pub async fn pending_milestones(&self, limit: usize) -> AppResult<Vec<Milestone>> {
        Ok(self.store.pending_milestones(limit).await?)
    }
}
