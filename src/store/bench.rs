//! SQL used only by `rally bench`: a bulk loader for synthetic data and the plain-SQLite baselines
//! the real paths are compared with. Lives here because every SQL string lives in `store`; nothing
//! outside `crate::bench` should call these.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags};

use super::sql::params;

use super::guilds::{ensure_guild, load_kinds};
use super::import::add_sums;
use super::teams::{find_or_create_team, upsert_member};
use super::{Result, Store, StoreError, configure, day_number, millis, month_number};
use crate::domain::activity::Name;

/// One synthetic guild: its team names and its reps as (user id, name, index into `teams`).
#[derive(Clone, Debug)]
pub struct BenchGuild {
    pub guild: i64,
    pub teams: Vec<String>,
    pub reps: Vec<(i64, String, usize)>,
}

/// What the loader needs to know about a guild it created.
#[derive(Clone, Debug)]
pub struct BenchGuildIds {
    pub guild: i64,
    /// Team ids, in the order of [`BenchGuild::teams`].
    pub team_ids: Vec<i64>,
    /// (kind id, name, points, has amount) of the guild's live kinds.
    pub kinds: Vec<(i64, String, i64, bool)>,
}

/// One activity for the bulk loader; the caller has already validated it.
#[derive(Clone, Debug)]
pub struct BulkActivity {
    pub guild: i64,
    pub user: i64,
    pub team_id: i64,
    pub kind_id: i64,
    pub quantity: i64,
    pub points: i64,
    pub amount: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    pub local_day: NaiveDate,
    pub idem_key: String,
}

/// Which rows a raw `GROUP BY` baseline sums, mirroring what each command needs.
#[derive(Clone, Copy, Debug)]
pub enum RawScope {
    /// One member's totals per kind (`/me`).
    Member(i64),
    /// One team's members per kind (`/kpi team`).
    Team(i64),
    /// Every member per kind (`/leaderboard`).
    Reps,
    /// Every team per kind (`/leaderboard scope:teams`).
    Teams,
}

impl Store {
    /// Creates the guilds (with default kinds), teams and members of a synthetic org.
    pub async fn bench_setup_org(&self, org: Vec<BenchGuild>, now: DateTime<Utc>) -> Result<Vec<BenchGuildIds>> {
        self.write(move |c| {
            let mut out = Vec::with_capacity(org.len());
            for g in &org {
                ensure_guild(c, g.guild, now)?;
                let mut team_ids = Vec::with_capacity(g.teams.len());
                for name in &g.teams {
                    let name = Name::parse(name, "team")?;
                    team_ids.push(find_or_create_team(c, g.guild, &name, "bench", now)?);
                }
                for (user, name, team) in &g.reps {
                    let team = team_ids.get(*team).map(|t| (*t, now));
                    upsert_member(c, g.guild, *user, name, team, "bench", now)?;
                }
                let kinds = load_kinds(c, g.guild)?
                    .into_iter()
                    .map(|(id, k)| (id, k.name.as_str().to_string(), k.points, k.has_amount))
                    .collect();
                out.push(BenchGuildIds { guild: g.guild, team_ids, kinds });
            }
            Ok(out)
        })
        .await
    }

