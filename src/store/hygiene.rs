//! Pipeline hygiene (issue 17): each guild's rules, the open deals as the rules read them (stage
//! history, last activity, CRM next activity), the deal states a rule already fired for, one
//! figure per guild and local day for the manager's trend, and the changes a rep makes from a
//! hygiene DM (a pushed close date, a next step: an audit row `deal.next_step` that the rules
//! read as the deal being worked on).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::deals::{deal_json, load_deal};
use super::guilds::{audit, ensure_guild};
use super::sql::{Db, OptionalExtension, params};
use super::{Result, Store, StoreError, day_from_number, day_number, from_millis, millis};
use crate::domain::hygiene::{DEFAULT_STALE_DAYS, HygieneRules};

/// An open deal with everything the hygiene rules and the manager's view read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HygieneDeal {
    pub id: i64,
    /// The owner.
    pub user_id: u64,
    pub user_name: String,
    /// The team the owner was on when the deal was opened (0: none), as the forecast counts it.
    pub team_id: i64,
    pub name: String,
    /// Minor units; 0 when none was given.
    pub value: i64,
    pub stage: String,
    /// The current stage's probability, percent.
    pub probability: u8,
    /// A local date in the guild's timezone.
    pub expected_close: Option<NaiveDate>,
    /// When it was opened, UTC.
    pub opened_at: DateTime<Utc>,
    /// Every stage entry, oldest first: (position then, entered at UTC).
    pub history: Vec<(i64, DateTime<Utc>)>,
    /// The last live activity on the deal, UTC: one logged in chat with the deal's name as its
    /// deal reference, or one the CRM links to the deal.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The deal's id in the CRM, for a deal the CRM feeds (`None`: opened in chat or by intake).
    pub crm_id: Option<String>,
    /// Whether the CRM has a next activity planned; `None` when the CRM did not say.
    pub next_activity: Option<bool>,
}

/// The prefix of a deal's key when the Pipedrive sync made it (see `store::crm`).
const CRM_DEAL_PREFIX: &str = "pipedrive:deal:";

/// Stage entries by deal: (position then, entered at).
type Entries = BTreeMap<i64, Vec<(i64, DateTime<Utc>)>>;

fn stage_entries(conn: &Db, guild: i64) -> Result<Entries> {
    let mut stmt = conn.prepare_cached(
        "SELECT h.deal_id, h.position, h.entered_at FROM deal_stage_history h JOIN deals d ON d.deal_id = h.deal_id
         WHERE d.guild_id = ?1 AND d.outcome IS NULL ORDER BY h.deal_id, h.seq",
    )?;
    let rows = stmt.query_map([guild], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    let mut out = Entries::new();
    for row in rows {
        let (deal, position, at) = row?;
        out.entry(deal).or_default().push((position, from_millis(at)));
    }
    Ok(out)
}

/// The last CRM activity per CRM deal id, and what the CRM said of each deal's next activity.
fn crm_facts(conn: &Db, guild: i64) -> Result<(BTreeMap<String, i64>, BTreeMap<i64, bool>)> {
    let d = conn.dialect();
    let mut last = BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {deal}, MAX(a.occurred_at) FROM crm_records r JOIN activities a ON a.activity_id = r.activity_id
         WHERE r.guild_id = ?1 AND r.object = 'activity' AND a.deleted_at IS NULL AND {deal} IS NOT NULL
         GROUP BY {deal}",
        deal = d.json_text("r.body", "deal")
    ))?;
    for row in stmt.query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (deal, at) = row?;
        last.insert(deal, at);
    }
    let mut next = BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.deal_id, {next} FROM crm_records r
         WHERE r.guild_id = ?1 AND r.object = 'deal' AND r.deal_id IS NOT NULL",
        next = d.json_text("r.body", "next_activity")
    ))?;
    for row in stmt.query_map([guild], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))? {
        let (deal, planned) = row?;
        // The sync writes the field for every deal it reads: "" for none planned, the id otherwise.
        if let Some(planned) = planned {
            next.insert(deal, !planned.is_empty());
        }
    }
    Ok((last, next))
}

/// The audit action of a next step recorded from a hygiene DM; its target is `deal:ID` and its
/// `after` `{"what", "due", "key"}`.
const NEXT_STEP: &str = "deal.next_step";

/// The audit rows of next steps, as the partial index `audit_next_steps` (migration 14) covers
/// them: the action written out, as both databases use a partial index only for a condition they
/// can see in the statement, never for a parameter.
const NEXT_STEP_ROWS: &str = "action = 'deal.next_step'";

