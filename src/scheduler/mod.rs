//! The scheduler: wakes at the next due slot (no polling), records each slot exactly once with its
//! post queued in the outbox in the same transaction, and delivers the outbox through Discord's REST
//! API with `nonce` + `enforce_nonce`, so a delivery retried after a crash never posts twice
//! (within the few minutes Discord remembers a nonce: the retry backoff stays under a minute).
//! Retries 5xx, 429 and network errors until the post is as old as the grace window; gives up on
//! other 4xx with a logged error. Slots missed while the bot was down are delivered once if within
//! the grace window, otherwise skipped and logged. Also closes competition seasons once,
//! announces goal milestones, rings the bell for `/celebrate` rules, and keeps role rewards'
//! holders in line with their numbers (after activity changes, at each reward period's
//! boundary, and at least hourly for changes made by other processes).
//!
//! `tick(now)` is one step and takes time as an argument, so tests drive a simulated week.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serenity::builder::{CreateAttachment, CreateMessage};
use serenity::http::Http;
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use tokio::sync::Notify;

use crate::app::competitions::{Competition, SeasonClose, SeasonState};
use crate::app::schedules::{OutboxItem, PostTarget, QueuedPost, ScheduleRow};
use crate::app::{App, AppError, AppResult};
use crate::discord::{Clock, render};
use crate::domain::activity::Snowflake;
use crate::domain::competition::Season;
use crate::domain::schedule::When;
use crate::handlers::{self, Recipient};

/// Missed slots older than this are skipped rather than posted late.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2 * 60 * 60);
/// Attempts before a post is given up, whatever its age: a bound, not the usual limit (which is
/// the grace window, measured from when the post was queued).
const MAX_ATTEMPTS: u32 = 500;
const MAX_BACKOFF: chrono::Duration = chrono::Duration::minutes(1);
/// The longest sleep: a bound against clock jumps, not a polling interval.
const MAX_SLEEP: Duration = Duration::from_secs(60 * 60);
/// How often every guild's role rewards are evaluated even when nothing said its activity changed:
/// catches activity another process logged (`rally import` beside `rally run`).
const REWARD_SWEEP: chrono::Duration = chrono::Duration::hours(1);

/// When a scheduler that stepped at `now`, and was told the next slot or retry is due at `next`,
/// steps again unless woken first: at `next`, but never later than [`MAX_SLEEP`] from `now`, and at
/// once when `next` is already past (a retry that came due while the step ran). [`Scheduler::run`]
/// sleeps until then; `rally demo` advances its simulated clock through the same instants.
pub fn next_step(now: DateTime<Utc>, next: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let bound = now + chrono::Duration::from_std(MAX_SLEEP).unwrap_or_default();
    next.map_or(bound, |n| n.min(bound)).max(now)
}

/// The real scheduler: [`Scheduler::tick`] is one step at a given time, [`Scheduler::run`] the loop
/// that steps at each due instant and whenever the app's wake-up is notified.
pub struct Scheduler {
    app: App,
    http: Arc<Http>,
    grace: chrono::Duration,
    dm_channels: Mutex<HashMap<u64, ChannelId>>,
    /// When role rewards were last evaluated for every guild, and the next reward period boundary
    /// that pass found: the next full pass is due at the boundary or a [`REWARD_SWEEP`] later.
    rewards_swept: Mutex<Option<Swept>>,
}

/// When every guild's rewards were last evaluated, and the next boundary that pass found.
type Swept = (DateTime<Utc>, Option<DateTime<Utc>>);

/// A short nonce (Discord allows 25 characters) from a longer unique key: a prefix and a 64-bit
/// FNV-1a hash in hex.
fn short_nonce(prefix: char, key: &str) -> String {
    let hash =
        key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{prefix}{hash:016x}")
}

/// A message rendered to Discord's JSON, with `nonce` + `enforce_nonce` so that a retried delivery
/// returns the earlier message instead of posting twice, and no mentions that ping.
fn queued(to: Recipient, message: &handlers::Message, nonce: String, source: String) -> AppResult<QueuedPost> {
    queued_marking(to, message, nonce, source, Vec::new())
}

