//! Goal milestones (table `goal_milestones`, migration 4): 50 % and 100 % of a goal, recorded once
//! per goal period and level (the primary key refuses a second crossing), and announced once:
//! marking a milestone announced and queueing its post in the outbox happen in one transaction.

use std::collections::BTreeSet;

use super::sql::params;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::guilds::audit;
use super::schedules::{QueuedPost, nonce_seen, queue};
use super::{Result, Store, day_from_number, day_number, from_millis, millis};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject};

/// One crossing of a milestone level by a goal in one goal period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Milestone {
    pub guild_id: i64,
    pub key: GoalKey,
    /// The first day of the goal period.
    pub first_day: NaiveDate,
    /// 50 or 100.
    pub level: u32,
    pub target: i64,
    /// The actual when the level was reached.
    pub actual: i64,
    /// Where to celebrate it; none: nowhere (recorded as announced straight away).
    pub channel_id: Option<u64>,
    pub reached_at: DateTime<Utc>,
}

impl Milestone {
    /// A key unique across guilds (the primary key's columns), for the post's nonce.
    pub fn unique_key(&self) -> String {
        unique_key(
            self.guild_id,
            self.key.subject.scope(),
            self.key.subject.subject_id(),
            &self.key.metric.to_column(),
            self.key.period.as_str(),
            day_number(self.first_day),
            i64::from(self.level),
        )
    }
}

fn unique_key(guild: i64, scope: &str, subject: i64, metric: &str, period: &str, first: i64, level: i64) -> String {
    format!("{guild}:{scope}:{subject}:{metric}:{period}:{first}:{level}")
}

const PK: &str = "guild_id = ?1 AND scope = ?2 AND subject_id = ?3 AND metric = ?4 AND period = ?5 AND first_day = ?6 \
                  AND level = ?7";

impl Store {
    /// Records the milestones not recorded before; returns those that are new and have a channel
    /// to be announced in. One without a channel is recorded as announced, so that a channel set
    /// later does not bring up an old celebration.
    pub async fn record_milestones(
        &self,
        milestones: Vec<Milestone>,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Milestone>> {
        self.write(move |c| {
            let mut fresh = Vec::new();
            for m in milestones {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO goal_milestones (guild_id, scope, subject_id, metric, period, first_day, level,
                         target, actual, channel_id, reached_at, announced_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![
                        m.guild_id,
                        m.key.subject.scope(),
                        m.key.subject.subject_id(),
                        m.key.metric.to_column(),
                        m.key.period.as_str(),
                        day_number(m.first_day),
                        m.level,
                        m.target,
                        m.actual,
                        m.channel_id.map(|ch| ch as i64),
                        millis(m.reached_at),
                        m.channel_id.is_none().then(|| millis(now)),
                    ])?;
                if inserted == 0 {
                    continue;
                }
                audit(
                    c,
                    m.guild_id,
                    &actor,
                    "goal.milestone",
                    &format!(
                        "goal:{}:{}:{}:{}",
                        m.key.subject.scope(),
                        m.key.subject.subject_id(),
                        m.key.metric,
                        m.key.period
                    ),
                    None,
                    Some(&json!({
                        "level": m.level, "first_day": m.first_day.to_string(), "target": m.target, "actual": m.actual,
                        "channel_id": m.channel_id.map(|ch| ch.to_string()),
                    })),
                    now,
                )?;
                if m.channel_id.is_some() {
                    fresh.push(m);
                }
            }
            Ok(fresh)
        })
        .await
    }

    /// The unique keys of the milestones recorded for `subjects` in goal periods starting on or
    /// after `since`: lets `/log` skip the write when nothing new was reached.
    pub async fn recorded_milestones(
        &self,
        guild: i64,
        subjects: Vec<GoalSubject>,
        since: NaiveDate,
    ) -> Result<BTreeSet<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT scope, subject_id, metric, period, first_day, level FROM goal_milestones
                 WHERE guild_id = ?1 AND scope = ?2 AND subject_id = ?3 AND first_day >= ?4",
            )?;
            let mut out = BTreeSet::new();
            for subject in &subjects {
                let rows =
                    stmt.query_map(params![guild, subject.scope(), subject.subject_id(), day_number(since)], |r| {
                        Ok(unique_key(
                            guild,
                            &r.get::<_, String>(0)?,
                            r.get(1)?,
                            &r.get::<_, String>(2)?,
                            &r.get::<_, String>(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })?;
                for key in rows {
                    out.insert(key?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Milestones waiting to be announced (every guild), oldest first.
    pub async fn pending_milestones(&self, limit: usize) -> Result<Vec<Milestone>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT guild_id, scope, subject_id, metric, period, first_day, level, target, actual, channel_id,
                 reached_at FROM goal_milestones WHERE announced_at IS NULL ORDER BY reached_at LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                    r.get::<_, i64>(10)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (guild_id, scope, subject, metric, period, first, level, target, actual, channel, reached) = row?;
                let (Some(subject), Some(metric), Some(period)) = (
                    GoalSubject::from_columns(&scope, subject),
                    GoalMetric::from_column(&metric),
                    GoalPeriod::from_column(&period),
                ) else {
                    // Written by a newer rally; it is left for that version to announce.
                    continue;
                };
                out.push(Milestone {
                    guild_id,
                    key: GoalKey { subject, metric, period },
                    first_day: day_from_number(first),
                    level: level.clamp(0, 100) as u32,
                    target,
                    actual,
                    channel_id: channel.map(|ch| ch as u64),
                    reached_at: from_millis(reached),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Marks a milestone announced and queues its post (when given) in the same transaction;
    /// false when it was announced before, and nothing is queued then. `None` retires a milestone
    /// that can no longer be posted (its team was deleted, say).
    pub async fn announce_milestone(&self, m: Milestone, post: Option<QueuedPost>, now: DateTime<Utc>) -> Result<bool> {
        self.write(move |c| {
            let marked = c
                .prepare_cached(&format!(
                    "UPDATE goal_milestones SET announced_at = ?8 WHERE {PK} AND announced_at IS NULL"
                ))?
                .execute(params![
                    m.guild_id,
                    m.key.subject.scope(),
                    m.key.subject.subject_id(),
                    m.key.metric.to_column(),
                    m.key.period.as_str(),
                    day_number(m.first_day),
                    m.level,
                    millis(now),
                ])?;
            if marked == 0 {
                return Ok(false);
            }
            if let Some(post) = post
                && !nonce_seen(c, &post.nonce)?
            {
                queue(c, m.guild_id, &post, now)?;
            }
            Ok(true)
        })
        .await
    }
}
