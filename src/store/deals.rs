//! Deals, their stage history and each guild's pipeline stages (seeded with the defaults the first
//! time a guild writes to its pipeline). Winning or losing a deal logs its `won` or `lost` activity
//! in the same transaction, so a deal and the revenue it brought can never disagree.

use super::sql::{Db, OptionalExtension, Row, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::activities::insert_activity;
use super::guilds::{audit, ensure_guild};
use super::teams::upsert_member;
use super::{NewActivity, Result, Store, StoreError, day_from_number, day_number, from_millis, millis};
use crate::domain::activity::{Amount, DealRef, KindName, LOST, Note, Quantity, Source, WON, shorten};
use crate::domain::pipeline::{DealFacts, DealName, LostReason, Outcome, Pipeline, Stage, StageName, default_stages};

/// One deal as stored, with its owner's name and the probability of the stage it is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DealRecord {
    pub id: i64,
    pub user_id: u64,
    pub user_name: String,
    /// The team the owner was on when the deal was opened (0: none).
    pub team_id: i64,
    pub team: Option<String>,
    pub name: String,
    /// Minor units; for a won deal, the value it was won at.
    pub value: i64,
    pub stage: String,
    pub probability: u8,
    pub expected_close: Option<NaiveDate>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub lost_reason: Option<String>,
    pub won_activity: Option<i64>,
}

/// A deal to open, every part already validated.
#[derive(Clone, Debug)]
pub struct NewDeal {
    pub guild: i64,
    pub user: i64,
    pub user_name: String,
    pub name: DealName,
    pub value: Amount,
    /// `None`: the first open stage.
    pub stage: Option<StageName>,
    pub expected_close: Option<NaiveDate>,
    /// The interaction id: a redelivered `/deal open` returns the first deal.
    pub idem_key: String,
}

/// Closing one of a rep's open deals as won or lost.
#[derive(Clone, Debug)]
pub struct CloseDeal {
    pub guild: i64,
    pub user: i64,
    pub user_name: String,
    pub name: DealName,
    pub outcome: Outcome,
    /// Won at a value other than the one it was opened with.
    pub value: Option<Amount>,
    pub reason: Option<LostReason>,
    /// The key of the activity logged for the close: a redelivery finds it and changes nothing.
    pub idem_key: String,
}

/// A deal change and whether it had already been made (a redelivered interaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealChanged {
    pub deal: DealRecord,
    pub duplicate: bool,
}

/// Which deals to list.
#[derive(Clone, Debug, Default)]
pub struct DealQuery {
    pub user: Option<i64>,
    pub team: Option<i64>,
    pub stage: Option<String>,
    pub open_only: bool,
    pub limit: u32,
    /// Matching deals skipped first (a later page).
    pub offset: u32,
}

/// What a list of deals adds up to, over every matching deal (not one page).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DealTotals {
    pub count: u64,
    /// Sum of values, minor units.
    pub value: i64,
    /// Sum of value x stage probability / 100, minor units (rounded down per deal).
    pub weighted: i64,
}

/// An open deal as the forecast needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenDeal {
    pub id: i64,
    pub user_id: u64,
    pub team_id: i64,
    pub name: String,
    /// Minor units.
    pub value: i64,
    pub stage: String,
    /// Percent chance of winning, from the deal's current stage.
    pub probability: u8,
    /// The local day the rep expects it to close, if they said.
    pub expected_close: Option<NaiveDate>,
}

/// A deal in a funnel: the team it was opened under, and what the funnel rules need.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelDeal {
    pub team_id: i64,
    pub facts: DealFacts,
}

const DEAL_SELECT: &str = "SELECT d.deal_id, d.user_id, m.user_name, d.team_id, t.name, d.name, d.value, d.stage,
        s.probability, d.expected_close, d.opened_at, d.closed_at, d.outcome, d.lost_reason, d.won_activity
    FROM deals d
    JOIN members m ON m.guild_id = d.guild_id AND m.user_id = d.user_id
    LEFT JOIN teams t ON t.team_id = d.team_id AND t.guild_id = d.guild_id
    LEFT JOIN pipeline_stages s ON s.guild_id = d.guild_id AND s.name = d.stage";

