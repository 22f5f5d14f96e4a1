//! Schedules, the slots they recorded, and the outbox of posts waiting for delivery. Recording a
//! slot and queueing its post happen in one transaction, and a slot's primary key refuses a second
//! recording: that is the exactly-once point. Delivery retries from the outbox after any crash.

use super::sql::{Db, OptionalExtension, Row, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::{Result, Store, StoreError, from_millis, millis};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleRow {
    pub id: i64,
    pub guild_id: i64,
    pub what: String,
    pub channel_id: u64,
    /// The `at` as written in its canonical form (`weekdays 09:00`).
    pub at: String,
    pub params: serde_json::Value,
    pub paused: bool,
    /// Slots are due strictly after this instant.
    pub cursor: DateTime<Utc>,
}

/// A schedule to add: what to post, where, when (`at` in canonical form) and its options.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSchedule {
    pub what: String,
    pub channel: u64,
    pub at: String,
    pub params: serde_json::Value,
}

/// Where an outbox item goes: a channel message, a direct message, or a role change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTarget {
    Channel(u64),
    Dm(u64),
    RoleAdd { user: u64, role: u64 },
    RoleRemove { user: u64, role: u64 },
}

impl PostTarget {
    /// (channel_id, user_id, action, role_id) as stored.
    fn columns(self) -> (Option<i64>, Option<i64>, &'static str, Option<i64>) {
        match self {
            PostTarget::Channel(c) => (Some(c as i64), None, "post", None),
            PostTarget::Dm(u) => (None, Some(u as i64), "post", None),
            PostTarget::RoleAdd { user, role } => (None, Some(user as i64), "role-add", Some(role as i64)),
            PostTarget::RoleRemove { user, role } => (None, Some(user as i64), "role-remove", Some(role as i64)),
        }
    }

    fn from_columns(channel: Option<i64>, user: Option<i64>, action: &str, role: Option<i64>) -> PostTarget {
        let (user, role) = (user.unwrap_or(0) as u64, role.unwrap_or(0) as u64);
        match (action, channel) {
            ("role-add", _) => PostTarget::RoleAdd { user, role },
            ("role-remove", _) => PostTarget::RoleRemove { user, role },
            (_, Some(c)) => PostTarget::Channel(c as u64),
            _ => PostTarget::Dm(user),
        }
    }
}

/// An outbox item to queue: a message body (Discord's JSON) and its files, or a role change (whose
/// body says where to report a failure).
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedPost {
    pub target: PostTarget,
    pub body: serde_json::Value,
    pub files: Vec<(String, Vec<u8>)>,
    pub nonce: String,
    pub source: String,
    /// Hygiene breach state keys the post tells of (`domain::hygiene::Breach::state_key`), noted
    /// as fired in the transaction that queues it, so that none is told twice and none is lost.
    pub marks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub guild_id: i64,
    pub target: PostTarget,
    pub source: String,
    pub nonce: String,
    pub body: serde_json::Value,
    pub files: Vec<(String, Vec<u8>)>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub delivered: bool,
    pub failed: bool,
    pub last_error: Option<String>,
}

fn schedule_from_row(r: &Row<'_>) -> super::sql::Result<ScheduleRow> {
    Ok(ScheduleRow {
        id: r.get(0)?,
        guild_id: r.get(1)?,
        what: r.get(2)?,
        channel_id: r.get::<_, i64>(3)? as u64,
        at: r.get(4)?,
        params: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        paused: r.get(6)?,
        cursor: from_millis(r.get(7)?),
    })
}

const SCHEDULE_SELECT: &str = "SELECT schedule_id, guild_id, what, channel_id, at, params, paused, cursor FROM schedules WHERE removed_at IS NULL";

fn load_files(conn: &Db, outbox: i64) -> Result<Vec<(String, Vec<u8>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT filename, data FROM outbox_files WHERE outbox_id = ?1 ORDER BY filename")?;
    let rows = stmt.query_map([outbox], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<super::sql::Result<_>>()?)
}

