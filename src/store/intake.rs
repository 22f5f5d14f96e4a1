//! The intake API's storage: API keys (kept as SHA-256 hashes) and upserts of activities and deals
//! keyed by the sender's external id, through the same settling as the CRM sync (one row per key,
//! rewritten in place, rollups exact).

use super::sql::{Db, OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::activities::{ActivityRecord, NewActivity, load_record};
use super::crm::{Change, find_activity, flush, load_ctx_for, settle_activity, settle_deal};
use super::deals::{DealRecord, load_deal};
use super::guilds::{audit, ensure_guild};
use super::teams::upsert_member;
use super::{Result, Store, StoreError, from_millis, millis};
use crate::domain::activity::Source;
use crate::domain::crm::TrackedDeal;

/// An intake API key as listed (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub guild: i64,
    pub label: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upserted {
    Created,
    Updated,
    Unchanged,
}

fn upserted(change: Change) -> Upserted {
    match change {
        Change::Imported => Upserted::Created,
        Change::Updated | Change::Removed => Upserted::Updated,
        _ => Upserted::Unchanged,
    }
}

fn key_row(r: &super::sql::Row<'_>) -> super::sql::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.get(0)?,
        guild: r.get(1)?,
        label: r.get(2)?,
        prefix: r.get(3)?,
        created_at: from_millis(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(from_millis),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(from_millis),
    })
}

const KEY_SELECT: &str = "SELECT key_id, guild_id, label, prefix, created_at, revoked_at, last_used_at FROM api_keys";

fn touch(conn: &Db, key: i64, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE key_id = ?1")?
        .execute(params![key, millis(now)])?;
    Ok(())
}

