//! Logging and undoing activities. Each write updates the day rollups in the same transaction, so
//! rollups always equal a recomputation from raw activities.

use super::sql::{Db, OptionalExtension, Row, params};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::teams::{find_or_create_team, upsert_member};
use super::{Result, Store, StoreError, day_from_number, day_number, from_millis, millis, month_number};
use crate::domain::activity::{Amount, DealRef, KindName, Name, Note, Quantity, Source, check_amount};
use crate::domain::period::local_date;
use crate::domain::settings::{GuildSettings, parse_timezone};

/// An activity ready to be stored: every part already validated.
#[derive(Clone, Debug)]
pub struct NewActivity {
    pub guild: i64,
    pub user: i64,
    pub user_name: String,
    /// The team to credit; `None` credits the member's current team.
    pub team: Option<Name>,
    pub kind: KindName,
    pub quantity: Quantity,
    pub amount: Option<Amount>,
    /// Its local day is taken from the guild's timezone when it is stored.
    pub occurred_at: DateTime<Utc>,
    pub note: Note,
    pub deal: Option<DealRef>,
    pub source: Source,
    /// A retry with the same key is answered with the first record, never stored twice.
    pub idem_key: String,
    /// Another key the same row may already be stored under: the one an older rally derived
    /// from an import row's text, so that a file imported before an upgrade is not counted twice.
    pub alt_key: Option<String>,
    /// Who asked for the write (a user id, or 0 for the operator CLI).
    pub actor: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActivityRecord {
    pub id: i64,
    pub guild_id: i64,
    pub user_id: u64,
    pub user_name: String,
    pub team_id: i64,
    pub team: Option<String>,
    pub kind: String,
    pub quantity: i64,
    pub points: i64,
    pub amount: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    pub local_day: NaiveDate,
    pub note: String,
    pub deal_ref: Option<String>,
    pub source: String,
    pub idem_key: String,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
}

/// What an undo took back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undone {
    pub record: ActivityRecord,
    /// The deal this activity had closed, now open again.
    pub reopened_deal: Option<String>,
    /// Whether the activity counted until now: false for a flagged entry held out of the totals
    /// while it waited for review, whose points were never added.
    pub counted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub record: ActivityRecord,
    /// True when the idempotency key was seen before and nothing new was stored.
    pub duplicate: bool,
    /// Set when the entry was flagged for a manager's review (only chat entries are checked).
    pub flag: Option<super::review::Flagged>,
}

const RECORD_SELECT: &str = "SELECT a.activity_id, a.guild_id, a.user_id, m.user_name, a.team_id, t.name, k.name,
        a.quantity, a.points, a.amount, a.occurred_at, a.local_day, a.note, a.deal_ref, a.source, a.idem_key,
        a.created_at, a.deleted_at IS NOT NULL
    FROM activities a
    JOIN members m ON m.guild_id = a.guild_id AND m.user_id = a.user_id
    JOIN activity_kinds k ON k.kind_id = a.kind_id
    LEFT JOIN teams t ON t.team_id = a.team_id";

/// [`Store::latest_of_kind`]'s read: ?1 guild, ?2 local day, ?3 the latest instant (UTC
/// milliseconds), ?4 the kind's name, ?5 the limit. The kind's id is looked up first so that
/// `activities_by_kind` (kind, day, occurred_at) gives the rows newest first: the read stops after
/// `limit` of them instead of sorting the whole day's.
fn latest_of_kind_sql() -> String {
    format!("{RECORD_SELECT} WHERE {OF_KIND_ON_DAY} ORDER BY a.occurred_at DESC, a.activity_id DESC LIMIT ?5")
}

/// The live activities (`a`) of one kind on one local day up to an instant: ?1 guild, ?2 local
/// day, ?3 the latest instant (UTC milliseconds), ?4 the kind's name. Shared by the feed
/// ([`Store::latest_of_kind`]) and its count ([`Store::count_of_kind_by_user`]).
const OF_KIND_ON_DAY: &str = "a.guild_id = ?1
     AND a.kind_id = (SELECT kind_id FROM activity_kinds WHERE guild_id = ?1 AND name = ?4)
     AND a.local_day = ?2 AND a.occurred_at <= ?3 AND a.deleted_at IS NULL";