    /// Inserts activities and their rollups in one durable transaction. Skips the per-row work of
    /// the live path (idempotency lookup, member upsert, record reload) because generated rows are
    /// known to be new and valid; rollups are summed in memory first, so they still equal a
    /// recomputation (`rally db check` agrees).
    pub async fn bench_bulk_insert(&self, rows: Vec<BulkActivity>, now: DateTime<Utc>) -> Result<usize> {
        self.write(move |c| {
            let mut insert = c.prepare_cached(
                "INSERT INTO activities (guild_id, user_id, team_id, kind_id, quantity, points, amount, occurred_at,
                    local_day, note, deal_ref, source, idem_key, actor, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', NULL, 'import', ?10, 0, ?11)",
            )?;
            // Per guild: day and month sums keyed by (day or month, user, team, kind).
            type Sums = HashMap<(i64, i64, i64, i64), [i64; 4]>;
            let mut sums: HashMap<i64, (Sums, Sums)> = HashMap::new();
            for a in &rows {
                let day = day_number(a.local_day);
                // created_at = occurred_at keeps "latest activity" queries realistic for history.
                let at = millis(a.occurred_at).max(0).min(millis(now));
                insert.execute(params![
                    a.guild, a.user, a.team_id, a.kind_id, a.quantity, a.points, a.amount, at, day, a.idem_key, at
                ])?;
                let (days, months) = sums.entry(a.guild).or_default();
                for (s, period) in [(days, day), (months, month_number(a.local_day))] {
                    let r = s.entry((period, a.user, a.team_id, a.kind_id)).or_insert([0; 4]);
                    r[0] += a.quantity;
                    r[1] += a.points;
                    r[2] += a.amount.unwrap_or(0);
                    r[3] += 1;
                }
            }
            for (guild, (days, months)) in sums {
                add_sums(c, guild, days, false)?;
                add_sums(c, guild, months, true)?;
            }
            Ok(rows.len())
        })
        .await
    }

