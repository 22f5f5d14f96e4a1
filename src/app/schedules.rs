//! Schedules and the outbox as use cases: adding, changing and listing a guild's schedules (each
//! change wakes the scheduler), and the scheduler's exactly-once slot recording and delivery
//! bookkeeping. The scheduler works from stored rows, so those calls take the rows' own ids.

use chrono::{DateTime, Utc};

use super::{App, AppResult};
use crate::domain::activity::Snowflake;

/// Schedules, their changes and the outbox's posts, as the storage interface speaks them (its row
/// types; for now the SQLite store's own, later backend-neutral).
pub use crate::store::schedules::{NewSchedule, OutboxItem, PostTarget, QueuedPost, ScheduleChange, ScheduleRow};

impl App {
    /// Adds a schedule and wakes the scheduler, so its first slot is not slept past.
    pub async fn add_schedule(
        &self,
        guild: Snowflake,
        new: NewSchedule,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<ScheduleRow> {
        let row = self.store.add_schedule(guild.as_i64(), new, actor, now).await?;
        self.schedules_changed();
        Ok(row)
    }

    /// Pauses, resumes or removes one of the guild's schedules and wakes the scheduler.
    pub async fn change_schedule(
        &self,
        guild: Snowflake,
        id: i64,
        change: ScheduleChange,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<ScheduleRow> {
        let row = self.store.change_schedule(guild.as_i64(), id, change, actor, now).await?;
        self.schedules_changed();
        Ok(row)
    }

    /// The guild's schedules, or every guild's (`None`: the scheduler).
    pub async fn schedules(&self, guild: Option<Snowflake>) -> AppResult<Vec<ScheduleRow>> {
        Ok(self.store.schedules(guild.map(Snowflake::as_i64)).await?)
    }

    /// Records a schedule's slot once with its posts; false when it was recorded before.
    pub async fn record_slot(
        &self,
        schedule: &ScheduleRow,
        slot: DateTime<Utc>,
        posts: Vec<QueuedPost>,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        Ok(self.store.record_slot(schedule.id, schedule.guild_id, slot, posts, now).await?)
    }

    /// Queues one post for the guild (by its stored id); false when its key was queued before.
    pub async fn queue_post(&self, guild: i64, post: QueuedPost, now: DateTime<Utc>) -> AppResult<bool> {
        Ok(self.store.queue_post(guild, post, now).await?)
    }

    /// Takes up to `limit` posts due at `now` for delivery: no other scheduler on the database
    /// attempts them for a minute, or until they are marked delivered or failed.
    pub async fn claim_posts(&self, now: DateTime<Utc>, limit: usize) -> AppResult<Vec<OutboxItem>> {
        Ok(self.store.claim_posts(now, limit).await?)
    }

    /// The outbox's posts due at `now`, at most `limit`.
    pub async fn due_posts(&self, now: DateTime<Utc>, limit: usize) -> AppResult<Vec<OutboxItem>> {
        Ok(self.store.due_posts(now, limit).await?)
    }

    /// When the outbox next has a post to (re)try, if ever.
    pub async fn next_post_attempt(&self) -> AppResult<Option<DateTime<Utc>>> {
        Ok(self.store.next_post_attempt().await?)
    }

    /// Whether the item is a DM to a rep who turned nudges off while it waited (for a retry):
    /// they do not get it.
    pub async fn dm_opted_out(&self, item: &OutboxItem) -> AppResult<bool> {
        Ok(match item.target {
            PostTarget::Dm(user) => self.store.nudges_off_since(item.guild_id, user as i64).await?.is_some(),
            _ => false,
        })
    }

    pub async fn post_delivered(&self, id: i64, message_id: u64, now: DateTime<Utc>) -> AppResult<()> {
        Ok(self.store.post_delivered(id, message_id, now).await?)
    }

    /// Notes a failed delivery: retried at `retry_at`, or given up when `None`.
    pub async fn post_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        Ok(self.store.post_failed(id, error, retry_at, now).await?)
    }
}
