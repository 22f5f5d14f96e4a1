//! Role rewards (tables `rewards` and `reward_holders`, migration 16): a guild's rewards, and the
//! members rally gave each reward's role to. Recording a holder (or forgetting one) and queueing the
//! role change in the outbox happen in one transaction, and a holder's primary key refuses a second
//! giving: a crash between the two never loses or doubles a change. Rally takes a role back only
//! from the holders it recorded.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::schedules::{PostTarget, QueuedPost, nonce_seen, queue};
use super::sql::{Db, OptionalExtension, Row, params};
use super::{Result, Store, StoreError, day_from_number, day_number, from_millis, millis};

/// A reward as stored, with how many members hold its role from rally now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RewardRow {
    /// The reward's number in `/reward list`.
    pub id: i64,
    pub guild_id: i64,
    /// The Discord role id.
    pub role_id: u64,
    /// A goal metric's column form: `points`, `revenue`, `deals-won`, `kind:<name>`.
    pub metric: String,
    /// `week`, `month`, `quarter` or `year`.
    pub period: String,
    /// In the metric's units (minor currency units for revenue).
    pub threshold: i64,
    /// Where a role change Discord refused is reported (the channel `/reward add` ran in).
    pub channel_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    /// Discord refused a role change for good; the reward gives and takes nothing until a manager
    /// runs `/reward add` for its role again.
    pub stopped_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Members holding the role because rally gave it.
    pub holders: usize,
}

/// A reward to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReward {
    /// The Discord role id.
    pub role: u64,
    /// A goal metric's column form (see [`RewardRow::metric`]).
    pub metric: String,
    /// `week`, `month`, `quarter` or `year`.
    pub period: String,
    /// At least 1, in the metric's units (minor currency units for revenue).
    pub threshold: i64,
    /// Where a refused role change is reported.
    pub channel: Option<u64>,
}

/// What `/reward add` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// A reward of its own, with a new number.
    New,
    /// The role's reward had stopped on a refused role change; it runs again, with the new terms.
    Resumed,
}

const SELECT: &str = "SELECT r.reward_id, r.guild_id, r.role_id, r.metric, r.period, r.threshold, r.channel_id,
    r.created_at, r.stopped_at, r.last_error,
    (SELECT COUNT(*) FROM reward_holders h WHERE h.reward_id = r.reward_id)
    FROM rewards r WHERE r.removed_at IS NULL";

fn from_row(r: &Row<'_>) -> super::sql::Result<RewardRow> {
    Ok(RewardRow {
        id: r.get(0)?,
        guild_id: r.get(1)?,
        role_id: r.get::<_, i64>(2)? as u64,
        metric: r.get(3)?,
        period: r.get(4)?,
        threshold: r.get(5)?,
        channel_id: r.get::<_, Option<i64>>(6)?.map(|c| c as u64),
        created_at: from_millis(r.get(7)?),
        stopped_at: r.get::<_, Option<i64>>(8)?.map(from_millis),
        last_error: r.get(9)?,
        holders: r.get::<_, i64>(10)?.max(0) as usize,
    })
}

fn load(c: &Db, guild: i64, id: i64) -> Result<Option<RewardRow>> {
    Ok(c.prepare_cached(&format!("{SELECT} AND r.reward_id = ?1 AND r.guild_id = ?2"))?
        .query_row(params![id, guild], from_row)
        .optional()?)
}

/// A short outbox nonce for one role change, unique per change: the reward, the member, which way,
/// and the instant the holder was recorded (a second giving in one period is a new holder row).
fn change_nonce(reward: i64, user: u64, add: bool, given_at: i64) -> String {
    let key = format!("reward:{reward}:{user}:{given_at}:{}", if add { "add" } else { "remove" });
    let hash =
        key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("w{hash:016x}")
}

/// The role change as an outbox item; its body names where to report a refusal and the period the
/// holder reached the threshold in (to restore them if Discord refuses to take the role back).
fn change_post(reward: &RewardRow, user: u64, add: bool, first_day: NaiveDate, given_at: i64) -> QueuedPost {
    let role = reward.role_id;
    QueuedPost {
        target: if add { PostTarget::RoleAdd { user, role } } else { PostTarget::RoleRemove { user, role } },
        body: json!({
            "notify_channel": reward.channel_id,
            "reward": reward.id,
            "first_day": day_number(first_day),
            "given_at": given_at,
        }),
        files: Vec::new(),
        nonce: change_nonce(reward.id, user, add, given_at),
        source: format!("reward:{}", reward.id),
        marks: Vec::new(),
    }
}

/// Cancels the opposite change still waiting for `user` (a role given a moment ago whose giving is
/// still being retried), so that the two cannot arrive in the wrong order. One being delivered
/// now (leased) is left to finish; the change queued after it follows.
fn supersede(c: &Db, guild: i64, user: u64, role: u64, action: &str, now: DateTime<Utc>) -> Result<()> {
    c.prepare_cached(
        "UPDATE outbox SET failed_at = ?5, last_error = 'superseded by a later change'
         WHERE guild_id = ?1 AND user_id = ?2 AND role_id = ?3 AND action = ?4
           AND delivered_at IS NULL AND failed_at IS NULL AND (lease_until IS NULL OR lease_until <= ?5)",
    )?
    .execute(params![guild, user as i64, role as i64, action, millis(now)])?;
    Ok(())
}