/// When a next step was last recorded on each deal of the guild, in milliseconds, by deal id.
fn next_steps(conn: &Db, guild: i64) -> Result<BTreeMap<i64, i64>> {
    let mut out = BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT target, MAX(at) FROM audit WHERE guild_id = ?1 AND {NEXT_STEP_ROWS} GROUP BY target"
    ))?;
    for row in stmt.query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (target, at) = row?;
        if let Some(deal) = target.strip_prefix("deal:").and_then(|d| d.parse().ok()) {
            out.insert(deal, at);
        }
    }
    Ok(out)
}

/// The next step recorded on `deal` under `key`, if any.
fn step_by_key(c: &Db, guild: i64, deal: i64, key: &str) -> Result<Option<NextStep>> {
    let earlier: Option<String> = c
        .prepare_cached(&format!(
            "SELECT after FROM audit WHERE guild_id = ?1 AND {NEXT_STEP_ROWS} AND target = ?2 AND {} = ?3",
            c.dialect().json_text("after", "key")
        ))?
        .query_row(params![guild, format!("deal:{deal}"), key], |r| r.get(0))
        .optional()?;
    Ok(earlier.map(|earlier| {
        let v: serde_json::Value = serde_json::from_str(&earlier).unwrap_or_default();
        NextStep {
            what: v["what"].as_str().unwrap_or_default().to_string(),
            due: v["due"].as_str().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        }
    }))
}

/// A next step on a deal: what (1-200 printable characters) and when it is due (a local date).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextStep {
    pub what: String,
    pub due: Option<NaiveDate>,
}

impl Store {
    /// Records the next step `step` a rep gives one of their open deals from a hygiene DM, once per
    /// `key` (the interaction's): a second call with the same key records nothing and returns the
    /// step recorded the first time. Returns the deal, the step and whether it was recorded now.
    /// Errors: the deal is gone, not the rep's, or closed (a rule error, its text for the rep).
    pub async fn record_next_step(
        &self,
        guild: i64,
        user: i64,
        deal: i64,
        step: NextStep,
        key: String,
        now: DateTime<Utc>,
    ) -> Result<(super::DealRecord, NextStep, bool)> {
        self.write(move |c| {
            let record = find_deal(c, guild, deal)?.ok_or_else(|| StoreError::rule("that deal is gone"))?;
            if record.user_id != user as u64 {
                return Err(StoreError::rule("that deal is not yours"));
            }
            if let Some(step) = step_by_key(c, guild, deal, &key)? {
                return Ok((record, step, false));
            }
            let target = format!("deal:{deal}");
            if record.outcome.is_some() {
                return Err(StoreError::rule(format!(
                    "`{}` is already {}",
                    crate::domain::activity::shorten(&record.name, 60),
                    record.outcome.map_or("closed", |o| o.as_str())
                )));
            }
            let after = json!({
                "what": step.what,
                "due": step.due.map(|d| d.format("%Y-%m-%d").to_string()),
                "key": key,
            });
            audit(c, guild, &format!("user:{user}"), NEXT_STEP, &target, None, Some(&after), now)?;
            Ok((record, step, true))
        })
        .await
    }

    /// The next step recorded on `deal` under `key` (an interaction's id), if any.
    pub async fn next_step_by_key(&self, guild: i64, deal: i64, key: String) -> Result<Option<NextStep>> {
        self.read(move |c| step_by_key(c, guild, deal, &key)).await
    }