fn deal_from_row(r: &Row<'_>) -> super::sql::Result<DealRecord> {
    Ok(DealRecord {
        id: r.get(0)?,
        user_id: r.get::<_, i64>(1)? as u64,
        user_name: r.get(2)?,
        team_id: r.get(3)?,
        team: r.get(4)?,
        name: r.get(5)?,
        value: r.get(6)?,
        stage: r.get(7)?,
        probability: r.get::<_, Option<i64>>(8)?.unwrap_or(0).clamp(0, 100) as u8,
        expected_close: r.get::<_, Option<i64>>(9)?.map(day_from_number),
        opened_at: from_millis(r.get(10)?),
        closed_at: r.get::<_, Option<i64>>(11)?.map(from_millis),
        outcome: r.get::<_, Option<String>>(12)?.as_deref().and_then(Outcome::parse),
        lost_reason: r.get(13)?,
        won_activity: r.get(14)?,
    })
}

pub(super) fn load_deal(conn: &Db, guild: i64, id: i64) -> Result<DealRecord> {
    Ok(conn
        .prepare_cached(&format!("{DEAL_SELECT} WHERE d.deal_id = ?1 AND d.guild_id = ?2"))?
        .query_row(params![id, guild], deal_from_row)?)
}

/// The guild's stages; a guild that never touched its pipeline has the defaults.
pub(super) fn load_stages(conn: &Db, guild: i64) -> Result<Pipeline> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, position, probability, outcome FROM pipeline_stages WHERE guild_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([guild], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<String>>(3)?))
    })?;
    let mut stages = Vec::new();
    for row in rows {
        let (name, position, probability, outcome) = row?;
        stages.push(Stage {
            name: StageName::parse(&name)?,
            position,
            probability: probability.clamp(0, 100) as u8,
            outcome: outcome.as_deref().and_then(Outcome::parse),
        });
    }
    if stages.is_empty() {
        return Ok(Pipeline::defaults());
    }
    Ok(Pipeline::new(stages))
}

/// Stores the default stages the first time a guild's pipeline is written to, so that reads before
/// that (which see the defaults) and after it agree.
pub(super) fn seed_stages(conn: &Db, guild: i64, now: DateTime<Utc>) -> Result<()> {
    ensure_guild(conn, guild, now)?;
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM pipeline_stages WHERE guild_id = ?1")?
        .query_row([guild], |r| r.get(0))?;
    if count == 0 {
        save_stages(conn, guild, &Pipeline::new(default_stages()))?;
    }
    Ok(())
}

/// The guild's stages (seeded if needed) as (name, position, outcome), for the bench's generator.
pub(super) fn bench_seed_stages(
    conn: &Db,
    guild: i64,
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64, Option<String>)>> {
    seed_stages(conn, guild, now)?;
    Ok(load_stages(conn, guild)?
        .stages()
        .iter()
        .map(|s| (s.name.as_str().to_string(), s.position, s.outcome.map(|o| o.as_str().to_string())))
        .collect())
}

pub(super) fn save_stages(conn: &Db, guild: i64, pipeline: &Pipeline) -> Result<()> {
    conn.prepare_cached("DELETE FROM pipeline_stages WHERE guild_id = ?1")?.execute([guild])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO pipeline_stages (guild_id, name, position, probability, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for s in pipeline.stages() {
        insert.execute(params![guild, s.name.as_str(), s.position, s.probability, s.outcome.map(Outcome::as_str)])?;
    }
    Ok(())
}

fn stages_json(pipeline: &Pipeline) -> serde_json::Value {
    serde_json::to_value(pipeline.stages()).unwrap_or_default()
}

fn open_in_stage(conn: &Db, guild: i64, stage: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM deals WHERE guild_id = ?1 AND stage = ?2 AND outcome IS NULL")?
        .query_row(params![guild, stage], |r| r.get(0))?;
    Ok(n as u64)
}

/// A stage a deal may sit in while open, or a clear refusal naming the stages there are.
fn open_stage<'a>(pipeline: &'a Pipeline, name: &StageName) -> Result<&'a Stage> {
    match pipeline.get(name.as_str()) {
        Some(s) if s.is_open() => Ok(s),
        Some(s) => Err(StoreError::rule(format!(
            "`{}` closes a deal; use `/deal {}` for that",
            s.name,
            s.outcome.map_or("won", Outcome::as_str)
        ))),
        None => {
            let names: Vec<&str> = pipeline.open_stages().iter().map(|s| s.name.as_str()).collect();
            Err(StoreError::rule(format!("there is no stage `{name}`; the open stages are {}", names.join(", "))))
        }
    }
}

