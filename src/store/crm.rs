//! The CRM as a source: a guild's connection, its sync cursors, the CRM's users, activity types and
//! stages, and every CRM record with what it counts as in rally. Records are applied in batches
//! (a page of a sync pass, or one webhook event) in one transaction with the cursor that follows
//! them, so a crash resumes exactly where the last durable page ended and nothing counts twice.
//!
//! Each CRM record holds at most one rally activity (its key `pipedrive:activity:<id>`), or one
//! rally deal plus the activity that closed it (`pipedrive:deal:<id>:close`). A change in the CRM
//! takes the old contribution out of the rollups and puts the new one in, on the same row, so every
//! rollup stays equal to a recomputation.

use std::collections::HashMap;

use super::sql::{Db, OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::activities::{
    ActivityRecord, Inserted, NewActivity, RollupKey, apply_to_rollup, guild_timezone, load_record, retract, write_row,
};
use super::deals::{deal_json, load_deal, load_stages, record_stage, save_stages, seed_stages};
use super::guilds::{audit, ensure_guild, load_settings};
use super::teams::upsert_member;
use super::{Result, Store, StoreError, from_millis, millis};
use crate::domain::activity::{Amount, DealRef, KindName, LOST, Note, Quantity, Source, WON, shorten};
use crate::domain::crm::{
    Credit, CrmActivity, CrmDeal, CrmRecord, CrmStage, CrmType, CrmUser, DEFAULT_TYPE_MAP, DealPlan, Ignored, Object,
    Provider, Secret, TrackedDeal, Window, credit_activity, plan_deal, stage_slug,
};
use crate::domain::pipeline::{Outcome, Pipeline, Stage, StageName};

/// A guild's CRM connection as stored. `api_token` is a [`Secret`]: never logged or shown.
#[derive(Clone, Debug)]
pub struct CrmConnection {
    pub guild: i64,
    pub provider: Provider,
    /// The base URL rally requests `/api/v2/...` and `/v1/...` under.
    pub api_url: String,
    pub api_token: Secret,
    /// The CRM pipeline whose stages are the guild's pipeline.
    pub pipeline: Option<String>,
    /// The Basic user of the guild's webhook URL (the password is kept only as a hash).
    pub webhook_user: Option<String>,
    /// The CRM's ids of the webhooks rally registered.
    pub webhook_ids: Vec<String>,
    pub connected_at: DateTime<Utc>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_full_at: Option<DateTime<Utc>>,
    /// The last sync error and when it happened; cleared by the next pass that completes.
    pub last_error: Option<(String, DateTime<Utc>)>,
    /// Totals since connecting: records that began to count, changed, or stopped counting.
    pub imported: u64,
    pub updated: u64,
    pub removed: u64,
    /// CRM API requests made and the CRM's token cost of them (Pipedrive's `x-token-cost`).
    pub api_calls: u64,
    pub token_cost: u64,
    /// Whether a rep's change from a hygiene DM (a pushed close date, a deal marked lost) is
    /// written to the CRM; off until a manager turns it on (`rally crm write-back`).
    pub write_back: bool,
}

/// A new connection: what `rally crm connect` stores.
#[derive(Clone, Debug)]
pub struct NewConnection {
    pub guild: i64,
    pub provider: Provider,
    pub api_url: String,
    pub api_token: Secret,
    pub pipeline: Option<String>,
    pub webhook_user: Option<String>,
    /// SHA-256 of the webhook's Basic password, lowercase hex.
    pub webhook_hash: Option<String>,
    pub webhook_ids: Vec<String>,
}

/// Where one object's sync stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CursorState {
    /// The end of the last complete pass (UTC): the next pass starts a little before it.
    pub watermark: Option<DateTime<Utc>>,
    /// The pass in progress, if one was interrupted: its window and the cursor of its next page.
    pub pass: Option<(Window, Option<String>)>,
}

/// What applying a batch of CRM records did, record by record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyCounts {
    /// Began to count (a new activity or deal in rally).
    pub imported: u64,
    /// Counted before and now counts differently (time, owner, kind, value, stage, outcome).
    pub updated: u64,
    /// Counted before and no longer counts (deleted, undone, merged, unmapped).
    pub removed: u64,
    /// Read again with nothing new.
    pub unchanged: u64,
    /// Kept but not counted yet (owner not linked, done in the future).
    pub held: u64,
    /// Does not count (not done, unmapped type, other currency, ...).
    pub ignored: u64,
    /// An older version than the one stored (a late webhook): left alone.
    pub stale: u64,
}

impl ApplyCounts {
    /// Adds another batch's counts to these.
    pub fn add(&mut self, other: ApplyCounts) {
        self.imported += other.imported;
        self.updated += other.updated;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
        self.held += other.held;
        self.ignored += other.ignored;
        self.stale += other.stale;
    }

    /// Records read in all.
    pub fn total(&self) -> u64 {
        self.imported + self.updated + self.removed + self.unchanged + self.held + self.ignored + self.stale
    }
}

/// A guild's CRM sync at a glance, for `/crm status` and `rally crm status` (no secrets in it).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CrmStatus {
    pub provider: Option<String>,
    pub api_url: Option<String>,
    pub pipeline: Option<String>,
    pub webhooks: usize,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_full_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub imported: u64,
    pub updated: u64,
    pub removed: u64,
    pub api_calls: u64,
    pub token_cost: u64,
    /// Records counting now, held, and ignored, per object.
    pub counted: u64,
    pub held: u64,
    pub ignored: u64,
    /// (reason, records), most frequent first.
    pub held_reasons: Vec<(String, u64)>,
    pub ignored_reasons: Vec<(String, u64)>,
    /// CRM activity types not mapped to a kind: (key, label, activities of it).
    pub unmapped_types: Vec<(String, String, u64)>,
    /// (object, state of its sync).
    pub cursors: Vec<(String, CursorState)>,
    pub users: usize,
    pub linked_users: usize,
    /// Kinds taken from the CRM rather than chat.
    pub crm_fed: Vec<String>,
}

/// A CRM user as rally knows it, with the member it is linked to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrmUserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub linked: Option<u64>,
    /// Records of this user waiting for the link.
    pub held: u64,
}

/// An activity type of the CRM and the kind it maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrmTypeRow {
    pub key: String,
    pub name: String,
    pub kind: Option<String>,
}

/// What linking a CRM user did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Linked {
    pub crm_user: String,
    pub crm_name: String,
    /// The member it was linked to before, if another one.
    pub previous: Option<u64>,
    /// What re-reading the user's records did (held ones now count, or move to the new member).
    pub counts: ApplyCounts,
}

fn key_prefix(provider: Provider) -> &'static str {
    provider.as_str()
}

fn activity_key(provider: Provider, id: &str) -> String {
    format!("{}:activity:{id}", key_prefix(provider))
}

fn deal_key(provider: Provider, id: &str) -> String {
    format!("{}:deal:{id}", key_prefix(provider))
}

fn close_key(provider: Provider, id: &str) -> String {
    format!("{}:deal:{id}:close", key_prefix(provider))
}

fn actor(provider: Provider) -> String {
    format!("crm:{}", provider.as_str())
}

/// Where a new activity adds to the rollups: (day, month, member, team, kind).
type Contribution = (i64, i64, i64, i64, i64);

/// Everything a batch needs to decide what records count, read once per batch inside its transaction.
pub(super) struct Ctx {
    guild: i64,
    /// The CRM whose records the batch applies; `None` for the intake API, which sends no CRM records.
    provider: Option<Provider>,
    /// How the activities this batch writes are marked, and who the audit trail names.
    source: Source,
    who: String,
    tz: chrono_tz::Tz,
    currency: crate::domain::money::Currency,
    followed: Option<String>,
    /// CRM type key -> rally kind (`None`: known, not mapped).
    types: HashMap<String, Option<KindName>>,
    fed: Vec<KindName>,
    /// CRM user -> (member id, member name).
    links: HashMap<String, (i64, String)>,
    /// CRM stage id -> rally stage (`None`: a stage of a pipeline not followed).
    stages: HashMap<String, Option<StageName>>,
    /// kind name -> (kind id, points).
    kinds: HashMap<String, (i64, i64)>,
    /// member id -> current team.
    teams: HashMap<i64, i64>,
    pipeline: Pipeline,
    /// Rollup contributions of the activities inserted by this batch, by day and by month, written
    /// once per rollup row at its end (as the import does) instead of row by row.
    days: super::import::Sums,
    months: super::import::Sums,
    /// The current record's contributions: summed once it is stored, dropped if it is rolled back.
    pending: Vec<(Contribution, [i64; 4])>,
}

