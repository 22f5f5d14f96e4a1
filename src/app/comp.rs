//! Commission estimates: each rep's revenue under their team's plan, scaled by their own revenue
//! goal attainment and their team's. Always an estimate, never payroll.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::report::PeriodView;
use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::comp::{Estimate, Plan, estimate};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject};
use crate::domain::period::{Period, PeriodSpec};
use crate::store::Team;

/// One rep's estimate.
#[derive(Clone, Debug)]
pub struct RepComp {
    pub user_id: u64,
    pub user_name: String,
    pub revenue: i64,
    /// The rep's revenue goal for the period, if any.
    pub goal: Option<i64>,
    pub estimate: Estimate,
}

#[derive(Clone, Debug)]
pub struct TeamComp {
    pub team: Team,
    pub plan: Plan,
    pub period: PeriodView,
    pub team_revenue: i64,
    pub team_goal: Option<i64>,
    pub reps: Vec<RepComp>,
}

impl App {
    /// Sets a team's plan from the current month on (earlier months keep theirs).
    pub async fn set_comp_plan(
        &self,
        guild: Snowflake,
        team: &str,
        plan: Plan,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<(Team, Plan)> {
        let team = self.team(guild, team).await?;
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let from = Period::resolve(&PeriodSpec::ThisMonth, &settings, now)?.first_day;
        self.store.set_comp_plan(guild.as_i64(), team.id, from, plan.clone(), actor, now).await?;
        Ok((team, plan))
    }

    /// Estimates for every rep of a team over a period (default: this month).
    pub async fn team_comp(
        &self,
        guild: Snowflake,
        team: &Team,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<TeamComp> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let plan = self.store.comp_plan(g, team.id, period.first_day).await?.ok_or_else(|| {
            AppError::User(format!(
                "team {} has no compensation plan yet; a manager sets one with /comp plan",
                team.name
            ))
        })?;
        let report = self.report(guild, spec, Some(&team.name), now).await?;
        let unit = GoalPeriod::matching(&period, &settings);
        let goal_of = |subject: GoalSubject| {
            let store = self.store.clone();
            async move {
                match unit {
                    Some(unit) => Ok::<_, AppError>(
                        store
                            .goal_in_force(
                                g,
                                GoalKey { subject, metric: GoalMetric::Revenue, period: unit },
                                period.first_day,
                            )
                            .await?
                            .map(|v| v.target),
                    ),
                    None => Ok(None),
                }
            }
        };
        let team_revenue = report.teams.first().map_or(0, |t| t.revenue_cents);
        let team_goal = goal_of(GoalSubject::Team(team.id)).await?;
        let team_attainment = team_goal.map(|goal| team_revenue as f64 / goal as f64);
        let mut goals: HashMap<u64, Option<i64>> = HashMap::new();
        for m in &report.members {
            let user: u64 = m.user_id.parse().unwrap_or(0);
            let subject = GoalSubject::Member(Snowflake::new(user)?);
            goals.insert(user, goal_of(subject).await?);
        }
        let reps = report
            .members
            .iter()
            .map(|m| {
                let user: u64 = m.user_id.parse().unwrap_or(0);
                let goal = goals.get(&user).copied().flatten();
                let attainment = goal.map(|g| m.revenue_cents as f64 / g as f64);
                RepComp {
                    user_id: user,
                    user_name: m.user_name.clone(),
                    revenue: m.revenue_cents,
                    goal,
                    estimate: estimate(&plan, m.revenue_cents, attainment, team_attainment),
                }
            })
            .collect();
        Ok(TeamComp { team: team.clone(), plan, period: report.period, team_revenue, team_goal, reps })
    }

    /// The estimate for one rep, under the plan of the team they are on.
    pub async fn my_comp(
        &self,
        guild: Snowflake,
        user: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<(TeamComp, RepComp)> {
        let member = self.store.member(guild.as_i64(), user.as_i64()).await?;
        let team_id = member.as_ref().map_or(0, |m| m.team_id);
        let team = self.store.teams(guild.as_i64()).await?.into_iter().find(|t| t.id == team_id).ok_or_else(|| {
            AppError::User("you are not on a team yet, so no compensation plan applies to you".into())
        })?;
        let comp = self.team_comp(guild, &team, spec, now).await?;
        let mine = comp
            .reps
            .iter()
            .find(|r| r.user_id == user.get())
            .cloned()
            .ok_or_else(|| AppError::User("you have no activity on your team in this period yet".into()))?;
        Ok((comp, mine))
    }
}