/// The rep's open deal with this name (names are unique among a rep's open deals, any case).
fn find_open(conn: &Db, guild: i64, user: i64, name: &DealName) -> Result<DealRecord> {
    let id: Option<i64> = conn
        .prepare_cached(
            "SELECT deal_id FROM deals WHERE guild_id = ?1 AND user_id = ?2 AND outcome IS NULL
             AND name = ?3 COLLATE NOCASE",
        )?
        .query_row(params![guild, user, name.as_str()], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => load_deal(conn, guild, id),
        None => Err(StoreError::rule(format!("you have no open deal named `{}`", shorten(name.as_str(), 60)))),
    }
}

pub(super) fn record_stage(conn: &Db, deal: i64, stage: &Stage, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO deal_stage_history (deal_id, seq, stage, position, entered_at)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deal_stage_history WHERE deal_id = ?1), ?2, ?3, ?4)",
    )?
    .execute(params![deal, stage.name.as_str(), stage.position, millis(now)])?;
    Ok(())
}

/// Reopens the deal that the activity `activity` closed (its win, or its loss), when an undo takes
/// that activity back: the deal returns to the stage it was in before closing. Returns its name.
pub(super) fn reopen_closed_by(conn: &Db, guild: i64, activity: i64, now: DateTime<Utc>) -> Result<Option<String>> {
    let deal: Option<i64> = conn
        .prepare_cached(
            "SELECT d.deal_id FROM deals d JOIN activities a ON a.activity_id = ?2
             WHERE d.guild_id = ?1 AND d.user_id = a.user_id AND d.outcome IS NOT NULL
             AND (d.won_activity = a.activity_id
                  OR (d.outcome = 'lost' AND d.name = a.deal_ref AND d.closed_at = a.created_at))
             ORDER BY d.closed_at DESC LIMIT 1",
        )?
        .query_row(params![guild, activity], |r| r.get(0))
        .optional()?;
    let Some(id) = deal else { return Ok(None) };
    let before = load_deal(conn, guild, id)?;
    // The stage before the closing one; a deal always enters an open stage when it is opened.
    let previous: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT stage, position FROM deal_stage_history WHERE deal_id = ?1
             ORDER BY seq DESC LIMIT 1 OFFSET 1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let pipeline = load_stages(conn, guild)?;
    let stage = previous
        .and_then(|(name, _)| pipeline.get(&name).cloned())
        .filter(|s| s.outcome.is_none())
        .or_else(|| pipeline.first_open().cloned())
        .ok_or_else(|| StoreError::rule("the pipeline has no open stage to reopen the deal in"))?;
    conn.prepare_cached(
        "UPDATE deals SET stage = ?3, outcome = NULL, closed_at = NULL, lost_reason = NULL, won_activity = NULL
         WHERE deal_id = ?1 AND guild_id = ?2",
    )?
    .execute(params![id, guild, stage.name.as_str()])?;
    record_stage(conn, id, &stage, now)?;
    let after = load_deal(conn, guild, id)?;
    audit(
        conn,
        guild,
        &actor_of(before.user_id as i64),
        "deal.reopen",
        &format!("deal:{id}"),
        Some(&deal_json(&before)),
        Some(&deal_json(&after)),
        now,
    )?;
    Ok(Some(after.name))
}

pub(super) fn deal_json(d: &DealRecord) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or_default()
}

fn actor_of(user: i64) -> String {
    format!("user:{user}")
}