fn load_ctx(conn: &Db, guild: i64, provider: Provider, now: DateTime<Utc>) -> Result<Ctx> {
    let mut ctx = load_ctx_for(conn, guild, now)?.acting_as(Source::Crm, actor(provider));
    ctx.provider = Some(provider);
    Ok(ctx)
}

/// A batch's context without a CRM: activities marked as from the intake API.
pub(super) fn load_ctx_for(conn: &Db, guild: i64, now: DateTime<Utc>) -> Result<Ctx> {
    ensure_guild(conn, guild, now)?;
    let settings = load_settings(conn, guild)?;
    let tz = guild_timezone(conn, guild, now)?;
    let followed: Option<String> = conn
        .prepare_cached("SELECT pipeline FROM crm_connections WHERE guild_id = ?1")?
        .query_row([guild], |r| r.get(0))
        .optional()?
        .flatten();
    let mut types = HashMap::new();
    for row in conn
        .prepare_cached("SELECT type_key, kind FROM crm_types WHERE guild_id = ?1")?
        .query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?
    {
        let (key, kind) = row?;
        types.insert(key, kind.as_deref().map(KindName::parse).transpose()?);
    }
    let mut links = HashMap::new();
    for row in conn
        .prepare_cached(
            "SELECT u.crm_user, u.user_id, m.user_name FROM crm_users u
             JOIN members m ON m.guild_id = u.guild_id AND m.user_id = u.user_id
             WHERE u.guild_id = ?1 AND u.user_id IS NOT NULL",
        )?
        .query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?
    {
        let (crm, user, name) = row?;
        links.insert(crm, (user, name));
    }
    let mut stages = HashMap::new();
    for row in conn
        .prepare_cached("SELECT stage_id, rally_stage FROM crm_stages WHERE guild_id = ?1")?
        .query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?
    {
        let (id, stage) = row?;
        stages.insert(id, stage.as_deref().map(StageName::parse).transpose()?);
    }
    let mut kinds = HashMap::new();
    for row in conn
        .prepare_cached("SELECT name, kind_id, points FROM activity_kinds WHERE guild_id = ?1 AND retired_at IS NULL")?
        .query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?
    {
        let (name, id, points) = row?;
        kinds.insert(name, (id, points));
    }
    Ok(Ctx {
        guild,
        provider: None,
        source: Source::Api,
        who: "api".to_string(),
        tz,
        currency: settings.money().currency,
        followed,
        types,
        fed: settings.crm_fed,
        links,
        stages,
        kinds,
        teams: HashMap::new(),
        pipeline: load_stages(conn, guild)?,
        days: HashMap::new(),
        months: HashMap::new(),
        pending: Vec::new(),
    })
}

fn crm_of(ctx: &Ctx) -> Result<Provider> {
    ctx.provider.ok_or_else(|| StoreError::Corrupt("a CRM record in a batch without a CRM".into()))
}

impl Ctx {
    /// Marks what this batch writes as coming from `source`, done by `who` (for the audit trail).
    pub(super) fn acting_as(mut self, source: Source, who: String) -> Ctx {
        self.source = source;
        self.who = who;
        self
    }

    fn team_of(&mut self, conn: &Db, user: i64) -> Result<i64> {
        if let Some(t) = self.teams.get(&user) {
            return Ok(*t);
        }
        let team: i64 = conn
            .prepare_cached("SELECT team_id FROM members WHERE guild_id = ?1 AND user_id = ?2")?
            .query_row(params![self.guild, user], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        self.teams.insert(user, team);
        Ok(team)
    }
}

/// The stored version of a record: its body, update time and state.
struct Stored {
    body: String,
    updated_at: i64,
    state: String,
}

fn load_stored(conn: &Db, guild: i64, object: Object, id: &str) -> Result<Option<Stored>> {
    Ok(conn
        .prepare_cached(
            "SELECT body, updated_at, state FROM crm_records
             WHERE guild_id = ?1 AND object = ?2 AND external_id = ?3",
        )?
        .query_row(params![guild, object.as_str(), id], |r| {
            Ok(Stored { body: r.get(0)?, updated_at: r.get(1)?, state: r.get(2)? })
        })
        .optional()?)
}

#[allow(clippy::too_many_arguments)] // one column each
fn save_record(
    conn: &Db,
    guild: i64,
    record: &CrmRecord,
    body: &str,
    state: &str,
    reason: &str,
    activity_id: Option<i64>,
    deal_id: Option<i64>,
    checked: Option<DateTime<Utc>>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO crm_records (guild_id, object, external_id, owner, body, updated_at, state, reason, activity_id,
            deal_id, checked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, COALESCE(?11, CAST(0 AS BIGINT)))
         ON CONFLICT (guild_id, object, external_id) DO UPDATE SET owner = excluded.owner, body = excluded.body,
            updated_at = excluded.updated_at, state = excluded.state, reason = excluded.reason,
            activity_id = excluded.activity_id, deal_id = excluded.deal_id,
            checked_at = CASE WHEN crm_records.checked_at > excluded.checked_at THEN crm_records.checked_at ELSE excluded.checked_at END",
    )?
    .execute(params![
        guild,
        record.object().as_str(),
        record.id(),
        record.owner(),
        body,
        millis(record.updated_at()),
        state,
        reason,
        activity_id,
        deal_id,
        checked.map(millis),
    ])?;
    Ok(())
}

/// What a record's change did to rally, before the counts are tallied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Imported,
    Updated,
    Removed,
    Unchanged,
    Held,
    Ignored,
    Stale,
}

impl ApplyCounts {
    fn tally(&mut self, change: Change) {
        match change {
            Change::Imported => self.imported += 1,
            Change::Updated => self.updated += 1,
            Change::Removed => self.removed += 1,
            Change::Unchanged => self.unchanged += 1,
            Change::Held => self.held += 1,
            Change::Ignored => self.ignored += 1,
            Change::Stale => self.stale += 1,
        }
    }
}

/// Puts `a` in as a live activity: a new row, or the soft-deleted row `revive` rewritten. Adds its
/// contribution to the rollups. Returns its id.
fn put_activity(ctx: &mut Ctx, conn: &Db, a: &NewActivity, revive: Option<i64>, now: DateTime<Utc>) -> Result<i64> {
    let Some(&(kind_id, points)) = ctx.kinds.get(a.kind.as_str()) else {
        return Err(StoreError::rule(format!("`{}` is not an activity kind of this server", a.kind)));
    };
    let team = ctx.team_of(conn, a.user)?;
    let Inserted { id, day, local_day, quantity, points, amount } =
        write_row(conn, ctx.tz, a, team, kind_id, points, revive, now)?;
    if revive.is_none() {
        // A new row: its contribution is summed and written with the batch's (see `flush`), once
        // the record it belongs to is stored.
        ctx.pending.push(((day, super::month_number(local_day), a.user, team, kind_id), [quantity, points, amount, 1]));
        return Ok(id);
    }
    apply_to_rollup(
        conn,
        &RollupKey {
            guild: a.guild,
            day,
            user: a.user,
            team,
            kind: kind_id,
            quantity,
            points,
            amount,
            won: a.kind.as_str() == WON,
        },
        1,
    )?;
    Ok(id)
}

/// Whether a live activity already says what `a` would.
fn same_activity(r: &ActivityRecord, a: &NewActivity) -> bool {
    r.user_id == a.user as u64
        && r.kind == a.kind.as_str()
        && r.quantity == i64::from(a.quantity.get())
        && r.amount == a.amount.map(Amount::minor)
        && millis(r.occurred_at) == millis(a.occurred_at)
        && r.note == a.note.as_str()
        && r.deal_ref.as_deref() == a.deal.as_ref().map(DealRef::as_str)
}