/// [`queued`] for a post that tells of hygiene breaches (`marks`: their state keys).
fn queued_marking(
    to: Recipient,
    message: &handlers::Message,
    nonce: String,
    source: String,
    marks: Vec<String>,
) -> AppResult<QueuedPost> {
    let mut files = Vec::new();
    let mut builder = CreateMessage::new().embeds(message.embeds.iter().map(render::embed).collect());
    if let Some(content) = &message.content {
        builder = builder.content(content);
    }
    let rows = render::rows(message);
    if !rows.is_empty() {
        builder = builder.components(rows);
    }
    for a in &message.attachments {
        builder = builder.add_file(CreateAttachment::bytes(a.data.clone(), a.filename.clone()));
        files.push((a.filename.clone(), a.data.clone()));
    }
    let builder = builder
        .nonce(serenity::model::channel::Nonce::String(nonce.clone()))
        .enforce_nonce(true)
        .allowed_mentions(serenity::builder::CreateAllowedMentions::new());
    let body = serde_json::to_value(&builder).map_err(|e| AppError::User(format!("cannot encode a post: {e}")))?;
    let target = match to {
        Recipient::Channel(c) => PostTarget::Channel(c),
        Recipient::Dm(u) => PostTarget::Dm(u),
    };
    Ok(QueuedPost { target, body, files, nonce, source, marks })
}

/// What one attempt at a post came to.
enum Attempt {
    Delivered(u64),
    Retry(String, chrono::Duration),
    GiveUp(String),
}

/// Whether a role change failed because its member is no longer on the server (404, Discord's
/// "Unknown Member"): rally's record of the change stands, so the reward is neither stopped nor
/// asked again.
fn member_gone(item: &OutboxItem, error: &str) -> bool {
    matches!(item.target, PostTarget::RoleAdd { .. } | PostTarget::RoleRemove { .. })
        && error.starts_with("404")
        && error.contains("Unknown Member")
}

fn classify(e: &serenity::Error, attempts: u32) -> Attempt {
    use serenity::http::HttpError;
    // 1 s, 2 s, 4 s … capped at a minute: Discord honours a repeated nonce for a few minutes only,
    // so retries stay well inside that window.
    let backoff = chrono::Duration::seconds(1i64 << attempts.min(6)).min(MAX_BACKOFF);
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            if status == 429 || status >= 500 {
                Attempt::Retry(format!("{status}: {}", r.error.message), backoff)
            } else {
                Attempt::GiveUp(format!("{status}: {}", r.error.message))
            }
        }
        // A network error may or may not have reached Discord; the nonce makes a retry safe.
        other => Attempt::Retry(other.to_string(), backoff),
    }
}

impl Scheduler {
    /// A scheduler for `app`'s schedules, posting through `http` with the default grace window.
    pub fn new(app: App, http: Arc<Http>) -> Scheduler {
        Scheduler {
            app,
            http,
            grace: chrono::Duration::from_std(DEFAULT_GRACE).unwrap_or_default(),
            dm_channels: Mutex::new(HashMap::new()),
            rewards_swept: Mutex::new(None),
        }
    }

    /// How late a missed slot or a failing post may still be delivered.
    pub fn with_grace(mut self, grace: Duration) -> Scheduler {
        self.grace = chrono::Duration::from_std(grace).unwrap_or(self.grace);
        self
    }