impl Store {
    /// The guild's stages in pipeline order (the defaults until the guild changes them).
    pub async fn pipeline(&self, guild: i64) -> Result<Pipeline> {
        self.read(move |c| load_stages(c, guild)).await
    }

    /// Adds an open stage or changes one (see [`Pipeline::with_stage`]); returns the new pipeline.
    pub async fn set_stage(
        &self,
        guild: i64,
        name: StageName,
        probability: i64,
        place: Option<i64>,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Pipeline> {
        self.write(move |c| {
            seed_stages(c, guild, now)?;
            let before = load_stages(c, guild)?;
            let after = before.with_stage(&name, probability, place)?;
            save_stages(c, guild, &after)?;
            audit(
                c,
                guild,
                &actor,
                "pipeline.stage_set",
                &format!("stage:{name}"),
                Some(&stages_json(&before)),
                Some(&stages_json(&after)),
                now,
            )?;
            Ok(after)
        })
        .await
    }

    /// Removes an open stage no open deal sits in; returns the new pipeline.
    pub async fn remove_stage(
        &self,
        guild: i64,
        name: StageName,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Pipeline> {
        self.write(move |c| {
            seed_stages(c, guild, now)?;
            let before = load_stages(c, guild)?;
            let occupied = open_in_stage(c, guild, name.as_str())?;
            let after = before.without_stage(name.as_str(), occupied)?;
            save_stages(c, guild, &after)?;
            audit(
                c,
                guild,
                &actor,
                "pipeline.stage_remove",
                &format!("stage:{name}"),
                Some(&stages_json(&before)),
                Some(&stages_json(&after)),
                now,
            )?;
            Ok(after)
        })
        .await
    }

    /// Opens a deal for its rep, on their current team, in the given (or first) open stage.
    pub async fn open_deal(&self, deal: NewDeal, now: DateTime<Utc>) -> Result<DealChanged> {
        self.write(move |c| {
            seed_stages(c, deal.guild, now)?;
            if let Some(id) = c
                .prepare_cached("SELECT deal_id FROM deals WHERE guild_id = ?1 AND idem_key = ?2")?
                .query_row(params![deal.guild, deal.idem_key], |r| r.get::<_, i64>(0))
                .optional()?
            {
                return Ok(DealChanged { deal: load_deal(c, deal.guild, id)?, duplicate: true });
            }
            let pipeline = load_stages(c, deal.guild)?;
            let stage = match &deal.stage {
                Some(name) => open_stage(&pipeline, name)?,
                None => pipeline.first_open().ok_or_else(|| StoreError::rule("the pipeline has no open stage"))?,
            };
            let actor = actor_of(deal.user);
            let team = upsert_member(c, deal.guild, deal.user, &deal.user_name, None, &actor, now)?;
            let taken: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM deals WHERE guild_id = ?1 AND user_id = ?2 AND outcome IS NULL
                     AND name = ?3 COLLATE NOCASE)",
                )?
                .query_row(params![deal.guild, deal.user, deal.name.as_str()], |r| r.get(0))?;
            if taken {
                return Err(StoreError::rule(format!(
                    "you already have an open deal named `{}`; pick another name",
                    shorten(deal.name.as_str(), 60)
                )));
            }
            let id: i64 = c.prepare_cached(
                "INSERT INTO deals (guild_id, user_id, team_id, name, value, stage, expected_close, opened_at, idem_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING deal_id",
            )?
            .query_row(params![
                deal.guild,
                deal.user,
                team,
                deal.name.as_str(),
                deal.value.minor(),
                stage.name.as_str(),
                deal.expected_close.map(day_number),
                millis(now),
                deal.idem_key,
            ], |r| r.get(0))?;
            record_stage(c, id, stage, now)?;
            let record = load_deal(c, deal.guild, id)?;
            audit(c, deal.guild, &actor, "deal.open", &format!("deal:{id}"), None, Some(&deal_json(&record)), now)?;
            Ok(DealChanged { deal: record, duplicate: false })
        })
        .await
    }

