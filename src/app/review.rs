//! The review queue (issue 14, "Numbers people trust"): the daily cap and the outlier rule apply
//! to what reps log in chat (`/log`, see [`App::log`]); managers read the flagged entries and
//! approve or remove them. CSV imports, the CRM sync and the intake API are systems of record and
//! are not checked.

use chrono::{DateTime, Utc};

use super::{App, AppResult};
use crate::domain::activity::{KindName, Snowflake};
use crate::domain::review::{KindLimits, ReviewCounting};
use crate::store::ReviewQueue;

/// A flagged entry, a manager's decision on one and where it stands, as the storage interface
/// speaks them (its types; for now the SQLite store's own, later backend-neutral).
pub use crate::store::{Decision, ReviewItem, ReviewStatus};

impl App {
    /// The guild's open flagged entries, oldest first, at most `limit`, and how many are open.
    pub async fn review_queue(&self, guild: Snowflake, limit: usize) -> AppResult<ReviewQueue> {
        Ok(self.store.review_queue(guild.as_i64(), limit).await?)
    }

    /// Approves (`approve`) or removes a flagged entry of the guild. The caller checks that
    /// `actor` is a manager. An entry decided before comes back unchanged as
    /// [`Decision::AlreadyDecided`]; an id that is not a flagged entry of the guild is a user error.
    pub async fn decide_review(
        &self,
        guild: Snowflake,
        activity: i64,
        approve: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Decision> {
        let decision = self.store.decide_review(guild.as_i64(), activity, approve, actor, now).await?;
        self.figures_changed(guild.as_i64()).await;
        Ok(decision)
    }

    /// Whether the guild's flagged entries count before review.
    pub async fn review_counting(&self, guild: Snowflake) -> AppResult<ReviewCounting> {
        Ok(self.store.review_counting(guild.as_i64()).await?)
    }

    /// Sets whether flagged entries count before review. Entries waiting now follow the new
    /// choice at once (in the same transaction as the rollups); returns how many moved.
    pub async fn set_review_counting(
        &self,
        guild: Snowflake,
        choice: ReviewCounting,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        Ok(self.store.set_review_counting(guild.as_i64(), choice, actor, now).await?)
    }

    /// Every active kind's daily cap and outlier minimum.
    pub async fn kind_limits(&self, guild: Snowflake) -> AppResult<Vec<(KindName, KindLimits)>> {
        Ok(self.store.kind_limits(guild.as_i64()).await?)
    }

    /// Changes a kind's daily cap (`Some(None)` removes it) and outlier minimum (0 turns the rule
    /// off); `None` keeps the current one. Returns the limits now in force.
    pub async fn set_kind_limits(
        &self,
        guild: Snowflake,
        kind: KindName,
        daily_cap: Option<Option<u32>>,
        review_min: Option<u32>,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<KindLimits> {
        Ok(self.store.set_kind_limits(guild.as_i64(), kind, daily_cap, review_min, actor, now).await?)
    }
}