    /// Deals and goals of a synthetic org, written directly (generated, known valid): per rep
    /// `deals_per_rep` deals (open ones spread over the open stages with expected closes in the
    /// coming months, a won and a lost one), each with its stage history; and points goals for the
    /// guild (month), each team (week and month) and every other rep (week), plus revenue goals
    /// for every fourth rep (month). Returns (deals, goals) written.
    pub async fn bench_deals_and_goals(
        &self,
        guilds: Vec<(BenchGuildIds, Vec<(i64, usize)>)>,
        deals_per_rep: usize,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize)> {
        self.write(move |c| {
            let at = millis(now);
            let today = now.date_naive();
            let (mut deals, mut goals) = (0, 0);
            let mut deal = c.prepare_cached(
                "INSERT INTO deals (guild_id, user_id, team_id, name, value, stage, expected_close, opened_at, closed_at,
                    outcome, idem_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING deal_id",
            )?;
            let mut history = c.prepare_cached(
                "INSERT INTO deal_stage_history (deal_id, seq, stage, position, entered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut goal = c.prepare_cached(
                "INSERT INTO goals (guild_id, scope, subject_id, metric, period, target, effective_from, cleared,
                    created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, 'bench') ON CONFLICT DO NOTHING",
            )?;
            // Goals apply from well before the history starts, so every period has targets.
            let from = day_number(today - chrono::Days::new(3 * 366));
            for (g, reps) in &guilds {
                let pipeline = super::deals::bench_seed_stages(c, g.guild, now)?;
                let open: Vec<_> = pipeline.iter().filter(|s| s.2.is_none()).cloned().collect();
                let terminal = |o: &str| pipeline.iter().find(|s| s.2.as_deref() == Some(o)).cloned();
                let (won, lost) = (terminal("won"), terminal("lost"));
                for (i, (user, team)) in reps.iter().enumerate() {
                    let team_id = g.team_ids.get(*team).copied().unwrap_or(0);
                    for d in 0..deals_per_rep {
                        let value = 100_000 + ((i * 7919 + d * 104_729) % 5_000_000) as i64;
                        let (stage, outcome) = match d % 4 {
                            2 => (won.clone(), Some("won")),
                            3 => (lost.clone(), Some("lost")),
                            _ => (open.get((i + d) % open.len().max(1)).cloned(), None),
                        };
                        let Some((stage_name, position, _)) = stage else { continue };
                        let close = day_number(today + chrono::Days::new(((i + d * 11) % 120) as u64));
                        let opened = at - ((i + d) % 90) as i64 * 86_400_000;
                        let id: i64 = deal.query_row(params![
                            g.guild,
                            user,
                            team_id,
                            format!("deal {user}-{d}"),
                            value,
                            stage_name,
                            outcome.is_none().then_some(close),
                            opened,
                            outcome.map(|_| at),
                            outcome,
                            format!("bench-deal:{user}:{d}"),
                        ], |r| r.get(0))?;
                        // Every open stage up to the one it is in (or the last open one, for a
                        // closed deal), then its terminal stage.
                        let mut seq = 0;
                        for (name, p, _) in open.iter().filter(|s| s.1 <= position) {
                            seq += 1;
                            history.execute(params![id, seq, name, p, opened + seq * 3_600_000])?;
                        }
                        if outcome.is_some() {
                            history.execute(params![id, seq + 1, stage_name, position, at])?;
                        }
                        deals += 1;
                    }
                    if i % 2 == 0 {
                        goals += goal.execute(params![g.guild, "member", user, "points", "week", 60, from, at])?;
                    }
                    if i % 4 == 0 {
                        goals += goal.execute(params![g.guild, "member", user, "revenue", "month", 2_000_000, from, at])?;
                    }
                }
                for team in &g.team_ids {
                    goals += goal.execute(params![g.guild, "team", team, "points", "week", 500, from, at])?;
                    goals += goal.execute(params![g.guild, "team", team, "points", "month", 2_000, from, at])?;
                }
                goals += goal.execute(params![g.guild, "guild", 0, "points", "month", 20_000, from, at])?;
            }
            Ok((deals, goals))
        })
        .await
    }

    /// Gives the writer connection a page cache of `mib` MiB for a bulk load: the activity indexes
    /// keyed by member and by day take inserts all over their b-trees, and with SQLite's default
    /// 2 MB cache nearly every insert of a 10 M-row load reads pages back from disk.
    pub async fn bench_bulk_mode(&self, mib: i64) -> Result<()> {
        self.write(move |c| {
            if let Some(c) = c.as_sqlite() {
                c.pragma_update(None, "cache_size", -mib * 1024)?;
            }
            Ok(())
        })
        .await
    }

    /// `n` trivial statements (`SELECT 1`) on one pooled read connection, in one read: what a
    /// statement costs through the store's read path with no table in it (the bench's round-trip
    /// figure; a read of 1 and a read of 10 tell the read's own cost from each statement's).
    pub async fn bench_statements(&self, n: usize) -> Result<()> {
        self.read(move |c| {
            for _ in 0..n {
                c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            }
            Ok(())
        })
        .await
    }

    /// Row counts of activities and day rollups, for describing the data set.
    pub async fn bench_counts(&self) -> Result<(i64, i64)> {
        self.read(|c| {
            let a = c.query_row("SELECT count(*) FROM activities", [], |r| r.get(0))?;
            let r = c.query_row("SELECT count(*) FROM day_rollups", [], |r| r.get(0))?;
            Ok((a, r))
        })
        .await
    }

    /// Baseline for durable writes: `n` plain single-row INSERTs, each its own commit, on a fresh
    /// connection with the store's durability (WAL, `synchronous=FULL`). Returns each commit's time.
    /// The rows go into `activities` (same table, indexes and foreign keys as the real path) under
    /// the given guild, member and kind, dated `day`; callers keep that guild out of every query.
    pub async fn bench_plain_insert_commits(
        &self,
        guild: i64,
        user: i64,
        kind_id: i64,
        day: NaiveDate,
        n: usize,
    ) -> Result<Vec<Duration>> {
        let path = self
            .location()
            .sqlite_path()
            .ok_or_else(|| StoreError::rule("the plain-insert baseline measures a SQLite file"))?
            .to_path_buf();
        tokio::task::spawn_blocking(move || {
            let conn = Connection::open(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?;
            configure(&conn)?;
            let mut stmt = conn.prepare(
                "INSERT INTO activities (guild_id, user_id, team_id, kind_id, quantity, points, amount, occurred_at,
                    local_day, note, source, idem_key, actor, created_at)
                 VALUES (?1, ?2, 0, ?3, 1, 1, NULL, 0, ?4, '', 'bench', ?5, 0, 0)",
            )?;
            // Keys stay unique if the baseline runs twice against one database.
            let salt = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let key = format!("baseline:{salt:x}:{i}");
                let t = Instant::now();
                stmt.execute(rusqlite::params![guild, user, kind_id, day_number(day), key])?;
                out.push(t.elapsed());
            }
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Migration(format!("baseline task failed: {e}")))?
    }

    /// Baseline for queries: a plain `GROUP BY` over raw activities of local days [first, end),
    /// on a pooled connection like every read. Returns the number of groups.
    pub async fn bench_raw_totals(
        &self,
        guild: i64,
        first: NaiveDate,
        end: NaiveDate,
        scope: RawScope,
    ) -> Result<usize> {
        self.read(move |c| {
            let base = "SELECT {g}, kind_id, SUM(quantity), SUM(points), SUM(COALESCE(amount, 0)) FROM activities
                        WHERE guild_id = ?1 AND local_day >= ?2 AND local_day < ?3 AND deleted_at IS NULL";
            let (sql, extra) = match scope {
                RawScope::Member(u) => (format!("{base} AND user_id = ?4 GROUP BY user_id, kind_id"), Some(u)),
                RawScope::Team(t) => (format!("{base} AND team_id = ?4 GROUP BY user_id, kind_id"), Some(t)),
                RawScope::Reps => (format!("{base} GROUP BY user_id, kind_id"), None),
                RawScope::Teams => (format!("{base} GROUP BY team_id, kind_id"), None),
            };
            let group = match scope {
                RawScope::Teams => "team_id",
                _ => "user_id",
            };
            let sql = sql.replace("{g}", group);
            let mut stmt = c.prepare_cached(&sql)?;
            let (f, e) = (day_number(first), day_number(end));
            let n = match extra {
                Some(x) => stmt.query_map(params![guild, f, e, x], |_| Ok(()))?.count(),
                None => stmt.query_map(params![guild, f, e], |_| Ok(()))?.count(),
            };
            Ok(n)
        })
        .await
    }

    /// SQLite's plans for the rollup reads behind every KPI reply (whole months, then odd days).
    pub async fn bench_kind_totals_plan(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut out = Vec::new();
            for sql in [
                "EXPLAIN QUERY PLAN SELECT user_id, team_id, kind_id, quantity, points, amount FROM month_rollups
                 WHERE guild_id = ?1 AND month >= ?2 AND month < ?3",
                "EXPLAIN QUERY PLAN SELECT user_id, team_id, kind_id, quantity, points, amount FROM day_rollups
                 WHERE guild_id = ?1 AND local_day >= ?2 AND local_day < ?3",
            ] {
                let mut stmt = c.prepare(sql)?;
                let rows =
                    stmt.query_map(params![guild, day_number(first), day_number(end)], |r| r.get::<_, String>(3))?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Rollup rows a period's KPI read covers for one guild (what the query cost follows): month
    /// rows for its whole months, day rows for the days around them.
    pub async fn bench_rollup_rows(&self, guild: i64, first: NaiveDate, end: NaiveDate) -> Result<i64> {
        self.read(move |c| {
            let split = super::kpis::split(first, end);
            let mut n = 0;
            for (from, to) in split.days {
                n += c.query_row(
                    "SELECT count(*) FROM day_rollups WHERE guild_id = ?1 AND local_day >= ?2 AND local_day < ?3",
                    params![guild, from, to],
                    |r| r.get::<_, i64>(0),
                )?;
            }
            if let Some((from, to)) = split.months {
                n += c.query_row(
                    "SELECT count(*) FROM month_rollups WHERE guild_id = ?1 AND month >= ?2 AND month < ?3",
                    params![guild, from, to],
                    |r| r.get::<_, i64>(0),
                )?;
            }
            Ok(n)
        })
        .await
    }

    /// Baseline for start-up: open a plain read-only connection and run one raw `GROUP BY` for a
    /// member over [first, end); no migrations, no writer thread.
    pub fn bench_plain_open_and_query(
        path: &Path,
        guild: i64,
        user: i64,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<usize> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        let mut stmt = conn.prepare(
            "SELECT kind_id, SUM(quantity), SUM(points) FROM activities
             WHERE guild_id = ?1 AND user_id = ?2 AND local_day >= ?3 AND local_day < ?4 AND deleted_at IS NULL
             GROUP BY kind_id",
        )?;
        let n = stmt.query_map(rusqlite::params![guild, user, day_number(first), day_number(end)], |_| Ok(()))?.count();
        Ok(n)
    }
}
