//! In-process measurements: durable `/log` throughput through `App::log`, KPI replies through
//! `handlers::dispatch`, start to ready, CSV import; and the plain-SQLite baselines next to each.
//! Latencies are collected per request and summarised as median and p99 (nearest rank).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::data::Org;
use crate::app::log::LogRequest;
use crate::app::{App, AppError, AppResult};
use crate::domain::activity::{KindName, Name, Note, Quantity, Snowflake, Source};
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::settings::GuildSettings;
use crate::handlers::{Action, Invocation, MANAGE_GUILD, Response};
use crate::store::Store;
use crate::store::bench::RawScope;

/// Median and p99 of a set of samples.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
}

pub fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let rank = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    Stats { n: samples.len(), median: rank(0.5), p99: rank(0.99) }
}

/// A load run: per-request latencies and the wall time of the whole run.
pub struct Load {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    pub failures: usize,
    pub first_failure: Option<String>,
    /// Requests answered with a deferral (`{"type":5}`): not failed, but not acknowledged within
    /// the request either (the reply would follow through REST), so not counted as acknowledged.
    pub deferred: usize,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

fn sid(id: i64) -> AppResult<Snowflake> {
    Ok(Snowflake::new(id as u64)?)
}

/// `n` durable `/log`s through `App::log` from `loggers` concurrent tasks.
pub async fn log_load(app: &App, org: &Org, now: DateTime<Utc>, n: usize, loggers: usize) -> AppResult<Load> {
    let g = org.main();
    let guild = sid(g.guild)?;
    let reps: Arc<Vec<(Snowflake, Name)>> = Arc::new(
        g.reps.iter().map(|(u, name, _)| Ok((sid(*u)?, Name::parse(name, "name")?))).collect::<AppResult<_>>()?,
    );
    let kind = KindName::parse("call")?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..loggers {
        let (app, reps, kind, next) = (app.clone(), reps.clone(), kind.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (user, name) = &reps[i % reps.len()];
                let req = LogRequest {
                    guild,
                    user: *user,
                    user_name: name.clone(),
                    kind: kind.clone(),
                    quantity: Quantity::ONE,
                    amount: None,
                    note: Note::default(),
                    deal: None,
                    when: None,
                    source: Source::Slash,
                    idem_key: format!("bench-log:{i}"),
                };
                let t = Instant::now();
                match app.log(req, now).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (lat, failures)
        }));
    }
    let mut load =
        Load { latencies: Vec::with_capacity(n), wall: Duration::ZERO, failures: 0, first_failure: None, deferred: 0 };
    for t in tasks {
        let (lat, failures) = t.await.map_err(|e| AppError::User(format!("a logger task failed: {e}")))?;
        load.latencies.extend(lat);
        load.failures += failures.len();
        if load.first_failure.is_none() {
            load.first_failure = failures.into_iter().next();
        }
    }
    load.wall = started.elapsed();
    Ok(load)
}

/// The plain-INSERT baseline: `n` single-row commits, one after another (SQLite has one writer).
pub async fn baseline_commits(store: &Store, org: &Org, now: DateTime<Utc>, n: usize) -> AppResult<Load> {
    let ids = store.bench_setup_org(vec![org.baseline.clone()], now).await?;
    let kind = ids.first().and_then(|g| g.kinds.first()).map(|k| k.0).unwrap_or(1);
    // Dated long before the synthetic history so no measured period ever sees these rows.
    let day = (now - chrono::TimeDelta::days(5000)).date_naive();
    let started = Instant::now();
    let latencies = store.bench_plain_insert_commits(org.baseline.guild, org.baseline.reps[0].0, kind, day, n).await?;
    Ok(Load { latencies, wall: started.elapsed(), failures: 0, first_failure: None, deferred: 0 })
}

/// One KPI command measured through `handlers::dispatch`, with its raw-SQL baseline.
pub struct QueryFigure {
    pub command: String,
    pub period: &'static str,
    /// On the main data set.
    pub big: Stats,
    /// The same on the growth data set (1/100 of the activities).
    pub small: Stats,
    pub baseline: Stats,
    /// Rollup rows the reply's read covers for the guild (main data set).
    pub rollup_rows: i64,
    /// Statements one reply ran on the store's read connections (main data set), each one round
    /// trip on PostgreSQL.
    pub statements: u64,
    pub error: Option<String>,
}