/// Makes the activity keyed `a.idem_key` (or none, for `desired = None`) what it should be: inserts,
/// rewrites (out of the rollups and back in) or retracts it. `current`: the row that key holds.
pub(super) fn settle_activity(
    ctx: &mut Ctx,
    conn: &Db,
    current: Option<ActivityRecord>,
    desired: Option<&NewActivity>,
    now: DateTime<Utc>,
) -> Result<(Change, Option<i64>)> {
    let live = current.as_ref().filter(|r| !r.deleted);
    let who = ctx.who.clone();
    match (live, desired) {
        (None, None) => Ok((Change::Ignored, current.map(|r| r.id))),
        (Some(r), None) => {
            retract(conn, r, &who, "activity.crm_remove", now)?;
            Ok((Change::Removed, Some(r.id)))
        }
        (Some(r), Some(a)) if same_activity(r, a) => Ok((Change::Unchanged, Some(r.id))),
        (Some(r), Some(a)) => {
            retract(conn, r, &who, "activity.crm_change", now)?;
            Ok((Change::Updated, Some(put_activity(ctx, conn, a, Some(r.id), now)?)))
        }
        (None, Some(a)) => {
            let revive = current.as_ref().map(|r| r.id);
            Ok((Change::Imported, Some(put_activity(ctx, conn, a, revive, now)?)))
        }
    }
}

pub(super) fn find_activity(conn: &Db, guild: i64, key: &str) -> Result<Option<ActivityRecord>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT activity_id FROM activities WHERE guild_id = ?1 AND idem_key = ?2")?
        .query_row(params![guild, key], |r| r.get(0))
        .optional()?;
    id.map(|id| load_record(conn, id)).transpose()
}

#[allow(clippy::too_many_arguments)] // the record, its stored state and the pass's stamps
fn apply_activity(
    ctx: &mut Ctx,
    conn: &Db,
    a: &CrmActivity,
    record: &CrmRecord,
    body: &str,
    known: bool,
    checked: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Change> {
    let kind = match ctx.types.get(&a.type_key) {
        Some(Some(kind)) => Some(kind.clone()),
        _ => None,
    };
    let link = ctx.links.get(&a.owner).cloned();
    let credit = credit_activity(a, kind.as_ref(), link.is_some(), &ctx.tz, now);
    let credit = match credit {
        Credit::Count { kind, .. } if !ctx.fed.contains(&kind) => Credit::Ignored(Ignored::ChatKind(kind.to_string())),
        other => other,
    };
    let provider = crm_of(ctx)?;
    let key = activity_key(provider, &a.id);
    let desired = match (&credit, &link) {
        (Credit::Count { kind, at }, Some((user, name))) => Some(NewActivity {
            guild: ctx.guild,
            user: *user,
            user_name: name.clone(),
            team: None,
            kind: kind.clone(),
            quantity: Quantity::ONE,
            amount: None,
            occurred_at: *at,
            note: Note::parse(&shorten(&a.subject, crate::domain::activity::MAX_NOTE_CHARS)).unwrap_or_default(),
            deal: None,
            source: ctx.source,
            idem_key: key.clone(),
            alt_key: None,
            actor: 0,
        }),
        _ => None,
    };
    let current = if known { find_activity(conn, ctx.guild, &key)? } else { None };
    let (change, activity_id) = settle_activity(ctx, conn, current, desired.as_ref(), now)?;
    let (state, reason, change) = match &credit {
        Credit::Count { .. } => ("counted", String::new(), change),
        Credit::Held(h) => ("held", h.reason(), if change == Change::Removed { change } else { Change::Held }),
        Credit::Ignored(i) => ("ignored", i.reason(), change),
    };
    save_record(conn, ctx.guild, record, body, state, &reason, activity_id, None, checked)?;
    Ok(change)
}

/// The deal's closing activity (won with its value, or lost), as it should be.
fn closing_activity(ctx: &Ctx, key: &str, t: &TrackedDeal, user: i64, name: &str) -> Result<Option<NewActivity>> {
    let Some((outcome, at)) = t.closed else {
        return Ok(None);
    };
    let (kind, amount) = match outcome {
        Outcome::Won => (WON, Some(Amount::from_minor(t.value)?)),
        Outcome::Lost => (LOST, None),
    };
    Ok(Some(NewActivity {
        guild: ctx.guild,
        user,
        user_name: name.to_string(),
        team: None,
        kind: KindName::parse(kind)?,
        quantity: Quantity::ONE,
        amount,
        occurred_at: at,
        note: Note::parse(t.lost_reason.as_deref().unwrap_or("")).unwrap_or_default(),
        deal: Some(DealRef::parse(&t.name)?),
        source: ctx.source,
        idem_key: key.to_string(),
        alt_key: None,
        actor: 0,
    }))
}

fn stage_for<'a>(pipeline: &'a Pipeline, t: &TrackedDeal) -> Result<&'a Stage> {
    let found = match (&t.closed, &t.stage) {
        (Some((outcome, _)), _) => pipeline.terminal(*outcome),
        (None, Some(stage)) => pipeline.get(stage.as_str()),
        (None, None) => pipeline.first_open(),
    };
    found.ok_or_else(|| StoreError::rule("the pipeline has no stage for this deal"))
}

