//! The review queue's storage (issue 14): kinds' daily caps and outlier minimums, the guild's
//! choice whether flagged entries count before review, the flags and the managers' decisions.
//!
//! A flagged entry the guild does not count yet is `held`: live, but in no rollup. Approving it
//! adds it to the rollups; removing it soft-deletes it exactly like an undo. Every change runs in
//! one transaction with its rollup changes and audit rows, so rollups always equal a
//! recomputation from live, unheld activities.

use super::sql::{Db, OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::activities::{
    ActivityRecord, Logged, NewActivity, apply_to_rollup, find_key, guild_timezone, insert_activity, load_record,
    rollup_key, soft_delete,
};
use super::guilds::{audit, ensure_guild, load_kinds};
use super::{Result, Store, StoreError, day_number, from_millis, millis};
use crate::domain::activity::{KindName, Source, unknown_kind};
use crate::domain::period::local_date;
use crate::domain::review::{KindLimits, Outlier, ReviewCounting, check_cap, history_start, outlier};

/// Where a flagged entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReviewStatus {
    /// Waiting for a manager.
    Open,
    Approved,
    /// Removed by a manager: soft-deleted like an undo.
    Removed,
    /// Undone by the rep (or taken back by an import) before anyone decided.
    Withdrawn,
}

impl ReviewStatus {
    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "open" => ReviewStatus::Open,
            "approved" => ReviewStatus::Approved,
            "removed" => ReviewStatus::Removed,
            "withdrawn" => ReviewStatus::Withdrawn,
            other => return Err(StoreError::Corrupt(format!("review status `{other}`"))),
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Removed => "removed",
            ReviewStatus::Withdrawn => "withdrawn",
        }
    }
}

/// Why an entry was flagged and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flagged {
    pub outlier: Outlier,
    /// Whether it counts in rollups, boards and goals now.
    pub counted: bool,
    pub status: ReviewStatus,
    /// Who decided (`user:ID`), and when; `None` while open.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// One entry of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewItem {
    pub record: ActivityRecord,
    pub flag: Flagged,
}

/// The oldest open entries, and how many are open in all.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReviewQueue {
    pub items: Vec<ReviewItem>,
    pub open: i64,
}

/// What a manager's press did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Decided now. `reopened_deal`: the deal a removed win had closed, open again.
    Decided { item: ReviewItem, reopened_deal: Option<String>, still_open: i64 },
    /// Someone decided before (or the rep undid it): nothing changed.
    AlreadyDecided(ReviewItem),
}

/// A kind's limits, and its id; `None` for a kind the guild does not have (or retired).
fn kind_limits_row(conn: &Db, guild: i64, kind: &str) -> Result<Option<(i64, KindLimits)>> {
    let row = conn
        .prepare_cached(
            "SELECT kind_id, daily_cap, review_min FROM activity_kinds
             WHERE guild_id = ?1 AND name = ?2 AND retired_at IS NULL",
        )?
        .query_row(params![guild, kind], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()?;
    Ok(row.map(|(id, cap, min)| {
        let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        (id, KindLimits { daily_cap: cap.map(clamp), review_min: clamp(min) })
    }))
}

fn counting(conn: &Db, guild: i64) -> Result<ReviewCounting> {
    let pending: Option<bool> = conn
        .prepare_cached("SELECT review_counts_pending FROM guilds WHERE guild_id = ?1")?
        .query_row([guild], |r| r.get(0))
        .optional()?;
    Ok(match pending {
        Some(false) => ReviewCounting::AfterApproval,
        _ => ReviewCounting::WhilePending,
    })
}

/// The quantity of a rep's entries of a kind still held for review on one local day: ?1 guild, ?2
/// user, ?3 kind, ?4 local day.
pub(super) const HELD_ON_DAY: &str =
    "SELECT COALESCE(SUM(a.quantity), 0) FROM reviews r JOIN activities a ON a.activity_id = r.activity_id
     WHERE r.guild_id = ?1 AND r.status = 'open' AND a.held = 1 AND a.deleted_at IS NULL
       AND a.user_id = ?2 AND +a.kind_id = ?3 AND +a.local_day = ?4";

/// The rep's quantity of a kind on one local day, counted or held: a held entry was still logged.
fn day_total(conn: &Db, guild: i64, user: i64, kind: i64, day: i64) -> Result<i64> {
    let counted: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(quantity), 0) FROM day_rollups
             WHERE guild_id = ?1 AND local_day = ?2 AND user_id = ?3 AND kind_id = ?4",
        )?
        .query_row(params![guild, day, user, kind], |r| r.get(0))?;
    // From the guild's open reviews (a few) to their activities, never the other way: `+a.kind_id`
    // keeps SQLite, which has no statistics, from starting at `activities_by_kind` and walking
    // every activity of the kind that day on each /log (found when migration 19 added it).
    let held: i64 = conn.prepare_cached(HELD_ON_DAY)?.query_row(params![guild, user, kind, day], |r| r.get(0))?;
    Ok(counted + held)
}

