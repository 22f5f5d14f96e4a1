//! Reads for KPIs and leaderboards: they read rollups only (month rollups for whole months, day
//! rollups for the days around them), so their cost grows with members, kinds and the months and
//! odd days in the period, not with the number of activities. Also the consistency checks.

use std::collections::HashMap;
use std::sync::Arc;

use super::sql::{Db, Dialect, params};
use crate::domain::goals::{GoalPeriod, GoalSubject, GoalVersion};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{Result, Store, day_from_number, day_number, month_number};

/// One member's sums for one kind under one team over a range of days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindTotalsRow {
    pub user_id: u64,
    pub team_id: i64,
    pub kind: String,
    pub quantity: i64,
    pub points: i64,
    pub amount: i64,
}

/// A rollup row that disagrees with a recomputation from raw activities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollupMismatch {
    /// `day` or `month`, `team_day` or `team_month` (user_id 0), or the kind-less `day_points` or
    /// `month_points` (kind_id 0; the quadruples then hold (0, points, revenue, activities)).
    pub rollup: String,
    pub guild_id: i64,
    /// The day, or the first day of the month.
    pub local_day: NaiveDate,
    pub user_id: i64,
    pub team_id: i64,
    pub kind_id: i64,
    /// (quantity, points, amount, activities) in the rollup table, if present.
    pub stored: Option<(i64, i64, i64, i64)>,
    /// The same recomputed from activities, if any.
    pub recomputed: Option<(i64, i64, i64, i64)>,
}

/// Which rollup rows a totals read covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotalsScope {
    /// Every member of the guild.
    Guild,
    /// Rows credited to one team.
    Team(i64),
    /// One member, on every team.
    Member(i64),
    /// The members on a team now, on every team they logged for.
    CurrentTeam(i64),
}

/// What a report asks of [`Store::report_rows`]: local days [first, end) for each range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRead {
    /// The team the report is about, by name (any ASCII case); none: the whole guild.
    pub team: Option<String>,
    /// The period's totals: per kind ([`ReportRows::current`]) when `kinds`, else points and
    /// revenue only ([`ReportRows::points_only`]).
    pub current: (NaiveDate, NaiveDate),
    pub kinds: bool,
    /// The previous period's points ([`ReportRows::before`]), if wanted.
    pub previous: Option<(NaiveDate, NaiveDate)>,
}

/// All the rows a report is made of, read at once (see [`Store::report_rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportRows {
    /// The guild's live teams, by name.
    pub teams: Vec<super::Team>,
    /// Every member of the guild, by user id.
    pub members: Vec<super::Member>,
    /// The id of the team asked for; `None` for the guild, or when no team has that name (then
    /// no totals were read).
    pub team: Option<i64>,
    /// As [`Store::scoped_totals`] gives them, when the read asked for kinds.
    pub current: Vec<KindTotalsRow>,
    /// As [`Store::points_revenue_totals`] gives them, when it did not.
    pub points_only: Vec<(u64, i64, i64, i64)>,
    /// As [`Store::points_totals`] gives them for the previous period.
    pub before: Vec<(u64, i64, i64)>,
    /// As [`Store::leaderboards_enabled`] gives it.
    pub leaderboards: bool,
}

impl ReportRows {
    /// Sets [`ReportRows::team`] to the live team `read` names (ASCII case aside, as a team's
    /// report always found it); false when it names one and there is none, so nothing more is read.
    fn find_team(&mut self, read: &ReportRead) -> bool {
        let Some(name) = &read.team else { return true };
        self.team = self.teams.iter().find(|t| t.name.eq_ignore_ascii_case(name.trim())).map(|t| t.id);
        self.team.is_some()
    }
}

/// What `/me` asks of [`Store::member_report_rows`]: local days [first, end) for each range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberReportRead {
    pub user: i64,
    /// The ranges to total the member's rows over ([`MemberReportRows::totals`], in order).
    pub ranges: Vec<(NaiveDate, NaiveDate)>,
    /// The range to rank the member's team mates over, unless the member is not ranked at all
    /// (`None`: left off the boards).
    pub rank: Option<(NaiveDate, NaiveDate)>,
    /// The range of their active days to read (the streak's window).
    pub active: (NaiveDate, NaiveDate),
    /// The goal periods (kind, first day, end day) to read the member's own goals in force for,
    /// with their totals over each ([`Store::member_report_rows`]).
    pub goals: Vec<(GoalPeriod, NaiveDate, NaiveDate)>,
    /// Whether [`MemberReportRows::members`] holds only the member and those on their live team
    /// now (`/me` ranks them among their team), rather than the whole guild (`/kpi rep` ranks them
    /// among everyone).
    pub mates_only: bool,
}

/// A member's own goals in force for one goal period and their totals over it (none read when
/// they have no goal for it).
pub type MemberGoals = (Vec<GoalVersion>, MemberRows);

/// All the rows of one member's report, read at once (see [`Store::member_report_rows`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberReportRows {
    pub member: super::Member,
    /// The member's team, when they are on a live one.
    pub team: Option<super::Team>,
    /// Every member of the guild, by user id.
    pub members: Vec<super::Member>,
    /// The member's (kind, quantity, points, amount) over each range asked for.
    pub totals: Vec<MemberRows>,
    /// (user, team, points) of the members on the member's team now, over the rank's range, on
    /// every team they logged for: empty without a team or a rank.
    pub mates: Vec<(u64, i64, i64)>,
    /// The days in the active range on which the member logged anything.
    pub active_days: Vec<NaiveDate>,
}

/// [first, end) as whole local months (month rollups) plus the days before and after them (day
/// rollups): a year reads ~12 rows per member, team and kind, a month 1, a week at most 7.
pub(super) struct Split {
    pub days: Vec<(i64, i64)>,
    pub months: Option<(i64, i64)>,
}

pub(super) fn split(first: NaiveDate, end: NaiveDate) -> Split {
    if end <= first {
        return Split { days: Vec::new(), months: None };
    }
    // The first month that starts on or after `first`, and the start of `end`'s month.
    let month_start = if first.day() == 1 { first } else { next_month(first) };
    let end_month = end - chrono::Days::new(u64::from(end.day0()));
    if month_start >= end_month {
        return Split { days: vec![(day_number(first), day_number(end))], months: None };
    }
    let mut days = Vec::new();
    if first < month_start {
        days.push((day_number(first), day_number(month_start)));
    }
    if end_month < end {
        days.push((day_number(end_month), day_number(end)));
    }
    Split { days, months: Some((month_number(month_start), month_number(end_month))) }
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MAX)
}

/// The keys and values of the kind rollups' reads.
const KIND_KEYS: &str = "user_id, team_id, kind_id";
const KIND_SUMS: &[&str] = &["quantity", "points", "amount"];
/// The keys and values of the points rollups' reads.
const POINTS_KEYS: &str = "user_id, team_id";
const POINTS_SUMS: &[&str] = &["points", "revenue"];

/// The filter of `scope`, its id bound to `?{arg}`.
fn scope_filter(scope: TotalsScope, arg: usize) -> String {
    match scope {
        TotalsScope::Guild => String::new(),
        TotalsScope::Team(_) => format!(" AND team_id = ?{arg}"),
        TotalsScope::Member(_) => format!(" AND user_id = ?{arg}"),
        TotalsScope::CurrentTeam(_) => {
            format!(" AND user_id IN (SELECT user_id FROM members WHERE guild_id = ?1 AND team_id = ?{arg})")
        }
    }
}

/// The id `scope` binds, if any.
fn scope_arg(scope: TotalsScope) -> Option<i64> {
    match scope {
        TotalsScope::Guild => None,
        TotalsScope::Team(id) | TotalsScope::Member(id) | TotalsScope::CurrentTeam(id) => Some(id),
    }
}

/// Where one range read's values are bound: ?1 is always the guild.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slots {
    /// The range's first day (or month) number, included.
    from: usize,
    /// Its end, excluded.
    to: usize,
    /// The scope's id.
    arg: usize,
    /// The range's index, given as the read's last column, when several ranges share one
    /// statement ([`each_row_in_ranges`]).
    tag: Option<usize>,
}

impl Slots {
    /// The tag column (`, CAST(i AS BIGINT)`), or nothing.
    fn tag_column(self) -> String {
        self.tag.map(|t| format!(", CAST({t} AS BIGINT)")).unwrap_or_default()
    }
}

/// The slots of a range read on its own: ?2..?3 the range, ?4 the scope's id.
#[cfg(test)]
const ALONE: Slots = Slots { from: 2, to: 3, arg: 4, tag: None };

/// Which rows one range of a totals read takes, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RangeRead {
    /// From the month table (whole months), else the day table.
    months: bool,
    /// Summed per key in SQL rather than row by row by the caller.
    summed: bool,
}

impl RangeRead {
    /// The read of [from, to) (day numbers) from the day table, or the month table when `months`.
    /// Summed in SQL only on PostgreSQL, and only where a key can have several rows: over several
    /// months, or several days. There a year of a team is 7,000 month rows but 700 sums, and each
    /// row crosses a socket (a 100-rep team's `/kpi team this-year` took 5.3 ms plain, 3.5
    /// summed); a week of the bench's 100 reps is 414 day rows but 100 sums (`/me this-week` 0.59
    /// to 0.76 ms plain, 0.49 summed, replies timed alternately with SQLite's). A single month or
    /// day has one row per key anyway, and PostgreSQL's `GROUP BY` costs about 0.5 µs a row
    /// (`/kpi team this-month` 1.6 ms plain, 2.5 summed). SQLite hands rows over in-process and
    /// never gains (its `GROUP BY` doubled `/kpi team`).
    fn of(dialect: Dialect, months: bool, from: i64, to: i64) -> RangeRead {
        let several = if months { to - from > 31 } else { to - from > 1 };
        RangeRead { months, summed: dialect == Dialect::Postgres && several }
    }
}