fn outbox_from_row(conn: &Db, r: &Row<'_>) -> Result<OutboxItem> {
    let id: i64 = r.get(0)?;
    Ok(OutboxItem {
        id,
        guild_id: r.get(1)?,
        target: PostTarget::from_columns(r.get(2)?, r.get(3)?, &r.get::<_, String>(10)?, r.get(11)?),
        source: r.get(12)?,
        nonce: r.get(4)?,
        body: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        attempts: r.get(6)?,
        created_at: from_millis(r.get(13)?),
        delivered: r.get(7)?,
        failed: r.get(8)?,
        last_error: r.get(9)?,
        files: load_files(conn, id)?,
    })
}

/// How long a scheduler holds a post it took ([`Store::claim_posts`]).
pub const POST_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

const OUTBOX_SELECT: &str = "SELECT outbox_id, guild_id, channel_id, user_id, nonce, body, attempts,
    delivered_at IS NOT NULL, failed_at IS NOT NULL, last_error, action, role_id, source, created_at FROM outbox";

pub(super) fn queue(conn: &Db, guild: i64, post: &QueuedPost, now: DateTime<Utc>) -> Result<()> {
    let (channel, user, action, role) = post.target.columns();
    let id: i64 = conn.prepare_cached(
        "INSERT INTO outbox (guild_id, channel_id, user_id, nonce, body, source, created_at, next_attempt, action, role_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) RETURNING outbox_id",
    )?
    .query_row(params![
        guild,
        channel,
        user,
        post.nonce,
        post.body.to_string(),
        post.source,
        millis(now),
        action,
        role,
    ], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached("INSERT INTO outbox_files (outbox_id, filename, data) VALUES (?1, ?2, ?3)")?;
    for (name, data) in &post.files {
        stmt.execute(params![id, name, data])?;
    }
    super::hygiene::mark_fired(conn, guild, &post.marks, now)?;
    Ok(())
}

pub(super) fn nonce_seen(conn: &Db, nonce: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM outbox WHERE nonce = ?1")?
        .query_row([nonce], |_| Ok(()))
        .optional()?
        .is_some())
}

