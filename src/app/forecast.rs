//! Revenue forecasts for a team or the guild: won so far, weighted open pipeline closing in the
//! period, run rate, the revenue goal, and the cumulative series for the chart.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::report::PeriodView;
use super::{App, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::forecast::{Day, Forecast, OpenDeal, forecast};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject, elapsed_working_days};
use crate::domain::hygiene::Rule;
use crate::domain::period::{Period, PeriodSpec, local_date};

#[derive(Clone, Debug)]
pub struct ForecastReport {
    /// The team's name, or `None` for the whole guild.
    pub team: Option<String>,
    pub period: PeriodView,
    pub forecast: Forecast,
}

impl App {
    /// The forecast for a team (by name) or the guild, over a period (default: this month).
    pub async fn forecast(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<ForecastReport> {
        let checks = self.hygiene_checks(guild, now).await?;
        self.forecast_with_checks(guild, team, spec, now, &checks).await
    }

    /// [`App::forecast`] with the guild's hygiene checks at `now` already made (`/hygiene show`
    /// has them), so the open deals are not read and checked twice.
    pub(crate) async fn forecast_with_checks(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
        checks: &[super::hygiene::DealCheck],
    ) -> AppResult<ForecastReport> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let team = match team {
            Some(name) => Some(self.team(guild, name).await?),
            None => None,
        };
        let team_id = team.as_ref().map(|t| t.id);
        let won: BTreeMap<_, _> =
            self.store.won_revenue_by_day(g, team_id, period.first_day, period.end_day).await?.into_iter().collect();
        // Which deals the hygiene rules flag, for the part of the pipeline that rests on them.
        let flags: std::collections::BTreeMap<i64, (bool, bool)> = checks
            .iter()
            .map(|c| (c.deal.id, (c.breaches.iter().any(|b| b.rule() == Rule::Stale), !c.breaches.is_empty())))
            .collect();
        let open: Vec<OpenDeal> = self
            .store
            .open_pipeline(g, team_id)
            .await?
            .into_iter()
            .map(|d| {
                let (stale, broken) = flags.get(&d.id).copied().unwrap_or_default();
                OpenDeal { stale, broken, ..OpenDeal::new(d.value, d.probability, d.expected_close) }
            })
            .collect();
        // A revenue goal counts when the period is one whole goal period (a month, a fiscal quarter…).
        let goal = match GoalPeriod::matching(&period, &settings) {
            Some(unit) => {
                let subject = team_id.map_or(GoalSubject::Guild, GoalSubject::Team);
                let key = GoalKey { subject, metric: GoalMetric::Revenue, period: unit };
                self.store.goal_in_force(g, key, period.first_day).await?.map(|v| v.target)
            }
            None => None,
        };
        let days: Vec<Day> =
            period.dates().map(|date| Day { date, working: settings.working_days.is_working(date) }).collect();
        let total = days.iter().filter(|d| d.working).count() as f64;
        let elapsed = if total > 0.0 { elapsed_working_days(&period, &settings, now) / total } else { 0.0 };
        let today = local_date(settings.timezone, now);
        Ok(ForecastReport {
            team: team.map(|t| t.name),
            period: super::report::view(spec.to_string(), &period),
            forecast: forecast(&days, today, &won, &open, goal, elapsed),
        })
    }
}