    /// Moves one of the rep's open deals to another open stage, backwards included, and returns it
    /// with the stage it left. Moving it to the stage it is in changes nothing (`duplicate`): that
    /// is also what a redelivery looks like.
    pub async fn move_deal(
        &self,
        guild: i64,
        user: i64,
        name: DealName,
        stage: StageName,
        now: DateTime<Utc>,
    ) -> Result<(DealChanged, String)> {
        self.write(move |c| {
            seed_stages(c, guild, now)?;
            let pipeline = load_stages(c, guild)?;
            let before = find_open(c, guild, user, &name)?;
            let target = open_stage(&pipeline, &stage)?;
            if target.name.as_str() == before.stage {
                let from = before.stage.clone();
                return Ok((DealChanged { deal: before, duplicate: true }, from));
            }
            c.prepare_cached("UPDATE deals SET stage = ?3 WHERE deal_id = ?1 AND guild_id = ?2")?.execute(params![
                before.id,
                guild,
                target.name.as_str()
            ])?;
            record_stage(c, before.id, target, now)?;
            let after = load_deal(c, guild, before.id)?;
            audit(
                c,
                guild,
                &actor_of(user),
                "deal.move",
                &format!("deal:{}", before.id),
                Some(&json!({"stage": before.stage})),
                Some(&json!({"stage": after.stage})),
                now,
            )?;
            Ok((DealChanged { deal: after, duplicate: false }, before.stage))
        })
        .await
    }

    /// Closes one of the rep's open deals. Won: logs one `won` activity with the deal's value (or
    /// the value given) and the deal's name as its deal reference, and keeps its id on the deal.
    /// Lost: logs one `lost` activity, so that win rates from activities and from deals agree.
    pub async fn close_deal(&self, close: CloseDeal, now: DateTime<Utc>) -> Result<DealChanged> {
        self.write(move |c| {
            seed_stages(c, close.guild, now)?;
            if let Some(deal) = closed_by_key(c, &close)? {
                return Ok(DealChanged { deal, duplicate: true });
            }
            let pipeline = load_stages(c, close.guild)?;
            let before = find_open(c, close.guild, close.user, &close.name)?;
            let stage = pipeline
                .terminal(close.outcome)
                .ok_or_else(|| StoreError::rule(format!("the pipeline has no `{}` stage", close.outcome.as_str())))?
                .clone();
            let value = close.value.map_or(before.value, Amount::minor);
            let (kind, amount) = match close.outcome {
                Outcome::Won => (WON, Some(Amount::from_minor(value)?)),
                Outcome::Lost => (LOST, None),
            };
            let note = match &close.reason {
                Some(r) => Note::parse(r.as_str())?,
                None => Note::default(),
            };
            let logged = insert_activity(
                c,
                &NewActivity {
                    guild: close.guild,
                    user: close.user,
                    user_name: close.user_name.clone(),
                    // The member's current team is credited, as for any activity logged now.
                    team: None,
                    kind: KindName::parse(kind)?,
                    quantity: Quantity::ONE,
                    amount,
                    occurred_at: now,
                    note,
                    deal: Some(DealRef::parse(&before.name)?),
                    source: Source::Slash,
                    idem_key: close.idem_key.clone(),
                    alt_key: None,
                    actor: close.user,
                },
                now,
            )?;
            c.prepare_cached(
                "UPDATE deals SET stage = ?3, outcome = ?4, closed_at = ?5, value = ?6, lost_reason = ?7,
                 won_activity = ?8 WHERE deal_id = ?1 AND guild_id = ?2",
            )?
            .execute(params![
                before.id,
                close.guild,
                stage.name.as_str(),
                close.outcome.as_str(),
                millis(now),
                value,
                close.reason.as_ref().map(LostReason::as_str).filter(|r| !r.is_empty()),
                (close.outcome == Outcome::Won).then_some(logged.record.id),
            ])?;
            record_stage(c, before.id, &stage, now)?;
            let after = load_deal(c, close.guild, before.id)?;
            audit(
                c,
                close.guild,
                &actor_of(close.user),
                &format!("deal.{}", close.outcome.as_str()),
                &format!("deal:{}", before.id),
                Some(&deal_json(&before)),
                Some(&deal_json(&after)),
                now,
            )?;
            Ok(DealChanged { deal: after, duplicate: false })
        })
        .await
    }