    /// The guild's open deals as the hygiene rules read them, by deal id.
    pub async fn hygiene_deals(&self, guild: i64) -> Result<Vec<HygieneDeal>> {
        self.read(move |c| {
            let pipeline = super::deals::load_stages(c, guild)?;
            let mut history = stage_entries(c, guild)?;
            let (crm_last, crm_next) = crm_facts(c, guild)?;
            let steps = next_steps(c, guild)?;
            let mut stmt = c.prepare_cached(
                "SELECT d.deal_id, d.user_id, m.user_name, d.team_id, d.name, d.value, d.stage, d.expected_close,
                    d.idem_key, d.opened_at,
                    (SELECT MAX(a.occurred_at) FROM activities a WHERE a.guild_id = d.guild_id
                     AND a.user_id = d.user_id AND a.deleted_at IS NULL AND a.deal_ref = d.name COLLATE NOCASE)
                 FROM deals d JOIN members m ON m.guild_id = d.guild_id AND m.user_id = d.user_id
                 WHERE d.guild_id = ?1 AND d.outcome IS NULL ORDER BY d.deal_id",
            )?;
            let rows = stmt.query_map([guild], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, Option<i64>>(10)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, user, user_name, team_id, name, value, stage, close, key, opened, chat_last) = row?;
                let crm_id = key.strip_prefix(CRM_DEAL_PREFIX).map(str::to_string);
                let crm_last_at = crm_id.as_ref().and_then(|x| crm_last.get(x)).copied();
                let step_at = steps.get(&id).copied();
                let last = chat_last.into_iter().chain(crm_last_at).chain(step_at).max().map(from_millis);
                out.push(HygieneDeal {
                    id,
                    user_id: user as u64,
                    user_name,
                    team_id,
                    name,
                    value,
                    probability: pipeline.get(&stage).map_or(0, |s| s.probability),
                    stage,
                    expected_close: close.map(day_from_number),
                    opened_at: from_millis(opened),
                    history: history.remove(&id).unwrap_or_default(),
                    last_activity_at: last,
                    next_activity: crm_next.get(&id).copied(),
                    crm_id,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The guild's hygiene rules (every rule on, the default stale limit, until a manager changes
    /// them).
    pub async fn hygiene_rules(&self, guild: i64) -> Result<HygieneRules> {
        self.read(move |c| load_rules(c, guild)).await
    }

    /// Stores the guild's hygiene rules, with the change in the audit trail.
    pub async fn set_hygiene_rules(
        &self,
        guild: i64,
        rules: HygieneRules,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<HygieneRules> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            let before = load_rules(c, guild)?;
            let stages: serde_json::Map<String, serde_json::Value> =
                rules.stale_overrides().map(|(s, d)| (s.as_str().to_string(), json!(d))).collect();
            c.prepare_cached(
                "INSERT INTO hygiene_rules (guild_id, disabled, stale_default, stale_stages) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (guild_id) DO UPDATE SET disabled = excluded.disabled,
                    stale_default = excluded.stale_default, stale_stages = excluded.stale_stages",
            )?
            .execute(params![
                guild,
                rules.disabled_names().join(","),
                i64::from(rules.stale_default()),
                serde_json::Value::Object(stages).to_string()
            ])?;
            audit(
                c,
                guild,
                &actor,
                "hygiene.rules",
                "hygiene",
                Some(&rules_json(&before)),
                Some(&rules_json(&rules)),
                now,
            )?;
            load_rules(c, guild)
        })
        .await
    }

    /// Which of `keys` (breach state keys) a hygiene DM already told of.
    pub async fn hygiene_fired(&self, guild: i64, keys: Vec<String>) -> Result<BTreeSet<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT 1 FROM hygiene_fired WHERE guild_id = ?1 AND state_key = ?2")?;
            let mut out = BTreeSet::new();
            for key in &keys {
                if stmt.query_row(params![guild, key], |_| Ok(())).optional()?.is_some() {
                    out.insert(key.clone());
                }
            }
            Ok(out)
        })
        .await
    }