impl Store {
    /// Stores a new key's hash; the key itself is shown once by the caller and never kept.
    pub async fn api_key_create(
        &self,
        guild: i64,
        label: String,
        prefix: String,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRow> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let id: i64 = c.prepare_cached(
                "INSERT INTO api_keys (guild_id, label, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING key_id",
            )?
            .query_row(params![guild, label, prefix, hash, millis(now)], |r| r.get(0))?;
            audit(
                c,
                guild,
                "cli",
                "api_key.create",
                &format!("api_key:{prefix}"),
                None,
                Some(&json!({"label": label})),
                now,
            )?;
            Ok(c.prepare_cached(&format!("{KEY_SELECT} WHERE key_id = ?1"))?.query_row([id], key_row)?)
        })
        .await
    }

    /// The guild's keys, newest first.
    pub async fn api_keys(&self, guild: i64) -> Result<Vec<ApiKeyRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!("{KEY_SELECT} WHERE guild_id = ?1 ORDER BY key_id DESC"))?;
            Ok(stmt.query_map([guild], key_row)?.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Revokes the guild's live key starting with `prefix`; `None` when there is none.
    pub async fn api_key_revoke(&self, guild: i64, prefix: String, now: DateTime<Utc>) -> Result<Option<ApiKeyRow>> {
        self.write(move |c| {
            let found: Vec<ApiKeyRow> = c
                .prepare_cached(&format!(
                    "{KEY_SELECT} WHERE guild_id = ?1 AND revoked_at IS NULL AND substr(prefix, 1, length(?2)) = ?2"
                ))?
                .query_map(params![guild, prefix], key_row)?
                .collect::<super::sql::Result<_>>()?;
            match found.as_slice() {
                [] => Ok(None),
                [key] => {
                    c.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1")?
                        .execute(params![key.id, millis(now)])?;
                    audit(c, guild, "cli", "api_key.revoke", &format!("api_key:{}", key.prefix), None, None, now)?;
                    Ok(Some(ApiKeyRow { revoked_at: Some(now), ..key.clone() }))
                }
                many => Err(StoreError::rule(format!(
                    "`{prefix}` starts {} keys ({}); give more of the prefix",
                    many.len(),
                    many.iter().map(|k| k.prefix.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            }
        })
        .await
    }

    /// The live key with this hash: (key id, guild, prefix).
    pub async fn api_key_by_hash(&self, hash: String) -> Result<Option<(i64, i64, String)>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT key_id, guild_id, prefix FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .query_row([&hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
        })
        .await
    }

    /// Creates or changes the activity keyed by `activity.idem_key` (the sender's external id), in
    /// one durable transaction; a resend with the same content changes nothing. `key`: the API key
    /// that sent it (its last use is recorded).
    /// `timed`: whether the body gave its time; when it did not, a record stored before keeps its
    /// own, so a resend without a time changes nothing.
    pub async fn intake_activity(
        &self,
        mut activity: NewActivity,
        timed: bool,
        key: i64,
        now: DateTime<Utc>,
    ) -> Result<(Upserted, ActivityRecord)> {
        self.write(move |c| {
            let guild = activity.guild;
            ensure_guild(c, guild, now)?;
            let who = format!("api:{key}");
            upsert_member(c, guild, activity.user, &activity.user_name, None, &who, now)?;
            let mut ctx = load_ctx_for(c, guild, now)?.acting_as(Source::Api, who);
            let current = find_activity(c, guild, &activity.idem_key)?;
            if current.as_ref().is_some_and(|r| r.source != Source::Api.as_str()) {
                return Err(StoreError::rule(
                    "this external_id is taken by an activity that did not come from the API",
                ));
            }
            if let Some(stored) = current.as_ref().filter(|_| !timed) {
                activity.occurred_at = stored.occurred_at;
            }
            let (change, id) = settle_activity(&mut ctx, c, current, Some(&activity), now)?;
            flush(&mut ctx, c)?;
            touch(c, key, now)?;
            let id = id.ok_or_else(|| StoreError::Corrupt("an upserted activity without an id".into()))?;
            Ok((upserted(change), load_record(c, id)?))
        })
        .await
    }

    /// Creates or changes the deal keyed `deal_key` (and the activity that closed it, keyed
    /// `close_key`) for `user`, in one durable transaction.
    #[allow(clippy::too_many_arguments)]
    /// `timed`: whether the body gave (opened, closed) times; those it did not keep what a deal
    /// stored before holds, so a resend changes nothing.
    pub async fn intake_deal(
        &self,
        guild: i64,
        deal_key: String,
        close_key: String,
        user: (i64, String),
        mut deal: TrackedDeal,
        timed: (bool, bool),
        key: i64,
        now: DateTime<Utc>,
    ) -> Result<(Upserted, DealRecord)> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let stored: Option<i64> = c
                .prepare_cached("SELECT deal_id FROM deals WHERE guild_id = ?1 AND idem_key = ?2")?
                .query_row(params![guild, deal_key], |r| r.get(0))
                .optional()?;
            if let Some(before) = stored.map(|id| load_deal(c, guild, id)).transpose()? {
                if !timed.0 {
                    deal.opened_at = before.opened_at;
                }
                if let (false, Some((outcome, _)), Some(at)) = (timed.1, deal.closed, before.closed_at)
                    && before.outcome == Some(outcome)
                {
                    deal.closed = Some((outcome, at));
                }
            }
            super::deals::seed_stages(c, guild, now)?;
            let who = format!("api:{key}");
            upsert_member(c, guild, user.0, &user.1, None, &who, now)?;
            let mut ctx = load_ctx_for(c, guild, now)?.acting_as(Source::Api, who);
            let (change, id) =
                settle_deal(&mut ctx, c, &deal_key, &close_key, Some((user.0, &user.1, &deal)), now, now)?;
            flush(&mut ctx, c)?;
            touch(c, key, now)?;
            let id = id.ok_or_else(|| StoreError::Corrupt("an upserted deal without an id".into()))?;
            Ok((upserted(change), load_deal(c, guild, id)?))
        })
        .await
    }
}