    /// Deals matching `query`, open ones first, then by expected close date.
    pub async fn deals(&self, guild: i64, query: DealQuery) -> Result<Vec<DealRecord>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{DEAL_SELECT} WHERE d.guild_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR d.user_id = ?2) AND (CAST(?3 AS BIGINT) IS NULL OR d.team_id = ?3)
                 AND (CAST(?4 AS TEXT) IS NULL OR d.stage = ?4) AND (?5 = 0 OR d.outcome IS NULL)
                 ORDER BY d.outcome IS NOT NULL, d.expected_close IS NULL, d.expected_close, d.opened_at, d.deal_id
                 LIMIT ?6 OFFSET ?7"
            ))?;
            let rows = stmt.query_map(
                params![guild, query.user, query.team, query.stage, query.open_only, query.limit.max(1), query.offset],
                deal_from_row,
            )?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// How many deals match `query` (ignoring its limit and offset), and their values.
    pub async fn count_deals(&self, guild: i64, query: DealQuery) -> Result<DealTotals> {
        self.read(move |c| {
            let pipeline = load_stages(c, guild)?;
            let mut stmt = c.prepare_cached(
                "SELECT d.stage, d.value FROM deals d
                 WHERE d.guild_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR d.user_id = ?2)
                 AND (CAST(?3 AS BIGINT) IS NULL OR d.team_id = ?3) AND (CAST(?4 AS TEXT) IS NULL OR d.stage = ?4)
                 AND (?5 = 0 OR d.outcome IS NULL)",
            )?;
            let rows = stmt.query_map(params![guild, query.user, query.team, query.stage, query.open_only], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            // Weighted per deal, as the forecast weighs it, so that both add up alike.
            let mut totals = DealTotals::default();
            for row in rows {
                let (stage, value) = row?;
                totals.count += 1;
                totals.value += value;
                let p = i64::from(pipeline.get(&stage).map_or(0, |s| s.probability));
                totals.weighted += value * p / 100;
            }
            Ok(totals)
        })
        .await
    }

    /// The guild's open deals (or one team's: the team each deal was opened under) with value,
    /// stage probability and expected close day: the weighted pipeline of the forecast.
    pub async fn open_pipeline(&self, guild: i64, team: Option<i64>) -> Result<Vec<OpenDeal>> {
        self.read(move |c| {
            let pipeline = load_stages(c, guild)?;
            let mut stmt = c.prepare_cached(
                "SELECT deal_id, user_id, team_id, name, value, stage, expected_close FROM deals
                 WHERE guild_id = ?1 AND outcome IS NULL AND (CAST(?2 AS BIGINT) IS NULL OR team_id = ?2)
                 ORDER BY expected_close IS NULL, expected_close, deal_id",
            )?;
            let rows = stmt.query_map(params![guild, team], |r| {
                Ok(OpenDeal {
                    id: r.get(0)?,
                    user_id: r.get::<_, i64>(1)? as u64,
                    team_id: r.get(2)?,
                    name: r.get(3)?,
                    value: r.get(4)?,
                    stage: r.get(5)?,
                    probability: 0,
                    expected_close: r.get::<_, Option<i64>>(6)?.map(day_from_number),
                })
            })?;
            let mut out = Vec::new();
            for row in rows {
                let mut deal = row?;
                deal.probability = pipeline.get(&deal.stage).map_or(0, |s| s.probability);
                out.push(deal);
            }
            Ok(out)
        })
        .await
    }

    /// Won revenue (minor units) per local day in [first, end), from the day rollups of `won`
    /// (deals won through `/deal won` and wins logged with `/log` alike); days without wins are
    /// left out. `team`: only wins credited to that team.
    pub async fn won_revenue_by_day(
        &self,
        guild: i64,
        team: Option<i64>,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(NaiveDate, i64)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.local_day, SUM(r.amount) FROM day_rollups r JOIN activity_kinds k ON k.kind_id = r.kind_id
                 WHERE r.guild_id = ?1 AND k.name = ?2 AND r.local_day >= ?3 AND r.local_day < ?4
                 AND (CAST(?5 AS BIGINT) IS NULL OR r.team_id = ?5)
                 GROUP BY r.local_day HAVING SUM(r.amount) <> 0 ORDER BY r.local_day",
            )?;
            let rows = stmt.query_map(params![guild, WON, day_number(first), day_number(end), team], |r| {
                Ok((day_from_number(r.get(0)?), r.get(1)?))
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Deals opened in [start, end) with their stage history: a funnel's cohort.
    pub async fn funnel_deals(&self, guild: i64, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<FunnelDeal>> {
        self.read(move |c| {
            let mut deals: Vec<(i64, FunnelDeal)> = c
                .prepare_cached(
                    "SELECT deal_id, user_id, team_id, value, opened_at, closed_at, outcome FROM deals
                     WHERE guild_id = ?1 AND opened_at >= ?2 AND opened_at < ?3 ORDER BY deal_id",
                )?
                .query_map(params![guild, millis(start), millis(end)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        FunnelDeal {
                            team_id: r.get(2)?,
                            facts: DealFacts {
                                owner: r.get::<_, i64>(1)? as u64,
                                value: r.get(3)?,
                                opened_at: from_millis(r.get(4)?),
                                closed_at: r.get::<_, Option<i64>>(5)?.map(from_millis),
                                outcome: r.get::<_, Option<String>>(6)?.as_deref().and_then(Outcome::parse),
                                history: Vec::new(),
                            },
                        },
                    ))
                })?
                .collect::<super::sql::Result<_>>()?;
            let mut stmt = c.prepare_cached(
                "SELECT h.deal_id, h.stage, h.position FROM deal_stage_history h JOIN deals d ON d.deal_id = h.deal_id
                 WHERE d.guild_id = ?1 AND d.opened_at >= ?2 AND d.opened_at < ?3 ORDER BY h.deal_id, h.seq",
            )?;
            let rows = stmt.query_map(params![guild, millis(start), millis(end)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })?;
            for row in rows {
                let (id, stage, position) = row?;
                if let Ok(i) = deals.binary_search_by_key(&id, |(d, _)| *d) {
                    deals[i].1.facts.history.push((stage, position));
                }
            }
            Ok(deals.into_iter().map(|(_, d)| d).collect())
        })
        .await
    }

    /// A deal's stage history: (stage, position then, entered at), oldest first.
    pub async fn deal_history(&self, guild: i64, deal: i64) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.stage, h.position, h.entered_at FROM deal_stage_history h JOIN deals d ON d.deal_id = h.deal_id
                 WHERE d.guild_id = ?1 AND h.deal_id = ?2 ORDER BY h.seq",
            )?;
            let rows = stmt.query_map(params![guild, deal], |r| Ok((r.get(0)?, r.get(1)?, from_millis(r.get(2)?))))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }
}

/// The deal an earlier delivery of this close already closed, if any.
fn closed_by_key(conn: &Db, close: &CloseDeal) -> Result<Option<DealRecord>> {
    let activity: Option<i64> = conn
        .prepare_cached("SELECT activity_id FROM activities WHERE guild_id = ?1 AND idem_key = ?2")?
        .query_row(params![close.guild, close.idem_key], |r| r.get(0))
        .optional()?;
    let Some(activity) = activity else { return Ok(None) };
    // A won deal keeps its activity's id; a lost one is found by the activity's deal reference.
    let id: Option<i64> = conn
        .prepare_cached(
            "SELECT d.deal_id FROM deals d JOIN activities a ON a.activity_id = ?2
             WHERE d.guild_id = ?1 AND d.user_id = a.user_id AND d.outcome IS NOT NULL
             AND (d.won_activity = a.activity_id OR (d.won_activity IS NULL AND d.name = a.deal_ref))
             ORDER BY d.closed_at DESC LIMIT 1",
        )?
        .query_row(params![close.guild, activity], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => Ok(Some(load_deal(conn, close.guild, id)?)),
        None => Err(StoreError::rule("this interaction was already used for something else")),
    }
}