fn apply_deal(
    ctx: &mut Ctx,
    conn: &Db,
    d: &CrmDeal,
    record: &CrmRecord,
    body: &str,
    checked: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Change> {
    let stage = ctx.stages.get(&d.stage).cloned().flatten();
    let link = ctx.links.get(&d.owner).cloned();
    let mut plan = plan_deal(d, ctx.currency, stage.as_ref(), ctx.followed.as_deref(), link.is_some(), now);
    if let DealPlan::Track(t) = &plan
        && let Some((outcome, _)) = t.closed
    {
        let kind = KindName::parse(outcome.as_str())?;
        if !ctx.fed.contains(&kind) {
            plan = DealPlan::Ignored(Ignored::ChatKind(kind.to_string()));
        }
    }
    let provider = crm_of(ctx)?;
    let key = deal_key(provider, &d.id);
    let close = close_key(provider, &d.id);
    let target = match (&plan, &link) {
        (DealPlan::Track(t), Some((user, name))) => Some((*user, name.as_str(), t)),
        _ => None,
    };
    let (change, deal_id) = settle_deal(ctx, conn, &key, &close, target, d.updated_at, now)?;
    let change = match (&plan, change) {
        (DealPlan::Held(_), Change::Ignored) => Change::Held,
        (_, change) => change,
    };
    let (state, reason) = match &plan {
        DealPlan::Track(_) => ("counted", String::new()),
        DealPlan::Held(h) => ("held", h.reason()),
        DealPlan::Ignored(i) => ("ignored", i.reason()),
    };
    save_record(conn, ctx.guild, record, body, state, &reason, None, deal_id, checked)?;
    Ok(change)
}

/// Makes the rally deal keyed `key` (and its closing activity, keyed `close`) what `target` says:
/// (owner, owner's name, the deal) opens or updates it, `None` removes both. Returns what changed
/// and the deal's id. Shared by the CRM sync and the intake API.
pub(super) fn settle_deal(
    ctx: &mut Ctx,
    conn: &Db,
    key: &str,
    close: &str,
    target: Option<(i64, &str, &TrackedDeal)>,
    updated_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Change, Option<i64>)> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT deal_id FROM deals WHERE guild_id = ?1 AND idem_key = ?2")?
        .query_row(params![ctx.guild, key], |r| r.get(0))
        .optional()?;
    let closing = find_activity(conn, ctx.guild, close)?;
    let who = ctx.who.clone();
    Ok(match target {
        Some((user, name, t)) => {
            let stage = stage_for(&ctx.pipeline, t)?.clone();
            let desired = closing_activity(ctx, close, t, user, name)?;
            let (close_change, close_id) = settle_activity(ctx, conn, closing, desired.as_ref(), now)?;
            let won_activity = t.closed.filter(|(o, _)| *o == Outcome::Won).and(close_id);
            let team = ctx.team_of(conn, user)?;
            match existing {
                None => {
                    let id: i64 = conn.prepare_cached(
                        "INSERT INTO deals (guild_id, user_id, team_id, name, value, stage, expected_close, opened_at,
                            closed_at, outcome, lost_reason, won_activity, idem_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING deal_id",
                    )?
                    .query_row(params![
                        ctx.guild,
                        user,
                        team,
                        t.name,
                        t.value,
                        stage.name.as_str(),
                        t.expected_close.map(super::day_number),
                        millis(t.opened_at),
                        t.closed.map(|(_, at)| millis(at)),
                        t.closed.map(|(o, _)| o.as_str()),
                        t.lost_reason.as_deref().filter(|r| !r.is_empty()),
                        won_activity,
                        key,
                    ], |r| r.get(0))?;
                    // What rally saw of the deal's way: where it was opened, and where it is now.
                    if t.closed.is_some() {
                        if let Some(first) = ctx.pipeline.first_open() {
                            record_stage(conn, id, first, t.opened_at)?;
                        }
                        record_stage(conn, id, &stage, t.closed.map_or(now, |(_, at)| at))?;
                    } else {
                        record_stage(conn, id, &stage, t.opened_at)?;
                    }
                    let after = load_deal(conn, ctx.guild, id)?;
                    audit(
                        conn,
                        ctx.guild,
                        &who,
                        "deal.crm_open",
                        &format!("deal:{id}"),
                        None,
                        Some(&deal_json(&after)),
                        now,
                    )?;
                    (Change::Imported, Some(id))
                }
                Some(id) => {
                    let before = load_deal(conn, ctx.guild, id)?;
                    let outcome = t.closed.map(|(o, _)| o);
                    let same = before.user_id == user as u64
                        && before.name == t.name
                        && before.value == t.value
                        && before.stage == stage.name.as_str()
                        && before.expected_close == t.expected_close
                        && before.outcome == outcome
                        && before.closed_at.map(millis) == t.closed.map(|(_, at)| millis(at))
                        && before.lost_reason.as_deref().unwrap_or("") == t.lost_reason.as_deref().unwrap_or("")
                        && before.won_activity == won_activity;
                    if same && matches!(close_change, Change::Unchanged | Change::Ignored) {
                        (Change::Unchanged, Some(id))
                    } else {
                        let team = if before.user_id == user as u64 { before.team_id } else { team };
                        conn.prepare_cached(
                            "UPDATE deals SET user_id = ?3, team_id = ?4, name = ?5, value = ?6, stage = ?7,
                                expected_close = ?8, closed_at = ?9, outcome = ?10, lost_reason = ?11, won_activity = ?12
                             WHERE deal_id = ?1 AND guild_id = ?2",
                        )?
                        .execute(params![
                            id,
                            ctx.guild,
                            user,
                            team,
                            t.name,
                            t.value,
                            stage.name.as_str(),
                            t.expected_close.map(super::day_number),
                            t.closed.map(|(_, at)| millis(at)),
                            outcome.map(Outcome::as_str),
                            t.lost_reason.as_deref().filter(|r| !r.is_empty()),
                            won_activity,
                        ])?;
                        if before.stage != stage.name.as_str() {
                            record_stage(conn, id, &stage, t.closed.map_or(updated_at.min(now), |(_, at)| at))?;
                        }
                        let after = load_deal(conn, ctx.guild, id)?;
                        audit(
                            conn,
                            ctx.guild,
                            &who,
                            "deal.crm_change",
                            &format!("deal:{id}"),
                            Some(&deal_json(&before)),
                            Some(&deal_json(&after)),
                            now,
                        )?;
                        (Change::Updated, Some(id))
                    }
                }
            }
        }
        None => {
            // Not (or no longer) in rally's pipeline: its closing activity and the deal go.
            let (close_change, _) = settle_activity(ctx, conn, closing, None, now)?;
            let removed = match existing {
                Some(id) => {
                    let before = load_deal(conn, ctx.guild, id)?;
                    conn.prepare_cached("DELETE FROM deal_stage_history WHERE deal_id = ?1")?.execute([id])?;
                    conn.prepare_cached("DELETE FROM deals WHERE deal_id = ?1 AND guild_id = ?2")?
                        .execute(params![id, ctx.guild])?;
                    audit(
                        conn,
                        ctx.guild,
                        &who,
                        "deal.crm_remove",
                        &format!("deal:{id}"),
                        Some(&deal_json(&before)),
                        None,
                        now,
                    )?;
                    true
                }
                None => close_change == Change::Removed,
            };
            (if removed { Change::Removed } else { Change::Ignored }, None)
        }
    })
}

