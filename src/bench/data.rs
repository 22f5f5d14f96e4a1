//! The synthetic sales org: guilds, teams of uneven size, reps, and two years of activities
//! generated day by day (weekdays busy, weekends quiet) and written with the store's bulk loader.
//! Deterministic: the same scale and seed give the same data.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc, Weekday};

use super::Sizes;
use crate::app::{App, AppResult};
use crate::store::bench::{BenchGuild, BulkActivity};

/// Days of history generated, ending on `now`'s day.
pub const HISTORY_DAYS: i64 = 730;
/// Rows per bulk transaction: big enough to amortise the commit, small enough to pipeline.
const CHUNK: usize = 50_000;
/// Page cache of the loading connection (bench only; the server's readers are capped).
const BULK_CACHE_MIB: i64 = 2048;
/// Deals per rep: open ones in every open stage, a won and a lost one.
const DEALS_PER_REP: usize = 4;
/// How often each kind occurs, out of 100.
const KIND_MIX: [(&str, u64); 7] =
    [("call", 45), ("email", 25), ("meeting", 12), ("demo", 7), ("proposal", 5), ("won", 4), ("lost", 2)];

/// SplitMix64: tiny, fast and good enough for synthetic data; no dependency needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The org shared by the main and the growth databases.
#[derive(Clone, Debug)]
pub struct Org {
    pub guilds: Vec<BenchGuild>,
    /// A guild no query reads: the plain-INSERT baseline writes there.
    pub baseline: BenchGuild,
}

impl Org {
    pub fn new(sizes: &Sizes) -> Org {
        let guilds = (0..sizes.guilds)
            .map(|g| {
                let guild = guild_id(g);
                let teams_here = split(sizes.teams, sizes.guilds, g).max(1);
                let reps_here = split(sizes.reps, sizes.guilds, g).max(1);
                let teams: Vec<String> = (0..teams_here).map(|t| format!("Team {:03}", g * 1000 + t)).collect();
                // The first team is the big one (200 reps at full scale), the `/kpi team` figure's subject.
                let first =
                    if teams_here >= 3 { (2 * reps_here / teams_here).min(200) } else { reps_here / teams_here };
                let reps = (0..reps_here)
                    .map(|r| {
                        let team = if r < first || teams_here == 1 { 0 } else { 1 + (r - first) % (teams_here - 1) };
                        (rep_id(g, r), format!("rep {g}-{r}"), team)
                    })
                    .collect();
                BenchGuild { guild, teams, reps }
            })
            .collect();
        let baseline = BenchGuild {
            guild: guild_id(999),
            teams: Vec::new(),
            reps: vec![(rep_id(999, 0), "baseline".into(), usize::MAX)],
        };
        Org { guilds, baseline }
    }

    /// The guild the figures are measured on.
    pub fn main(&self) -> &BenchGuild {
        &self.guilds[0]
    }

    /// Reps of the main guild on its first (largest) team.
    pub fn first_team_size(&self) -> usize {
        self.main().reps.iter().filter(|r| r.2 == 0).count()
    }
}

fn guild_id(g: usize) -> i64 {
    900_000_000_000_000_000 + g as i64 * 1_000_000
}

fn rep_id(g: usize, r: usize) -> i64 {
    800_000_000_000_000_000 + g as i64 * 1_000_000 + r as i64
}

/// Share `i` of `total` split over `parts` as evenly as whole numbers allow.
fn split(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// What loading produced.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Loaded {
    pub rows: u64,
    pub took: Duration,
    pub deals: usize,
    pub goals: usize,
}

fn weight(day: NaiveDate) -> f64 {
    match day.weekday() {
        Weekday::Sat | Weekday::Sun => 0.1,
        _ => 1.0,
    }
}