    /// Keeps the day's figures (JSON), replacing any kept earlier that day.
    pub async fn save_hygiene_snapshot(&self, guild: i64, day: NaiveDate, totals: String) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO hygiene_snapshots (guild_id, local_day, totals) VALUES (?1, ?2, ?3)
                 ON CONFLICT (guild_id, local_day) DO UPDATE SET totals = excluded.totals",
            )?
            .execute(params![guild, day_number(day), totals])?;
            Ok(())
        })
        .await
    }

    /// The latest figures kept on or before `day`, with their day.
    pub async fn hygiene_snapshot_on_or_before(
        &self,
        guild: i64,
        day: NaiveDate,
    ) -> Result<Option<(NaiveDate, String)>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT local_day, totals FROM hygiene_snapshots WHERE guild_id = ?1 AND local_day <= ?2
                 ORDER BY local_day DESC LIMIT 1",
            )?
            .query_row(params![guild, day_number(day)], |r| Ok((day_from_number(r.get(0)?), r.get(1)?)))
            .optional()?)
        })
        .await
    }

    /// Sets an open deal's expected close date to `to`, if it is still `from` (the date the
    /// button that asks for it was made for): a second press, or a press after the date changed
    /// otherwise, changes nothing and returns false. Only the deal's owner may.
    pub async fn push_close_date(
        &self,
        guild: i64,
        user: i64,
        deal: i64,
        from: Option<NaiveDate>,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(super::DealRecord, bool)> {
        self.write(move |c| {
            let before = find_deal(c, guild, deal)?.ok_or_else(|| StoreError::rule("that deal is gone"))?;
            if before.user_id != user as u64 {
                return Err(StoreError::rule("that deal is not yours"));
            }
            if before.outcome.is_some() {
                return Err(StoreError::rule(format!(
                    "`{}` is already {}",
                    crate::domain::activity::shorten(&before.name, 60),
                    before.outcome.map_or("closed", |o| o.as_str())
                )));
            }
            if before.expected_close != from {
                return Ok((before, false));
            }
            c.prepare_cached("UPDATE deals SET expected_close = ?3 WHERE deal_id = ?1 AND guild_id = ?2")?
                .execute(params![deal, guild, day_number(to)])?;
            let after = load_deal(c, guild, deal)?;
            audit(
                c,
                guild,
                &format!("user:{user}"),
                "deal.close_date",
                &format!("deal:{deal}"),
                Some(&deal_json(&before)),
                Some(&deal_json(&after)),
                now,
            )?;
            Ok((after, true))
        })
        .await
    }

    /// The CRM's id of a deal the CRM feeds; `None` for one opened in chat or by intake.
    pub async fn crm_deal_id(&self, guild: i64, deal: i64) -> Result<Option<String>> {
        self.read(move |c| {
            let key: Option<String> = c
                .prepare_cached("SELECT idem_key FROM deals WHERE guild_id = ?1 AND deal_id = ?2")?
                .query_row(params![guild, deal], |r| r.get(0))
                .optional()?;
            Ok(key.and_then(|k| k.strip_prefix(CRM_DEAL_PREFIX).map(str::to_string)))
        })
        .await
    }

    /// One deal of the guild, open or closed.
    pub async fn deal_by_id(&self, guild: i64, deal: i64) -> Result<Option<super::DealRecord>> {
        self.read(move |c| find_deal(c, guild, deal)).await
    }
}

fn find_deal(conn: &Db, guild: i64, deal: i64) -> Result<Option<super::DealRecord>> {
    match load_deal(conn, guild, deal) {
        Ok(d) => Ok(Some(d)),
        Err(StoreError::Database(super::sql::Error::NoRows)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn load_rules(conn: &Db, guild: i64) -> Result<HygieneRules> {
    let row: Option<(String, i64, String)> = conn
        .prepare_cached("SELECT disabled, stale_default, stale_stages FROM hygiene_rules WHERE guild_id = ?1")?
        .query_row([guild], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((disabled, stale_default, stages)) = row else { return Ok(HygieneRules::default()) };
    let stages: BTreeMap<String, i64> = serde_json::from_str(&stages).unwrap_or_default();
    Ok(HygieneRules::from_stored(
        disabled.split(',').filter(|n| !n.is_empty()),
        if stale_default > 0 { stale_default } else { i64::from(DEFAULT_STALE_DAYS) },
        stages,
    ))
}

fn rules_json(rules: &HygieneRules) -> serde_json::Value {
    json!({
        "disabled": rules.disabled_names(),
        "stale_default": rules.stale_default(),
        "stale_stages": rules.stale_overrides().map(|(s, d)| (s.as_str().to_string(), d)).collect::<BTreeMap<_, _>>(),
    })
}

/// Notes each breach state key a queued DM tells of, in the transaction that queues it.
pub(super) fn mark_fired(conn: &Db, guild: i64, keys: &[String], now: DateTime<Utc>) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO hygiene_fired (guild_id, state_key, fired_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?;
    for key in keys {
        stmt.execute(params![guild, key, millis(now)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_steps_are_read_through_their_partial_index_not_the_guilds_audit_trail() {
        assert_eq!(NEXT_STEP_ROWS, format!("action = '{NEXT_STEP}'"), "the index's condition is the action written");
        let dir = tempfile::tempdir().unwrap();
        let mut c = rusqlite::Connection::open(dir.path().join("h.db")).unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        let db = Db::sqlite(c);
        let plan = |sql: String, params: &[&dyn super::super::sql::ToValue]| -> String {
            let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map(params, |r| r.get::<_, String>(3)).unwrap();
            rows.collect::<super::super::sql::Result<Vec<_>>>().unwrap().join(" / ")
        };
        let all = plan(
            format!("SELECT target, MAX(at) FROM audit WHERE guild_id = ?1 AND {NEXT_STEP_ROWS} GROUP BY target"),
            &[&1i64],
        );
        assert!(all.contains("audit_next_steps"), "{all}");
        let one = plan(
            format!("SELECT after FROM audit WHERE guild_id = ?1 AND {NEXT_STEP_ROWS} AND target = ?2"),
            &[&1i64, &"deal:1"],
        );
        assert!(one.contains("audit_next_steps"), "{one}");
    }
}