/// Applies one record: compares it with the stored version first, so a record read twice (page
/// overlap, a webhook and the poll, a redelivery) changes nothing, and an older version never
/// replaces a newer one. `force` re-decides a record whose version is unchanged (after a link, a
/// mapping or a stage change).
fn apply_record(
    ctx: &mut Ctx,
    conn: &Db,
    record: &CrmRecord,
    force: bool,
    checked: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Change> {
    let body = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let stored = load_stored(conn, ctx.guild, record.object(), record.id())?;
    // A record never seen holds nothing in rally yet (its row and its activity are written
    // together), so its activity need not be looked up.
    let known = stored.is_some();
    if let Some(stored) = stored {
        let incoming = millis(record.updated_at());
        if stored.updated_at > incoming && !force {
            return Ok(Change::Stale);
        }
        if stored.body == body && stored.state != "held" && !force {
            if checked.is_some() {
                conn.prepare_cached(
                    "UPDATE crm_records SET checked_at = ?4 WHERE guild_id = ?1 AND object = ?2 AND external_id = ?3",
                )?
                .execute(params![
                    ctx.guild,
                    record.object().as_str(),
                    record.id(),
                    checked.map(millis)
                ])?;
            }
            return Ok(Change::Unchanged);
        }
    }
    match record {
        CrmRecord::Activity(a) => apply_activity(ctx, conn, a, record, &body, known, checked, now),
        CrmRecord::Deal(d) => apply_deal(ctx, conn, d, record, &body, checked, now),
    }
}

/// Applies a batch of records. The fast path runs them all in one savepoint; should one break a
/// rule (which should not happen: every part is validated), the batch is rolled back and applied
/// again record by record, each in its own savepoint, and the record that cannot be stored is kept
/// as ignored with its reason, never stopping the others. (A savepoint per record in the fast path
/// cost half of a backfill: SQLite walks the batch's dirty pages at each one.)
fn apply_all(
    ctx: &mut Ctx,
    conn: &Db,
    records: &[CrmRecord],
    force: bool,
    checked: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ApplyCounts> {
    // The newest version of each record only: a page and a webhook burst may both hold one.
    let mut newest: HashMap<(Object, &str), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let slot = newest.entry((r.object(), r.id())).or_insert(i);
        if records[*slot].updated_at() <= r.updated_at() {
            *slot = i;
        }
    }
    let current = |i: usize, r: &CrmRecord| newest.get(&(r.object(), r.id())) == Some(&i);
    conn.prepare_cached("SAVEPOINT crm_batch")?.execute([])?;
    let mut counts = ApplyCounts::default();
    let mut broke = false;
    for (i, record) in records.iter().enumerate() {
        if !current(i, record) {
            counts.tally(Change::Stale);
            continue;
        }
        ctx.pending.clear();
        match apply_record(ctx, conn, record, force, checked, now) {
            Ok(change) => {
                absorb(ctx);
                counts.tally(change);
            }
            Err(StoreError::Rule(_)) => {
                broke = true;
                break;
            }
            Err(e) => {
                conn.prepare_cached("ROLLBACK TO crm_batch")?.execute([])?;
                conn.prepare_cached("RELEASE crm_batch")?.execute([])?;
                return Err(e);
            }
        }
    }
    if !broke {
        flush(ctx, conn)?;
        conn.prepare_cached("RELEASE crm_batch")?.execute([])?;
        return Ok(counts);
    }
    conn.prepare_cached("ROLLBACK TO crm_batch")?.execute([])?;
    conn.prepare_cached("RELEASE crm_batch")?.execute([])?;
    ctx.pending.clear();
    ctx.days.clear();
    ctx.months.clear();
    let mut counts = ApplyCounts::default();
    for (i, record) in records.iter().enumerate() {
        if !current(i, record) {
            counts.tally(Change::Stale);
            continue;
        }
        conn.prepare_cached("SAVEPOINT crm_record")?.execute([])?;
        ctx.pending.clear();
        match apply_record(ctx, conn, record, force, checked, now) {
            Ok(change) => {
                conn.prepare_cached("RELEASE crm_record")?.execute([])?;
                absorb(ctx);
                counts.tally(change);
            }
            Err(StoreError::Rule(e)) => {
                rollback_record(conn)?;
                ctx.pending.clear();
                tracing::warn!(guild = ctx.guild, object = record.object().as_str(), id = record.id(), error = %e,
                    "a CRM record could not be stored; it is kept as ignored");
                let body = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                save_record(
                    conn,
                    ctx.guild,
                    record,
                    &body,
                    "ignored",
                    &shorten(&e.to_string(), 200),
                    None,
                    None,
                    checked,
                )?;
                counts.tally(Change::Ignored);
            }
            Err(e) => {
                rollback_record(conn)?;
                return Err(e);
            }
        }
    }
    flush(ctx, conn)?;
    Ok(counts)
}

fn rollback_record(conn: &Db) -> Result<()> {
    conn.prepare_cached("ROLLBACK TO crm_record")?.execute([])?;
    conn.prepare_cached("RELEASE crm_record")?.execute([])?;
    Ok(())
}

/// Adds the stored record's pending contributions to the batch's sums.
fn absorb(ctx: &mut Ctx) {
    for ((day, month, user, team, kind), values) in ctx.pending.drain(..) {
        for (sums, period) in [(&mut ctx.days, day), (&mut ctx.months, month)] {
            let s = sums.entry((period, user, team, kind)).or_insert([0; 4]);
            for (total, v) in s.iter_mut().zip(values) {
                *total += v;
            }
        }
    }
}

/// Writes the summed rollup contributions of the batch's new activities (those of a record still
/// pending included: the caller's transaction holds it).
pub(super) fn flush(ctx: &mut Ctx, conn: &Db) -> Result<()> {
    absorb(ctx);
    let days = std::mem::take(&mut ctx.days);
    let months = std::mem::take(&mut ctx.months);
    super::import::add_sums(conn, ctx.guild, days, false)?;
    super::import::add_sums(conn, ctx.guild, months, true)
}

fn add_totals(conn: &Db, guild: i64, counts: &ApplyCounts) -> Result<()> {
    conn.prepare_cached(
        "UPDATE crm_connections SET imported = imported + ?2, updated = updated + ?3, removed = removed + ?4
         WHERE guild_id = ?1",
    )?
    .execute(params![guild, counts.imported as i64, counts.updated as i64, counts.removed as i64])?;
    Ok(())
}

/// Re-decides every stored record matching `filter` (an SQL condition on `crm_records`, with `?1`
/// the guild and `?2` its one argument).
fn reapply_where(ctx: &mut Ctx, conn: &Db, filter: &str, arg: &str, now: DateTime<Utc>) -> Result<ApplyCounts> {
    let bodies: Vec<String> = conn
        .prepare(&format!(
            "SELECT body FROM crm_records WHERE guild_id = ?1 AND ({filter}) ORDER BY object, external_id"
        ))?
        .query_map(params![ctx.guild, arg], |r| r.get(0))?
        .collect::<super::sql::Result<_>>()?;
    let records: Vec<CrmRecord> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Corrupt(format!("stored CRM record: {e}"))))
        .collect::<Result<_>>()?;
    let counts = apply_all(ctx, conn, &records, true, None, now)?;
    add_totals(conn, ctx.guild, &counts)?;
    Ok(counts)
}

fn read_cursor(conn: &Db, guild: i64, object: &str) -> Result<CursorState> {
    let row = conn
        .prepare_cached(
            "SELECT watermark, pass_since, pass_until, cursor FROM crm_cursors WHERE guild_id = ?1 AND object = ?2",
        )?
        .query_row(params![guild, object], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((watermark, since, until, cursor)) = row else {
        return Ok(CursorState::default());
    };
    Ok(CursorState {
        watermark: watermark.map(from_millis),
        pass: until.map(|u| (Window { since: since.map(from_millis), until: from_millis(u) }, cursor)),
    })
}

fn write_cursor(conn: &Db, guild: i64, object: &str, state: &CursorState) -> Result<()> {
    let (since, until, cursor) = match &state.pass {
        Some((w, c)) => (w.since.map(millis), Some(millis(w.until)), c.clone()),
        None => (None, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO crm_cursors (guild_id, object, watermark, pass_since, pass_until, cursor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (guild_id, object) DO UPDATE SET watermark = excluded.watermark,
            pass_since = excluded.pass_since, pass_until = excluded.pass_until, cursor = excluded.cursor",
    )?
    .execute(params![guild, object, state.watermark.map(millis), since, until, cursor])?;
    Ok(())
}

fn read_connection(conn: &Db, guild: i64) -> Result<Option<CrmConnection>> {
    let row = conn
        .prepare_cached(
            "SELECT provider, api_url, api_token, pipeline, webhook_user, webhook_ids, connected_at, last_sync_at,
                last_full_at, last_error, last_error_at, imported, updated, removed, api_calls, token_cost, write_back
             FROM crm_connections WHERE guild_id = ?1",
        )?
        .query_row([guild], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<i64>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<i64>>(10)?,
                [r.get::<_, i64>(11)?, r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?, r.get(16)?],
            ))
        })
        .optional()?;
    let Some((provider, api_url, token, pipeline, user, ids, connected, last_sync, last_full, error, error_at, n)) =
        row
    else {
        return Ok(None);
    };
    Ok(Some(CrmConnection {
        guild,
        provider: Provider::parse(&provider)?,
        api_url,
        api_token: Secret::new(token),
        pipeline,
        webhook_user: user,
        webhook_ids: ids.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        connected_at: from_millis(connected),
        last_sync_at: last_sync.map(from_millis),
        last_full_at: last_full.map(from_millis),
        last_error: error.zip(error_at.map(from_millis)),
        imported: n[0] as u64,
        updated: n[1] as u64,
        removed: n[2] as u64,
        api_calls: n[3] as u64,
        token_cost: n[4] as u64,
        write_back: n[5] != 0,
    }))
}

fn set_crm_fed(conn: &Db, guild: i64, kinds: &[KindName]) -> Result<()> {
    let text: Vec<&str> = kinds.iter().map(KindName::as_str).collect();
    conn.prepare_cached("UPDATE guilds SET crm_fed = ?2 WHERE guild_id = ?1")?
        .execute(params![guild, text.join(",")])?;
    Ok(())
}