/// The read of `values` per `keys` from one range of a rollup table in `scope`; ?1 guild, the
/// range and the scope's id where `slots` says. `tables` names the (day, month) pair; members are read through
/// the member index `{table}_by_user`, which the member rollups and the points rollups have (the
/// team rollups are only read by guild or team). Callers add rows of the same key up, so a summed
/// read and a plain one give them the same totals.
fn range_sql(
    dialect: Dialect,
    tables: (&str, &str),
    read: RangeRead,
    keys: &str,
    values: &[&str],
    scope: TotalsScope,
    slots: Slots,
) -> String {
    let (table, period) = if read.months { (tables.1, "month") } else { (tables.0, "local_day") };
    // Without statistics SQLite prefers the primary key's (guild, day) range to the member index
    // (it is not covering), and a member's read then scans every member's rows of the period: a
    // year of the 10 M bench guild is 68,000 rows instead of ~84. Named explicitly for members.
    let index = match scope {
        TotalsScope::Member(_) | TotalsScope::CurrentTeam(_) => dialect.index_hint(&format!("{table}_by_user")),
        // The kind rollups have a team index too (migration 15); the points rollups' team reads
        // (a team's leaderboard) stay on the period range.
        TotalsScope::Team(_) if tables == KIND_ROLLUPS => dialect.index_hint(&format!("{table}_by_team")),
        TotalsScope::Guild | TotalsScope::Team(_) => String::new(),
    };
    let filter = scope_filter(scope, slots.arg);
    let Slots { from, to, .. } = slots;
    let tag = slots.tag_column();
    let range = format!("FROM {table}{index} WHERE guild_id = ?1 AND {period} >= ?{from} AND {period} < ?{to}{filter}");
    if read.summed {
        let summed: Vec<String> = values.iter().map(|c| format!("SUM({c})")).collect();
        format!("SELECT {keys}, {}{tag} {range} GROUP BY {keys}", summed.join(", "))
    } else {
        format!("SELECT {keys}, {}{tag} {range}", values.join(", "))
    }
}

const KIND_ROLLUPS: (&str, &str) = ("day_rollups", "month_rollups");
const POINTS_ROLLUPS: (&str, &str) = ("day_points", "month_points");
const TEAM_ROLLUPS: (&str, &str) = ("team_day_rollups", "team_month_rollups");