/// How long and how often to repeat each query.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub time: Duration,
    pub max: usize,
    pub min: usize,
}

/// The cost of a read through the store and of each statement in it: median and p99 of a read of
/// one `SELECT 1`, and of a read of ten.
pub async fn round_trips(app: &App, budget: Budget) -> AppResult<(Stats, Stats)> {
    let store = &app.store;
    let (one, _) = repeat(budget, || async move {
        store.bench_statements(1).await?;
        Ok(None)
    })
    .await?;
    let (ten, _) = repeat(budget, || async move {
        store.bench_statements(10).await?;
        Ok(None)
    })
    .await?;
    Ok((one, ten))
}

pub(crate) async fn repeat<F, Fut>(budget: Budget, mut f: F) -> AppResult<(Stats, Option<String>)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<Option<String>>>,
{
    // One untimed call first: it opens the pooled reader and warms SQLite's page cache, as any
    // running bot has.
    let mut error = f().await?;
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < budget.max && (samples.len() < budget.min || started.elapsed() < budget.time) {
        let t = Instant::now();
        let e = f().await?;
        samples.push(t.elapsed());
        error = error.or(e);
    }
    Ok((stats(samples), error))
}

fn invocation(org: &Org, line: &str, id: u64) -> AppResult<Invocation> {
    let g = org.main();
    let (user, name, _) = &g.reps[0];
    Ok(Invocation {
        id,
        guild: sid(g.guild)?,
        channel: None,
        user: sid(*user)?,
        user_name: name.clone(),
        roles: Vec::new(),
        // Managers may run every command measured here.
        permissions: MANAGE_GUILD,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: match line.strip_prefix("press ") {
            // A ◀ ▶ press far past the end: the board's last page, as a pressed button shows it.
            Some(command) => {
                let call = crate::handlers::cmdline::parse(command)?;
                let custom_id = crate::handlers::paging::custom_id(&call, 1000, 0)
                    .ok_or_else(|| crate::app::AppError::User(format!("`{command}` does not fit a button")))?;
                Action::Button { custom_id }
            }
            None => Action::Command(crate::handlers::cmdline::parse(line)?),
        },
    })
}

/// The reply's text when it is an error, so a broken figure is not mistaken for a fast one.
fn reply_error(r: &Response) -> Option<String> {
    match r {
        Response::Message(m) => m.content.as_deref().filter(|c| c.starts_with("⚠️")).map(str::to_string),
        Response::Choices(_) | Response::Modal(_) => None,
    }
}

async fn time_dispatch(
    app: &App,
    inv: &Invocation,
    now: DateTime<Utc>,
    budget: Budget,
) -> AppResult<(Stats, Option<String>)> {
    repeat(budget, || async { Ok(reply_error(&crate::handlers::dispatch(app, inv, now).await)) }).await
}

