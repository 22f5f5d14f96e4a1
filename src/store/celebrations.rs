//! Celebrations (tables `celebration_rules`, `celebrations`, `celebration_cursor`, migration 17):
//! each guild's `/celebrate` rules; the events they fired, each under a key derived from its
//! content and unique per guild (a second firing of the same event is refused by the primary key);
//! and how far the celebration pass has read the activities, moved in the transaction that records
//! what it found. Marking events announced and queueing their post happen in one transaction.
//! Personal bests and first wins read the rollups, never a rep's raw activities.

use super::sql::{OptionalExtension, Row, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::schedules::{QueuedPost, nonce_seen, queue};
use super::{Result, Store, StoreError, day_from_number, from_millis, millis};
use crate::domain::activity::{KindName, WON};
use crate::domain::celebrations::{MAX_RULES, RuleKind, Seen, Span};

/// A live `/celebrate` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CelebrationRule {
    pub id: i64,
    pub guild_id: i64,
    pub rule: RuleKind,
    /// Where its celebrations are posted.
    pub channel_id: u64,
    /// When it was added (UTC): it celebrates nothing that happened or was recorded before.
    pub created_at: DateTime<Utc>,
}

/// An event a rule fired, to record (and later announce) once.
#[derive(Clone, Debug, PartialEq)]
pub struct Celebration {
    pub guild_id: i64,
    /// `domain::celebrations::EventKey::text`.
    pub key: String,
    pub rule_id: i64,
    pub channel_id: u64,
    pub user_id: u64,
    /// What the post says, as JSON (amounts in minor units).
    pub detail: serde_json::Value,
    pub fired_at: DateTime<Utc>,
}

/// Activities recorded since the celebration pass last read, in guilds with a live rule.
#[derive(Clone, Debug, Default)]
pub struct ActivityBatch {
    /// (guild, activity) in the order recorded; undone and held entries left out.
    pub seen: Vec<(i64, Seen)>,
    /// The cursor to record with what the batch fired.
    pub cursor: i64,
    /// The cursor the batch started after.
    pub from: i64,
    /// The last activity id the batch covers (`cursor` stays below it while recent ones settle).
    pub read_to: i64,
}

/// How long after it was recorded an activity is read again by every pass. On PostgreSQL, ids are
/// handed out before commit: with several rally processes on one database, an activity may commit
/// after one with a higher id was read. Keeping the cursor behind what is this recent lets the next
/// pass see it; events already recorded are refused by their key, so a second read fires nothing
/// twice.
pub const SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

const RULE_SELECT: &str = "SELECT rule_id, guild_id, rule, kind, span, min_amount, currency, channel_id, created_at
                           FROM celebration_rules WHERE removed_at IS NULL";

fn rule_from_row(r: &Row<'_>) -> super::sql::Result<Option<CelebrationRule>> {
    let name: String = r.get(2)?;
    let kind: Option<String> = r.get(3)?;
    let span: Option<String> = r.get(4)?;
    let rule = match name.as_str() {
        "big-win" => Some(RuleKind::BigWin {
            min: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            currency: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
        }),
        "personal-best" => match (kind.map(|k| KindName::parse(&k)), span.map(|s| Span::parse(&s))) {
            (Some(Ok(kind)), Some(Ok(span))) => Some(RuleKind::PersonalBest { span, kind }),
            _ => None,
        },
        "first-win" => Some(RuleKind::FirstWin),
        "streak" => Some(RuleKind::Streak),
        _ => None,
    };
    let (id, guild_id, channel, created): (i64, i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(7)?, r.get(8)?);
    // A rule written by a newer rally is left alone (None).
    Ok(rule.map(|rule| CelebrationRule {
        id,
        guild_id,
        rule,
        channel_id: channel as u64,
        created_at: from_millis(created),
    }))
}

