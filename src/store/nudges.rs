//! Nudge opt-outs (table `nudge_optouts`, migration 3) and the cheap reads nudges, reminders and
//! milestones need: who opted out, who logged on a day, whether anyone has goals at all, a team's
//! totals. Every write is audited.

use std::collections::BTreeSet;

use super::sql::{OptionalExtension, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::{Result, Store, day_number, millis};

impl Store {
    /// Turns nudges and reminders off (`enabled = false`) or back on for one member. Returns false
    /// when it was already so; nothing is written then.
    pub async fn set_nudges(
        &self,
        guild: i64,
        user: i64,
        enabled: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let changed = if enabled {
                c.prepare_cached("DELETE FROM nudge_optouts WHERE guild_id = ?1 AND user_id = ?2")?
                    .execute(params![guild, user])?
            } else {
                c.prepare_cached(
                    "INSERT INTO nudge_optouts (guild_id, user_id, opted_out_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![guild, user, millis(now)])?
            };
            if changed == 0 {
                return Ok(false);
            }
            audit(
                c,
                guild,
                &actor,
                if enabled { "nudges.on" } else { "nudges.off" },
                &format!("user:{user}"),
                Some(&json!({ "nudges": !enabled })),
                Some(&json!({ "nudges": enabled })),
                now,
            )?;
            Ok(true)
        })
        .await
    }

    /// When the member turned nudges off, if they did.
    pub async fn nudges_off_since(&self, guild: i64, user: i64) -> Result<Option<DateTime<Utc>>> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT opted_out_at FROM nudge_optouts WHERE guild_id = ?1 AND user_id = ?2")?
                .query_row(params![guild, user], |r| r.get::<_, i64>(0))
                .optional()?
                .map(super::from_millis))
        })
        .await
    }

    /// Every member of the guild who turned nudges off.
    pub async fn nudge_optouts(&self, guild: i64) -> Result<BTreeSet<u64>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT user_id FROM nudge_optouts WHERE guild_id = ?1")?;
            let rows = stmt.query_map([guild], |r| Ok(r.get::<_, i64>(0)? as u64))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The members who logged anything (live) on local day `day`.
    pub async fn active_on(&self, guild: i64, day: NaiveDate) -> Result<BTreeSet<u64>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT user_id FROM day_rollups WHERE guild_id = ?1 AND local_day = ?2 AND activities > 0",
            )?;
            let rows = stmt.query_map(params![guild, day_number(day)], |r| Ok(r.get::<_, i64>(0)? as u64))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Whether any goal version names this member or this team (team 0: none). A cheap index
    /// probe that lets `/log` skip milestone checks for people without goals.
    pub async fn has_goals_for(&self, guild: i64, user: i64, team: i64) -> Result<bool> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM goals WHERE guild_id = ?1 AND cleared = 0
                 AND ((scope = 'member' AND subject_id = ?2) OR (scope = 'team' AND subject_id = ?3 AND ?3 <> 0))
                 LIMIT 1",
            )?
            .query_row(params![guild, user, team], |_| Ok(()))
            .optional()?
            .is_some())
        })
        .await
    }
}