/// Reads the odd days (day rollups) and the whole months (month rollups) of each of `ranges`
/// ([first, end) with its scope's id) in one statement, the `sql(i, read, slots)` of every part of
/// every range joined by `UNION ALL` (on PostgreSQL each statement is a round trip to the server:
/// a year is two parts, a span across a year's end three, and a history's six periods were six
/// statements), binding ?1 guild, each range's scope id and each part where `slots` says, and
/// hands every row to `each` with its range's index. With several ranges, each part gives its
/// range's index as its last column (`slots.tag`).
fn each_row_in_ranges(
    c: &Db,
    guild: i64,
    ranges: &[(NaiveDate, NaiveDate, Option<i64>)],
    sql: impl Fn(usize, RangeRead, Slots) -> String,
    mut each: impl FnMut(usize, &super::sql::Row<'_>) -> Result<()>,
) -> Result<()> {
    let tagged = ranges.len() > 1;
    let mut values = vec![guild];
    let mut branches = Vec::new();
    for (i, &(first, end, arg)) in ranges.iter().enumerate() {
        let parts = Branches::parts(first, end);
        if parts.is_empty() {
            continue;
        }
        let arg_slot = match arg {
            Some(a) => {
                values.push(a);
                values.len()
            }
            // Not named by the read: any slot will do.
            None => 1,
        };
        for (months, (from, to)) in parts {
            let slots = Slots { from: values.len() + 1, to: values.len() + 2, arg: arg_slot, tag: tagged.then_some(i) };
            values.extend([from, to]);
            branches.push(sql(i, RangeRead::of(c.dialect(), months, from, to), slots));
        }
    }
    if branches.is_empty() {
        return Ok(());
    }
    let mut stmt = c.prepare_cached(&branches.join(" UNION ALL "))?;
    let mut rows = stmt.query(super::sql::params_from_iter(&values))?;
    while let Some(r) = rows.next()? {
        let i = if tagged {
            usize::try_from(r.get::<_, i64>(r.column_count().saturating_sub(1))?).unwrap_or(usize::MAX)
        } else {
            0
        };
        each(i, &r)?;
    }
    Ok(())
}

/// (quantity, points, amount) per (user, team, kind id), as [`sums`] gives them.
type KindSums = HashMap<(i64, i64, i64), [i64; 3]>;
/// (points, revenue) per (user, team), as [`points_sums`] gives them.
type PointsSums = HashMap<(i64, i64), [i64; 2]>;
/// (quantity, points, amount) per (team, kind id), as [`team_sums`] gives them.
type TeamSums = HashMap<(i64, i64), [i64; 3]>;

/// (first, end, the scope's id) of each range in its scope.
fn range_args(ranges: &[(NaiveDate, NaiveDate, TotalsScope)]) -> Vec<(NaiveDate, NaiveDate, Option<i64>)> {
    ranges.iter().map(|&(first, end, scope)| (first, end, scope_arg(scope))).collect()
}

/// The one range's entry of a read of one range (`_many` reads give one per range).
fn only<T: Default>(mut many: Vec<T>) -> T {
    many.pop().unwrap_or_default()
}

/// Sums (quantity, points, amount) per (user, team, kind id) over [first, end) in `scope`.
fn sums(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    scope: TotalsScope,
) -> Result<HashMap<(i64, i64, i64), [i64; 3]>> {
    Ok(only(sums_many(c, guild, &[(first, end, scope)])?))
}

/// [`sums`] over each of `ranges`, in one statement.
fn sums_many(c: &Db, guild: i64, ranges: &[(NaiveDate, NaiveDate, TotalsScope)]) -> Result<Vec<KindSums>> {
    let mut out: Vec<KindSums> = vec![HashMap::new(); ranges.len()];
    each_row_in_ranges(
        c,
        guild,
        &range_args(ranges),
        |i, read, slots| range_sql(c.dialect(), KIND_ROLLUPS, read, KIND_KEYS, KIND_SUMS, ranges[i].2, slots),
        |i, r| {
            let Some(out) = out.get_mut(i) else { return Ok(()) };
            let e = out.entry((r.get(0)?, r.get(1)?, r.get(2)?)).or_insert([0; 3]);
            for (i, v) in e.iter_mut().enumerate() {
                *v += r.get::<_, i64>(3 + i)?;
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Sums (points, revenue) per (user, team) over [first, end) in `scope`, from the kind-less
/// rollups.
fn points_sums(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    scope: TotalsScope,
) -> Result<HashMap<(i64, i64), [i64; 2]>> {
    Ok(only(points_sums_many(c, guild, &[(first, end, scope)])?))
}

/// [`points_sums`] over each of `ranges`, in one statement.
fn points_sums_many(c: &Db, guild: i64, ranges: &[(NaiveDate, NaiveDate, TotalsScope)]) -> Result<Vec<PointsSums>> {
    let mut out: Vec<PointsSums> = vec![HashMap::new(); ranges.len()];
    each_row_in_ranges(
        c,
        guild,
        &range_args(ranges),
        |i, read, slots| range_sql(c.dialect(), POINTS_ROLLUPS, read, POINTS_KEYS, POINTS_SUMS, ranges[i].2, slots),
        |i, r| {
            let Some(out) = out.get_mut(i) else { return Ok(()) };
            let e = out.entry((r.get(0)?, r.get(1)?)).or_insert([0; 2]);
            e[0] += r.get::<_, i64>(2)?;
            e[1] += r.get::<_, i64>(3)?;
            Ok(())
        },
    )?;
    Ok(out)
}

/// Sums (quantity, points, amount) per (team, kind id) over [first, end) for every team (team 0:
/// members without one) or one.
fn team_sums(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    team: Option<i64>,
) -> Result<HashMap<(i64, i64), [i64; 3]>> {
    Ok(only(team_sums_many(c, guild, &[(first, end, team)])?))
}

/// [`team_sums`] over each of `ranges` (each for every team or one), in one statement.
fn team_sums_many(c: &Db, guild: i64, ranges: &[(NaiveDate, NaiveDate, Option<i64>)]) -> Result<Vec<TeamSums>> {
    let mut out: Vec<TeamSums> = vec![HashMap::new(); ranges.len()];
    each_row_in_ranges(
        c,
        guild,
        ranges,
        |i, read, slots| {
            let scope = ranges[i].2.map_or(TotalsScope::Guild, TotalsScope::Team);
            range_sql(c.dialect(), TEAM_ROLLUPS, read, "team_id, kind_id", KIND_SUMS, scope, slots)
        },
        |i, r| {
            let Some(out) = out.get_mut(i) else { return Ok(()) };
            let e = out.entry((r.get(0)?, r.get(1)?)).or_insert([0; 3]);
            for (i, v) in e.iter_mut().enumerate() {
                *v += r.get::<_, i64>(2 + i)?;
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Every kind of the guild by id, retired ones included (history keeps them), knowing at least
/// the kinds `ids`. A read connection remembers them ([`super::sql::Memo`]): a kind's name never
/// changes, so they are read again only when one of `ids` is new to it (a kind added since), and
/// a reply's totals cost no statement for their names. Exact on every instance: what another
/// process adds is an unknown id here, never a stale name.
fn kind_names(c: &Db, guild: i64, ids: impl IntoIterator<Item = i64>) -> Result<Arc<HashMap<i64, String>>> {
    if let Some(known) = c.memo().and_then(|m| m.kind_names.get(&guild).cloned())
        && ids.into_iter().all(|id| known.contains_key(&id))
    {
        return Ok(known);
    }
    let mut stmt = c.prepare_cached("SELECT kind_id, name FROM activity_kinds WHERE guild_id = ?1")?;
    let rows = stmt.query_map([guild], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let names = Arc::new(rows.collect::<super::sql::Result<HashMap<i64, String>>>()?);
    if let Some(mut memo) = c.memo() {
        // Bounded by the guilds in use; a bot in very many guilds starts over rather than grow.
        if memo.kind_names.len() >= 10_000 {
            memo.kind_names.clear();
        }
        memo.kind_names.insert(guild, names.clone());
    }
    Ok(names)
}

/// The name of kind `kind` among `names` (`kind N` for one the guild no longer has on record).
fn kind_name(names: &HashMap<i64, String>, kind: i64) -> String {
    names.get(&kind).cloned().unwrap_or_else(|| format!("kind {kind}"))
}

/// Whether (quantity, points, amount) sums to anything: rows of all zeros are left out.
fn nonzero([q, p, a]: &[i64; 3]) -> bool {
    *q != 0 || *p != 0 || *a != 0
}

fn named(c: &Db, guild: i64, sums: HashMap<(i64, i64, i64), [i64; 3]>) -> Result<Vec<KindTotalsRow>> {
    let names = kind_names(c, guild, sums.keys().map(|k| k.2))?;
    let mut rows: Vec<KindTotalsRow> = sums
        .into_iter()
        .filter(|(_, v)| nonzero(v))
        .map(|((user, team, kind), [quantity, points, amount])| KindTotalsRow {
            user_id: user as u64,
            team_id: team,
            kind: kind_name(&names, kind),
            quantity,
            points,
            amount,
        })
        .collect();
    // A stable order, whatever the hash map's.
    rows.sort_unstable_by(|a, b| (a.user_id, a.team_id, &a.kind).cmp(&(b.user_id, b.team_id, &b.kind)));
    Ok(rows)
}

/// (user, team, points, revenue) over [first, end) in `scope`, sorted.
fn points_revenue_rows(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    scope: TotalsScope,
) -> Result<Vec<(u64, i64, i64, i64)>> {
    let mut rows: Vec<(u64, i64, i64, i64)> =
        points_sums(c, guild, first, end, scope)?.into_iter().map(|((u, t), [p, r])| (u as u64, t, p, r)).collect();
    rows.sort_unstable();
    Ok(rows)
}

/// (user, team, points) over [first, end) in `scope`, sorted.
pub(super) fn points_rows(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    scope: TotalsScope,
) -> Result<Vec<(u64, i64, i64)>> {
    let mut rows: Vec<(u64, i64, i64)> =
        points_sums(c, guild, first, end, scope)?.into_iter().map(|((u, t), [p, _])| (u as u64, t, p)).collect();
    rows.sort_unstable();
    Ok(rows)
}

/// The rows goal subjects' totals over a range are made of ([`subject_rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectRows {
    /// (team, kind, quantity, points, amount) per credited team (team 0: members without one; all
    /// of them together are the guild's), when a team or the guild is among the subjects.
    pub teams: Vec<TeamKindRow>,
    /// (kind, quantity, points, amount) per member among the subjects, on every team.
    pub members: HashMap<i64, MemberRows>,
}

/// The user ids of the members among `subjects`.
fn member_ids(subjects: &std::collections::BTreeSet<GoalSubject>) -> std::collections::HashSet<i64> {
    subjects
        .iter()
        .filter_map(|s| match s {
            GoalSubject::Member(u) => Some(u.as_i64()),
            _ => None,
        })
        .collect()
}

/// What the totals of `subjects` over [first, end) are made of: one member (the `/log` reply)
/// reads that member's rollups only; teams and the guild the team rollups, members the guild's
/// member rollups.
pub(super) fn subject_rows(
    c: &Db,
    guild: i64,
    subjects: &std::collections::BTreeSet<GoalSubject>,
    first: NaiveDate,
    end: NaiveDate,
) -> Result<SubjectRows> {
    if let [GoalSubject::Member(user)] = subjects.iter().copied().collect::<Vec<_>>().as_slice() {
        let rows = member_totals(c, guild, user.as_i64(), &[(first, end)])?.pop().unwrap_or_default();
        return Ok(SubjectRows { teams: Vec::new(), members: HashMap::from([(user.as_i64(), rows)]) });
    }
    let users = member_ids(subjects);
    let want_teams = subjects.iter().any(|s| !matches!(s, GoalSubject::Member(_)));
    // SQLite's statements cost no round trip, and its compound read measured slower than the two
    // (see `report_rows_on`): one statement on PostgreSQL only.
    if !want_teams || users.is_empty() || c.dialect() == Dialect::Sqlite {
        let teams = if want_teams { team_kind_rows(c, guild, first, end, None)? } else { Vec::new() };
        let members = if users.is_empty() { HashMap::new() } else { members_kind_rows(c, guild, first, end, &users)? };
        return Ok(SubjectRows { teams, members });
    }
    // Both in one statement (a team table's goals: the team's and its reps'), each part as its read
    // of one statement did: the team rollups, and the guild's member rollups.
    let mut more = Branches::default();
    board_branches(&mut more, c.dialect(), BOARD_KINDS, (first, end), true, None);
    team_branches(&mut more, c.dialect(), SUBJECT_TEAMS, (first, end));
    let mut teams: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    let mut members: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    query_branches(c, guild, &more, |tag, r| {
        let e = match tag {
            SUBJECT_TEAMS => teams.entry((r.get(3)?, r.get(4)?)).or_insert([0; 3]),
            _ => {
                let user: i64 = r.get(1)?;
                if !users.contains(&user) {
                    return Ok(());
                }
                members.entry((user, r.get(4)?)).or_insert([0; 3])
            }
        };
        for (i, v) in e.iter_mut().enumerate() {
            *v += r.get::<_, i64>(5 + i)?;
        }
        Ok(())
    })?;
    named_subject_rows(c, guild, teams, members)
}

/// [`SubjectRows`] of sums per (team, kind) and (member, kind) as one statement read them, with
/// the kinds' names, leaving out what sums to nothing.
fn named_subject_rows(
    c: &Db,
    guild: i64,
    teams: HashMap<(i64, i64), [i64; 3]>,
    members: HashMap<(i64, i64), [i64; 3]>,
) -> Result<SubjectRows> {
    let names = kind_names(c, guild, teams.keys().chain(members.keys()).map(|k| k.1))?;
    let name = |k: i64| kind_name(&names, k);
    let mut team_rows: Vec<TeamKindRow> =
        teams.into_iter().filter(|(_, v)| nonzero(v)).map(|((t, k), [q, p, a])| (t, name(k), q, p, a)).collect();
    team_rows.sort_unstable();
    let mut member_rows: HashMap<i64, MemberRows> = HashMap::new();
    for ((user, kind), v) in members {
        if nonzero(&v) {
            member_rows.entry(user).or_default().push((name(kind), v[0], v[1], v[2]));
        }
    }
    Ok(SubjectRows { teams: team_rows, members: member_rows })
}

/// The tag of the team rollups' rows in [`subject_rows`]' statement.
const SUBJECT_TEAMS: i64 = 8;

/// A part of a range ([`Branches::parts`]) with the placeholders its bounds are bound to: (from
/// the month table, (placeholder of from, of to), (from, to) day or month numbers).
type BoundPart = (bool, (usize, usize), (i64, i64));

/// The tag of the rows of [`team_table_subject_rows`] that say who a team's table shows: a member
/// (user, 0) or the team (0, team id).
const SHOWN: i64 = 9;

/// Who a team's table (`/kpi team team:NAME`) shows, as [`team_table_subject_rows`] finds them:
/// the live teams of that name (without regard to case), and the members on one of them now or
/// with rows credited to one of them over the range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub users: std::collections::HashSet<i64>,
    pub teams: std::collections::HashSet<i64>,
}

impl Shown {
    /// Whether the table shows `subject` (never the guild's own).
    pub fn shows(&self, subject: &GoalSubject) -> bool {
        match subject {
            GoalSubject::Member(u) => self.users.contains(&u.as_i64()),
            GoalSubject::Team(t) => self.teams.contains(t),
            GoalSubject::Guild => false,
        }
    }
}

/// [`subject_rows`] of the goal subjects a team's table may show (the team's own goals and those
/// of the members it shows, see [`Shown`]) over [first, end), without reading any other member's:
/// at the bench's full scale a team of 200 in a guild of 1,000, whose week PostgreSQL summed in
/// 5.7 ms for the whole guild (the slowest read of `/kpi team`, beside its report; 2.4 to 2.6 ms
/// for the team's). Members and
/// teams among `subjects` that the table does not show get no rows; the caller leaves their goals
/// out. On PostgreSQL one statement: who is shown (a `WITH`), the rows of those members on every
/// team they logged for (a mover's goal counts all of their rows), and the team's rows. SQLite
/// reads who is shown through the team index, then the rows as [`subject_rows`] does.
pub(super) fn team_table_subject_rows(
    c: &Db,
    guild: i64,
    subjects: &std::collections::BTreeSet<GoalSubject>,
    (first, end): (NaiveDate, NaiveDate),
    team: &str,
) -> Result<(SubjectRows, Shown)> {
    let dialect = c.dialect();
    let users = member_ids(subjects);
    let want_teams = subjects.iter().any(|s| matches!(s, GoalSubject::Team(_)));
    let mut more = Branches::default();
    let name = more.bind_text(team.trim());
    let team_ids = format!(
        "SELECT team_id FROM teams WHERE guild_id = ?1 AND name = ?{name} COLLATE NOCASE AND deleted_at IS NULL"
    );
    let parts: Vec<BoundPart> = Branches::parts(first, end)
        .into_iter()
        .map(|(m, (from, to))| (m, (more.bind(from), more.bind(to)), (from, to)))
        .collect();
    let mut shown = vec![format!("SELECT user_id FROM members WHERE guild_id = ?1 AND team_id IN ({team_ids})")];
    for &(months, (a, b), _) in &parts {
        let (table, period) = if months { (KIND_ROLLUPS.1, "month") } else { (KIND_ROLLUPS.0, "local_day") };
        shown.push(format!(
            "SELECT user_id FROM {table}{} WHERE guild_id = ?1 AND team_id IN ({team_ids}) AND {period} >= ?{a} AND {period} < ?{b}",
            dialect.index_hint(&format!("{table}_by_team"))
        ));
    }
    let mut sql = vec![
        format!("SELECT CAST({SHOWN} AS BIGINT), user_id, {NO_TEXT}, {Z}, {Z}, {Z}, {Z}, {Z} FROM shown"),
        format!(
            "SELECT CAST({SHOWN} AS BIGINT), {Z}, {NO_TEXT}, team_id, {Z}, {Z}, {Z}, {Z} FROM ({team_ids}) AS named"
        ),
    ];
    // SQLite's statements cost no round trip: it reads the rows as it always has (see `subject_rows`).
    let one_statement = dialect == Dialect::Postgres;
    for &(months, (a, b), (from, to)) in parts.iter().filter(|_| one_statement) {
        let summed = RangeRead::of(dialect, months, from, to).summed;
        let sum = |c: &str| if summed { format!("CAST(SUM({c}) AS BIGINT)") } else { c.to_string() };
        let sums = [sum("quantity"), sum("points"), sum("amount")].join(", ");
        let (table, period) = if months { (KIND_ROLLUPS.1, "month") } else { (KIND_ROLLUPS.0, "local_day") };
        let range = format!("guild_id = ?1 AND {period} >= ?{a} AND {period} < ?{b}");
        if !users.is_empty() {
            let group = if summed { " GROUP BY user_id, team_id, kind_id" } else { "" };
            sql.push(format!(
                "SELECT CAST({BOARD_KINDS} AS BIGINT), user_id, {NO_TEXT}, team_id, kind_id, {sums} FROM {table} \
                 WHERE {range} AND user_id IN (SELECT user_id FROM shown){group}"
            ));
        }
        if want_teams {
            let table = if months { TEAM_ROLLUPS.1 } else { TEAM_ROLLUPS.0 };
            let group = if summed { " GROUP BY team_id, kind_id" } else { "" };
            sql.push(format!(
                "SELECT CAST({SUBJECT_TEAMS} AS BIGINT), {Z}, {NO_TEXT}, team_id, kind_id, {sums} FROM {table} \
                 WHERE {range} AND team_id IN ({team_ids}){group}"
            ));
        }
    }
    let statement = format!("WITH shown AS ({}) {}", shown.join(" UNION "), sql.join(" UNION ALL "));
    let mut who = Shown::default();
    let mut teams: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    let mut members: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    let mut stmt = c.prepare_cached(&statement)?;
    let mut rows = stmt.query(super::sql::params_from_iter(&more.bound(guild)))?;
    while let Some(r) = rows.next()? {
        let e = match r.get::<_, i64>(0)? {
            SHOWN => {
                let (user, team): (i64, i64) = (r.get(1)?, r.get(3)?);
                if user != 0 {
                    who.users.insert(user);
                } else {
                    who.teams.insert(team);
                }
                continue;
            }
            SUBJECT_TEAMS => teams.entry((r.get(3)?, r.get(4)?)).or_insert([0; 3]),
            _ => {
                let user: i64 = r.get(1)?;
                if !users.contains(&user) {
                    continue;
                }
                members.entry((user, r.get(4)?)).or_insert([0; 3])
            }
        };
        for (i, v) in e.iter_mut().enumerate() {
            *v += r.get::<_, i64>(5 + i)?;
        }
    }
    drop(rows);
    drop(stmt);
    if !one_statement {
        // The subjects the table shows, read as any goals' subjects are.
        let shown: std::collections::BTreeSet<GoalSubject> =
            subjects.iter().copied().filter(|s| who.shows(s)).collect();
        let rows = if shown.is_empty() { SubjectRows::default() } else { subject_rows(c, guild, &shown, first, end)? };
        return Ok((rows, who));
    }
    Ok((named_subject_rows(c, guild, teams, members)?, who))
}

/// Every team's rows (team 0: members without one) over [first, end) from the team rollups as
/// [`Branches`] tagged `tag`, laid out as [`board_branches`]' kind rows with user 0: (0, team,
/// kind, quantity, points, amount). Summed where [`RangeRead::of`] says.
fn team_branches(more: &mut Branches, dialect: Dialect, tag: i64, (first, end): (NaiveDate, NaiveDate)) {
    for (months, (from, to)) in Branches::parts(first, end) {
        let (table, period) = if months { (TEAM_ROLLUPS.1, "month") } else { (TEAM_ROLLUPS.0, "local_day") };
        let (a, b) = (more.bind(from), more.bind(to));
        let range = format!("FROM {table} WHERE guild_id = ?1 AND {period} >= ?{a} AND {period} < ?{b}");
        let summed = RangeRead::of(dialect, months, from, to).summed;
        let sum = |c: &str| if summed { format!("CAST(SUM({c}) AS BIGINT)") } else { c.to_string() };
        let group = if summed { " GROUP BY team_id, kind_id" } else { "" };
        more.sql.push(format!(
            "SELECT CAST({tag} AS BIGINT), {Z}, {NO_TEXT}, team_id, kind_id, {}, {}, {} {range}{group}",
            sum("quantity"),
            sum("points"),
            sum("amount")
        ));
    }
}

/// Runs `more` as one statement of its own (?1 the guild) and hands each row to `each` with its
/// tag; nothing is run when there is nothing to read.
fn query_branches(
    c: &Db,
    guild: i64,
    more: &Branches,
    mut each: impl FnMut(i64, &super::sql::Row<'_>) -> Result<()>,
) -> Result<()> {
    if more.sql.is_empty() {
        return Ok(());
    }
    let mut stmt = c.prepare_cached(&more.sql.join(" UNION ALL "))?;
    let mut rows = stmt.query(super::sql::params_from_iter(&more.bound(guild)))?;
    while let Some(r) = rows.next()? {
        each(r.get(0)?, &r)?;
    }
    Ok(())
}

/// [`Store::team_kind_totals`] on a connection.
fn team_kind_rows(c: &Db, guild: i64, first: NaiveDate, end: NaiveDate, team: Option<i64>) -> Result<Vec<TeamKindRow>> {
    Ok(only(team_kind_rows_many(c, guild, &[(first, end, team)])?))
}

/// [`team_kind_rows`] over each of `ranges`, in one statement (and the kinds' names, when the
/// connection does not know them all).
fn team_kind_rows_many(
    c: &Db,
    guild: i64,
    ranges: &[(NaiveDate, NaiveDate, Option<i64>)],
) -> Result<Vec<Vec<TeamKindRow>>> {
    let many = team_sums_many(c, guild, ranges)?;
    let names = kind_names(c, guild, many.iter().flat_map(|sums| sums.keys().map(|k| k.1)))?;
    Ok(many
        .into_iter()
        .map(|sums| {
            let mut rows: Vec<TeamKindRow> = sums
                .into_iter()
                .filter(|(_, v)| nonzero(v))
                .map(|((t, k), [q, p, a])| (t, kind_name(&names, k), q, p, a))
                .collect();
            rows.sort_unstable();
            rows
        })
        .collect())
}

/// [`Store::members_kind_totals`] on a connection.
fn members_kind_rows(
    c: &Db,
    guild: i64,
    first: NaiveDate,
    end: NaiveDate,
    users: &std::collections::HashSet<i64>,
) -> Result<HashMap<i64, MemberRows>> {
    let mut by: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    for ((user, _, kind), v) in sums(c, guild, first, end, TotalsScope::Guild)? {
        if users.contains(&user) {
            let e = by.entry((user, kind)).or_default();
            for i in 0..3 {
                e[i] += v[i];
            }
        }
    }
    let names = kind_names(c, guild, by.keys().map(|k| k.1))?;
    let mut out: HashMap<i64, MemberRows> = HashMap::new();
    for ((user, kind), [q, p, a]) in by {
        if nonzero(&[q, p, a]) {
            out.entry(user).or_default().push((kind_name(&names, kind), q, p, a));
        }
    }
    Ok(out)
}

/// The local days in [first, end) on which one member logged anything.
fn active_days_of(c: &Db, guild: i64, user: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<NaiveDate>> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT local_day FROM day_rollups
         WHERE guild_id = ?1 AND user_id = ?2 AND local_day >= ?3 AND local_day < ?4",
    )?;
    let rows =
        stmt.query_map(params![guild, user, day_number(first), day_number(end)], |r| Ok(day_from_number(r.get(0)?)))?;
    Ok(rows.collect::<super::sql::Result<_>>()?)
}

/// (team, kind, quantity, points, amount): one team's sums for one kind ([`Store::team_kind_totals`]).
pub type TeamKindRow = (i64, String, i64, i64, i64);

/// (kind, quantity, points, amount) rows of one member over one range.
pub type MemberRows = Vec<(String, i64, i64, i64)>;

/// One member's (kind, quantity, points, amount) over each of `ranges`, on every team, in one
/// statement ([`MemberFigures`]).
pub(super) fn member_totals(
    c: &Db,
    guild: i64,
    user: i64,
    ranges: &[(NaiveDate, NaiveDate)],
) -> Result<Vec<MemberRows>> {
    let mut more = Branches::default();
    let mut figures = MemberFigures::new(&mut more, c.dialect(), user, ranges, None, None);
    query_branches(c, guild, &more, |tag, r| figures.take(tag, r))?;
    Ok(figures.finish(c, guild)?.0)
}

/// Branches of one statement built at run time, to be joined by `UNION ALL` (after the guild's
/// directory, [`super::teams::directory_with`], or on their own): each a `SELECT` of eight
/// columns, a tag (3 or more; the directory's rows are 0 to 2), an integer, a text (NULL here),
/// and five integers; and the values they bind, from ?2 on (?1 is always the guild). On
/// PostgreSQL each statement is a round trip, so a reply's reads go in as few as they can.
#[derive(Clone, Debug, Default)]
pub(super) struct Branches {
    pub sql: Vec<String>,
    pub values: Vec<super::sql::Value>,
}

impl Branches {
    /// Binds `value`; its placeholder's number.
    pub(super) fn bind(&mut self, value: i64) -> usize {
        self.values.push(super::sql::Value::Integer(value));
        self.values.len() + 1
    }

    /// Binds the text `value`; its placeholder's number.
    pub(super) fn bind_text(&mut self, value: &str) -> usize {
        self.values.push(super::sql::Value::Text(value.to_owned()));
        self.values.len() + 1
    }

    /// Every value the statement binds: ?1 the guild, then the branches' own.
    pub(super) fn bound(&self, guild: i64) -> Vec<super::sql::Value> {
        std::iter::once(super::sql::Value::Integer(guild)).chain(self.values.iter().cloned()).collect()
    }

    /// The parts of [first, end): (from the month table, (from, to) day or month numbers) each.
    fn parts(first: NaiveDate, end: NaiveDate) -> Vec<(bool, (i64, i64))> {
        let split = split(first, end);
        split.days.iter().map(|r| (false, *r)).chain(split.months.map(|r| (true, r))).collect()
    }
}

/// Zero and the empty text, as the branches' (and the directory's) padding columns give them.
pub(super) const Z: &str = "CAST(0 AS BIGINT)";
const NO_TEXT: &str = "CAST(NULL AS TEXT)";

/// What [`MemberFigures::finish`] gives: totals per range, mates' points, active days.
type FiguresRead = (Vec<MemberRows>, Vec<(u64, i64, i64)>, Vec<NaiveDate>);

/// The tags of [`MemberFigures`]' rows: the mates' points, the active days, and the first range
/// (the next ranges follow it). Tags 5 to 8 are the boards' and goal subjects', 10 to 15 a
/// member's goals' (`goals::MemberGoalsRead`).
const MATES: i64 = 3;
const ACTIVE: i64 = 4;
const RANGE0: i64 = 16;

/// One member's totals over each of several ranges, their team mates' points over a range and
/// their active days in a range, read as [`Branches`] of one statement (`/me` read them in four,
/// and its goals' totals in one more). Each part reads through the same index as its read of old.
pub(super) struct MemberFigures {
    kinds: Vec<HashMap<i64, [i64; 3]>>,
    mates: HashMap<(i64, i64), i64>,
    active_days: Vec<NaiveDate>,
}

impl MemberFigures {
    /// Adds the branches to `more`: `user`'s rows over each of `ranges`; the points of the members
    /// on `user`'s live team now over `mates`, on every team they logged for (none without one:
    /// a guild's members without a team are not mates); `user`'s active days in `active`.
    pub(super) fn new(
        more: &mut Branches,
        dialect: Dialect,
        user: i64,
        ranges: &[(NaiveDate, NaiveDate)],
        mates: Option<(NaiveDate, NaiveDate)>,
        active: Option<(NaiveDate, NaiveDate)>,
    ) -> MemberFigures {
        let branches = more.sql.len();
        let u = more.bind(user);
        for (i, &(first, end)) in ranges.iter().enumerate() {
            let tag = RANGE0 + i as i64;
            for (months, (from, to)) in Branches::parts(first, end) {
                let (table, period) = if months { (KIND_ROLLUPS.1, "month") } else { (KIND_ROLLUPS.0, "local_day") };
                let index = dialect.index_hint(&format!("{table}_by_user"));
                let (a, b) = (more.bind(from), more.bind(to));
                more.sql.push(format!(
                    "SELECT CAST({tag} AS BIGINT), kind_id, {NO_TEXT}, {Z}, quantity, points, amount, {Z} \
                     FROM {table}{index} WHERE guild_id = ?1 AND {period} >= ?{a} AND {period} < ?{b} AND user_id = ?{u}"
                ));
            }
        }
        if let Some((first, end)) = mates {
            for (months, (from, to)) in Branches::parts(first, end) {
                let (table, period) =
                    if months { (POINTS_ROLLUPS.1, "month") } else { (POINTS_ROLLUPS.0, "local_day") };
                let index = dialect.index_hint(&format!("{table}_by_user"));
                let (a, b) = (more.bind(from), more.bind(to));
                let range = format!(
                    "FROM {table}{index} WHERE guild_id = ?1 AND {period} >= ?{a} AND {period} < ?{b} \
                     AND user_id IN (SELECT user_id FROM members WHERE guild_id = ?1 \
                     AND team_id = (SELECT team_id FROM members WHERE guild_id = ?1 AND user_id = ?{u} \
                     AND team_id IN (SELECT team_id FROM teams WHERE guild_id = ?1 AND deleted_at IS NULL)))"
                );
                // Summed where a plain read would be (see `RangeRead::of`).
                more.sql.push(if RangeRead::of(dialect, months, from, to).summed {
                    format!(
                        "SELECT CAST({MATES} AS BIGINT), user_id, {NO_TEXT}, team_id, CAST(SUM(points) AS BIGINT), \
                         {Z}, {Z}, {Z} {range} GROUP BY user_id, team_id"
                    )
                } else {
                    format!(
                        "SELECT CAST({MATES} AS BIGINT), user_id, {NO_TEXT}, team_id, points, {Z}, {Z}, {Z} {range}"
                    )
                });
            }
        }
        if let Some((first, end)) = active.filter(|(first, end)| first < end) {
            let (a, b) = (more.bind(day_number(first)), more.bind(day_number(end)));
            more.sql.push(format!(
                "SELECT DISTINCT CAST({ACTIVE} AS BIGINT), local_day, {NO_TEXT}, {Z}, {Z}, {Z}, {Z}, {Z} \
                 FROM day_rollups WHERE guild_id = ?1 AND user_id = ?{u} AND local_day >= ?{a} AND local_day < ?{b}"
            ));
        }
        if more.sql.len() == branches {
            // Nothing to read (every range empty): nothing bound either.
            more.values.pop();
        }
        MemberFigures { kinds: vec![HashMap::new(); ranges.len()], mates: HashMap::new(), active_days: Vec::new() }
    }

    /// Takes a row tagged `tag` if it is one of these figures' (others are left alone).
    pub(super) fn take(&mut self, tag: i64, r: &super::sql::Row<'_>) -> Result<()> {
        match tag {
            MATES => *self.mates.entry((r.get(1)?, r.get(3)?)).or_default() += r.get::<_, i64>(4)?,
            ACTIVE => self.active_days.push(day_from_number(r.get(1)?)),
            tag => {
                let Some(by_kind) = usize::try_from(tag - RANGE0).ok().and_then(|i| self.kinds.get_mut(i)) else {
                    return Ok(());
                };
                let e = by_kind.entry(r.get(1)?).or_default();
                for (j, v) in e.iter_mut().enumerate() {
                    *v += r.get::<_, i64>(4 + j)?;
                }
            }
        }
        Ok(())
    }

    /// The member's (kind, quantity, points, amount) over each range, sorted; the mates'
    /// (user, team, points), sorted; the active days, in order.
    pub(super) fn finish(self, c: &Db, guild: i64) -> Result<FiguresRead> {
        let names = kind_names(c, guild, self.kinds.iter().flat_map(|k| k.keys().copied()))?;
        let mut totals = Vec::with_capacity(self.kinds.len());
        for by_kind in self.kinds {
            let mut rows: Vec<(String, i64, i64, i64)> = by_kind
                .into_iter()
                .filter(|(_, v)| nonzero(v))
                .map(|(k, [q, p, a])| (kind_name(&names, k), q, p, a))
                .collect();
            rows.sort_unstable();
            totals.push(rows);
        }
        let mut mates: Vec<(u64, i64, i64)> = self.mates.into_iter().map(|((u, t), p)| (u as u64, t, p)).collect();
        mates.sort_unstable();
        let mut active_days = self.active_days;
        active_days.sort_unstable();
        active_days.dedup();
        Ok((totals, mates, active_days))
    }
}

/// [`Store::report_rows`] in one statement: the directory, the period's rows and the previous
/// period's points, of the whole guild or of the team named (a board read them in two or three
/// statements, a team table in three). A team's on SQLite reads as before, in three
/// ([`team_report_rows`]): statements cost no round trip there, and a team's year measured
/// 1.7-1.8 ms read apart, 2.0 ms in one statement (the bench's 100-rep team, small scale).
fn report_rows_on(c: &Db, guild: i64, read: &ReportRead) -> Result<ReportRows> {
    if read.team.is_some() && c.dialect() == Dialect::Sqlite {
        return team_report_rows(c, guild, read);
    }
    let mut more = Branches::default();
    let team = read.team.as_deref().map(|name| more.bind_text(name.trim()));
    if read.kinds {
        board_branches(&mut more, c.dialect(), BOARD_KINDS, read.current, true, team);
    } else {
        board_branches(&mut more, c.dialect(), BOARD_POINTS, read.current, false, team);
    }
    if let Some(previous) = read.previous {
        board_branches(&mut more, c.dialect(), BOARD_BEFORE, previous, false, team);
    }
    if team.is_some() && more.sql.is_empty() {
        // Empty periods: nothing to read, so the name is bound nowhere.
        more.values.pop();
    }
    let mut kinds: HashMap<(i64, i64, i64), [i64; 3]> = HashMap::new();
    let mut points: HashMap<(i64, i64), [i64; 2]> = HashMap::new();
    let mut before: HashMap<(i64, i64), i64> = HashMap::new();
    let super::teams::Directory { teams, members, leaderboards, .. } =
        super::teams::directory_with(c, guild, &more, |tag, r| {
            let (user, team): (i64, i64) = (r.get(1)?, r.get(3)?);
            match tag {
                BOARD_KINDS => {
                    let e = kinds.entry((user, team, r.get(4)?)).or_insert([0; 3]);
                    for (i, v) in e.iter_mut().enumerate() {
                        *v += r.get::<_, i64>(5 + i)?;
                    }
                }
                BOARD_POINTS => {
                    let e = points.entry((user, team)).or_insert([0; 2]);
                    e[0] += r.get::<_, i64>(4)?;
                    e[1] += r.get::<_, i64>(5)?;
                }
                BOARD_BEFORE => *before.entry((user, team)).or_default() += r.get::<_, i64>(4)?,
                _ => {}
            }
            Ok(())
        })?;
    let mut rows = ReportRows { teams, members, leaderboards, ..ReportRows::default() };
    // Rows of another team whose name matched only under PostgreSQL's wider case folding are
    // left out below.
    if !rows.find_team(read) {
        return Ok(rows);
    }
    let theirs = |team: i64| rows.team.is_none_or(|t| t == team);
    if read.kinds {
        kinds.retain(|k, _| theirs(k.1));
        rows.current = named(c, guild, kinds)?;
    } else {
        rows.points_only =
            points.into_iter().filter(|((_, t), _)| theirs(*t)).map(|((u, t), [p, r])| (u as u64, t, p, r)).collect();
        rows.points_only.sort_unstable();
    }
    rows.before = before.into_iter().filter(|((_, t), _)| theirs(*t)).map(|((u, t), p)| (u as u64, t, p)).collect();
    rows.before.sort_unstable();
    Ok(rows)
}

/// [`Store::report_rows`] of a team in three statements: the directory, then the team's rows and
/// its previous period's points by the team's id.
fn team_report_rows(c: &Db, guild: i64, read: &ReportRead) -> Result<ReportRows> {
    let super::teams::Directory { teams, members, leaderboards, .. } =
        super::teams::directory_with(c, guild, &Branches::default(), |_, _| Ok(()))?;
    let mut rows = ReportRows { teams, members, leaderboards, ..ReportRows::default() };
    if !rows.find_team(read) {
        return Ok(rows);
    }
    let scope = rows.team.map_or(TotalsScope::Guild, TotalsScope::Team);
    let (first, end) = read.current;
    if read.kinds {
        rows.current = named(c, guild, sums(c, guild, first, end, scope)?)?;
    } else {
        rows.points_only = points_revenue_rows(c, guild, first, end, scope)?;
    }
    if let Some((first, end)) = read.previous {
        rows.before = points_rows(c, guild, first, end, scope)?;
    }
    Ok(rows)
}

/// The tags of a guild report's rows ([`board_branches`]): kinds, points and revenue, and the
/// previous period's points.
const BOARD_KINDS: i64 = 5;
const BOARD_POINTS: i64 = 6;
const BOARD_BEFORE: i64 = 7;

/// The guild's rows over [first, end) as [`Branches`] tagged `tag`: per member, team and kind
/// (user, team, kind, quantity, points, amount) from the kind rollups when `kinds`, else per
/// member and team (user, team, points, revenue) from the points rollups. Summed in SQL where
/// [`RangeRead::of`] says, as the reads of one statement each did.
/// With `team` (the placeholder of a team's name), only the rows credited to the live teams of that
/// name without regard to case (the caller keeps the one team it means), through the kind
/// rollups' team index as a team's read of one statement did.
fn board_branches(
    more: &mut Branches,
    dialect: Dialect,
    tag: i64,
    (first, end): (NaiveDate, NaiveDate),
    kinds: bool,
    team: Option<usize>,
) {
    for (months, (from, to)) in Branches::parts(first, end) {
        let tables = if kinds { KIND_ROLLUPS } else { POINTS_ROLLUPS };
        let (table, period) = if months { (tables.1, "month") } else { (tables.0, "local_day") };
        let (a, b) = (more.bind(from), more.bind(to));
        let (index, filter) = match team {
            Some(n) => (
                if kinds { dialect.index_hint(&format!("{table}_by_team")) } else { String::new() },
                format!(
                    " AND team_id IN (SELECT team_id FROM teams WHERE guild_id = ?1 AND name = ?{n} COLLATE NOCASE \
                     AND deleted_at IS NULL)"
                ),
            ),
            None => (String::new(), String::new()),
        };
        let range = format!("FROM {table}{index} WHERE guild_id = ?1 AND {period} >= ?{a} AND {period} < ?{b}{filter}");
        let summed = RangeRead::of(dialect, months, from, to).summed;
        let sum = |c: &str| if summed { format!("CAST(SUM({c}) AS BIGINT)") } else { c.to_string() };
        let (keys, values) = if kinds {
            ("user_id, team_id, kind_id", [sum("quantity"), sum("points"), sum("amount")].join(", "))
        } else {
            ("user_id, team_id", [sum("points"), sum("revenue"), Z.to_string(), Z.to_string()].join(", "))
        };
        let group = if summed { format!(" GROUP BY {keys}") } else { String::new() };
        let columns = if kinds {
            format!("user_id, {NO_TEXT}, team_id, kind_id")
        } else {
            format!("user_id, {NO_TEXT}, team_id")
        };
        more.sql.push(format!("SELECT CAST({tag} AS BIGINT), {columns}, {values} {range}{group}"));
    }
}

/// One team's (kind, quantity, points, amount) over [first, end), from the team rollups.
pub(super) fn team_totals(c: &Db, guild: i64, team: i64, first: NaiveDate, end: NaiveDate) -> Result<MemberRows> {
    let sums = team_sums(c, guild, first, end, Some(team))?;
    let names = kind_names(c, guild, sums.keys().map(|k| k.1))?;
    let mut rows: MemberRows = sums
        .into_iter()
        .filter(|(_, v)| nonzero(v))
        .map(|((_, k), [q, p, a])| (kind_name(&names, k), q, p, a))
        .collect();
    rows.sort_unstable();
    Ok(rows)
}

/// One member's sums on one team over a range, from the kind rollups: points, revenue and the
/// quantities of a few kinds asked for. What a history reads of each rep: one row per member and
/// team, summed in SQL, instead of one per kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSums {
    pub user_id: u64,
    pub team_id: i64,
    pub points: i64,
    /// Sum of `won` amounts, in minor units.
    pub revenue: i64,
    /// The quantity of each kind asked for, in the order asked (0 for a kind the guild lacks).
    pub counts: Vec<i64>,
}

/// `kind_id = <id>`, or a condition nothing meets when the guild has no such kind. The id is the
/// guild's own (read from `activity_kinds`), never a user's text.
fn kind_is(id: Option<i64>) -> String {
    id.map_or_else(|| "1 = 0".to_string(), |id| format!("kind_id = {id}"))
}

/// The read of [`MemberSums`] per member and team from one range of the kind rollups in `scope`:
/// ?1 guild, the range and the scope's id where `slots` says; `won` and `kinds` are [`kind_is`]
/// conditions.
/// Through the same index as [`range_sql`]'s reads of the scope (a team's is covering), and
/// grouped per period too, in the order the guild's and a team's index keep their rows, so SQLite
/// sums them as they come instead of sorting them first (a six-month team history at the bench's
/// full scale: 7,400 rows, 3.3 ms sorted, 1.8 ms as they come); callers add a member's periods up.
fn member_sums_sql(
    dialect: Dialect,
    read: RangeRead,
    slots: Slots,
    scope: TotalsScope,
    won: &str,
    kinds: &[String],
) -> String {
    let (table, period) = if read.months { (KIND_ROLLUPS.1, "month") } else { (KIND_ROLLUPS.0, "local_day") };
    let index = match scope {
        TotalsScope::Member(_) | TotalsScope::CurrentTeam(_) => dialect.index_hint(&format!("{table}_by_user")),
        TotalsScope::Team(_) => dialect.index_hint(&format!("{table}_by_team")),
        TotalsScope::Guild => String::new(),
    };
    let mut sums = vec!["SUM(points)".to_string(), format!("SUM(CASE WHEN {won} THEN amount ELSE 0 END)")];
    sums.extend(kinds.iter().map(|k| format!("SUM(CASE WHEN {k} THEN quantity ELSE 0 END)")));
    let Slots { from, to, arg, .. } = slots;
    format!(
        "SELECT user_id, team_id, {}{} FROM {table}{index} WHERE guild_id = ?1 AND {period} >= ?{from} AND {period} < ?{to}{} \
         GROUP BY {period}, user_id, team_id",
        sums.join(", "),
        slots.tag_column(),
        scope_filter(scope, arg)
    )
}

/// [`MemberSums`] per member and team over each of `ranges` (each in its scope), sorted by
/// member and team, in one statement.
fn member_sums_many(
    c: &Db,
    guild: i64,
    ranges: &[(NaiveDate, NaiveDate, TotalsScope)],
    won: &str,
    kinds: &[String],
) -> Result<Vec<Vec<MemberSums>>> {
    let mut out: Vec<HashMap<(i64, i64), MemberSums>> = vec![HashMap::new(); ranges.len()];
    each_row_in_ranges(
        c,
        guild,
        &range_args(ranges),
        |i, read, slots| member_sums_sql(c.dialect(), read, slots, ranges[i].2, won, kinds),
        |i, r| {
            let Some(out) = out.get_mut(i) else { return Ok(()) };
            let (user, team): (i64, i64) = (r.get(0)?, r.get(1)?);
            let e = out.entry((user, team)).or_insert_with(|| MemberSums {
                user_id: user as u64,
                team_id: team,
                points: 0,
                revenue: 0,
                counts: vec![0; kinds.len()],
            });
            e.points += r.get::<_, i64>(2)?;
            e.revenue += r.get::<_, i64>(3)?;
            for (i, n) in e.counts.iter_mut().enumerate() {
                *n += r.get::<_, i64>(4 + i)?;
            }
            Ok(())
        },
    )?;
    Ok(out
        .into_iter()
        .map(|sums| {
            let mut rows: Vec<MemberSums> = sums.into_values().collect();
            rows.sort_unstable_by_key(|s| (s.user_id, s.team_id));
            rows
        })
        .collect())
}

/// The ids of the guild's kinds called `names` (`None` for a name it has no kind by), from the
/// kinds the connection knows ([`kind_names`]; names are unique in a guild and never change),
/// read again once when one is not among them (a kind added since).
fn kind_ids(c: &Db, guild: i64, names: &[&str]) -> Result<Vec<Option<i64>>> {
    let find = |known: &HashMap<i64, String>| -> Vec<Option<i64>> {
        names.iter().map(|n| known.iter().find(|(_, k)| k.as_str() == *n).map(|(id, _)| *id)).collect()
    };
    let known = kind_names(c, guild, [])?;
    let ids = find(&known);
    if ids.iter().all(Option::is_some) {
        return Ok(ids);
    }
    if let Some(mut memo) = c.memo() {
        memo.kind_names.remove(&guild);
    }
    let known = kind_names(c, guild, [])?;
    Ok(find(&known))
}

impl Store {
    /// Sums per member, team and kind over local days [first, end).
    pub async fn kind_totals(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<KindTotalsRow>> {
        self.scoped_totals(guild, first, end, TotalsScope::Guild).await
    }

    /// The same for the rows in `scope` only.
    pub async fn scoped_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        scope: TotalsScope,
    ) -> Result<Vec<KindTotalsRow>> {
        self.read(move |c| {
            let s = sums(c, guild, first, end, scope)?;
            named(c, guild, s)
        })
        .await
    }

    /// [`Store::scoped_totals`] over each of `ranges` (local days [first, end), each in its own
    /// scope), in one read: a history's periods. Each range reads its whole months from the month
    /// rollups, so six months cost six rows per member, team and kind of the scope; a team's scope
    /// reads one team's rows, not the guild's.
    pub async fn kind_totals_many(
        &self,
        guild: i64,
        ranges: Vec<(NaiveDate, NaiveDate, TotalsScope)>,
    ) -> Result<Vec<Vec<KindTotalsRow>>> {
        self.read(move |c| {
            let many = sums_many(c, guild, &ranges)?;
            many.into_iter().map(|s| named(c, guild, s)).collect()
        })
        .await
    }

    /// [`MemberSums`] per member and team over each of `ranges` (local days [first, end), each in
    /// its own scope), in one read: points, revenue (`won` amounts) and the quantity of each of
    /// `kinds` (names), summed in SQL. A history's reps: a six-month team history is one row per
    /// rep and month, whatever the number of kinds.
    pub async fn member_sums_many(
        &self,
        guild: i64,
        kinds: Vec<String>,
        ranges: Vec<(NaiveDate, NaiveDate, TotalsScope)>,
    ) -> Result<Vec<Vec<MemberSums>>> {
        self.read(move |c| {
            let names: Vec<&str> =
                std::iter::once(crate::domain::activity::WON).chain(kinds.iter().map(String::as_str)).collect();
            let mut ids = kind_ids(c, guild, &names)?.into_iter().map(kind_is);
            let won = ids.next().unwrap_or_default();
            let kinds: Vec<String> = ids.collect();
            member_sums_many(c, guild, &ranges, &won, &kinds)
        })
        .await
    }

    /// [`Store::points_totals`] over each of `ranges` (each in its own scope), in one read.
    pub async fn points_totals_many(
        &self,
        guild: i64,
        ranges: Vec<(NaiveDate, NaiveDate, TotalsScope)>,
    ) -> Result<Vec<Vec<(u64, i64, i64)>>> {
        self.read(move |c| {
            Ok(points_sums_many(c, guild, &ranges)?
                .into_iter()
                .map(|sums| {
                    let mut rows: Vec<(u64, i64, i64)> =
                        sums.into_iter().map(|((u, t), [p, _])| (u as u64, t, p)).collect();
                    rows.sort_unstable();
                    rows
                })
                .collect())
        })
        .await
    }

    /// [`Store::team_kind_totals`] over each of `ranges` (a team, or every team), in one read.
    pub async fn team_kind_totals_many(
        &self,
        guild: i64,
        ranges: Vec<(NaiveDate, NaiveDate, Option<i64>)>,
    ) -> Result<Vec<Vec<(i64, String, i64, i64, i64)>>> {
        self.read(move |c| team_kind_rows_many(c, guild, &ranges)).await
    }

    /// Points and revenue (amounts of `won`) per member and team over [first, end), for the guild
    /// or the rows credited to one team, from the kind-less rollups: (user, team, points, revenue)
    /// for every member and team with a live activity in the range (as the kind rollups give them:
    /// zero points too). What a leaderboard by points or revenue reads.
    pub async fn points_revenue_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        team: Option<i64>,
    ) -> Result<Vec<(u64, i64, i64, i64)>> {
        let scope = team.map_or(TotalsScope::Guild, TotalsScope::Team);
        self.read(move |c| points_revenue_rows(c, guild, first, end, scope)).await
    }

    /// Points per member and team over [first, end) in `scope` (no kinds: for "vs previous" and
    /// ranks), from the kind-less rollups.
    pub async fn points_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        scope: TotalsScope,
    ) -> Result<Vec<(u64, i64, i64)>> {
        self.read(move |c| points_rows(c, guild, first, end, scope)).await
    }

    /// The teams, the members and the totals of a report (this period's, the previous one's) in
    /// one read: on PostgreSQL every read is a trip to a pooled connection and every statement a
    /// round trip, and a board or team table used to make four reads of one statement each.
    pub async fn report_rows(&self, guild: i64, read: ReportRead) -> Result<ReportRows> {
        self.read(move |c| report_rows_on(c, guild, &read)).await
    }

    /// Everything `/me` shows of a member in ONE statement (`None` when they are not a member):
    /// the guild's directory (who they are, their team), their own goals in force for each of
    /// `read.goals`, their totals over each range and each goal period, their mates' points for
    /// the rank and their active days for the streak. The goals come back whether or not they are
    /// a member.
    pub async fn member_report_rows(
        &self,
        guild: i64,
        read: MemberReportRead,
    ) -> Result<(Option<MemberReportRows>, Vec<MemberGoals>)> {
        self.read(move |c| {
            let mut more = Branches::default();
            let units: Vec<(GoalPeriod, NaiveDate)> =
                read.goals.iter().map(|&(unit, first, _)| (unit, first)).collect();
            let mut goals_read = super::goals::MemberGoalsRead::new(&mut more, read.user, &units);
            // Each distinct range read once: the period asked for is often a goal period too. A
            // goal period's totals are read whether or not the member has a goal for it (the
            // goals come in the same statement): a few rows of theirs through their index.
            let mut ranges = read.ranges.clone();
            for &(_, first, end) in &read.goals {
                if !ranges.contains(&(first, end)) {
                    ranges.push((first, end));
                }
            }
            let mut figures =
                MemberFigures::new(&mut more, c.dialect(), read.user, &ranges, read.rank, Some(read.active));
            let mates_of = read.mates_only.then_some(read.user);
            let super::teams::Directory { teams, members, .. } =
                super::teams::directory_of(c, guild, mates_of, &more, |tag, r| {
                    if !goals_read.take(tag, r)? {
                        figures.take(tag, r)?;
                    }
                    Ok(())
                })?;
            let versions = goals_read.finish();
            let (totals, mates, active_days) = figures.finish(c, guild)?;
            let of = |range: &(NaiveDate, NaiveDate)| -> MemberRows {
                ranges.iter().position(|r| r == range).and_then(|i| totals.get(i).cloned()).unwrap_or_default()
            };
            let goals: Vec<MemberGoals> = versions
                .into_iter()
                .zip(&read.goals)
                .map(|(v, &(_, first, end))| {
                    let totals = if v.is_empty() { Vec::new() } else { of(&(first, end)) };
                    (v, totals)
                })
                .collect();
            let Some(member) = members.iter().find(|m| m.user_id as i64 == read.user).cloned() else {
                return Ok((None, goals));
            };
            let team = if member.team_id == 0 { None } else { teams.into_iter().find(|t| t.id == member.team_id) };
            // The mates are those on the member's live team now; without one there are none.
            let mates = if team.is_some() { mates } else { Vec::new() };
            let totals = read.ranges.iter().map(of).collect();
            Ok((Some(MemberReportRows { member, team, members, totals, mates, active_days }), goals))
        })
        .await
    }

    /// Sums per credited team and kind over [first, end), for every team (team 0: members
    /// without one; all of them together are the guild's totals) or one: (team, kind, quantity,
    /// points, amount). Reads the team rollups: one row per team, kind and month or odd day.
    pub async fn team_kind_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        team: Option<i64>,
    ) -> Result<Vec<TeamKindRow>> {
        self.read(move |c| team_kind_rows(c, guild, first, end, team)).await
    }

    /// The rows `subjects`' totals over local days [first, end) are made of, in one read
    /// ([`SubjectRows`]).
    pub async fn subject_rows(
        &self,
        guild: i64,
        subjects: std::collections::BTreeSet<GoalSubject>,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<SubjectRows> {
        self.read(move |c| subject_rows(c, guild, &subjects, first, end)).await
    }

    /// Several members' sums per kind over [first, end), each on every team: (kind, quantity,
    /// points, amount) by member. One read of the guild's range, folded per member and kind in
    /// memory, with kind names only for the members asked for (goal progress of a team's reps).
    pub async fn members_kind_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        users: std::collections::HashSet<i64>,
    ) -> Result<HashMap<i64, MemberRows>> {
        self.read(move |c| members_kind_rows(c, guild, first, end, &users)).await
    }

    /// One member's sums per kind over local days [first, end), on every team.
    pub async fn member_kind_totals(
        &self,
        guild: i64,
        user: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(String, i64, i64, i64)>> {
        Ok(self.member_kind_totals_many(guild, user, vec![(first, end)]).await?.into_iter().next().unwrap_or_default())
    }

    /// The same for several ranges in one read (the `/log` reply wants today and this week).
    pub async fn member_kind_totals_many(
        &self,
        guild: i64,
        user: i64,
        ranges: Vec<(NaiveDate, NaiveDate)>,
    ) -> Result<Vec<MemberRows>> {
        self.read(move |c| member_totals(c, guild, user, &ranges)).await
    }

    /// The local days in [first, end) on which each member logged anything (for streaks).
    pub async fn active_days(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<(u64, NaiveDate)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT user_id, local_day FROM day_rollups
                 WHERE guild_id = ?1 AND local_day >= ?2 AND local_day < ?3",
            )?;
            let rows = stmt.query_map(params![guild, day_number(first), day_number(end)], |r| {
                Ok((r.get::<_, i64>(0)? as u64, day_from_number(r.get(1)?)))
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The same for one member (their index makes it cheap over long ranges).
    pub async fn member_active_days(
        &self,
        guild: i64,
        user: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<NaiveDate>> {
        self.read(move |c| active_days_of(c, guild, user, first, end)).await
    }

    /// Compares the day and month rollups, the team rollups and the kind-less points rollups with
    /// a full recomputation from live activities (all guilds, or one); a flagged entry held until
    /// review is live but counts nowhere.
    pub async fn verify_rollups(&self, guild: Option<i64>) -> Result<Vec<RollupMismatch>> {
        self.read(move |c| {
            let mut out = Vec::new();
            // Day numbers count from 0001-01-01 = 1 (Julian day 1721425.5).
            let month_of_day = c.dialect().month_start("local_day");
            let month_of_day = month_of_day.as_str();
            // The team rollups have no member: user_id reads as 0 on both sides.
            for (rollup, table, period, fresh_period, user) in [
                ("day", "day_rollups", "local_day", "local_day", "user_id"),
                ("month", "month_rollups", "month", month_of_day, "user_id"),
                ("team_day", "team_day_rollups", "local_day", "local_day", "0"),
                ("team_month", "team_month_rollups", "month", month_of_day, "0"),
            ] {
                let sql = format!(
                    "WITH fresh AS (
                        SELECT guild_id, {fresh_period} AS period, {user} AS user_id, team_id, kind_id,
                               SUM(quantity) AS q, SUM(points) AS p, SUM(COALESCE(amount, 0)) AS a, COUNT(*) AS n
                        FROM activities WHERE deleted_at IS NULL AND held = 0 AND (CAST(?1 AS BIGINT) IS NULL OR guild_id = ?1)
                        GROUP BY 1, 2, 3, 4, 5
                    ), stored AS (
                        SELECT guild_id, {period} AS period, {user} AS user_id, team_id, kind_id, quantity AS q,
                               points AS p, amount AS a, activities AS n
                        FROM {table} WHERE CAST(?1 AS BIGINT) IS NULL OR guild_id = ?1
                    )
                    SELECT s.guild_id, s.period, s.user_id, s.team_id, s.kind_id, s.q, s.p, s.a, s.n,
                           f.q, f.p, f.a, f.n
                    FROM stored s LEFT JOIN fresh f USING (guild_id, period, user_id, team_id, kind_id)
                    WHERE f.q IS NULL OR s.q <> f.q OR s.p <> f.p OR s.a <> f.a OR s.n <> f.n
                    UNION ALL
                    SELECT f.guild_id, f.period, f.user_id, f.team_id, f.kind_id, NULL, NULL, NULL, NULL,
                           f.q, f.p, f.a, f.n
                    FROM fresh f LEFT JOIN stored s USING (guild_id, period, user_id, team_id, kind_id)
                    WHERE s.q IS NULL"
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map([guild], |r| {
                    let quad = |i: usize| -> super::sql::Result<Option<(i64, i64, i64, i64)>> {
                        Ok(match r.get::<_, Option<i64>>(i)? {
                            Some(q) => Some((q, r.get(i + 1)?, r.get(i + 2)?, r.get(i + 3)?)),
                            None => None,
                        })
                    };
                    Ok(RollupMismatch {
                        rollup: rollup.to_string(),
                        guild_id: r.get(0)?,
                        local_day: day_from_number(r.get(1)?),
                        user_id: r.get(2)?,
                        team_id: r.get(3)?,
                        kind_id: r.get(4)?,
                        stored: quad(5)?,
                        recomputed: quad(9)?,
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            // The kind-less rollups: kind_id is reported as 0 and the quadruple as (0, points,
            // revenue, activities), revenue being the amounts of `won`.
            for (rollup, table, period, fresh_period) in [
                ("day_points", "day_points", "local_day", "a.local_day"),
                (
                    "month_points",
                    "month_points",
                    "month",
                    &c.dialect().month_start("a.local_day"),
                ),
            ] {
                let sql = format!(
                    "WITH fresh AS (
                        SELECT a.guild_id, {fresh_period} AS period, a.user_id, a.team_id, SUM(a.points) AS p,
                               SUM(CASE WHEN k.name = '{won}' THEN COALESCE(a.amount, 0) ELSE 0 END) AS r,
                               COUNT(*) AS n
                        FROM activities a LEFT JOIN activity_kinds k ON k.kind_id = a.kind_id
                        WHERE a.deleted_at IS NULL AND a.held = 0 AND (CAST(?1 AS BIGINT) IS NULL OR a.guild_id = ?1)
                        GROUP BY 1, 2, 3, 4
                    ), stored AS (
                        SELECT guild_id, {period} AS period, user_id, team_id, points AS p, revenue AS r,
                               activities AS n
                        FROM {table} WHERE CAST(?1 AS BIGINT) IS NULL OR guild_id = ?1
                    )
                    SELECT s.guild_id, s.period, s.user_id, s.team_id, s.p, s.r, s.n, f.p, f.r, f.n
                    FROM stored s LEFT JOIN fresh f USING (guild_id, period, user_id, team_id)
                    WHERE f.p IS NULL OR s.p <> f.p OR s.r <> f.r OR s.n <> f.n
                    UNION ALL
                    SELECT f.guild_id, f.period, f.user_id, f.team_id, NULL, NULL, NULL, f.p, f.r, f.n
                    FROM fresh f LEFT JOIN stored s USING (guild_id, period, user_id, team_id)
                    WHERE s.p IS NULL",
                    won = crate::domain::activity::WON
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map([guild], |r| {
                    let triple = |i: usize| -> super::sql::Result<Option<(i64, i64, i64, i64)>> {
                        Ok(match r.get::<_, Option<i64>>(i)? {
                            Some(p) => Some((0, p, r.get(i + 1)?, r.get(i + 2)?)),
                            None => None,
                        })
                    };
                    Ok(RollupMismatch {
                        rollup: rollup.to_string(),
                        guild_id: r.get(0)?,
                        local_day: day_from_number(r.get(1)?),
                        user_id: r.get(2)?,
                        team_id: r.get(3)?,
                        kind_id: 0,
                        stored: triple(4)?,
                        recomputed: triple(7)?,
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// The database's own integrity check: `["ok"]` or a list of problems. SQLite checks its pages
    /// and indexes (`PRAGMA integrity_check`); PostgreSQL keeps its pages itself, so this lists the
    /// indexes it marked invalid (a failed build) and the constraints it has not validated.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let sql = match c.dialect() {
                Dialect::Sqlite => "PRAGMA integrity_check",
                Dialect::Postgres => {
                    "SELECT 'invalid index ' || CAST(CAST(indexrelid AS regclass) AS TEXT) FROM pg_index
                     WHERE NOT indisvalid
                     UNION ALL
                     SELECT 'constraint not validated: ' || conname FROM pg_constraint WHERE NOT convalidated"
                }
            };
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let problems: Vec<String> = rows.collect::<super::sql::Result<_>>()?;
            Ok(if problems.is_empty() { vec!["ok".to_owned()] } else { problems })
        })
        .await
    }

    pub async fn schema_version(&self) -> Result<usize> {
        self.read(super::migrations::schema_version).await
    }

    /// How a read connection reaches the database: `None` on SQLite (a file), else
    /// `TLS (TLSv1.3)`, `not encrypted` (TCP) or `not encrypted (a Unix socket, on this machine)`,
    /// as the PostgreSQL server sees it (`pg_stat_ssl`; no client address means a socket).
    pub async fn connection_security(&self) -> Result<Option<String>> {
        self.read(|c| {
            if c.dialect() != Dialect::Postgres {
                return Ok(None);
            }
            let (ssl, version, socket): (bool, Option<String>, bool) = c.query_row(
                "SELECT ssl, version, inet_client_addr() IS NULL FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok(Some(match (ssl, version) {
                (true, Some(v)) => format!("TLS ({v})"),
                (true, None) => "TLS".to_string(),
                (false, _) if socket => "not encrypted (a Unix socket, on this machine)".to_string(),
                (false, _) => "not encrypted".to_string(),
            }))
        })
        .await
    }

    /// Copies the database to `dest` with SQLite's online backup: consistent while writes go on.
    pub async fn backup(&self, dest: std::path::PathBuf) -> Result<()> {
        self.read(move |c| {
            let mut target = rusqlite::Connection::open(&dest)
                .map_err(|source| super::StoreError::Open { path: dest.clone(), source })?;
            let backup = rusqlite::backup::Backup::new(
                c.as_sqlite().ok_or_else(|| {
                    super::StoreError::rule("a backup copies a SQLite database; use `rally db copy` for PostgreSQL")
                })?,
                &mut target,
            )?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Expands a split back into the days it covers, for comparison with the range.
    fn covered(s: &Split) -> Vec<i64> {
        let mut days: Vec<i64> = s.days.iter().flat_map(|(a, b)| *a..*b).collect();
        if let Some((a, b)) = s.months {
            days.extend(a..b);
        }
        days.sort_unstable();
        days
    }

    #[test]
    fn member_and_team_reads_use_their_indexes_and_guild_reads_the_period_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = rusqlite::Connection::open(dir.path().join("k.db")).unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        let c = Db::sqlite(c);
        let plan_of = |sql: String, scope: TotalsScope| -> String {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let detail = |r: &crate::store::sql::Row<'_>| r.get::<_, String>(3);
            let rows = match scope {
                TotalsScope::Guild => stmt.query_map(params![1, 2, 3], detail),
                _ => stmt.query_map(params![1, 2, 3, 4], detail),
            };
            rows.unwrap().collect::<crate::store::sql::Result<Vec<_>>>().unwrap().join(" / ")
        };
        for months in [false, true] {
            let kinds = if months { "month_rollups" } else { "day_rollups" };
            let points = if months { "month_points" } else { "day_points" };
            let read = RangeRead { months, summed: false };
            let reads: [(&str, &dyn Fn(TotalsScope) -> String); 2] = [
                (kinds, &|scope| range_sql(c.dialect(), KIND_ROLLUPS, read, KIND_KEYS, KIND_SUMS, scope, ALONE)),
                (points, &|scope| range_sql(c.dialect(), POINTS_ROLLUPS, read, POINTS_KEYS, POINTS_SUMS, scope, ALONE)),
            ];
            for (table, sql) in reads {
                for scope in [TotalsScope::Member(4), TotalsScope::CurrentTeam(4)] {
                    let p = plan_of(sql(scope), scope);
                    assert!(p.contains(&format!("INDEX {table}_by_user (guild_id=? AND user_id=?")), "{scope:?}: {p}");
                }
                let p = plan_of(sql(TotalsScope::Guild), TotalsScope::Guild);
                assert!(p.contains(&format!("{table} USING PRIMARY KEY (guild_id=?")), "{p}");
                let p = plan_of(sql(TotalsScope::Team(4)), TotalsScope::Team(4));
                if table == kinds {
                    // One team's rows only, never leaving the index.
                    assert!(p.contains(&format!("COVERING INDEX {table}_by_team (guild_id=? AND team_id=?")), "{p}");
                } else {
                    assert!(p.contains(&format!("{table} USING PRIMARY KEY (guild_id=?")), "{p}");
                }
            }
        }
    }

    #[test]
    fn only_postgresql_sums_in_sql_and_only_over_several_months_or_days() {
        let day = |y, m, d| day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let (nov, dec, jan) = (day(2026, 11, 1), day(2026, 12, 1), day(2027, 1, 1));
        let summed = |dialect, months, from, to| RangeRead::of(dialect, months, from, to).summed;
        assert!(!summed(Dialect::Postgres, true, nov, dec), "one month: one row per key anyway");
        assert!(summed(Dialect::Postgres, true, nov, jan), "two months");
        assert!(summed(Dialect::Postgres, false, day(2026, 11, 23), day(2026, 11, 30)), "a week of days");
        assert!(summed(Dialect::Postgres, false, day(2026, 11, 30), day(2026, 12, 2)), "two days");
        assert!(!summed(Dialect::Postgres, false, day(2026, 11, 30), dec), "one day: one row per key anyway");
        assert!(!summed(Dialect::Sqlite, true, day(2026, 1, 1), jan), "SQLite never");
        assert!(!summed(Dialect::Sqlite, false, day(2026, 11, 23), day(2026, 11, 30)), "SQLite never");
        // February, the shortest month, is one month too.
        assert!(!summed(Dialect::Postgres, true, day(2026, 2, 1), day(2026, 3, 1)));
    }

    #[test]
    fn a_split_covers_exactly_the_range_with_whole_months_in_the_middle() {
        let year = split(d(2026, 1, 1), d(2027, 1, 1));
        assert!(year.days.is_empty());
        assert_eq!(year.months, Some((month_number(d(2026, 1, 1)), month_number(d(2027, 1, 1)))));
        let week = split(d(2026, 11, 23), d(2026, 11, 30));
        assert_eq!(week.months, None);
        let odd = split(d(2025, 12, 29), d(2026, 3, 4));
        assert_eq!(odd.months, Some((month_number(d(2026, 1, 1)), month_number(d(2026, 3, 1)))));
        assert_eq!(
            odd.days,
            vec![
                (day_number(d(2025, 12, 29)), day_number(d(2026, 1, 1))),
                (day_number(d(2026, 3, 1)), day_number(d(2026, 3, 4)))
            ]
        );
        assert!(split(d(2026, 3, 4), d(2026, 3, 4)).days.is_empty());
        for (first, end) in
            [(d(2025, 12, 29), d(2026, 3, 4)), (d(2026, 2, 1), d(2026, 3, 1)), (d(2026, 2, 2), d(2026, 3, 1))]
        {
            let s = split(first, end);
            // Month keys are day numbers of first days, so the months' span is not day-exact; the
            // day ranges must meet the months' bounds exactly.
            let days: Vec<i64> = covered(&Split { days: s.days.clone(), months: None });
            let month_days: i64 = s.months.map_or(0, |(a, b)| b - a);
            assert_eq!(days.len() as i64 + month_days, day_number(end) - day_number(first));
        }
    }
}
