//! Competitions and their closed seasons. Closing a season records it once (its primary key
//! refuses a second close) and queues its announcement and reward-role changes in the outbox in the
//! same transaction: the exactly-once point of a winner announcement.

use super::sql::{OptionalExtension, Row, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::guilds::{audit, ensure_guild};
use super::schedules::{QueuedPost, nonce_seen, queue};
use super::{Result, Store, StoreError, day_from_number, day_number, from_millis, millis};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompetitionRow {
    pub id: i64,
    pub guild_id: i64,
    pub name: String,
    /// A goal metric's column form: `points`, `revenue`, `deals-won` or `kind:<name>`.
    pub metric: String,
    pub contest: String,
    pub scoring: String,
    pub first_day: NaiveDate,
    /// The first season's last day (inclusive).
    pub last_day: NaiveDate,
    pub repeat: String,
    /// Team ids taking part (teams), or whose reps take part (reps); empty: every team.
    pub teams: Vec<i64>,
    pub channel_id: Option<u64>,
    pub reward_role: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A competition to create; the handler has validated every field.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCompetition {
    pub name: String,
    pub metric: String,
    pub contest: String,
    pub scoring: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub repeat: String,
    pub teams: Vec<i64>,
    pub channel_id: Option<u64>,
    pub reward_role: Option<u64>,
}

/// A season already closed.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedSeason {
    pub season: u32,
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
    pub closed_at: DateTime<Utc>,
    pub announced: bool,
    pub standings: serde_json::Value,
    /// The user ids who were given the reward role (or would have been, without one).
    pub winners: Vec<u64>,
}

/// Closing one season: what to record and what to queue with it.
#[derive(Clone, Debug, PartialEq)]
pub struct SeasonClose {
    pub competition: i64,
    pub guild: i64,
    pub season: u32,
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
    pub announced: bool,
    pub standings: serde_json::Value,
    pub winners: Vec<u64>,
    pub posts: Vec<QueuedPost>,
    /// The last season of the competition: it ends with this close.
    pub finished: bool,
}

const SELECT: &str = "SELECT competition_id, guild_id, name, metric, contest, scoring, first_day, last_day, repeat,
    teams, channel_id, reward_role, created_at, ended_at FROM competitions";

fn from_row(r: &Row<'_>) -> super::sql::Result<CompetitionRow> {
    Ok(CompetitionRow {
        id: r.get(0)?,
        guild_id: r.get(1)?,
        name: r.get(2)?,
        metric: r.get(3)?,
        contest: r.get(4)?,
        scoring: r.get(5)?,
        first_day: day_from_number(r.get(6)?),
        last_day: day_from_number(r.get(7)?),
        repeat: r.get(8)?,
        teams: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
        channel_id: r.get::<_, Option<i64>>(10)?.map(|c| c as u64),
        reward_role: r.get::<_, Option<i64>>(11)?.map(|c| c as u64),
        created_at: from_millis(r.get(12)?),
        ended_at: r.get::<_, Option<i64>>(13)?.map(from_millis),
    })
}

impl Store {
    pub async fn create_competition(
        &self,
        guild: i64,
        new: NewCompetition,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<CompetitionRow> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let taken: Option<i64> = c
                .prepare_cached(
                    "SELECT competition_id FROM competitions
                     WHERE guild_id = ?1 AND name = ?2 COLLATE NOCASE AND ended_at IS NULL",
                )?
                .query_row(params![guild, new.name], |r| r.get(0))
                .optional()?;
            if taken.is_some() {
                return Err(StoreError::rule(format!(
                    "a competition named `{}` is already running; end it first or pick another name",
                    new.name
                )));
            }
            let id: i64 = c
                .prepare_cached(
                    "INSERT INTO competitions (guild_id, name, metric, contest, scoring, first_day, last_day, repeat,
                 teams, channel_id, reward_role, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING competition_id",
                )?
                .query_row(
                    params![
                        guild,
                        new.name,
                        new.metric,
                        new.contest,
                        new.scoring,
                        day_number(new.first_day),
                        day_number(new.last_day),
                        new.repeat,
                        serde_json::to_string(&new.teams).unwrap_or_else(|_| "[]".into()),
                        new.channel_id.map(|c| c as i64),
                        new.reward_role.map(|r| r as i64),
                        millis(now),
                        actor,
                    ],
                    |r| r.get(0),
                )?;
            let row = c.prepare_cached(&format!("{SELECT} WHERE competition_id = ?1"))?.query_row([id], from_row)?;
            let after = serde_json::to_value(&row).unwrap_or_default();
            audit(c, guild, &actor, "competition.create", &format!("competition:{id}"), None, Some(&after), now)?;
            Ok(row)
        })
        .await
    }

    /// A guild's competitions (every guild's for `None`), newest first; `running_since`: only those
    /// not ended, or ended after that instant.
    pub async fn competitions(
        &self,
        guild: Option<i64>,
        running_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<CompetitionRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR guild_id = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR ended_at IS NULL OR ended_at > ?2)
                 ORDER BY competition_id DESC"
            ))?;
            let rows = stmt.query_map(params![guild, running_since.map(millis)], from_row)?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Ends a running competition now; the scheduler then closes the season in progress.
    pub async fn end_competition(
        &self,
        guild: i64,
        id: i64,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<CompetitionRow> {
        self.write(move |c| {
            let before = c
                .prepare_cached(&format!("{SELECT} WHERE competition_id = ?1 AND guild_id = ?2"))?
                .query_row(params![id, guild], from_row)
                .optional()?
                .ok_or_else(|| StoreError::rule("there is no such competition on this server"))?;
            if before.ended_at.is_some() {
                return Err(StoreError::rule(format!("`{}` has already ended", before.name)));
            }
            c.prepare_cached("UPDATE competitions SET ended_at = ?2 WHERE competition_id = ?1")?
                .execute(params![id, millis(now)])?;
            let b = serde_json::to_value(&before).unwrap_or_default();
            audit(c, guild, &actor, "competition.end", &format!("competition:{id}"), Some(&b), None, now)?;
            Ok(CompetitionRow { ended_at: Some(now), ..before })
        })
        .await
    }

    /// The seasons a competition has closed, oldest first.
    pub async fn closed_seasons(&self, competition: i64) -> Result<Vec<ClosedSeason>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT season, first_day, end_day, closed_at, outcome = 'announced', standings, winners
                 FROM competition_seasons WHERE competition_id = ?1 ORDER BY season",
            )?;
            let rows = stmt.query_map([competition], |r| {
                Ok(ClosedSeason {
                    season: r.get(0)?,
                    first_day: day_from_number(r.get(1)?),
                    end_day: day_from_number(r.get(2)?),
                    closed_at: from_millis(r.get(3)?),
                    announced: r.get(4)?,
                    standings: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    winners: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Closes a season once, queueing its posts in the same transaction; false (and nothing
    /// written) when it was closed before.
    pub async fn close_season(&self, close: SeasonClose, now: DateTime<Utc>) -> Result<bool> {
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO competition_seasons (competition_id, season, first_day, end_day, closed_at, outcome,
                     standings, winners) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    close.competition,
                    close.season,
                    day_number(close.first_day),
                    day_number(close.end_day),
                    millis(now),
                    if close.announced { "announced" } else { "skipped" },
                    close.standings.to_string(),
                    serde_json::to_string(&close.winners).unwrap_or_else(|_| "[]".into()),
                ])?;
            if inserted == 0 {
                return Ok(false);
            }
            for post in &close.posts {
                if !nonce_seen(c, &post.nonce)? {
                    queue(c, close.guild, post, now)?;
                }
            }
            if close.finished {
                c.prepare_cached(
                    "UPDATE competitions SET ended_at = COALESCE(ended_at, ?2) WHERE competition_id = ?1",
                )?
                .execute(params![close.competition, millis(now)])?;
            }
            Ok(true)
        })
        .await
    }
}