/// [`history`]'s read: ?1 guild, ?2 user, ?3..?4 the window (UTC milliseconds), ?5 kind, ?6..?7
/// the chat sources. Through `activities_by_user` (the rep's own entries in the window).
pub(super) const USUAL_HISTORY: &str = "SELECT a.quantity FROM activities a
     WHERE a.guild_id = ?1 AND a.user_id = ?2 AND a.created_at >= ?3 AND a.created_at <= ?4
       AND a.kind_id = ?5 AND a.deleted_at IS NULL AND a.source IN (?6, ?7)
       AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.activity_id = a.activity_id AND r.status = 'open')";

/// The rep's chat entries of a kind logged in [since, now], leaving out entries still waiting for
/// review (approved ones are their usual; pending ones must not raise the bar for the next).
fn history(conn: &Db, guild: i64, user: i64, kind: i64, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(USUAL_HISTORY)?;
    let rows = stmt.query_map(
        params![guild, user, millis(since), millis(now), kind, Source::Slash.as_str(), Source::Button.as_str()],
        |r| r.get::<_, i64>(0),
    )?;
    Ok(rows.collect::<super::sql::Result<_>>()?)
}

fn load_flag(conn: &Db, activity: i64) -> Result<Option<Flagged>> {
    let row = conn
        .prepare_cached(
            "SELECT r.usual, r.minimum, r.status, r.decided_by, r.decided_at, a.quantity, a.held, a.deleted_at IS NULL
             FROM reviews r JOIN activities a ON a.activity_id = r.activity_id WHERE r.activity_id = ?1",
        )?
        .query_row([activity], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, bool>(7)?,
            ))
        })
        .optional()?;
    let Some((usual, minimum, status, decided_by, decided_at, quantity, held, live)) = row else {
        return Ok(None);
    };
    Ok(Some(Flagged {
        outlier: Outlier { quantity, usual, minimum: u32::try_from(minimum.max(0)).unwrap_or(u32::MAX) },
        counted: live && !held,
        status: ReviewStatus::parse(&status)?,
        decided_by,
        decided_at: decided_at.map(from_millis),
    }))
}

fn load_item(conn: &Db, activity: i64) -> Result<Option<ReviewItem>> {
    let Some(flag) = load_flag(conn, activity)? else {
        return Ok(None);
    };
    Ok(Some(ReviewItem { record: load_record(conn, activity)?, flag }))
}

fn open_count(conn: &Db, guild: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM reviews WHERE guild_id = ?1 AND status = 'open'")?
        .query_row([guild], |r| r.get(0))?)
}

