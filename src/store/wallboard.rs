//! The wallboard's storage: links (kept as SHA-256 hashes of their random tokens, revocable) and the
//! cheap per-guild change marker an open wallboard polls, so that a write another process made
//! (another `rally serve` on the same PostgreSQL, a `rally import` on the same SQLite file) shows too.

use chrono::{DateTime, Utc};

use super::guilds::{audit, ensure_guild};
use super::sql::{OptionalExtension, params};
use super::{Result, Store, millis};

/// How far back the change marker looks (ms): wider than any clock skew between two rally
/// processes, narrow enough that the index range it reads stays small on a busy guild.
const MARK_WINDOW_MS: i64 = 120_000;

impl Store {
    /// Makes `hash` the guild's one live wallboard link: any link live before is revoked in the
    /// same transaction. Returns how many were revoked.
    pub async fn wallboard_link(&self, guild: i64, hash: String, actor: String, now: DateTime<Utc>) -> Result<usize> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let revoked = c
                .prepare_cached(
                    "UPDATE wallboard_tokens SET revoked_at = ?2 WHERE guild_id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![guild, millis(now)])?;
            c.prepare_cached(
                "INSERT INTO wallboard_tokens (guild_id, hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![guild, hash, actor, millis(now)])?;
            audit(c, guild, &actor, "wallboard.link", &format!("guild:{guild}"), None, None, now)?;
            Ok(revoked)
        })
        .await
    }

    /// Revokes the guild's live wallboard links; how many there were.
    pub async fn wallboard_revoke(&self, guild: i64, actor: String, now: DateTime<Utc>) -> Result<usize> {
        self.write(move |c| {
            let revoked = c
                .prepare_cached(
                    "UPDATE wallboard_tokens SET revoked_at = ?2 WHERE guild_id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![guild, millis(now)])?;
            if revoked > 0 {
                audit(c, guild, &actor, "wallboard.revoke", &format!("guild:{guild}"), None, None, now)?;
            }
            Ok(revoked)
        })
        .await
    }

    /// The guild of the live link with this hash, if any.
    pub async fn wallboard_guild(&self, hash: String) -> Result<Option<i64>> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT guild_id FROM wallboard_tokens WHERE hash = ?1 AND revoked_at IS NULL")?
                .query_row([&hash], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// The hashes of the guild's live links.
    pub async fn wallboard_live(&self, guild: i64) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT hash FROM wallboard_tokens WHERE guild_id = ?1 AND revoked_at IS NULL")?;
            Ok(stmt.query_map([guild], |r| r.get(0))?.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// A marker that changes whenever the guild's audit trail grows (every logged, undone, imported
    /// or synced activity and every setting change writes one row): (rows written in the last two
    /// minutes before `now`, the largest id among them). Reads only that slice of the
    /// `audit_by_guild` index.
    pub async fn guild_change_mark(&self, guild: i64, now: DateTime<Utc>) -> Result<(i64, i64)> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT COUNT(*), COALESCE(MAX(audit_id), 0) FROM audit WHERE guild_id = ?1 AND at >= ?2",
            )?
            .query_row(params![guild, millis(now) - MARK_WINDOW_MS], |r| Ok((r.get(0)?, r.get(1)?)))?)
        })
        .await
    }
}