fn record_from_row(r: &Row<'_>) -> super::sql::Result<ActivityRecord> {
    Ok(ActivityRecord {
        id: r.get(0)?,
        guild_id: r.get(1)?,
        user_id: r.get::<_, i64>(2)? as u64,
        user_name: r.get(3)?,
        team_id: r.get(4)?,
        team: r.get(5)?,
        kind: r.get(6)?,
        quantity: r.get(7)?,
        points: r.get(8)?,
        amount: r.get(9)?,
        occurred_at: from_millis(r.get(10)?),
        local_day: day_from_number(r.get(11)?),
        note: r.get(12)?,
        deal_ref: r.get(13)?,
        source: r.get(14)?,
        idem_key: r.get(15)?,
        created_at: from_millis(r.get(16)?),
        deleted: r.get(17)?,
    })
}

pub(super) fn load_record(conn: &Db, id: i64) -> Result<ActivityRecord> {
    Ok(conn.prepare_cached(&format!("{RECORD_SELECT} WHERE a.activity_id = ?1"))?.query_row([id], record_from_row)?)
}

/// Adds (sign 1) or removes (sign -1) one activity's contribution to its day and month rollups and
/// to the kind-less points rollups.
pub(super) fn apply_to_rollup(conn: &Db, r: &RollupKey, sign: i64) -> Result<()> {
    let month = month_number(day_from_number(r.day));
    if sign > 0 {
        for (sql, period) in [
            (
                "INSERT INTO day_rollups (guild_id, local_day, user_id, team_id, kind_id, quantity, points, amount, activities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)
                 ON CONFLICT (guild_id, local_day, user_id, team_id, kind_id) DO UPDATE SET
                    quantity = day_rollups.quantity + excluded.quantity, points = day_rollups.points + excluded.points,
                    amount = day_rollups.amount + excluded.amount, activities = day_rollups.activities + 1",
                r.day,
            ),
            (
                "INSERT INTO month_rollups (guild_id, month, user_id, team_id, kind_id, quantity, points, amount, activities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)
                 ON CONFLICT (guild_id, month, user_id, team_id, kind_id) DO UPDATE SET
                    quantity = month_rollups.quantity + excluded.quantity, points = month_rollups.points + excluded.points,
                    amount = month_rollups.amount + excluded.amount, activities = month_rollups.activities + 1",
                month,
            ),
        ] {
            conn.prepare_cached(sql)?
                .execute(params![r.guild, period, r.user, r.team, r.kind, r.quantity, r.points, r.amount])?;
        }
    } else {
        for (update, delete, period) in [
            (
                "UPDATE day_rollups SET quantity = quantity - ?6, points = points - ?7, amount = amount - ?8,
                    activities = activities - 1
                 WHERE guild_id = ?1 AND local_day = ?2 AND user_id = ?3 AND team_id = ?4 AND kind_id = ?5",
                "DELETE FROM day_rollups WHERE guild_id = ?1 AND local_day = ?2 AND user_id = ?3 AND team_id = ?4
                 AND kind_id = ?5 AND activities = 0",
                r.day,
            ),
            (
                "UPDATE month_rollups SET quantity = quantity - ?6, points = points - ?7, amount = amount - ?8,
                    activities = activities - 1
                 WHERE guild_id = ?1 AND month = ?2 AND user_id = ?3 AND team_id = ?4 AND kind_id = ?5",
                "DELETE FROM month_rollups WHERE guild_id = ?1 AND month = ?2 AND user_id = ?3 AND team_id = ?4
                 AND kind_id = ?5 AND activities = 0",
                month,
            ),
        ] {
            conn.prepare_cached(update)?
                .execute(params![r.guild, period, r.user, r.team, r.kind, r.quantity, r.points, r.amount])?;
            // An emptied row is removed so that rollups stay identical to a recomputation.
            conn.prepare_cached(delete)?.execute(params![r.guild, period, r.user, r.team, r.kind])?;
        }
    }
    let revenue = if r.won { r.amount } else { 0 };
    let points = [sign * r.points, sign * revenue, sign];
    add_points(conn, false, r.guild, r.day, r.user, r.team, points)?;
    add_points(conn, true, r.guild, month, r.user, r.team, points)?;
    let change = [sign * r.quantity, sign * r.points, sign * r.amount, sign];
    add_team_rollup(conn, false, r.guild, r.day, r.team, r.kind, change)?;
    add_team_rollup(conn, true, r.guild, month, r.team, r.kind, change)
}