/// Creates the org in a new database at `location` and writes `activities` activities over the
/// two years ending at `now`.
pub async fn load(
    location: &crate::app::Location,
    org: &Org,
    activities: u64,
    now: DateTime<Utc>,
    seed: u64,
) -> AppResult<Loaded> {
    let started = Instant::now();
    let app = App::open_at(location)?;
    let mut all = org.guilds.clone();
    all.push(org.baseline.clone());
    let ids = app.store.bench_setup_org(all, now).await?;
    app.store.bench_bulk_mode(BULK_CACHE_MIB).await?;
    let with_reps = org
        .guilds
        .iter()
        .zip(&ids)
        .map(|(g, id)| (id.clone(), g.reps.iter().map(|(user, _, team)| (*user, *team)).collect()))
        .collect();
    let (deals, goals) = app.store.bench_deals_and_goals(with_reps, DEALS_PER_REP, now).await?;
    let today = now.date_naive();
    let first_day = today - TimeDelta::days(HISTORY_DAYS - 1);
    let days: Vec<NaiveDate> = (0..HISTORY_DAYS).map(|d| first_day + TimeDelta::days(d)).collect();
    let total_weight: f64 = days.iter().map(|d| weight(*d)).sum();
    let now_secs = u64::from(now.num_seconds_from_midnight());
    let mut rng = Rng::new(seed);
    let mut pending: Option<tokio::task::JoinHandle<crate::store::Result<usize>>> = None;
    let mut chunk: Vec<BulkActivity> = Vec::with_capacity(CHUNK);
    let mut written = 0u64;
    let mut serial = 0u64;
    let guilds = org.guilds.len() as u64;
    // Fractional activities carried from day to day per guild, so totals come out exact.
    let mut carry = vec![0.0f64; org.guilds.len()];
    for (di, day) in days.iter().enumerate() {
        for (gi, g) in org.guilds.iter().enumerate() {
            let share = activities / guilds + u64::from((gi as u64) < activities % guilds);
            let mut n = share as f64 * weight(*day) / total_weight + carry[gi];
            if di + 1 == days.len() {
                // The last day takes whatever rounding left over.
                n = n.round();
            }
            let whole = n.floor();
            carry[gi] = n - whole;
            let gid = &ids[gi];
            for _ in 0..whole as u64 {
                let (user, _, team) = &g.reps[rng.below(g.reps.len() as u64) as usize];
                let roll = rng.below(100);
                let mut acc = 0;
                let name = KIND_MIX.iter().find(|(_, w)| {
                    acc += w;
                    roll < acc
                });
                let name = name.map_or("call", |(n, _)| *n);
                let Some((kind_id, _, points, has_amount)) = gid.kinds.iter().find(|k| k.1 == name) else {
                    continue;
                };
                let quantity = if matches!(name, "call" | "email") { 1 + rng.below(3) as i64 } else { 1 };
                let amount = has_amount.then(|| 100_000 + rng.below(50_000_000) as i64);
                // Office hours, and never after `now` on the last day.
                let secs = if *day == today {
                    rng.below(now_secs.max(1)) as i64
                } else {
                    7 * 3600 + rng.below(11 * 3600) as i64
                };
                let occurred_at =
                    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now) + TimeDelta::seconds(secs);
                serial += 1;
                chunk.push(BulkActivity {
                    guild: gid.guild,
                    user: *user,
                    team_id: gid.team_ids.get(*team).copied().unwrap_or(0),
                    kind_id: *kind_id,
                    quantity,
                    points: points * quantity,
                    amount,
                    occurred_at: occurred_at.min(now),
                    local_day: *day,
                    idem_key: format!("bench:{seed}:{serial:010}"),
                });
                if chunk.len() >= CHUNK {
                    written += flush(&app, &mut pending, std::mem::take(&mut chunk), now).await?;
                    chunk.reserve(CHUNK);
                }
            }
        }
    }
    written += flush(&app, &mut pending, chunk, now).await?;
    if let Some(last) = pending.take() {
        written += join(last).await?;
    }
    // As a database that has run a while has them (autovacuum's), not as a load of a moment ago.
    app.store.refresh_statistics().await?;
    drop(app);
    Ok(Loaded { rows: written, took: started.elapsed(), deals, goals })
}

/// Hands a chunk to the writer and returns the rows of the previous one once it is stored, so
/// generating the next chunk overlaps with writing this one.
async fn flush(
    app: &App,
    pending: &mut Option<tokio::task::JoinHandle<crate::store::Result<usize>>>,
    chunk: Vec<BulkActivity>,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let done = match pending.take() {
        Some(p) => join(p).await?,
        None => 0,
    };
    if !chunk.is_empty() {
        let store = app.store.clone();
        *pending = Some(tokio::spawn(async move { store.bench_bulk_insert(chunk, now).await }));
    }
    Ok(done)
}

async fn join(handle: tokio::task::JoinHandle<crate::store::Result<usize>>) -> AppResult<u64> {
    let n = handle.await.map_err(|e| crate::app::AppError::User(format!("bulk load task failed: {e}")))??;
    Ok(n as u64)
}

/// A CSV in the import format: `rows` activities of the main guild's reps over the last 600 days,
/// every row with its own external id (as an export from a CRM would have).
pub fn import_csv(org: &Org, rows: usize, now: DateTime<Utc>, seed: u64) -> Vec<u8> {
    use std::fmt::Write;
    let mut rng = Rng::new(seed);
    let g = org.main();
    let mut s = String::with_capacity(rows * 110 + 100);
    s.push_str("occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n");
    for i in 0..rows {
        let (user, name, team) = &g.reps[rng.below(g.reps.len() as u64) as usize];
        let at = now - TimeDelta::seconds(3600 + rng.below(600 * 86_400) as i64);
        let team = g.teams.get(*team).map_or("", String::as_str);
        let (kind, amount) = match rng.below(10) {
            0..=4 => ("call", String::new()),
            5..=7 => ("email", String::new()),
            8 => ("meeting", String::new()),
            _ => ("won", format!("{}.{:02}", 1000 + rng.below(100_000), rng.below(100))),
        };
        let _ = writeln!(
            s,
            "{},{user},{name},{team},{kind},{},{amount},imported,csv-{seed}-{i}",
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            1 + rng.below(3)
        );
    }
    s.into_bytes()
}