/// `/me`, `/kpi team`, `/leaderboard` (reps and teams) for this week, month and year.
pub async fn queries(
    big: &App,
    small: &App,
    org: &Org,
    now: DateTime<Utc>,
    budget: Budget,
) -> AppResult<Vec<QueryFigure>> {
    let g = org.main();
    let team = g.teams.first().cloned().unwrap_or_default();
    let team_ids = big.store.teams(g.guild).await?;
    let team_id = team_ids.iter().find(|t| t.name == team).map_or(0, |t| t.id);
    let settings: GuildSettings = big.store.guild_settings(g.guild).await?;
    const ALL: &[&str] = &["this-week", "this-month", "this-year"];
    // Goals are weekly (points) and monthly (revenue) for reps: a yearly goal board has none.
    const GOAL_PERIODS: &[&str] = &["this-week", "this-month"];
    // A history's figures: six months and the chart, the subject.
    const MONTH: &[&str] = &["this-month"];
    let history = crate::domain::history::DEFAULT_PERIODS;
    let commands: [(String, String, RawScope, &[&str]); 9] = [
        ("`/me`".into(), "/me".into(), RawScope::Member(g.reps[0].0), ALL),
        (
            format!("`/kpi team` ({} reps)", org.first_team_size()),
            format!("/kpi team team:\"{team}\""),
            RawScope::Team(team_id),
            ALL,
        ),
        (format!("`/leaderboard` ({} reps)", g.reps.len()), "/leaderboard".into(), RawScope::Reps, ALL),
        (
            format!("`/leaderboard` ▶ to the last page ({} reps)", g.reps.len()),
            "press /leaderboard".into(),
            RawScope::Reps,
            ALL,
        ),
        (
            format!("`/leaderboard metric:goal` ({} reps)", g.reps.len()),
            "/leaderboard metric:goal".into(),
            RawScope::Reps,
            GOAL_PERIODS,
        ),
        (
            format!("`/leaderboard metric:improvement` ({} reps)", g.reps.len()),
            "/leaderboard metric:improvement".into(),
            RawScope::Reps,
            ALL,
        ),
        (
            format!("`/leaderboard scope:teams` ({} teams)", g.teams.len()),
            "/leaderboard scope:teams".into(),
            RawScope::Teams,
            ALL,
        ),
        (
            format!("`/kpi rep` with a {history}-month history and its chart"),
            format!("/kpi rep user:<@{}> history:{history}", g.reps[0].0),
            RawScope::Reps,
            MONTH,
        ),
        (
            format!("`/kpi team history:{history}` ({} reps)", org.first_team_size()),
            format!("/kpi team team:\"{team}\" history:{history}"),
            RawScope::Team(team_id),
            MONTH,
        ),
    ];
    let mut out = Vec::new();
    let mut id = 990_000_000_000_000_000u64;
    for (label, line, scope, periods) in commands {
        for period in periods.iter().copied() {
            let spec = PeriodSpec::parse(period)?;
            id += 1;
            let inv = invocation(org, &format!("{line} period:{period}"), id)?;
            eprintln!("rally bench:   {label} {period}");
            let (big_stats, error) = time_dispatch(big, &inv, now, budget).await?;
            // Right after the timed runs, so the guild's cached settings are as fresh as theirs.
            let before = big.store.read_statements();
            crate::handlers::dispatch(big, &inv, now).await;
            let statements = big.store.read_statements().saturating_sub(before);
            let (small_stats, _) = time_dispatch(small, &inv, now, budget).await?;
            let mut p = Period::resolve(&spec, &settings, now)?;
            // A history reads all its periods: the baseline sums the same span.
            if line.contains("history:") {
                p.first_day = crate::domain::history::periods(&p, history, &settings)?[0].first_day;
            }
            let p = p;
            let store = &big.store;
            let (baseline, _) = repeat(budget, || async move {
                store.bench_raw_totals(g.guild, p.first_day, p.end_day, scope).await?;
                Ok(None)
            })
            .await?;
            let rollup_rows = big.store.bench_rollup_rows(g.guild, p.first_day, p.end_day).await?;
            out.push(QueryFigure {
                command: label.clone(),
                period,
                big: big_stats,
                small: small_stats,
                baseline,
                rollup_rows,
                statements,
                error,
            });
        }
    }
    Ok(out)
}

/// Start to ready: open the store (migrations included) and answer a first `/me`; and the plain
/// baseline (open a connection, one raw `GROUP BY`). Each sample is a fresh open.
pub async fn start_to_ready(path: &Path, org: &Org, now: DateTime<Utc>, samples: usize) -> AppResult<(Stats, Stats)> {
    let inv = invocation(org, "/me period:this-week", 980_000_000_000_000_001)?;
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    let settings = GuildSettings::default();
    let week = Period::resolve(&PeriodSpec::ThisWeek, &settings, now)?;
    let g = org.main();
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        let app = App::open(path)?;
        let reply = crate::handlers::dispatch(&app, &inv, now).await;
        ours.push(t.elapsed());
        if let Some(e) = reply_error(&reply) {
            return Err(AppError::User(format!("the first /me failed: {e}")));
        }
        drop(app);
        let t = Instant::now();
        Store::bench_plain_open_and_query(path, g.guild, g.reps[0].0, week.first_day, week.end_day)?;
        plain.push(t.elapsed());
    }
    Ok((stats(ours), stats(plain)))
}

/// Imports `csv` through `App::import_csv`; returns rows imported and the time taken.
pub async fn import(app: &App, org: &Org, csv: Vec<u8>, now: DateTime<Utc>) -> AppResult<(usize, usize, Duration)> {
    let guild = sid(org.main().guild)?;
    let t = Instant::now();
    let summary = app.import_csv(guild, csv.as_slice(), "bench".into(), now).await?;
    Ok((summary.imported, summary.rejected.len(), t.elapsed()))
}