/// Adds `values` to the row of the rollup `table` keyed by `keys` (inserting it if new), and
/// removes the row once it counts no activity: `values` end with the `activities` count, and
/// negative values take a contribution away. Every rollup table is written through here or by a
/// rebuild, so they stay identical to a recomputation.
pub(super) fn add_to_rollup(
    conn: &Db,
    table: &'static str,
    keys: &[(&'static str, i64)],
    values: &[(&'static str, i64)],
) -> Result<()> {
    // The statements' text is built once per table and thread: this runs several times per /log.
    // Each table is always written with the same key and value columns (its one caller below).
    thread_local! {
        static SQL: std::cell::RefCell<std::collections::HashMap<&'static str, std::rc::Rc<(String, String)>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    let sql = SQL.with(|cache| {
        cache
            .borrow_mut()
            .entry(table)
            .or_insert_with(|| {
                let key_names: Vec<&str> = keys.iter().map(|(c, _)| *c).collect();
                let value_names: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
                let all: Vec<&str> = key_names.iter().chain(&value_names).copied().collect();
                let marks: Vec<String> = (1..=all.len()).map(|i| format!("?{i}")).collect();
                let sets: Vec<String> =
                    value_names.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
                let matches: Vec<String> =
                    key_names.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect();
                std::rc::Rc::new((
                    format!(
                        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
                        all.join(", "),
                        marks.join(", "),
                        key_names.join(", "),
                        sets.join(", ")
                    ),
                    format!("DELETE FROM {table} WHERE {} AND activities = 0", matches.join(" AND ")),
                ))
            })
            .clone()
    });
    let args: Vec<i64> = keys.iter().chain(values).map(|(_, v)| *v).collect();
    conn.prepare_cached(&sql.0)?.execute(super::sql::params_from_iter(&args))?;
    if values.last().is_some_and(|(_, n)| *n < 0) {
        conn.prepare_cached(&sql.1)?.execute(super::sql::params_from_iter(&args[..keys.len()]))?;
    }
    Ok(())
}

/// Adds (quantity, points, amount, activities) to one team's day (or month) rollup of one kind.
pub(super) fn add_team_rollup(
    conn: &Db,
    month: bool,
    guild: i64,
    period: i64,
    team: i64,
    kind: i64,
    [quantity, points, amount, activities]: [i64; 4],
) -> Result<()> {
    let (table, period_column) =
        if month { ("team_month_rollups", "month") } else { ("team_day_rollups", "local_day") };
    add_to_rollup(
        conn,
        table,
        &[("guild_id", guild), (period_column, period), ("team_id", team), ("kind_id", kind)],
        &[("quantity", quantity), ("points", points), ("amount", amount), ("activities", activities)],
    )
}

/// Adds (points, revenue, activities) to one member's and team's day (or month) points rollup (the
/// kind-less ones leaderboards read).
pub(super) fn add_points(
    conn: &Db,
    month: bool,
    guild: i64,
    period: i64,
    user: i64,
    team: i64,
    [points, revenue, activities]: [i64; 3],
) -> Result<()> {
    let (table, period_column) = if month { ("month_points", "month") } else { ("day_points", "local_day") };
    add_to_rollup(
        conn,
        table,
        &[("guild_id", guild), (period_column, period), ("user_id", user), ("team_id", team)],
        &[("points", points), ("revenue", revenue), ("activities", activities)],
    )
}

/// What `record` (of kind `kind`) contributes to the rollups.
pub(super) fn rollup_key(record: &ActivityRecord, kind: i64) -> RollupKey {
    RollupKey {
        guild: record.guild_id,
        day: day_number(record.local_day),
        user: record.user_id as i64,
        team: record.team_id,
        kind,
        quantity: record.quantity,
        points: record.points,
        amount: record.amount.unwrap_or(0),
        won: record.kind == crate::domain::activity::WON,
    }
}

pub(super) struct RollupKey {
    pub guild: i64,
    pub day: i64,
    pub user: i64,
    pub team: i64,
    pub kind: i64,
    pub quantity: i64,
    pub points: i64,
    pub amount: i64,
    /// Whether the kind is `won`, whose amounts are revenue.
    pub won: bool,
}

/// The guild's timezone as stored, creating the guild on first sight. The writer takes local days
/// from here, never from a caller's (possibly cached) settings, so rollups always follow the
/// timezone that `rebuild_rollups` last applied.
pub(super) fn guild_timezone(conn: &Db, guild: i64, now: DateTime<Utc>) -> Result<chrono_tz::Tz> {
    let tz: Option<String> = conn
        .prepare_cached("SELECT timezone FROM guilds WHERE guild_id = ?1")?
        .query_row([guild], |r| r.get(0))
        .optional()?;
    match tz {
        Some(tz) => Ok(parse_timezone(&tz)?),
        None => {
            ensure_guild(conn, guild, now)?;
            Ok(GuildSettings::default().timezone)
        }
    }
}

/// What [`write_row`] wrote, for the rollups and the record.
pub(super) struct Inserted {
    pub id: i64,
    pub local_day: NaiveDate,
    /// `local_day` as stored.
    pub day: i64,
    pub quantity: i64,
    pub points: i64,
    /// Minor units; 0 without an amount.
    pub amount: i64,
}

/// Writes the activity row itself (no checks, no rollups): shared by `/log` and the batched import.
/// With `revive`, the soft-deleted row of that id (holding the same key) is overwritten with `a`
/// and made live again instead: the unique key stays with one row, and the row's audit trail
/// shows it was taken back and brought back.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_row(
    conn: &Db,
    tz: chrono_tz::Tz,
    a: &NewActivity,
    team_id: i64,
    kind_id: i64,
    kind_points: i64,
    revive: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Inserted> {
    let quantity = a.quantity.get() as i64;
    let points = kind_points * quantity;
    let local_day = local_date(tz, a.occurred_at);
    let day = day_number(local_day);
    let values = params![
        a.guild,
        a.user,
        team_id,
        kind_id,
        quantity,
        points,
        a.amount.map(Amount::minor),
        millis(a.occurred_at),
        day,
        a.note.as_str(),
        a.deal.as_ref().map(DealRef::as_str),
        a.source.as_str(),
        a.idem_key,
        a.actor,
        millis(now),
        revive,
    ];
    let amount = a.amount.map(Amount::minor).unwrap_or(0);
    let Some(id) = revive else {
        let id = conn.prepare_cached(
            "INSERT INTO activities (guild_id, user_id, team_id, kind_id, quantity, points, amount, occurred_at, local_day,
                note, deal_ref, source, idem_key, actor, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING activity_id",
        )?
        .query_row(&values[..15], |r| r.get(0))?;
        return Ok(Inserted { id, local_day, day, quantity, points, amount });
    };
    let revived = conn
        .prepare_cached(
            "UPDATE activities SET user_id = ?2, team_id = ?3, kind_id = ?4, quantity = ?5, points = ?6, amount = ?7,
                occurred_at = ?8, local_day = ?9, note = ?10, deal_ref = ?11, source = ?12, actor = ?14,
                created_at = ?15, deleted_at = NULL, held = 0
             WHERE activity_id = ?16 AND guild_id = ?1 AND idem_key = ?13 AND deleted_at IS NOT NULL",
        )?
        .execute(values)?;
    if revived != 1 {
        return Err(StoreError::rule("this row changed while it was being imported again; run the import once more"));
    }
    let actor = if a.actor == 0 { "cli".to_string() } else { format!("user:{}", a.actor) };
    let after = json!({"deleted": false, "kind": a.kind.as_str(), "quantity": quantity, "points": points,
        "amount": a.amount.map(Amount::minor), "local_day": local_day, "source": a.source.as_str()});
    audit(
        conn,
        a.guild,
        &actor,
        "activity.revive",
        &format!("activity:{id}"),
        Some(&json!({"deleted": true})),
        Some(&after),
        now,
    )?;
    Ok(Inserted { id, local_day, day, quantity, points, amount })
}

/// Soft-deletes one live activity: the rollups lose its contribution, the audit trail records who
/// took it back and how (`action`), and a deal it closed opens again, so the pipeline and the
/// revenue never disagree. Shared by `/undo` and `rally import --remove`. Returns the reopened
/// deal's name.
pub(super) fn soft_delete(
    conn: &Db,
    record: &ActivityRecord,
    actor: &str,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    retract(conn, record, actor, action, now)?;
    super::deals::reopen_closed_by(conn, record.guild_id, record.id, now)
}

/// Soft-deletes one live activity and takes its contribution out of the rollups, with its audit
/// row, leaving any deal it closed as it is: for callers that set the deal themselves (the CRM).
pub(super) fn retract(conn: &Db, record: &ActivityRecord, actor: &str, action: &str, now: DateTime<Utc>) -> Result<()> {
    let id = record.id;
    let deleted = conn
        .prepare_cached("UPDATE activities SET deleted_at = ?2 WHERE activity_id = ?1 AND deleted_at IS NULL")?
        .execute(params![id, millis(now)])?;
    if deleted != 1 {
        return Err(StoreError::rule("that activity was already undone"));
    }
    let (kind, held): (i64, bool) = conn
        .prepare_cached("SELECT kind_id, held FROM activities WHERE activity_id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // A flagged entry held out of the rollups while it waits for review has nothing to take back.
    if !held {
        apply_to_rollup(conn, &rollup_key(record, kind), -1)?;
    }
    // Undone by its rep (or removed by an import) before a manager decided: no longer to review.
    conn.prepare_cached(
        "UPDATE reviews SET status = 'withdrawn', decided_by = ?2, decided_at = ?3
         WHERE activity_id = ?1 AND status = 'open'",
    )?
    .execute(params![id, actor, millis(now)])?;
    audit(
        conn,
        record.guild_id,
        actor,
        action,
        &format!("activity:{id}"),
        Some(&json!({"deleted": false})),
        Some(&json!({"deleted": true})),
        now,
    )
}

/// Stores one activity inside the caller's transaction. Shared by live logging and deals.
/// The activity holding `a`'s key, or else its older key: its id, and whether it was found
/// through the older key.
pub(super) fn find_key(conn: &Db, a: &NewActivity) -> Result<Option<(i64, bool)>> {
    let mut stmt = conn.prepare_cached("SELECT activity_id FROM activities WHERE guild_id = ?1 AND idem_key = ?2")?;
    if let Some(id) = stmt.query_row(params![a.guild, a.idem_key], |r| r.get::<_, i64>(0)).optional()? {
        return Ok(Some((id, false)));
    }
    let Some(alt) = &a.alt_key else {
        return Ok(None);
    };
    Ok(stmt.query_row(params![a.guild, alt], |r| r.get::<_, i64>(0)).optional()?.map(|id| (id, true)))
}

/// What differs between a stored activity and a row that holds its key: nothing for a plain
/// duplicate, the fields a corrected file changed otherwise.
pub fn differences(stored: &ActivityRecord, a: &NewActivity) -> Vec<Difference> {
    let mut d = Vec::new();
    if stored.kind != a.kind.as_str() {
        d.push(Difference::Kind(stored.kind.clone(), a.kind.to_string()));
    }
    if stored.quantity != i64::from(a.quantity.get()) {
        d.push(Difference::Quantity(stored.quantity, i64::from(a.quantity.get())));
    }
    if stored.amount != a.amount.map(Amount::minor) {
        d.push(Difference::Amount(stored.amount, a.amount.map(Amount::minor)));
    }
    if millis(stored.occurred_at) != millis(a.occurred_at) {
        d.push(Difference::OccurredAt(stored.occurred_at, a.occurred_at));
    }
    if stored.note != a.note.as_str() {
        d.push(Difference::Note);
    }
    if stored.deal_ref.as_deref() != a.deal.as_ref().map(DealRef::as_str) {
        d.push(Difference::Deal(stored.deal_ref.clone(), a.deal.as_ref().map(|x| x.as_str().to_string())));
    }
    d
}

/// One field in which a stored activity and a row holding its key disagree: (stored, row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    Kind(String, String),
    Quantity(i64, i64),
    /// Minor units.
    Amount(Option<i64>, Option<i64>),
    OccurredAt(DateTime<Utc>, DateTime<Utc>),
    Note,
    Deal(Option<String>, Option<String>),
}

pub(super) fn insert_activity(conn: &Db, a: &NewActivity, now: DateTime<Utc>) -> Result<Logged> {
    let tz = guild_timezone(conn, a.guild, now)?;
    let mut revive = None;
    if let Some((id, via_alt)) = find_key(conn, a)? {
        let record = load_record(conn, id)?;
        if record.deleted && via_alt {
            // Removed under its older key: stored anew under the current one.
        } else if record.deleted && a.source == Source::Import {
            // Importing a row that was undone or removed brings it back; a chat retry never does.
            revive = Some(id);
        } else {
            // A key belongs to one person's request; someone else's record is never handed out.
            if record.user_id != a.user as u64 {
                return Err(StoreError::rule("this request was already used for something else"));
            }
            return Ok(Logged { record, duplicate: true, flag: None });
        }
    }
    let kind = conn
        .prepare_cached(
            "SELECT kind_id, points, has_amount FROM activity_kinds WHERE guild_id = ?1 AND name = ?2 AND retired_at IS NULL",
        )?
        .query_row(params![a.guild, a.kind.as_str()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?)))
        .optional()?;
    let Some((kind_id, kind_points, has_amount)) = kind else {
        return Err(StoreError::rule(format!("`{}` is not an activity kind of this server", a.kind)));
    };
    check_amount(&a.kind, has_amount, a.amount)?;
    let actor = if a.actor == 0 { "cli".to_string() } else { format!("user:{}", a.actor) };
    let team = match &a.team {
        Some(name) => Some((find_or_create_team(conn, a.guild, name, &actor, now)?, a.occurred_at)),
        None => None,
    };
    let current_team = upsert_member(conn, a.guild, a.user, &a.user_name, team, &actor, now)?;
    let team_id = team.map(|(t, _)| t).unwrap_or(current_team);
    let Inserted { id, local_day, day, quantity, points, amount } =
        write_row(conn, tz, a, team_id, kind_id, kind_points, revive, now)?;
    apply_to_rollup(
        conn,
        &RollupKey {
            guild: a.guild,
            day,
            user: a.user,
            team: team_id,
            kind: kind_id,
            quantity,
            points,
            amount,
            won: a.kind.as_str() == crate::domain::activity::WON,
        },
        1,
    )?;
    // The record is what was just written; only the team's name is not at hand.
    let team_name = if team_id == 0 {
        None
    } else {
        conn.prepare_cached("SELECT name FROM teams WHERE team_id = ?1")?
            .query_row([team_id], |r| r.get::<_, String>(0))
            .optional()?
    };
    let record = ActivityRecord {
        id,
        guild_id: a.guild,
        user_id: a.user as u64,
        user_name: a.user_name.clone(),
        team_id,
        team: team_name,
        kind: a.kind.as_str().to_string(),
        quantity,
        points,
        amount: a.amount.map(Amount::minor),
        occurred_at: from_millis(millis(a.occurred_at)),
        local_day,
        note: a.note.as_str().to_string(),
        deal_ref: a.deal.as_ref().map(|d| d.as_str().to_string()),
        source: a.source.as_str().to_string(),
        idem_key: a.idem_key.clone(),
        created_at: from_millis(millis(now)),
        deleted: false,
    };
    if a.source != Source::Import {
        // The activity row is the full record; the audit row says who did what to which row.
        let after = json!({"kind": record.kind, "quantity": quantity, "points": points, "amount": record.amount,
            "local_day": local_day, "source": record.source});
        audit(conn, a.guild, &actor, "activity.log", &format!("activity:{id}"), None, Some(&after), now)?;
    }
    Ok(Logged { record, duplicate: false, flag: None })
}

impl Store {
    /// Stores an activity durably, or returns the earlier one logged with the same key.
    pub async fn log_activity(&self, activity: NewActivity, now: DateTime<Utc>) -> Result<Logged> {
        self.write(move |c| insert_activity(c, &activity, now)).await
    }

    /// Soft-deletes one of `user`'s activities logged in chat (`/log` or a button): the given one,
    /// or else their latest logged after `not_before`. Rows that came from an import or the CLI are
    /// never taken back here; they leave through `rally import --remove`, so re-importing the file
    /// can bring them back. `None` when there is no such activity to undo.
    pub async fn undo_activity(
        &self,
        guild: i64,
        user: i64,
        activity: Option<i64>,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Undone>> {
        self.write(move |c| {
            let chat = [Source::Slash.as_str(), Source::Button.as_str()];
            let record = match activity {
                Some(id) => {
                    let found = c
                        .prepare_cached(
                            "SELECT activity_id FROM activities WHERE activity_id = ?1 AND guild_id = ?2 AND user_id = ?3",
                        )?
                        .query_row(params![id, guild, user], |r| r.get::<_, i64>(0))
                        .optional()?;
                    let Some(id) = found else {
                        return Err(StoreError::rule("there is no activity of yours to undo"));
                    };
                    let record = load_record(c, id)?;
                    if record.deleted {
                        return Err(StoreError::rule("that activity was already undone"));
                    }
                    if !chat.contains(&record.source.as_str()) {
                        return Ok(None);
                    }
                    if record.created_at < not_before {
                        return Err(StoreError::rule(format!(
                            "your latest activity ({} × {}, logged {}) is too old to undo; activities can be undone within 24 hours",
                            record.quantity,
                            record.kind,
                            record.created_at.format("%Y-%m-%d %H:%M UTC")
                        )));
                    }
                    record
                }
                None => {
                    let latest = c
                        .prepare_cached(
                            "SELECT activity_id FROM activities
                             WHERE guild_id = ?1 AND user_id = ?2 AND created_at >= ?3 AND deleted_at IS NULL
                               AND source IN (?4, ?5)
                             ORDER BY created_at DESC, activity_id DESC LIMIT 1",
                        )?
                        .query_row(params![guild, user, millis(not_before), chat[0], chat[1]], |r| r.get::<_, i64>(0))
                        .optional()?;
                    match latest {
                        Some(id) => load_record(c, id)?,
                        None => return Ok(None),
                    }
                }
            };
            let held: bool = c
                .prepare_cached("SELECT held FROM activities WHERE activity_id = ?1")?
                .query_row([record.id], |r| r.get(0))?;
            let reopened = soft_delete(c, &record, &format!("user:{user}"), "activity.undo", now)?;
            Ok(Some(Undone {
                record: ActivityRecord { deleted: true, ..record },
                reopened_deal: reopened,
                counted: !held,
            }))
        })
        .await
    }

    pub async fn activity(&self, guild: i64, id: i64) -> Result<Option<ActivityRecord>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!("{RECORD_SELECT} WHERE a.activity_id = ?1 AND a.guild_id = ?2"))?
                .query_row(params![id, guild], record_from_row)
                .optional()?)
        })
        .await
    }

    /// The guild's latest `limit` live activities of the kind named `kind` on local date `day` that
    /// occurred by `until` (a UTC instant), newest first (the wallboard's wins: it reads these,
    /// not the whole day).
    pub async fn latest_of_kind(
        &self,
        guild: i64,
        kind: &str,
        day: NaiveDate,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ActivityRecord>> {
        let kind = kind.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&latest_of_kind_sql())?;
            let rows = stmt.query_map(params![guild, day_number(day), millis(until), kind, limit], record_from_row)?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// How many live activities of `kind` each member logged on local `day` up to `until` (a UTC
    /// instant): `(user id, count)`, only members with at least one, in no set order. What a feed of
    /// [`latest_of_kind`](Self::latest_of_kind) leaves out can be counted from it.
    pub async fn count_of_kind_by_user(
        &self,
        guild: i64,
        kind: &str,
        day: NaiveDate,
        until: DateTime<Utc>,
    ) -> Result<Vec<(u64, u64)>> {
        let kind = kind.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT a.user_id, COUNT(*) FROM activities a WHERE {OF_KIND_ON_DAY} GROUP BY a.user_id"
            ))?;
            let rows = stmt.query_map(params![guild, day_number(day), millis(until), kind], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The guild's live activities on local days [first, end), oldest first.
    pub async fn activities_between(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<ActivityRecord>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{RECORD_SELECT} WHERE a.guild_id = ?1 AND a.local_day >= ?2 AND a.local_day < ?3 AND a.deleted_at IS NULL
                 ORDER BY a.occurred_at, a.activity_id"
            ))?;
            let rows = stmt.query_map(params![guild, day_number(first), day_number(end)], record_from_row)?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    /// `EXPLAIN QUERY PLAN` of `sql` on a freshly migrated SQLite database (no statistics, as a
    /// new rally has), its steps joined by " / ".
    fn plan(sql: &str, params: &[i64]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join(" / ")
    }

    #[test]
    fn the_wins_of_a_day_are_read_newest_first_through_the_kind_index_not_sorted_from_the_whole_day() {
        let p = plan(&super::latest_of_kind_sql(), &[1, 2, 3, 4, 5]);
        assert!(p.contains("activities_by_kind (kind_id=? AND local_day=? AND occurred_at<?)"), "{p}");
        assert!(!p.contains("activities_by_day") && !p.contains("TEMP B-TREE"), "{p}");
    }

    #[test]
    fn reads_that_filter_on_the_guild_alone_keep_the_day_index() {
        let p = plan(&format!("SELECT {}", super::super::guilds::HAS_MONEY), &[1]);
        assert!(p.contains("activities_by_day (guild_id=?)"), "{p}");
        assert!(!p.contains("activities_by_kind"), "{p}");
        // The daily cap's held entries, checked on every /log: from the few open reviews, not from
        // every activity of the kind that day.
        let p = plan(super::super::review::HELD_ON_DAY, &[1, 2, 3, 4]);
        assert!(p.starts_with("SEARCH r USING") && p.contains("INDEX reviews_open (guild_id=?)"), "{p}");
        assert!(!p.contains("activities_by_kind"), "{p}");
        // The outlier check's usual, also on every /log: the rep's own entries in the window.
        let p = plan(super::super::review::USUAL_HISTORY, &[1, 2, 3, 4, 5, 6, 7]);
        assert!(p.contains("activities_by_user (guild_id=? AND user_id=? AND created_at>? AND created_at<?)"), "{p}");
        assert!(!p.contains("activities_by_kind"), "{p}");
    }
}