/// Keeps the member's last seen roles in line with a change rally made, so that a role rally took
/// back does not read as one held from elsewhere.
fn note_member_role(c: &Db, guild: i64, user: u64, role: u64, holds: bool) -> Result<()> {
    let Some(text) = c
        .prepare_cached("SELECT roles FROM members WHERE guild_id = ?1 AND user_id = ?2")?
        .query_row(params![guild, user as i64], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(());
    };
    let mut roles: Vec<u64> = text.split_whitespace().filter_map(|id| id.parse().ok()).filter(|r| *r != role).collect();
    if holds {
        roles.push(role);
    }
    roles.sort_unstable();
    let text = roles.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    c.prepare_cached("UPDATE members SET roles = ?3 WHERE guild_id = ?1 AND user_id = ?2")?.execute(params![
        guild,
        user as i64,
        text
    ])?;
    Ok(())
}

fn queue_once(c: &Db, guild: i64, post: &QueuedPost, now: DateTime<Utc>) -> Result<()> {
    if !nonce_seen(c, &post.nonce)? {
        queue(c, guild, post, now)?;
    }
    Ok(())
}

impl Store {
    /// Adds a reward; a role that already has a live reward is refused, unless that reward stopped
    /// on a refused role change: then it takes the new terms and runs again.
    pub async fn add_reward(
        &self,
        guild: i64,
        new: NewReward,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<(RewardRow, Added)> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let existing: Option<(i64, Option<i64>)> = c
                .prepare_cached(
                    "SELECT reward_id, stopped_at FROM rewards WHERE guild_id = ?1 AND role_id = ?2 AND removed_at IS NULL",
                )?
                .query_row(params![guild, new.role as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (id, added) = match existing {
                Some((id, None)) => {
                    return Err(StoreError::rule(format!(
                        "<@&{}> is already reward #{id}; remove it first with /reward remove id:{id}",
                        new.role
                    )));
                }
                Some((id, Some(_))) => {
                    c.prepare_cached(
                        "UPDATE rewards SET metric = ?2, period = ?3, threshold = ?4, channel_id = ?5, stopped_at = NULL,
                         last_error = NULL WHERE reward_id = ?1",
                    )?
                    .execute(params![
                        id,
                        new.metric,
                        new.period,
                        new.threshold,
                        new.channel.map(|ch| ch as i64)
                    ])?;
                    (id, Added::Resumed)
                }
                None => {
                    let id: i64 = c
                        .prepare_cached(
                            "INSERT INTO rewards (guild_id, role_id, metric, period, threshold, channel_id, created_at, created_by)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING reward_id",
                        )?
                        .query_row(
                            params![
                                guild,
                                new.role as i64,
                                new.metric,
                                new.period,
                                new.threshold,
                                new.channel.map(|ch| ch as i64),
                                millis(now),
                                actor
                            ],
                            |r| r.get(0),
                        )?;
                    (id, Added::New)
                }
            };
            let row = load(c, guild, id)?.ok_or_else(|| StoreError::Corrupt(format!("reward {id} vanished")))?;
            let action = if added == Added::New { "reward.add" } else { "reward.resume" };
            audit(c, guild, &actor, action, &format!("reward:{id}"), None, Some(&json!(row)), now)?;
            Ok((row, added))
        })
        .await
    }