impl Store {
    pub async fn add_schedule(
        &self,
        guild: i64,
        new: NewSchedule,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRow> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let id: i64 = c
                .prepare_cached(
                    "INSERT INTO schedules (guild_id, what, channel_id, at, params, created_at, created_by, cursor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6) RETURNING schedule_id",
                )?
                .query_row(
                    params![guild, new.what, new.channel as i64, new.at, new.params.to_string(), millis(now), actor],
                    |r| r.get(0),
                )?;
            let row = c
                .prepare_cached(&format!("{SCHEDULE_SELECT} AND schedule_id = ?1"))?
                .query_row([id], schedule_from_row)?;
            audit(
                c,
                guild,
                &actor,
                "schedule.add",
                &format!("schedule:{id}"),
                None,
                Some(&serde_json::to_value(&row).unwrap_or_default()),
                now,
            )?;
            Ok(row)
        })
        .await
    }

    /// The guild's schedules, or every guild's when `guild` is `None` (the scheduler's view).
    pub async fn schedules(&self, guild: Option<i64>) -> Result<Vec<ScheduleRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SCHEDULE_SELECT} AND (CAST(?1 AS BIGINT) IS NULL OR guild_id = ?1) ORDER BY schedule_id"
            ))?;
            let rows = stmt.query_map([guild], schedule_from_row)?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Pauses, resumes or removes one of the guild's schedules. A resumed schedule starts from now:
    /// slots that fell while it was paused are not owed.
    pub async fn change_schedule(
        &self,
        guild: i64,
        id: i64,
        change: ScheduleChange,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRow> {
        self.write(move |c| {
            let before = c
                .prepare_cached(&format!("{SCHEDULE_SELECT} AND schedule_id = ?1 AND guild_id = ?2"))?
                .query_row(params![id, guild], schedule_from_row)
                .optional()?
                .ok_or_else(|| StoreError::rule(format!("there is no schedule #{id} on this server")))?;
            // Every statement takes the same two parameters, so one call serves all three.
            let (sql, action) = match change {
                ScheduleChange::Pause => {
                    ("UPDATE schedules SET paused = 1 WHERE schedule_id = ?1 AND CAST(?2 AS BIGINT) IS NOT NULL", "schedule.pause")
                }
                ScheduleChange::Resume => (
                    "UPDATE schedules SET paused = 0, cursor = CASE WHEN cursor > ?2 THEN cursor ELSE ?2 END WHERE schedule_id = ?1",
                    "schedule.resume",
                ),
                ScheduleChange::Remove => {
                    ("UPDATE schedules SET removed_at = ?2 WHERE schedule_id = ?1", "schedule.remove")
                }
            };
            c.execute(sql, params![id, millis(now)])?;
            audit(
                c,
                guild,
                &actor,
                action,
                &format!("schedule:{id}"),
                Some(&serde_json::to_value(&before).unwrap_or_default()),
                None,
                now,
            )?;
            Ok(ScheduleRow {
                paused: matches!(change, ScheduleChange::Pause)
                    || (before.paused && !matches!(change, ScheduleChange::Resume)),
                ..before
            })
        })
        .await
    }

    /// Records a slot once: queues its posts (none: notes it skipped) and moves the cursor past it.
    /// Returns false when the slot was recorded before (a restart re-computing it), changing nothing.
    pub async fn record_slot(
        &self,
        schedule: i64,
        guild: i64,
        slot: DateTime<Utc>,
        posts: Vec<QueuedPost>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO schedule_slots (schedule_id, slot_at, outcome, recorded_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    schedule,
                    millis(slot),
                    if posts.is_empty() { "skipped" } else { "queued" },
                    millis(now)
                ])?;
            c.prepare_cached(
                "UPDATE schedules SET cursor = CASE WHEN cursor > ?2 THEN cursor ELSE ?2 END WHERE schedule_id = ?1",
            )?
            .execute(params![schedule, millis(slot)])?;
            if inserted == 0 {
                return Ok(false);
            }
            for post in &posts {
                // A nonce seen before belongs to an earlier delivery of the same post.
                if !nonce_seen(c, &post.nonce)? {
                    queue(c, guild, post, now)?;
                }
            }
            Ok(true)
        })
        .await
    }

    /// Queues a post outside any schedule (announcements, nudges); false if its nonce was queued before.
    pub async fn queue_post(&self, guild: i64, post: QueuedPost, now: DateTime<Utc>) -> Result<bool> {
        self.write(move |c| {
            if nonce_seen(c, &post.nonce)? {
                return Ok(false);
            }
            queue(c, guild, &post, now)?;
            Ok(true)
        })
        .await
    }

    /// Takes up to `limit` due posts for delivery, oldest first, for [`POST_LEASE`] from `now`:
    /// another scheduler on the database (another process) skips them until they are marked
    /// delivered or failed, or the lease runs out (their deliverer died). The lease is well inside
    /// the few minutes Discord remembers a nonce, so a post delivered again after its deliverer died
    /// is still recognised and not posted twice.
    pub async fn claim_posts(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>> {
        self.write(move |c| {
            // Writes already take one lock per batch; SKIP LOCKED keeps the claim right should they
            // ever lock less (per guild), and SQLite's one writer needs nothing.
            let ids: Vec<i64> = c
                .prepare_cached(&format!(
                    "SELECT outbox_id FROM outbox
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt <= ?1
                       AND (lease_until IS NULL OR lease_until <= ?1)
                     ORDER BY next_attempt, outbox_id LIMIT ?2{}",
                    c.dialect().lock_rows()
                ))?
                .query_map(params![millis(now), limit as i64], |r| r.get(0))?
                .collect::<super::sql::Result<_>>()?;
            let mut lease = c.prepare_cached("UPDATE outbox SET lease_until = ?2 WHERE outbox_id = ?1")?;
            let mut load = c.prepare_cached(&format!("{OUTBOX_SELECT} WHERE outbox_id = ?1"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                lease.execute(params![id, millis(now + POST_LEASE)])?;
                let mut rows = load.query([id])?;
                if let Some(r) = rows.next()? {
                    out.push(outbox_from_row(c, &r)?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Undelivered posts whose next attempt is due, oldest first, leased or not (for inspection;
    /// delivery takes them with [`Store::claim_posts`]).
    pub async fn due_posts(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{OUTBOX_SELECT} WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt <= ?1
                 ORDER BY next_attempt, outbox_id LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![millis(now), limit as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(outbox_from_row(c, &r)?);
            }
            Ok(out)
        })
        .await
    }

    /// When the next undelivered post is due, if any.
    pub async fn next_post_attempt(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(CASE WHEN lease_until > next_attempt THEN lease_until ELSE next_attempt END) FROM outbox
                 WHERE delivered_at IS NULL AND failed_at IS NULL",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .map(from_millis))
        })
        .await
    }

    pub async fn post_delivered(&self, id: i64, message_id: u64, now: DateTime<Utc>) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE outbox SET delivered_at = ?2, message_id = ?3, attempts = attempts + 1, lease_until = NULL
                 WHERE outbox_id = ?1",
            )?
            .execute(params![id, millis(now), message_id as i64])?;
            Ok(())
        })
        .await
    }

    /// A failed attempt: try again at `retry_at`, or give up for good when it is `None`.
    pub async fn post_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            match retry_at {
                Some(at) => c
                    .prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3, lease_until = NULL WHERE outbox_id = ?1")?
                    .execute(params![id, millis(at), error])?,
                None => c
                    .prepare_cached("UPDATE outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3, lease_until = NULL WHERE outbox_id = ?1")?
                    .execute(params![id, millis(now), error])?,
            };
            Ok(())
        })
        .await
    }

    /// Every post of a guild, for `/schedule list` and tests.
    pub async fn posts(&self, guild: i64) -> Result<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!("{OUTBOX_SELECT} WHERE guild_id = ?1 ORDER BY outbox_id"))?;
            let mut rows = stmt.query([guild])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(outbox_from_row(c, &r)?);
            }
            Ok(out)
        })
        .await
    }

    /// The slots a schedule recorded: (instant, queued).
    pub async fn slots(&self, schedule: i64) -> Result<Vec<(DateTime<Utc>, bool)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT slot_at, outcome = 'queued' FROM schedule_slots WHERE schedule_id = ?1 ORDER BY slot_at",
            )?;
            let rows = stmt.query_map([schedule], |r| Ok((from_millis(r.get(0)?), r.get(1)?)))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    pub async fn leaderboards_enabled(&self, guild: i64) -> Result<bool> {
        self.read(move |c| {
            Ok(c.query_row("SELECT leaderboards FROM guilds WHERE guild_id = ?1", [guild], |r| r.get(0))
                .optional()?
                .unwrap_or(true))
        })
        .await
    }

    pub async fn set_leaderboards(&self, guild: i64, enabled: bool, actor: String, now: DateTime<Utc>) -> Result<()> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            c.execute("UPDATE guilds SET leaderboards = ?2 WHERE guild_id = ?1", params![guild, enabled])?;
            audit(
                c,
                guild,
                &actor,
                "guild.leaderboards",
                &format!("guild:{guild}"),
                None,
                Some(&json!({"enabled": enabled})),
                now,
            )?;
            Ok(())
        })
        .await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleChange {
    Pause,
    Resume,
    Remove,
}