fn kind_id_of(conn: &Db, activity: i64) -> Result<(i64, bool)> {
    Ok(conn
        .prepare_cached("SELECT kind_id, held FROM activities WHERE activity_id = ?1")?
        .query_row([activity], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Moves a live activity in (`held` false) or out (`held` true) of the rollups; nothing when it
/// is there already.
fn set_held(conn: &Db, record: &ActivityRecord, held: bool) -> Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE activities SET held = ?2 WHERE activity_id = ?1 AND held <> ?2 AND deleted_at IS NULL")?
        .execute(params![record.id, held])?;
    if changed == 1 {
        let (kind, _) = kind_id_of(conn, record.id)?;
        apply_to_rollup(conn, &rollup_key(record, kind), if held { -1 } else { 1 })?;
    }
    Ok(changed == 1)
}

/// Logs a chat entry with the kind's checks, in one transaction: refused (nothing written) when it
/// would take the rep's day above the kind's daily cap; stored and flagged when it is an outlier,
/// held out of the rollups if the guild counts flagged entries only after approval. A retry is
/// answered as the first time, without checking again.
fn log_checked(conn: &Db, a: &NewActivity, now: DateTime<Utc>) -> Result<Logged> {
    let mut found = None;
    // The timezone first: it creates a guild seen for the first time, with its kinds and limits.
    if find_key(conn, a)?.is_none() {
        let tz = guild_timezone(conn, a.guild, now)?;
        if let Some((kind, limits)) = kind_limits_row(conn, a.guild, a.kind.as_str())? {
            let day = day_number(local_date(tz, a.occurred_at));
            let quantity = i64::from(a.quantity.get());
            // Each check reads only when it can matter: most kinds have no cap, and most entries
            // are below the outlier rule's minimum. (The usual reads every chat entry of the rep's
            // last 30 days, and ran on every /log inside the writer's transaction.)
            if limits.daily_cap.is_some() {
                let today = day_total(conn, a.guild, a.user, kind, day)?;
                check_cap(limits.daily_cap, today, quantity)
                    .map_err(|over| StoreError::rule(over.message(a.kind.as_str(), quantity)))?;
            }
            if limits.may_flag(quantity) {
                let history = history(conn, a.guild, a.user, kind, history_start(now), now)?;
                found = outlier(quantity, &history, &limits);
            }
        }
    }
    let mut logged = insert_activity(conn, a, now)?;
    if logged.duplicate {
        logged.flag = load_flag(conn, logged.record.id)?;
        return Ok(logged);
    }
    let Some(found) = found else {
        return Ok(logged);
    };
    let record = &logged.record;
    conn.prepare_cached(
        "INSERT INTO reviews (activity_id, guild_id, usual, minimum, flagged_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![record.id, a.guild, found.usual, found.minimum, millis(now)])?;
    let counts = counting(conn, a.guild)?.counts_pending();
    if !counts {
        set_held(conn, record, true)?;
    }
    audit(
        conn,
        a.guild,
        "rally",
        "activity.flag",
        &format!("activity:{}", record.id),
        None,
        Some(&json!({"reason": found.reason(a.kind.as_str()), "quantity": found.quantity, "usual": found.usual,
            "minimum": found.minimum, "counted": counts})),
        now,
    )?;
    logged.flag = load_flag(conn, record.id)?;
    Ok(logged)
}

fn decide(conn: &Db, guild: i64, activity: i64, approve: bool, actor: &str, now: DateTime<Utc>) -> Result<Decision> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM reviews WHERE activity_id = ?1 AND guild_id = ?2")?
        .exists(params![activity, guild])?;
    let item = if exists { load_item(conn, activity)? } else { None };
    let Some(item) = item else {
        return Err(StoreError::rule(format!("there is no flagged entry #{activity} on this server")));
    };
    if item.flag.status != ReviewStatus::Open {
        return Ok(Decision::AlreadyDecided(item));
    }
    let status = if approve { ReviewStatus::Approved } else { ReviewStatus::Removed };
    let decided = conn
        .prepare_cached(
            "UPDATE reviews SET status = ?2, decided_by = ?3, decided_at = ?4 WHERE activity_id = ?1 AND status = 'open'",
        )?
        .execute(params![activity, status.as_str(), actor, millis(now)])?;
    if decided != 1 {
        return Err(StoreError::rule("that entry was decided at the same moment; run /review again"));
    }
    let counted_before = item.flag.counted;
    let mut reopened_deal = None;
    if approve {
        set_held(conn, &item.record, false)?;
    } else {
        // Exactly an undo: the row is soft-deleted, a held one has nothing in the rollups to take back.
        reopened_deal = soft_delete(conn, &item.record, actor, "activity.remove", now)?;
    }
    audit(
        conn,
        guild,
        actor,
        if approve { "review.approve" } else { "review.remove" },
        &format!("activity:{activity}"),
        Some(&json!({"status": "open", "counted": counted_before})),
        Some(&json!({"status": status.as_str(), "counted": approve})),
        now,
    )?;
    let item = load_item(conn, activity)?.ok_or_else(|| StoreError::Corrupt(format!("review {activity} vanished")))?;
    Ok(Decision::Decided { item, reopened_deal, still_open: open_count(conn, guild)? })
}

impl Store {
    /// Logs a chat entry (`/log`) through the kind's daily cap and outlier rule; see
    /// [`Logged::flag`]. A refusal by the cap is a [`StoreError::Rule`] with the rep's message.
    pub async fn log_checked_activity(&self, activity: NewActivity, now: DateTime<Utc>) -> Result<Logged> {
        self.write(move |c| log_checked(c, &activity, now)).await
    }

    /// The guild's open flagged entries, oldest first, at most `limit`, and how many are open.
    pub async fn review_queue(&self, guild: i64, limit: usize) -> Result<ReviewQueue> {
        self.read(move |c| {
            let ids: Vec<i64> = c
                .prepare_cached(
                    "SELECT activity_id FROM reviews WHERE guild_id = ?1 AND status = 'open'
                     ORDER BY flagged_at, activity_id LIMIT ?2",
                )?
                .query_map(params![guild, i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))?
                .collect::<super::sql::Result<_>>()?;
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                items.extend(load_item(c, id)?);
            }
            Ok(ReviewQueue { items, open: open_count(c, guild)? })
        })
        .await
    }

    /// A manager's decision on a flagged entry: approve (a held entry starts counting) or remove
    /// (soft-deleted like an undo). An entry decided before is returned as it stands, unchanged.
    pub async fn decide_review(
        &self,
        guild: i64,
        activity: i64,
        approve: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        self.write(move |c| decide(c, guild, activity, approve, &actor, now)).await
    }

    /// Whether the guild's flagged entries count before review.
    pub async fn review_counting(&self, guild: i64) -> Result<ReviewCounting> {
        self.read(move |c| counting(c, guild)).await
    }

    /// Sets whether flagged entries count before review, and applies it to the entries open now in
    /// the same transaction (they start or stop counting). Returns how many moved.
    pub async fn set_review_counting(
        &self,
        guild: i64,
        choice: ReviewCounting,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let before = counting(c, guild)?;
            c.prepare_cached("UPDATE guilds SET review_counts_pending = ?2 WHERE guild_id = ?1")?
                .execute(params![guild, choice.counts_pending()])?;
            let ids: Vec<i64> = c
                .prepare_cached("SELECT activity_id FROM reviews WHERE guild_id = ?1 AND status = 'open'")?
                .query_map([guild], |r| r.get(0))?
                .collect::<super::sql::Result<_>>()?;
            let mut moved = 0;
            for id in ids {
                if set_held(c, &load_record(c, id)?, !choice.counts_pending())? {
                    moved += 1;
                }
            }
            audit(
                c,
                guild,
                &actor,
                "guild.review",
                &format!("guild:{guild}"),
                Some(&json!({"counting": before.as_str()})),
                Some(&json!({"counting": choice.as_str(), "entries_moved": moved})),
                now,
            )?;
            Ok(moved)
        })
        .await
    }

    /// Every active kind's limits, in the order kinds are listed.
    pub async fn kind_limits(&self, guild: i64) -> Result<Vec<(KindName, KindLimits)>> {
        self.read(move |c| {
            let mut out = Vec::new();
            for (_, kind) in load_kinds(c, guild)? {
                if let Some((_, limits)) = kind_limits_row(c, guild, kind.name.as_str())? {
                    out.push((kind.name, limits));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Changes a kind's daily cap (`Some(None)` clears it) and outlier minimum; `None` keeps one.
    /// Returns the limits now in force.
    pub async fn set_kind_limits(
        &self,
        guild: i64,
        kind: KindName,
        daily_cap: Option<Option<u32>>,
        review_min: Option<u32>,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<KindLimits> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let Some((id, before)) = kind_limits_row(c, guild, kind.as_str())? else {
                let kinds: Vec<_> = load_kinds(c, guild)?.into_iter().map(|(_, k)| k).collect();
                return Err(StoreError::rule(unknown_kind(kind.as_str(), &kinds)));
            };
            let after = KindLimits {
                daily_cap: daily_cap.unwrap_or(before.daily_cap),
                review_min: review_min.unwrap_or(before.review_min),
            };
            c.prepare_cached("UPDATE activity_kinds SET daily_cap = ?2, review_min = ?3 WHERE kind_id = ?1")?
                .execute(params![id, after.daily_cap, after.review_min])?;
            audit(
                c,
                guild,
                &actor,
                "kind.limits",
                &format!("kind:{kind}"),
                Some(&serde_json::to_value(before).unwrap_or_default()),
                Some(&serde_json::to_value(after).unwrap_or_default()),
                now,
            )?;
            Ok(after)
        })
        .await
    }
}