    /// One step at `now`: records every due slot, delivers every due post. Returns when the next
    /// slot or retry is due.
    pub async fn tick(&self, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for schedule in self.app.schedules(None).await? {
            if schedule.paused {
                continue;
            }
            if let Some(due) = self.record_due(&schedule, now).await? {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        self.announce_milestones(now).await?;
        if let Some(due) = self.celebrate(now).await? {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        if let Some(due) = self.close_seasons(now).await? {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        if let Some(due) = self.evaluate_rewards(now).await {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        self.deliver(now).await?;
        if let Some(retry) = self.app.next_post_attempt().await? {
            next = Some(next.map_or(retry, |n| n.min(retry)));
        }
        Ok(next)
    }

    /// Queues a post for each goal milestone waiting to be announced, marking it announced in the
    /// same transaction: a milestone is posted once across crashes and restarts.
    async fn announce_milestones(&self, now: DateTime<Utc>) -> AppResult<()> {
        for (milestone, outgoing) in handlers::milestone_posts(&self.app, 50).await? {
            let source = format!("milestone:{}", milestone.unique_key());
            let post = outgoing.map(|o| queued(o.to, &o.message, short_nonce('m', &o.key), source)).transpose()?;
            self.app.announce_milestone(milestone, post, now).await?;
        }
        Ok(())
    }

    /// Queues the role changes that bring every role reward's holders in line with who reaches its
    /// threshold now: in the guilds whose activity changed since the last step, or in every guild
    /// on the first step, at a reward period's boundary and once per [`REWARD_SWEEP`]. Returns the
    /// next boundary. A failure is logged and the guilds are looked at again on the next sweep.
    async fn evaluate_rewards(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let swept = *self.rewards_swept.lock().unwrap_or_else(|e| e.into_inner());
        let full = match swept {
            None => true,
            Some((at, boundary)) => now >= at + REWARD_SWEEP || boundary.is_some_and(|b| now >= b),
        };
        match self.app.evaluate_rewards(full, now).await {
            Ok(pass) => {
                // A reward added since the last step makes the app look at every guild, and may
                // bring the next boundary closer.
                let full = full || pass.full;
                if full {
                    *self.rewards_swept.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, pass.next_boundary));
                }
                if pass.given + pass.taken > 0 {
                    tracing::info!(given = pass.given, taken = pass.taken, "reward role changes queued");
                }
                if full { pass.next_boundary } else { swept.and_then(|(_, b)| b) }
            }
            Err(e) => {
                tracing::error!(error = %e, "role rewards not evaluated");
                *self.rewards_swept.lock().unwrap_or_else(|e| e.into_inner()) = None;
                None
            }
        }
    }

    /// The celebration pass: fires what the activities recorded since the last pass celebrate
    /// (each event once, by its content key), then queues the posts each channel's rate allows,
    /// marking their events announced in the same transaction. Returns when the rate next lets a
    /// held-back celebration out. A failure is logged and left for the next step: celebrations
    /// never stop schedules or deliveries.
    async fn celebrate(&self, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
        if let Err(e) = self.app.celebrate_recent(now).await {
            tracing::error!(error = %e, "celebration pass failed; the next step tries again");
        }
        let (posts, next) = handlers::celebration_posts(&self.app, now).await?;
        for p in posts {
            let post = match p.post {
                Some(o) => match handlers::limits::check_message(&o.message) {
                    Ok(()) => {
                        let source = format!("celebration:{}", handlers::clip(&o.key, 200));
                        Some(queued(o.to, &o.message, short_nonce('e', &o.key), source)?)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a celebration breaks Discord's limits; retired unposted");
                        None
                    }
                },
                None => None,
            };
            self.app.announce_celebrations(p.guild, p.keys, post, now).await?;
        }
        Ok(next)
    }

    /// Records the schedule's slots up to `now`; returns its next slot after `now`.
    async fn record_due(&self, s: &ScheduleRow, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
        let Ok(when) = When::parse(&s.at) else {
            tracing::error!(schedule = s.id, at = %s.at, "a stored schedule no longer parses; it is skipped");
            return Ok(None);
        };
        let settings = self.app.settings(Snowflake::new(s.guild_id as u64)?).await?;
        let mut cursor = s.cursor;
        // A bounded walk: a schedule that was down for months skips what is too old in one pass.
        for _ in 0..1000 {
            let Some(slot) = when.next_after(cursor, settings.timezone, settings.working_days) else { return Ok(None) };
            if slot > now {
                return Ok(Some(slot));
            }
            let posts = if now - slot > self.grace {
                tracing::warn!(schedule = s.id, slot = %slot, "slot missed beyond the grace window; skipped");
                Vec::new()
            } else {
                self.posts_for(s, slot).await?
            };
            let queued = posts.len();
            if self.app.record_slot(s, slot, posts, now).await? {
                tracing::info!(schedule = s.id, slot = %slot, queued, "slot recorded");
            }
            cursor = slot;
        }
        Ok(None)
    }

    /// Closes every competition season that is over: records it once with its announcement and
    /// reward-role changes queued in the same transaction. When the bot was down across several
    /// season ends, only the latest is announced. Returns when the next season ends.
    async fn close_seasons(&self, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for comp in self.app.competitions_to_close(now).await? {
            // Bounded: a competition missed for many seasons closes the old ones in one pass.
            for _ in 0..1000 {
                let (season, latest, last) = match self.app.due_season(&comp, now).await? {
                    SeasonState::Due { season, latest, last } => (season, latest, last),
                    SeasonState::Upcoming(at) => {
                        next = Some(next.map_or(at, |n| n.min(at)));
                        break;
                    }
                    SeasonState::Over => break,
                };
                let close = self.season_close(&comp, season, latest, last, now).await?;
                if self.app.close_season(close, now).await? {
                    tracing::info!(
                        competition = comp.row.id,
                        season = season.index,
                        announced = latest,
                        "season closed"
                    );
                }
                if last {
                    break;
                }
            }
        }
        Ok(next)
    }

    /// What closing `season` records and queues: the final standings, the announcement (for the
    /// latest season only), and the reward role moved from last season's winners to this one's.
    async fn season_close(
        &self,
        comp: &Competition,
        season: Season,
        announce: bool,
        last: bool,
        now: DateTime<Utc>,
    ) -> AppResult<SeasonClose> {
        let board = self.app.board(comp, season, now).await?;
        let winners = self.app.winner_users(comp, &board).await?;
        let standings = serde_json::json!(board
            .standings
            .iter()
            .map(|s| serde_json::json!({"id": s.entry.id, "name": s.entry.name, "total": s.entry.total, "score": s.score, "rank": s.rank}))
            .collect::<Vec<_>>());
        let source = format!("competition:{}:{}", comp.row.id, season.index);
        let mut posts = Vec::new();
        if announce && let Some(channel) = comp.row.channel_id {
            let settings = self.app.settings(Snowflake::new(comp.row.guild_id as u64)?).await?;
            let message = handlers::compete::announcement(comp, &board, &settings);
            posts.push(queued(Recipient::Channel(channel), &message, short_nonce('c', &source), source.clone())?);
            if let Some(role) = comp.row.reward_role {
                let holders: Vec<u64> = self
                    .app
                    .closed_seasons(comp)
                    .await?
                    .into_iter()
                    .rev()
                    .find(|s| s.announced)
                    .map(|s| s.winners)
                    .unwrap_or_default();
                let body = serde_json::json!({ "notify_channel": channel });
                let change = |target: PostTarget, user: u64, what: &str| QueuedPost {
                    target,
                    body: body.clone(),
                    files: Vec::new(),
                    nonce: short_nonce('r', &format!("{source}:{user}:{what}")),
                    source: source.clone(),
                    marks: Vec::new(),
                };
                for user in holders.iter().filter(|u| !winners.contains(u)) {
                    posts.push(change(PostTarget::RoleRemove { user: *user, role }, *user, "remove"));
                }
                for user in winners.iter().filter(|u| !holders.contains(u)) {
                    posts.push(change(PostTarget::RoleAdd { user: *user, role }, *user, "add"));
                }
            }
        }
        Ok(SeasonClose {
            competition: comp.row.id,
            guild: comp.row.guild_id,
            season: season.index,
            first_day: board.window.first_day,
            end_day: board.window.end_day,
            announced: announce,
            standings,
            // Only an announced season hands the role on, so its holders are the ones to record.
            winners: if announce { winners } else { Vec::new() },
            posts,
            finished: last,
        })
    }

    /// The posts for one slot, rendered as of the slot's time; none when there is nothing to post.
    async fn posts_for(&self, s: &ScheduleRow, slot: DateTime<Utc>) -> AppResult<Vec<QueuedPost>> {
        let outgoing = handlers::scheduled_posts(&self.app, s, slot).await?;
        outgoing
            .into_iter()
            .filter(|o| match handlers::limits::check_message(&o.message) {
                Ok(()) => true,
                // A post Discord would refuse is dropped here, loudly, rather than retried.
                Err(e) => {
                    tracing::error!(schedule = s.id, error = %e, "a scheduled post breaks Discord's limits; skipped");
                    false
                }
            })
            .map(|o| {
                let nonce = if o.key.is_empty() {
                    format!("s{:x}.{:x}", s.id, slot.timestamp())
                } else {
                    short_nonce('n', &format!("{}:{}:{}", s.id, slot.timestamp(), o.key))
                };
                queued_marking(o.to, &o.message, nonce, format!("schedule:{}", s.id), o.marks)
            })
            .collect()
    }

    /// Delivers every due item once; failures are rescheduled or given up.
    async fn deliver(&self, now: DateTime<Utc>) -> AppResult<()> {
        for item in self.app.claim_posts(now, 50).await? {
            // A rep who opted out while their DM waited for a retry does not get it.
            if self.app.dm_opted_out(&item).await? {
                self.app.post_failed(item.id, "the rep turned nudges off".into(), None, now).await?;
                continue;
            }
            let attempt = match self.attempt(&item).await {
                Ok(message) => Attempt::Delivered(message),
                Err(e) => classify(&e, item.attempts),
            };
            match attempt {
                Attempt::Delivered(id) => self.app.post_delivered(item.id, id, now).await?,
                // A post that failed for a passing reason is retried until it is as late as a
                // missed slot may be (the grace window), so a ten-minute outage loses nothing.
                Attempt::Retry(error, backoff)
                    if item.attempts + 1 < MAX_ATTEMPTS && now + backoff - item.created_at <= self.grace =>
                {
                    tracing::warn!(post = item.id, %error, "delivery failed; will retry");
                    self.app.post_failed(item.id, error, Some(now + backoff), now).await?;
                }
                Attempt::Retry(error, _) => {
                    tracing::error!(post = item.id, target = ?item.target, %error, "delivery given up");
                    self.app.post_failed(item.id, error.clone(), None, now).await?;
                    self.report_failure(&item, &error, now).await?;
                    self.app.reward_change_refused(&item, &error, false, now).await?;
                }
                // A member who left the server: there is no role to change and nothing to fix.
                Attempt::GiveUp(error) if member_gone(&item, &error) => {
                    tracing::warn!(post = item.id, target = ?item.target, %error, "the member has left; role change dropped");
                    self.app.post_failed(item.id, error, None, now).await?;
                }
                Attempt::GiveUp(error) => {
                    tracing::error!(post = item.id, target = ?item.target, %error, "delivery given up");
                    self.app.post_failed(item.id, error.clone(), None, now).await?;
                    self.report_failure(&item, &error, now).await?;
                    // Discord refused it for good (403: Manage Roles or the hierarchy): a reward
                    // stops rather than asking again at every step.
                    self.app.reward_change_refused(&item, &error, true, now).await?;
                }
            }
        }
        Ok(())
    }

    /// One attempt at an outbox item: the message id posted (0 for a role change).
    async fn attempt(&self, item: &OutboxItem) -> serenity::Result<u64> {
        let files = || -> Vec<CreateAttachment> {
            item.files.iter().map(|(name, data)| CreateAttachment::bytes(data.clone(), name.clone())).collect()
        };
        let guild = GuildId::new(item.guild_id.max(1) as u64);
        match item.target {
            PostTarget::Channel(channel) => {
                Ok(self.http.send_message(ChannelId::new(channel.max(1)), files(), &item.body).await?.id.get())
            }
            PostTarget::Dm(user) => {
                let channel = self.dm_channel(user).await?;
                Ok(self.http.send_message(channel, files(), &item.body).await?.id.get())
            }
            PostTarget::RoleAdd { user, role } => {
                let (user, role) = (UserId::new(user.max(1)), RoleId::new(role.max(1)));
                let reason = if item.source.starts_with("reward:") {
                    "rally: reached the reward's threshold"
                } else {
                    "rally: competition reward"
                };
                self.http.add_member_role(guild, user, role, Some(reason)).await?;
                Ok(0)
            }
            PostTarget::RoleRemove { user, role } => {
                let (user, role) = (UserId::new(user.max(1)), RoleId::new(role.max(1)));
                let reason = if item.source.starts_with("reward:") {
                    "rally: below the reward's threshold"
                } else {
                    "rally: the reward passed on"
                };
                self.http.remove_member_role(guild, user, role, Some(reason)).await?;
                Ok(0)
            }
        }
    }

    /// The DM channel with `user`, opened once and remembered (Discord returns the same channel).
    async fn dm_channel(&self, user: u64) -> serenity::Result<ChannelId> {
        if let Some(c) = self.dm_channels.lock().unwrap_or_else(|e| e.into_inner()).get(&user) {
            return Ok(*c);
        }
        let channel =
            self.http.create_private_channel(&serde_json::json!({ "recipient_id": user.to_string() })).await?;
        self.dm_channels.lock().unwrap_or_else(|e| e.into_inner()).insert(user, channel.id);
        Ok(channel.id)
    }

    /// A role change given up is said in the channel its body names, once per source (a season),
    /// so that a missing permission is never silent.
    async fn report_failure(&self, item: &OutboxItem, error: &str, now: DateTime<Utc>) -> AppResult<()> {
        let (PostTarget::RoleAdd { role, .. } | PostTarget::RoleRemove { role, .. }) = item.target else {
            return Ok(());
        };
        let Some(channel) = item.body.get("notify_channel").and_then(|c| c.as_u64()) else {
            return Ok(());
        };
        let permission = error.starts_with("403");
        let text = if permission {
            format!(
                "⚠️ I could not change who holds the <@&{role}> reward role: I need the **Manage Roles** \
                 permission, and my own role must be above <@&{role}> in Server Settings → Roles."
            )
        } else {
            format!("⚠️ I could not change who holds the <@&{role}> reward role ({}).", handlers::clip(error, 200))
        };
        let message = handlers::Message { content: Some(text), ..handlers::Message::default() };
        let post = queued(
            Recipient::Channel(channel),
            &message,
            short_nonce('r', &item.source),
            format!("{}:role-failure", item.source),
        )?;
        // Delivered by the next step, which the returned next attempt (now) makes immediate.
        self.app.queue_post(item.guild_id, post, now).await?;
        Ok(())
    }

    /// Runs until `stop` is notified: tick, then sleep until the next due instant or a `wake`.
    pub async fn run(self, clock: Clock, wake: Arc<Notify>, stop: Arc<Notify>) {
        loop {
            let now = clock.now();
            let next = match self.tick(now).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "scheduler step failed");
                    Some(now + chrono::Duration::seconds(30))
                }
            };
            let sleep = (next_step(now, next) - now).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = wake.notified() => {}
                _ = stop.notified() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_next_step_is_the_next_due_instant_at_most_an_hour_away_and_never_in_the_past() {
        let now = t("2026-11-26T08:00:00Z");
        assert_eq!(next_step(now, Some(t("2026-11-26T08:30:00Z"))), t("2026-11-26T08:30:00Z"));
        assert_eq!(next_step(now, Some(t("2026-11-27T08:30:00Z"))), t("2026-11-26T09:00:00Z"));
        assert_eq!(next_step(now, None), t("2026-11-26T09:00:00Z"));
        // A retry that came due while the step ran: step again at once, not an hour later.
        assert_eq!(next_step(now, Some(t("2026-11-26T07:59:59Z"))), now);
    }
}