impl Store {
    /// Stores a guild's connection (replacing an earlier one, whose cursors and records are kept so
    /// a reconnection to the same CRM goes on where it was). A first connection maps the CRM's
    /// call, email and meeting types to those kinds, and takes those kinds and deals (`won`,
    /// `lost`) from the CRM from then on.
    pub async fn crm_connect(&self, c: NewConnection, now: DateTime<Utc>) -> Result<CrmConnection> {
        self.write_guild(move |conn| {
            ensure_guild(conn, c.guild, now)?;
            let before = read_connection(conn, c.guild)?;
            conn.prepare_cached(
                "INSERT INTO crm_connections (guild_id, provider, api_url, api_token, pipeline, webhook_user,
                    webhook_hash, webhook_ids, connected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (guild_id) DO UPDATE SET provider = excluded.provider, api_url = excluded.api_url,
                    api_token = excluded.api_token, pipeline = excluded.pipeline, webhook_user = excluded.webhook_user,
                    webhook_hash = excluded.webhook_hash, webhook_ids = excluded.webhook_ids, last_error = NULL,
                    last_error_at = NULL",
            )?
            .execute(params![
                c.guild,
                c.provider.as_str(),
                c.api_url,
                c.api_token.expose(),
                c.pipeline,
                c.webhook_user,
                c.webhook_hash,
                c.webhook_ids.join(","),
                millis(now),
            ])?;
            if before.is_none() {
                let mut map = conn.prepare_cached(
                    "INSERT INTO crm_types (guild_id, type_key, name, kind) VALUES (?1, ?2, ?2, ?3)
                     ON CONFLICT (guild_id, type_key) DO NOTHING",
                )?;
                for (key, kind) in DEFAULT_TYPE_MAP {
                    map.execute(params![c.guild, key, kind])?;
                }
                let settings = load_settings(conn, c.guild)?;
                if settings.crm_fed.is_empty() {
                    let mut fed: Vec<KindName> = Vec::new();
                    for name in DEFAULT_TYPE_MAP.iter().map(|(_, k)| *k).chain([WON, LOST]) {
                        fed.push(KindName::parse(name)?);
                    }
                    set_crm_fed(conn, c.guild, &fed)?;
                }
            }
            audit(
                conn,
                c.guild,
                "cli",
                "crm.connect",
                &format!("guild:{}", c.guild),
                None,
                Some(&json!({"provider": c.provider.as_str(), "api_url": c.api_url, "pipeline": c.pipeline,
                    "webhooks": c.webhook_ids.len()})),
                now,
            )?;
            read_connection(conn, c.guild)?.ok_or_else(|| StoreError::Corrupt("the connection just stored".into()))
        })
        .await
    }