    /// The guild's live rewards, or every guild's when `guild` is `None` (the scheduler's view).
    pub async fn rewards(&self, guild: Option<i64>) -> Result<Vec<RewardRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SELECT} AND (CAST(?1 AS BIGINT) IS NULL OR r.guild_id = ?1) ORDER BY r.guild_id, r.reward_id"
            ))?;
            let rows = stmt.query_map([guild], from_row)?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The members rally gave a reward's role to.
    pub async fn reward_holders(&self, reward: i64) -> Result<HashSet<u64>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT user_id FROM reward_holders WHERE reward_id = ?1")?;
            let rows = stmt.query_map([reward], |r| r.get::<_, i64>(0))?;
            Ok(rows.map(|r| r.map(|u| u as u64)).collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Records the role given to each of `add` (who reached the threshold in the period starting
    /// `first_day`) and taken from each of `remove`, queueing each change in the outbox in the
    /// same transaction. A member already recorded (added) or no longer recorded (removed) is
    /// skipped, so a pass repeated after a crash changes nothing twice; a reward removed or stopped
    /// meanwhile changes nothing. Returns how many were given and taken.
    pub async fn apply_reward_changes(
        &self,
        guild: i64,
        reward: i64,
        first_day: NaiveDate,
        add: Vec<u64>,
        remove: Vec<u64>,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize)> {
        self.write(move |c| {
            let Some(row) = load(c, guild, reward)?.filter(|r| r.stopped_at.is_none()) else {
                return Ok((0, 0));
            };
            let (mut given, mut taken) = (0, 0);
            for user in add {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO reward_holders (reward_id, user_id, first_day, given_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![reward, user as i64, day_number(first_day), millis(now)])?;
                if inserted == 0 {
                    continue;
                }
                supersede(c, guild, user, row.role_id, "role-remove", now)?;
                queue_once(c, guild, &change_post(&row, user, true, first_day, millis(now)), now)?;
                note_member_role(c, guild, user, row.role_id, true)?;
                let detail = json!({"role": row.role_id.to_string(), "first_day": first_day.to_string()});
                audit(c, guild, "rally", "reward.give", &format!("reward:{reward}:{user}"), None, Some(&detail), now)?;
                given += 1;
            }
            for user in remove {
                let held: Option<(i64, i64)> = c
                    .prepare_cached(
                        "DELETE FROM reward_holders WHERE reward_id = ?1 AND user_id = ?2 RETURNING first_day, given_at",
                    )?
                    .query_row(params![reward, user as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((first, given_at)) = held else { continue };
                supersede(c, guild, user, row.role_id, "role-add", now)?;
                queue_once(c, guild, &change_post(&row, user, false, day_from_number(first), given_at), now)?;
                note_member_role(c, guild, user, row.role_id, false)?;
                let detail = json!({"role": row.role_id.to_string(), "first_day": day_from_number(first).to_string()});
                audit(c, guild, "rally", "reward.take", &format!("reward:{reward}:{user}"), Some(&detail), None, now)?;
                taken += 1;
            }
            Ok((given, taken))
        })
        .await
    }

    /// Removes a reward and takes its role back from every member rally gave it to (queued in the
    /// same transaction). Members who hold the role from elsewhere keep it.
    pub async fn remove_reward(&self, guild: i64, id: i64, actor: String, now: DateTime<Utc>) -> Result<RewardRow> {
        self.write(move |c| {
            let row = load(c, guild, id)?.ok_or_else(|| {
                StoreError::rule(format!("there is no reward #{id} on this server (see /reward list)"))
            })?;
            let holders: Vec<(i64, i64, i64)> = c
                .prepare_cached(
                    "DELETE FROM reward_holders WHERE reward_id = ?1 RETURNING user_id, first_day, given_at",
                )?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<super::sql::Result<_>>()?;
            for (user, first, given_at) in holders {
                let user = user as u64;
                supersede(c, guild, user, row.role_id, "role-add", now)?;
                queue_once(c, guild, &change_post(&row, user, false, day_from_number(first), given_at), now)?;
                note_member_role(c, guild, user, row.role_id, false)?;
            }
            c.prepare_cached("UPDATE rewards SET removed_at = ?2 WHERE reward_id = ?1")?
                .execute(params![id, millis(now)])?;
            audit(c, guild, &actor, "reward.remove", &format!("reward:{id}"), Some(&json!(row)), None, now)?;
            Ok(row)
        })
        .await
    }

    /// A reward's role change (`target`, queued with `body`) was given up: the holder record is put
    /// back as Discord left it (a refused giving forgets the holder, a refused taking restores
    /// them), so that rally's record stays true. With `error` (Discord refused it for good, such as
    /// 403 Missing Permissions) the reward also stops until a manager adds it again, so that rally
    /// does not keep asking Discord for changes it refuses.
    pub async fn reward_change_refused(
        &self,
        guild: i64,
        target: PostTarget,
        body: serde_json::Value,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            let Some(reward) = body.get("reward").and_then(|r| r.as_i64()) else { return Ok(()) };
            let Some(row) = load(c, guild, reward)? else { return Ok(()) };
            if let Some(error) = &error {
                c.prepare_cached(
                    "UPDATE rewards SET stopped_at = COALESCE(stopped_at, ?2), last_error = ?3 WHERE reward_id = ?1",
                )?
                .execute(params![reward, millis(now), error])?;
            }
            match target {
                PostTarget::RoleAdd { user, .. } => {
                    c.prepare_cached("DELETE FROM reward_holders WHERE reward_id = ?1 AND user_id = ?2")?
                        .execute(params![reward, user as i64])?;
                    note_member_role(c, guild, user, row.role_id, false)?;
                }
                PostTarget::RoleRemove { user, .. } => {
                    let first = body.get("first_day").and_then(|d| d.as_i64()).unwrap_or(0);
                    let given_at = body.get("given_at").and_then(|d| d.as_i64()).unwrap_or_else(|| millis(now));
                    c.prepare_cached(
                        "INSERT INTO reward_holders (reward_id, user_id, first_day, given_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![reward, user as i64, first, given_at])?;
                    note_member_role(c, guild, user, row.role_id, true)?;
                }
                PostTarget::Channel(_) | PostTarget::Dm(_) => {}
            }
            if let Some(error) = error {
                audit(
                    c,
                    guild,
                    "rally",
                    "reward.stop",
                    &format!("reward:{reward}"),
                    None,
                    Some(&json!({"error": error})),
                    now,
                )?;
            }
            Ok(())
        })
        .await
    }
}
