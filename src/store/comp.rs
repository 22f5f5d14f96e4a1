//! Compensation plans, kept as versions per team: a plan applies from its first local day on, and
//! earlier periods keep the plan they had.

use super::sql::{OptionalExtension, params};
use chrono::{DateTime, NaiveDate, Utc};

use super::guilds::{audit, ensure_guild};
use super::{Result, Store, day_number};
use crate::domain::comp::Plan;

impl Store {
    /// Sets a team's plan from `from` (a local day) on; setting twice for the same day replaces it.
    pub async fn set_comp_plan(
        &self,
        guild: i64,
        team: i64,
        from: NaiveDate,
        plan: Plan,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            c.prepare_cached(
                "INSERT INTO comp_plans (guild_id, team_id, effective_from, rate_bp, individual_share, team_share,
                    accelerator_pct, team_bonus, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (guild_id, team_id, effective_from) DO UPDATE SET rate_bp = excluded.rate_bp,
                    individual_share = excluded.individual_share, team_share = excluded.team_share,
                    accelerator_pct = excluded.accelerator_pct, team_bonus = excluded.team_bonus,
                    created_at = excluded.created_at, created_by = excluded.created_by",
            )?
            .execute(params![
                guild,
                team,
                day_number(from),
                plan.rate_bp,
                plan.individual_share,
                plan.team_share(),
                plan.accelerator_pct,
                plan.team_bonus,
                now.timestamp_millis(),
                actor,
            ])?;
            audit(
                c,
                guild,
                &actor,
                "comp.plan",
                &format!("team:{team}"),
                None,
                Some(&serde_json::json!({"from": from.to_string(), "plan": plan})),
                now,
            )?;
            Ok(())
        })
        .await
    }

    /// The plan in force for a team on a local day.
    pub async fn comp_plan(&self, guild: i64, team: i64, day: NaiveDate) -> Result<Option<Plan>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT rate_bp, individual_share, accelerator_pct, team_bonus FROM comp_plans
                 WHERE guild_id = ?1 AND team_id = ?2 AND effective_from <= ?3
                 ORDER BY effective_from DESC LIMIT 1",
            )?
            .query_row(params![guild, team, day_number(day)], |r| {
                Ok(Plan {
                    rate_bp: r.get(0)?,
                    individual_share: r.get(1)?,
                    accelerator_pct: r.get(2)?,
                    team_bonus: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }
}