    /// The guild's connection, token included (for the sync; never show it).
    /// Turns writing a rep's hygiene changes back to the CRM on or off; `None` without a connection.
    pub async fn crm_set_write_back(
        &self,
        guild: i64,
        on: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<Option<CrmConnection>> {
        self.write(move |c| {
            let Some(before) = read_connection(c, guild)? else { return Ok(None) };
            c.prepare_cached("UPDATE crm_connections SET write_back = ?2 WHERE guild_id = ?1")?
                .execute(params![guild, i64::from(on)])?;
            audit(
                c,
                guild,
                &actor,
                "crm.write_back",
                "crm",
                Some(&serde_json::json!({"write_back": before.write_back})),
                Some(&serde_json::json!({"write_back": on})),
                now,
            )?;
            read_connection(c, guild)
        })
        .await
    }

    pub async fn crm_connection(&self, guild: i64) -> Result<Option<CrmConnection>> {
        self.read(move |c| read_connection(c, guild)).await
    }

    /// Every guild with a CRM connection.
    pub async fn crm_guilds(&self) -> Result<Vec<i64>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT guild_id FROM crm_connections ORDER BY guild_id")?
                .query_map([], |r| r.get(0))?
                .collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Forgets the connection and its token; synced activities and deals stay as they are, and the
    /// kinds taken from the CRM go back to chat. Returns the connection it forgot, if any.
    pub async fn crm_disconnect(&self, guild: i64, now: DateTime<Utc>) -> Result<Option<CrmConnection>> {
        self.write_guild(move |conn| {
            let before = read_connection(conn, guild)?;
            if before.is_some() {
                conn.prepare_cached("DELETE FROM crm_connections WHERE guild_id = ?1")?.execute([guild])?;
                set_crm_fed(conn, guild, &[])?;
                audit(conn, guild, "cli", "crm.disconnect", &format!("guild:{guild}"), None, None, now)?;
            }
            Ok(before)
        })
        .await
    }

    /// Whether `password` is the guild's webhook password for `user` (compared as SHA-256 hashes in
    /// constant time). `false` without a connection or webhook.
    pub async fn crm_webhook_allows(&self, guild: i64, user: String, password_hash: String) -> Result<bool> {
        self.read(move |c| {
            let row: Option<(Option<String>, Option<String>)> = c
                .prepare_cached("SELECT webhook_user, webhook_hash FROM crm_connections WHERE guild_id = ?1")?
                .query_row([guild], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((Some(stored_user), Some(stored_hash))) = row else {
                return Ok(false);
            };
            use subtle::ConstantTimeEq;
            let user_ok: bool = stored_user.as_bytes().ct_eq(user.as_bytes()).into();
            let hash_ok: bool = stored_hash.as_bytes().ct_eq(password_hash.as_bytes()).into();
            Ok(user_ok & hash_ok)
        })
        .await
    }

    /// The stored hash of the guild's webhook password, if it has webhooks.
    pub async fn crm_webhook_hash(&self, guild: i64) -> Result<Option<String>> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT webhook_hash FROM crm_connections WHERE guild_id = ?1")?
                .query_row([guild], |r| r.get(0))
                .optional()?
                .flatten())
        })
        .await
    }

    /// Where the sync of `object` stands (`activity`, `deal`, `deleted_deal`, `full_activity`, ...).
    pub async fn crm_cursor(&self, guild: i64, object: &'static str) -> Result<CursorState> {
        self.read(move |c| read_cursor(c, guild, object)).await
    }

    /// Saves a cursor on its own (a pass that starts, or one that finished with an empty page).
    pub async fn crm_save_cursor(&self, guild: i64, object: &'static str, state: CursorState) -> Result<()> {
        self.write(move |c| write_cursor(c, guild, object, &state)).await
    }

    /// Applies a page of records and saves the cursor that follows it in one durable transaction:
    /// after a crash the pass resumes at this cursor, never before (double) or after (a gap).
    /// `checked`: the start of a full reconciliation pass, stamped on every record it reads.
    pub async fn crm_apply_page(
        &self,
        guild: i64,
        provider: Provider,
        records: Vec<CrmRecord>,
        cursor: Option<(&'static str, CursorState)>,
        checked: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyCounts> {
        self.write(move |conn| {
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            let counts = apply_all(&mut ctx, conn, &records, false, checked, now)?;
            add_totals(conn, guild, &counts)?;
            if let Some((object, state)) = &cursor {
                write_cursor(conn, guild, object, state)?;
            }
            Ok(counts)
        })
        .await
    }

    /// Re-decides the records held back (owner not linked, done in the future): run at every pass,
    /// so that a record whose time has come counts.
    pub async fn crm_reapply_held(&self, guild: i64, provider: Provider, now: DateTime<Utc>) -> Result<ApplyCounts> {
        self.write(move |conn| {
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            reapply_where(&mut ctx, conn, "state = 'held' AND ?2 = ?2", "", now)
        })
        .await
    }

    /// After a full pass that stamped every record it read with `checked`: the records of `object`
    /// it did not read are gone from the CRM, and are applied as deleted.
    pub async fn crm_sweep_unchecked(
        &self,
        guild: i64,
        provider: Provider,
        object: Object,
        checked: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ApplyCounts> {
        self.write(move |conn| {
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            let bodies: Vec<String> = conn
                .prepare(
                    "SELECT body FROM crm_records WHERE guild_id = ?1 AND object = ?2 AND checked_at < ?3
                     AND NOT (state = 'ignored' AND reason = 'deleted in the CRM')",
                )?
                .query_map(params![guild, object.as_str(), millis(checked)], |r| r.get(0))?
                .collect::<super::sql::Result<_>>()?;
            let mut records = Vec::with_capacity(bodies.len());
            for body in bodies {
                let mut record: CrmRecord =
                    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("stored CRM record: {e}")))?;
                match &mut record {
                    CrmRecord::Activity(a) => a.deleted = true,
                    CrmRecord::Deal(d) => d.deleted = true,
                }
                records.push(record);
            }
            let counts = apply_all(&mut ctx, conn, &records, true, Some(checked), now)?;
            add_totals(conn, guild, &counts)?;
            Ok(counts)
        })
        .await
    }

    /// Records the end of a pass: when it ended, the API calls and token cost it took, and its error
    /// (or none, which clears the last one).
    #[allow(clippy::too_many_arguments)]
    pub async fn crm_record_pass(
        &self,
        guild: i64,
        full: bool,
        calls: u64,
        cost: u64,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE crm_connections SET api_calls = api_calls + ?2, token_cost = token_cost + ?3,
                    last_sync_at = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN ?5 ELSE last_sync_at END,
                    last_full_at = CASE WHEN CAST(?4 AS TEXT) IS NULL AND ?6 THEN ?5 ELSE last_full_at END,
                    last_error = ?4, last_error_at = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN NULL ELSE ?5 END
                 WHERE guild_id = ?1",
            )?
            .execute(params![guild, calls as i64, cost as i64, error, millis(now), full])?;
            Ok(())
        })
        .await
    }

    /// Stores the CRM's users (names and emails change; links stay).
    pub async fn crm_save_users(&self, guild: i64, users: Vec<CrmUser>) -> Result<()> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO crm_users (guild_id, crm_user, name, email, active) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (guild_id, crm_user) DO UPDATE SET name = excluded.name, email = excluded.email,
                    active = excluded.active",
            )?;
            for u in &users {
                stmt.execute(params![guild, u.id, u.name, u.email, u.active])?;
            }
            Ok(())
        })
        .await
    }

    /// Stores the CRM's activity types; new ones are left unmapped (their activities are ignored
    /// and listed in the status until a manager maps them).
    pub async fn crm_save_types(&self, guild: i64, types: Vec<CrmType>) -> Result<()> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO crm_types (guild_id, type_key, name) VALUES (?1, ?2, ?3)
                 ON CONFLICT (guild_id, type_key) DO UPDATE SET name = excluded.name",
            )?;
            for t in &types {
                stmt.execute(params![guild, t.key, t.name])?;
            }
            Ok(())
        })
        .await
    }

    /// Stores the CRM's stages and makes the followed pipeline's open stages the guild's pipeline
    /// (named as slugs of their CRM names, with the CRM's probabilities), keeping `won` and `lost`.
    /// Open deals are re-decided when a stage they sit in changed. Returns the pipeline.
    pub async fn crm_save_stages(
        &self,
        guild: i64,
        provider: Provider,
        stages: Vec<CrmStage>,
        followed: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Pipeline> {
        self.write(move |conn| {
            seed_stages(conn, guild, now)?;
            let before = load_stages(conn, guild)?;
            let mut ordered: Vec<&CrmStage> = stages.iter().collect();
            ordered.sort_by(|a, b| (&a.pipeline, a.order, &a.id).cmp(&(&b.pipeline, b.order, &b.id)));
            let mut taken: Vec<StageName> = Vec::new();
            let mut open: Vec<Stage> = Vec::new();
            let mut rows: Vec<(&CrmStage, Option<StageName>)> = Vec::new();
            for s in ordered {
                let name = if followed.as_deref() == Some(s.pipeline.as_str()) && open.len() < crate::domain::pipeline::MAX_OPEN_STAGES {
                    let name = stage_slug(&s.name, &s.id, &taken);
                    taken.push(name.clone());
                    open.push(Stage {
                        name: name.clone(),
                        position: open.len() as i64 + 1,
                        probability: s.probability.min(100),
                        outcome: None,
                    });
                    Some(name)
                } else {
                    None
                };
                rows.push((s, name));
            }
            let mut all = open;
            let next = all.len() as i64 + 1;
            for (i, outcome) in [Outcome::Won, Outcome::Lost].into_iter().enumerate() {
                let probability = before.terminal(outcome).map_or(if outcome == Outcome::Won { 100 } else { 0 }, |s| s.probability);
                all.push(Stage {
                    name: StageName::parse(outcome.as_str())?,
                    position: next + i as i64,
                    probability,
                    outcome: Some(outcome),
                });
            }
            let after = Pipeline::new(all);
            let changed = after != before;
            if followed.is_some() && changed {
                save_stages(conn, guild, &after)?;
            }
            let previous: HashMap<String, Option<String>> = conn
                .prepare_cached("SELECT stage_id, rally_stage FROM crm_stages WHERE guild_id = ?1")?
                .query_map([guild], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<super::sql::Result<_>>()?;
            conn.prepare_cached("DELETE FROM crm_stages WHERE guild_id = ?1")?.execute([guild])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO crm_stages (guild_id, stage_id, pipeline, pipeline_name, name, position, probability, rally_stage)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut moved = false;
            for (s, name) in &rows {
                insert.execute(params![
                    guild,
                    s.id,
                    s.pipeline,
                    s.pipeline_name,
                    s.name,
                    s.order,
                    s.probability,
                    name.as_ref().map(StageName::as_str)
                ])?;
                moved |= previous.get(&s.id).cloned().flatten().as_deref() != name.as_ref().map(StageName::as_str);
            }
            if moved || changed {
                let mut ctx = load_ctx(conn, guild, provider, now)?;
                reapply_where(&mut ctx, conn, "object = 'deal' AND ?2 = ?2", "", now)?;
                audit(
                    conn,
                    guild,
                    &actor(provider),
                    "pipeline.crm_stages",
                    &format!("guild:{guild}"),
                    None,
                    Some(&json!({"pipeline": followed, "stages": after.stages().iter().map(|s| s.name.as_str()).collect::<Vec<_>>()})),
                    now,
                )?;
            }
            Ok(after)
        })
        .await
    }

    /// The CRM's users with their links and held records, by name.
    pub async fn crm_users(&self, guild: i64) -> Result<Vec<CrmUserRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT u.crm_user, u.name, u.email, u.active, u.user_id,
                    (SELECT COUNT(*) FROM crm_records r WHERE r.guild_id = u.guild_id AND r.owner = u.crm_user
                     AND r.state = 'held')
                 FROM crm_users u WHERE u.guild_id = ?1 ORDER BY u.name COLLATE NOCASE, u.crm_user",
            )?;
            let rows = stmt.query_map([guild], |r| {
                Ok(CrmUserRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    email: r.get(2)?,
                    active: r.get(3)?,
                    linked: r.get::<_, Option<i64>>(4)?.map(|u| u as u64),
                    held: r.get::<_, i64>(5)? as u64,
                })
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The CRM's activity types and the kinds they map to.
    pub async fn crm_types(&self, guild: i64) -> Result<Vec<CrmTypeRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT type_key, name, kind FROM crm_types WHERE guild_id = ?1 ORDER BY name COLLATE NOCASE, type_key",
            )?;
            let rows =
                stmt.query_map([guild], |r| Ok(CrmTypeRow { key: r.get(0)?, name: r.get(1)?, kind: r.get(2)? }))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// Links a CRM user to a member (`user_name` names a member seen for the first time) and
    /// re-decides the user's records: held ones count from now on, and counted ones move to the new
    /// member when the link changes. Unlinking (`user: None`) holds them again.
    pub async fn crm_link(
        &self,
        guild: i64,
        provider: Provider,
        crm_user: String,
        user: Option<(i64, String)>,
        actor_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Linked> {
        self.write(move |conn| {
            ensure_guild(conn, guild, now)?;
            let row: Option<(String, Option<i64>)> = conn
                .prepare_cached("SELECT name, user_id FROM crm_users WHERE guild_id = ?1 AND crm_user = ?2")?
                .query_row(params![guild, crm_user], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((crm_name, previous)) = row else {
                return Err(StoreError::rule(format!(
                    "there is no {} user `{}`; the users rally knows are listed by `rally crm users` (a sync refreshes them)",
                    provider.label(),
                    shorten(&crm_user, 40)
                )));
            };
            let who = if actor_id == 0 { "cli".to_string() } else { format!("user:{actor_id}") };
            if let Some((id, name)) = &user {
                upsert_member(conn, guild, *id, name, None, &who, now)?;
            }
            conn.prepare_cached("UPDATE crm_users SET user_id = ?3 WHERE guild_id = ?1 AND crm_user = ?2")?.execute(
                params![guild, crm_user, user.as_ref().map(|(id, _)| *id)],
            )?;
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            let counts = reapply_where(&mut ctx, conn, "owner = ?2", &crm_user, now)?;
            audit(
                conn,
                guild,
                &who,
                "crm.link",
                &format!("crm_user:{crm_user}"),
                Some(&json!({"user": previous})),
                Some(&json!({"user": user.as_ref().map(|(id, _)| *id)})),
                now,
            )?;
            Ok(Linked {
                crm_user,
                crm_name,
                previous: previous.filter(|p| Some(*p) != user.as_ref().map(|(id, _)| *id)).map(|p| p as u64),
                counts,
            })
        })
        .await
    }

    /// Maps a CRM activity type to a kind (`None`: ignore it) and re-decides that type's
    /// activities. A kind mapped here is taken from the CRM from then on. Returns the counts.
    pub async fn crm_map_type(
        &self,
        guild: i64,
        provider: Provider,
        type_key: String,
        kind: Option<KindName>,
        actor_id: i64,
        now: DateTime<Utc>,
    ) -> Result<ApplyCounts> {
        self.write_guild(move |conn| {
            ensure_guild(conn, guild, now)?;
            let before: Option<Option<String>> = conn
                .prepare_cached("SELECT kind FROM crm_types WHERE guild_id = ?1 AND type_key = ?2")?
                .query_row(params![guild, type_key], |r| r.get(0))
                .optional()?;
            if before.is_none() {
                return Err(StoreError::rule(format!(
                    "{} has no activity type `{}`; the types rally knows are listed by `rally crm types`",
                    provider.label(),
                    shorten(&type_key, 40)
                )));
            }
            if let Some(kind) = &kind {
                let known: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM activity_kinds WHERE guild_id = ?1 AND name = ?2 AND retired_at IS NULL)",
                    )?
                    .query_row(params![guild, kind.as_str()], |r| r.get(0))?;
                if !known {
                    return Err(StoreError::rule(format!("`{kind}` is not an activity kind of this server")));
                }
                let mut fed = load_settings(conn, guild)?.crm_fed;
                if !fed.contains(kind) {
                    fed.push(kind.clone());
                    set_crm_fed(conn, guild, &fed)?;
                }
            }
            conn.prepare_cached("UPDATE crm_types SET kind = ?3 WHERE guild_id = ?1 AND type_key = ?2")?
                .execute(params![guild, type_key, kind.as_ref().map(KindName::as_str)])?;
            let who = if actor_id == 0 { "cli".to_string() } else { format!("user:{actor_id}") };
            audit(
                conn,
                guild,
                &who,
                "crm.map",
                &format!("crm_type:{type_key}"),
                Some(&json!({"kind": before.flatten()})),
                Some(&json!({"kind": kind.as_ref().map(KindName::as_str)})),
                now,
            )?;
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            let filter = format!("object = 'activity' AND {} = ?2", conn.dialect().json_text("body", "type_key"));
            reapply_where(&mut ctx, conn, &filter, &type_key, now)
        })
        .await
    }

    /// Chooses whether `kind` comes from the CRM (`true`) or from chat, and re-decides the CRM
    /// records of that kind. Returns the counts.
    pub async fn crm_set_source(
        &self,
        guild: i64,
        provider: Provider,
        kind: KindName,
        from_crm: bool,
        actor_id: i64,
        now: DateTime<Utc>,
    ) -> Result<ApplyCounts> {
        self.write_guild(move |conn| {
            ensure_guild(conn, guild, now)?;
            let known: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM activity_kinds WHERE guild_id = ?1 AND name = ?2 AND retired_at IS NULL)",
                )?
                .query_row(params![guild, kind.as_str()], |r| r.get(0))?;
            if !known {
                return Err(StoreError::rule(format!("`{kind}` is not an activity kind of this server")));
            }
            let before = load_settings(conn, guild)?.crm_fed;
            let mut fed: Vec<KindName> = before.iter().filter(|k| **k != kind).cloned().collect();
            if from_crm {
                fed.push(kind.clone());
            }
            set_crm_fed(conn, guild, &fed)?;
            let who = if actor_id == 0 { "cli".to_string() } else { format!("user:{actor_id}") };
            audit(
                conn,
                guild,
                &who,
                "crm.source",
                &format!("kind:{kind}"),
                Some(&json!({"crm": before.contains(&kind)})),
                Some(&json!({"crm": from_crm})),
                now,
            )?;
            let mut ctx = load_ctx(conn, guild, provider, now)?;
            let filter = if kind.as_str() == WON || kind.as_str() == LOST {
                // ?2 is bound either way; PostgreSQL wants its type named where nothing else says it.
                "object = 'deal' AND CAST(?2 AS TEXT) = CAST(?2 AS TEXT)".to_owned()
            } else {
                format!(
                    "object = 'activity' AND {} IN (SELECT type_key FROM crm_types WHERE guild_id = ?1 AND kind = ?2)",
                    conn.dialect().json_text("body", "type_key")
                )
            };
            reapply_where(&mut ctx, conn, &filter, kind.as_str(), now)
        })
        .await
    }

    /// The guild's CRM sync at a glance (no secrets).
    pub async fn crm_status(&self, guild: i64) -> Result<CrmStatus> {
        self.read(move |c| {
            let mut status = CrmStatus::default();
            if let Some(conn) = read_connection(c, guild)? {
                status.provider = Some(conn.provider.label().to_string());
                status.api_url = Some(conn.api_url);
                // The pipeline's name beside its id, once its stages were read.
                status.pipeline = match conn.pipeline {
                    Some(id) => {
                        let name: Option<String> = c
                            .prepare_cached(
                                "SELECT pipeline_name FROM crm_stages WHERE guild_id = ?1 AND pipeline = ?2 LIMIT 1",
                            )?
                            .query_row(params![guild, id], |r| r.get(0))
                            .optional()?;
                        Some(match name.filter(|n| !n.is_empty()) {
                            Some(name) => format!("{id} ({name})"),
                            None => id,
                        })
                    }
                    None => None,
                };
                status.webhooks = conn.webhook_ids.len();
                status.connected_at = Some(conn.connected_at);
                status.last_sync_at = conn.last_sync_at;
                status.last_full_at = conn.last_full_at;
                status.last_error_at = conn.last_error.as_ref().map(|(_, at)| *at);
                status.last_error = conn.last_error.map(|(e, _)| e);
                status.imported = conn.imported;
                status.updated = conn.updated;
                status.removed = conn.removed;
                status.api_calls = conn.api_calls;
                status.token_cost = conn.token_cost;
            }
            let mut stmt = c.prepare_cached(
                "SELECT state, reason, COUNT(*) FROM crm_records WHERE guild_id = ?1 GROUP BY state, reason
                 ORDER BY COUNT(*) DESC, reason",
            )?;
            for row in
                stmt.query_map([guild], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
            {
                let (state, reason, n) = row?;
                let n = n as u64;
                match state.as_str() {
                    "counted" => status.counted += n,
                    "held" => {
                        status.held += n;
                        status.held_reasons.push((reason, n));
                    }
                    _ => {
                        status.ignored += n;
                        status.ignored_reasons.push((reason, n));
                    }
                }
            }
            // One pass over the ignored activities, whatever the number of unmapped types.
            let mut stmt = c.prepare_cached(&format!(
                "WITH used AS (SELECT {} AS type_key, COUNT(*) AS n FROM crm_records
                    WHERE guild_id = ?1 AND object = 'activity' AND state = 'ignored' GROUP BY 1)
                 SELECT t.type_key, t.name, u.n FROM crm_types t JOIN used u ON u.type_key = t.type_key
                 WHERE t.guild_id = ?1 AND t.kind IS NULL ORDER BY 3 DESC, t.name",
                c.dialect().json_text("body", "type_key")
            ))?;
            // Only the types that cost something: a type nobody used yet is listed by `rally crm types`.
            status.unmapped_types = stmt
                .query_map([guild], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
                .collect::<super::sql::Result<_>>()?;
            for object in ["activity", "deal", "deleted_deal"] {
                let cursor = read_cursor(c, guild, object)?;
                if cursor != CursorState::default() {
                    status.cursors.push((object.to_string(), cursor));
                }
            }
            let (users, linked): (i64, i64) = c
                .prepare_cached("SELECT COUNT(*), COUNT(user_id) FROM crm_users WHERE guild_id = ?1")?
                .query_row([guild], |r| Ok((r.get(0)?, r.get(1)?)))?;
            status.users = users as usize;
            status.linked_users = linked as usize;
            status.crm_fed = load_settings(c, guild)?.crm_fed.iter().map(|k| k.to_string()).collect();
            Ok(status)
        })
        .await
    }
}