impl Store {
    /// Adds a rule; the pass's cursor starts at the newest activity the first time any rule is
    /// added, so a database's history is never read for celebrations. Refuses more than
    /// [`MAX_RULES`] live rules in a guild.
    pub async fn add_celebration_rule(
        &self,
        guild: i64,
        rule: RuleKind,
        channel: u64,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<CelebrationRule> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let live: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM celebration_rules WHERE guild_id = ?1 AND removed_at IS NULL")?
                .query_row([guild], |r| r.get(0))?;
            if live as usize >= MAX_RULES {
                return Err(StoreError::rule(format!(
                    "this server has {MAX_RULES} celebrations already; remove one first (/celebrate list shows them)"
                )));
            }
            let (kind, span, min, currency) = match &rule {
                RuleKind::BigWin { min, currency } => (None, None, Some(*min), Some(currency.clone())),
                RuleKind::PersonalBest { span, kind } => {
                    (Some(kind.as_str().to_string()), Some(span.as_str()), None, None)
                }
                RuleKind::FirstWin | RuleKind::Streak => (None, None, None, None),
            };
            let id: i64 = c
                .prepare_cached(
                    "INSERT INTO celebration_rules (guild_id, rule, kind, span, min_amount, currency, channel_id,
                     created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING rule_id",
                )?
                .query_row(
                    params![guild, rule.name(), kind, span, min, currency, channel as i64, millis(now), actor],
                    |r| r.get(0),
                )?;
            c.prepare_cached(
                "INSERT INTO celebration_cursor (cursor_id, last_activity_id)
                 SELECT 1, COALESCE(MAX(activity_id), 0) FROM activities WHERE true ON CONFLICT DO NOTHING",
            )?
            .execute(params![])?;
            audit(
                c,
                guild,
                &actor,
                "celebration.add",
                &format!("celebration:{id}"),
                None,
                Some(&json!({"rule": rule.name(), "kind": kind, "span": span, "min_amount": min, "currency": currency,
                             "channel_id": channel.to_string()})),
                now,
            )?;
            Ok(CelebrationRule { id, guild_id: guild, rule, channel_id: channel, created_at: now })
        })
        .await
    }

    /// The live rules of a guild (every guild's with `None`), oldest first.
    pub async fn celebration_rules(&self, guild: Option<i64>) -> Result<Vec<CelebrationRule>> {
        self.read(move |c| {
            let mut out = Vec::new();
            match guild {
                Some(g) => {
                    let mut stmt = c.prepare_cached(&format!("{RULE_SELECT} AND guild_id = ?1 ORDER BY rule_id"))?;
                    for row in stmt.query_map([g], rule_from_row)? {
                        out.extend(row?);
                    }
                }
                None => {
                    let mut stmt = c.prepare_cached(&format!("{RULE_SELECT} ORDER BY rule_id"))?;
                    for row in stmt.query_map([], rule_from_row)? {
                        out.extend(row?);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Removes a live rule of the guild; false when there is none with that id. What it fired and
    /// is still waiting is retired by the next pass, unposted.
    pub async fn remove_celebration_rule(
        &self,
        guild: i64,
        id: i64,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE celebration_rules SET removed_at = ?3
                     WHERE guild_id = ?1 AND rule_id = ?2 AND removed_at IS NULL",
                )?
                .execute(params![guild, id, millis(now)])?;
            if n > 0 {
                audit(c, guild, &actor, "celebration.remove", &format!("celebration:{id}"), None, None, now)?;
            }
            Ok(n > 0)
        })
        .await
    }

    /// Up to `limit` activities recorded after the pass's cursor (or after activity `after`, for a
    /// pass's next batch) in guilds with a live rule, and the cursor to move to once they are
    /// evaluated: never past an activity recorded less than [`SETTLE`] before `now`, which the
    /// next pass reads again. `None` before any rule was ever added.
    pub async fn celebration_batch(
        &self,
        after: Option<i64>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<ActivityBatch>> {
        self.read(move |c| {
            let Some(stored): Option<i64> = c
                .prepare_cached("SELECT last_activity_id FROM celebration_cursor WHERE cursor_id = 1")?
                .query_row([], |r| r.get(0))
                .optional()?
            else {
                return Ok(None);
            };
            let from = after.unwrap_or(stored);
            // The newest id first: a row recorded while this reads is left for the next batch.
            let newest: i64 = c
                .prepare_cached("SELECT COALESCE(MAX(activity_id), 0) FROM activities")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(
                "SELECT a.activity_id, a.guild_id, a.user_id, k.name, a.quantity, a.amount, a.deal_ref,
                        a.occurred_at, a.created_at, a.local_day
                 FROM activities a JOIN activity_kinds k ON k.kind_id = a.kind_id
                 WHERE a.activity_id > ?1 AND a.activity_id <= ?2 AND a.deleted_at IS NULL AND a.held = 0
                   AND a.guild_id IN (SELECT guild_id FROM celebration_rules WHERE removed_at IS NULL)
                 ORDER BY a.activity_id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![from, newest, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    Seen {
                        user: r.get::<_, i64>(2)? as u64,
                        kind: r.get(3)?,
                        quantity: r.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
                        amount: r.get(5)?,
                        deal: r.get(6)?,
                        occurred_at: from_millis(r.get(7)?),
                        recorded_at: from_millis(r.get(8)?),
                        day: day_from_number(r.get(9)?),
                    },
                ))
            })?;
            let mut seen = Vec::new();
            let mut last = from;
            for row in rows {
                let (id, guild, s) = row?;
                last = id;
                seen.push((guild, s));
            }
            let read_to = if seen.len() >= limit { last } else { newest.max(from) };
            let unsettled: Option<i64> = c
                .prepare_cached(
                    "SELECT MIN(activity_id) FROM activities WHERE activity_id > ?1 AND activity_id <= ?2
                     AND created_at > ?3",
                )?
                .query_row(params![from, read_to, millis(now - SETTLE)], |r| r.get(0))?;
            let cursor = unsettled.map_or(read_to, |id| (id - 1).max(from));
            Ok(Some(ActivityBatch { seen, cursor, from, read_to }))
        })
        .await
    }

    /// A member's count of `kind` per local day (from the day rollups), every day they logged it.
    pub async fn member_kind_days(&self, guild: i64, user: u64, kind: String) -> Result<Vec<(NaiveDate, i64)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.local_day, SUM(r.quantity) FROM day_rollups r JOIN activity_kinds k ON k.kind_id = r.kind_id
                 WHERE r.guild_id = ?1 AND r.user_id = ?2 AND k.guild_id = ?1 AND k.name = ?3
                 GROUP BY r.local_day",
            )?;
            let rows = stmt.query_map(params![guild, user as i64, kind], |r| {
                Ok((day_from_number(r.get(0)?), r.get::<_, i64>(1)?))
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// How many `won` entries a member has ever logged (live, counted), from the month rollups.
    pub async fn member_wins(&self, guild: i64, user: u64) -> Result<i64> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT COALESCE(SUM(r.activities), 0) FROM month_rollups r
                 JOIN activity_kinds k ON k.kind_id = r.kind_id
                 WHERE r.guild_id = ?1 AND r.user_id = ?2 AND k.guild_id = ?1 AND k.name = ?3",
            )?
            .query_row(params![guild, user as i64, WON], |r| r.get(0))?)
        })
        .await
    }

    /// Records the events not recorded before and moves the pass's cursor to `cursor` (never
    /// back), in one transaction; returns how many are new.
    pub async fn record_celebrations(&self, fired: Vec<Celebration>, cursor: i64) -> Result<usize> {
        self.write(move |c| {
            let mut new = 0;
            for e in &fired {
                new += c
                    .prepare_cached(
                        "INSERT INTO celebrations (guild_id, event_key, rule_id, channel_id, user_id, detail, fired_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![
                        e.guild_id,
                        e.key,
                        e.rule_id,
                        e.channel_id as i64,
                        e.user_id as i64,
                        e.detail.to_string(),
                        millis(e.fired_at)
                    ])?;
            }
            c.prepare_cached(
                "UPDATE celebration_cursor SET last_activity_id = ?1 WHERE cursor_id = 1 AND last_activity_id < ?1",
            )?
            .execute([cursor])?;
            Ok(new)
        })
        .await
    }

    /// Events waiting to be announced (every guild), oldest first.
    pub async fn pending_celebrations(&self, limit: usize) -> Result<Vec<Celebration>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT guild_id, event_key, rule_id, channel_id, user_id, detail, fired_at FROM celebrations
                 WHERE announced_at IS NULL ORDER BY fired_at, event_key LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(Celebration {
                    guild_id: r.get(0)?,
                    key: r.get(1)?,
                    rule_id: r.get(2)?,
                    channel_id: r.get::<_, i64>(3)? as u64,
                    user_id: r.get::<_, i64>(4)? as u64,
                    detail: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    fired_at: from_millis(r.get(6)?),
                })
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// When each celebration post in `channel` since `since` was queued, oldest first.
    pub async fn celebration_posts_since(&self, channel: u64, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT MIN(announced_at) FROM celebrations
                 WHERE channel_id = ?1 AND announced_at >= ?2 AND post_nonce IS NOT NULL
                 GROUP BY post_nonce ORDER BY 1",
            )?;
            let rows = stmt.query_map(params![channel as i64, millis(since)], |r| Ok(from_millis(r.get(0)?)))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Marks the events announced and queues their post (when given) in one transaction; false,
    /// changing nothing, when any of them was announced before (another scheduler got there).
    /// `None` retires events that will never be posted (their rule was removed).
    pub async fn announce_celebrations(
        &self,
        guild: i64,
        keys: Vec<String>,
        post: Option<QueuedPost>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(move |c| {
            let mut waiting = c.prepare_cached(
                "SELECT 1 FROM celebrations WHERE guild_id = ?1 AND event_key = ?2 AND announced_at IS NULL",
            )?;
            for key in &keys {
                if waiting.query_row(params![guild, key], |_| Ok(())).optional()?.is_none() {
                    return Ok(false);
                }
            }
            let nonce = post.as_ref().map(|p| p.nonce.clone());
            let mut mark = c.prepare_cached(
                "UPDATE celebrations SET announced_at = ?3, post_nonce = ?4 WHERE guild_id = ?1 AND event_key = ?2",
            )?;
            for key in &keys {
                mark.execute(params![guild, key, millis(now), nonce])?;
            }
            if let Some(post) = post
                && !nonce_seen(c, &post.nonce)?
            {
                queue(c, guild, &post, now)?;
            }
            Ok(true)
        })
        .await
    }

    /// The events a guild fired, newest first: each key and when it was announced (or retired);
    /// `None` while it waits.
    pub async fn celebrations(&self, guild: i64) -> Result<Vec<(String, Option<DateTime<Utc>>)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT event_key, announced_at FROM celebrations WHERE guild_id = ?1 ORDER BY fired_at DESC, event_key",
            )?;
            let rows = stmt.query_map([guild], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.map(from_millis))))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }
}
