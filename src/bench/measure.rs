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

/// How long and how often to repeat each query: `min` to `max` timed calls, stopping once `time`
/// has passed, after `warm_up` untimed ones (at least one: it opens the pooled reader).
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub time: Duration,
    pub max: usize,
    pub min: usize,
    pub warm_up: usize,
}

/// The cost of a read through the store and of each statement in it: median and p99 of a read of
/// one `SELECT 1`, and of a read of ten, on `sqlite` and on `postgres` alternately ([`paired`]):
/// `[[one on SQLite, one on PostgreSQL], [ten on SQLite, ten on PostgreSQL]]`.
pub async fn round_trips(sqlite: &App, postgres: &App, budget: Budget) -> AppResult<[[Stats; 2]; 2]> {
    let mut out = [[stats(Vec::new()); 2]; 2];
    for (i, n) in [1, 10].into_iter().enumerate() {
        let [(lite, _), (pg, _)] =
            paired(budget, || statements(&sqlite.store, n), || statements(&postgres.store, n)).await?;
        out[i] = [lite, pg];
    }
    Ok(out)
}

/// A read of `n` statements (`SELECT 1`), for [`round_trips`].
async fn statements(store: &Store, n: usize) -> AppResult<Option<String>> {
    store.bench_statements(n).await?;
    Ok(None)
}

/// Untimed calls before the timed ones ([`Budget::warm_up`]) at the small and full scales, as any
/// running bot has made them long before: the pooled reader is open, its statements prepared and
/// SQLite's page cache warm; and PostgreSQL has settled each prepared statement's plan. It plans a
/// statement afresh at each of its first five executions on a connection (custom plans) and
/// builds the generic plan it keeps at the sixth (PostgreSQL 15 documentation, `PREPARE`,
/// "plan_cache_mode"): in the bench's server log those six binds took 0.3 to 1.3 ms against 0.01
/// to 0.04 ms after, and with one call of warm-up five of 300 timed samples carried them, enough to
/// be the p99.
pub const WARM_UP: usize = 8;

pub(crate) async fn repeat<F, Fut>(budget: Budget, mut f: F) -> AppResult<(Stats, Option<String>)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<Option<String>>>,
{
    let mut error = None;
    for _ in 0..budget.warm_up.max(1) {
        error = error.or(f().await?);
    }
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

/// Times `a` and `b` alternately, each after the same warm-up, in pairs whose order swaps
/// every time (a then b, b then a), so both meet the same moments of the machine: a ratio of
/// their figures compares the two, not two stretches of time. `budget` bounds the pairs.
pub(crate) async fn paired<A, FutA, B, FutB>(
    budget: Budget,
    mut a: A,
    mut b: B,
) -> AppResult<[(Stats, Option<String>); 2]>
where
    A: FnMut() -> FutA,
    FutA: std::future::Future<Output = AppResult<Option<String>>>,
    B: FnMut() -> FutB,
    FutB: std::future::Future<Output = AppResult<Option<String>>>,
{
    let mut errors = [None, None];
    for _ in 0..budget.warm_up.max(1) {
        errors[0] = errors[0].take().or(a().await?);
        errors[1] = errors[1].take().or(b().await?);
    }
    let started = Instant::now();
    let mut samples = [Vec::new(), Vec::new()];
    while samples[0].len() < budget.max && (samples[0].len() < budget.min || started.elapsed() < budget.time) {
        let a_first = samples[0].len() % 2 == 0;
        for side in if a_first { [0, 1] } else { [1, 0] } {
            let t = Instant::now();
            let e = if side == 0 { a().await? } else { b().await? };
            samples[side].push(t.elapsed());
            errors[side] = errors[side].take().or(e);
        }
    }
    let [sa, sb] = samples;
    let [ea, eb] = errors;
    Ok([(stats(sa), ea), (stats(sb), eb)])
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

/// One reply through `handlers::dispatch`: its error text, if it is one.
async fn reply_once(app: &App, inv: &Invocation, now: DateTime<Utc>) -> AppResult<Option<String>> {
    Ok(reply_error(&crate::handlers::dispatch(app, inv, now).await))
}

async fn time_dispatch(
    app: &App,
    inv: &Invocation,
    now: DateTime<Utc>,
    budget: Budget,
) -> AppResult<(Stats, Option<String>)> {
    repeat(budget, || reply_once(app, inv, now)).await
}

/// One reply the bench measures: its label in the tables, its command line, the rollups its
/// baseline totals, and the periods it is measured for.
struct Case {
    label: String,
    line: String,
    scope: RawScope,
    periods: &'static [&'static str],
}

/// `/me`, `/kpi team`, `/leaderboard` (reps and teams) for this week, month and year; the goal
/// board, the improvement board, ▶ to a board's last page, and the histories.
async fn cases(app: &App, org: &Org) -> AppResult<Vec<Case>> {
    let g = org.main();
    let team = g.teams.first().cloned().unwrap_or_default();
    let team_ids = app.store.teams(g.guild).await?;
    let team_id = team_ids.iter().find(|t| t.name == team).map_or(0, |t| t.id);
    const ALL: &[&str] = &["this-week", "this-month", "this-year"];
    // Goals are weekly (points) and monthly (revenue) for reps: a yearly goal board has none.
    const GOAL_PERIODS: &[&str] = &["this-week", "this-month"];
    // A history's figures: six months and the chart, the subject.
    const MONTH: &[&str] = &["this-month"];
    let history = crate::domain::history::DEFAULT_PERIODS;
    let case = |label: String, line: String, scope, periods| Case { label, line, scope, periods };
    Ok(vec![
        case("`/me`".into(), "/me".into(), RawScope::Member(g.reps[0].0), ALL),
        case(
            format!("`/kpi team` ({} reps)", org.first_team_size()),
            format!("/kpi team team:\"{team}\""),
            RawScope::Team(team_id),
            ALL,
        ),
        case(format!("`/leaderboard` ({} reps)", g.reps.len()), "/leaderboard".into(), RawScope::Reps, ALL),
        case(
            format!("`/leaderboard` ▶ to the last page ({} reps)", g.reps.len()),
            "press /leaderboard".into(),
            RawScope::Reps,
            ALL,
        ),
        case(
            format!("`/leaderboard metric:goal` ({} reps)", g.reps.len()),
            "/leaderboard metric:goal".into(),
            RawScope::Reps,
            GOAL_PERIODS,
        ),
        case(
            format!("`/leaderboard metric:improvement` ({} reps)", g.reps.len()),
            "/leaderboard metric:improvement".into(),
            RawScope::Reps,
            ALL,
        ),
        case(
            format!("`/leaderboard scope:teams` ({} team{})", g.teams.len(), if g.teams.len() == 1 { "" } else { "s" }),
            "/leaderboard scope:teams".into(),
            RawScope::Teams,
            ALL,
        ),
        case(
            format!("`/kpi rep` with a {history}-month history and its chart"),
            format!("/kpi rep user:<@{}> history:{history}", g.reps[0].0),
            RawScope::Reps,
            MONTH,
        ),
        case(
            format!("`/kpi team history:{history}` ({} reps)", org.first_team_size()),
            format!("/kpi team team:\"{team}\" history:{history}"),
            RawScope::Team(team_id),
            MONTH,
        ),
    ])
}

/// The statements one reply runs on `app`'s read connections (right after its timed runs, so the
/// guild's cached settings are as fresh as theirs).
async fn statements_of(app: &App, inv: &Invocation, now: DateTime<Utc>) -> u64 {
    let before = app.store.read_statements();
    crate::handlers::dispatch(app, inv, now).await;
    app.store.read_statements().saturating_sub(before)
}

/// Each [`cases`] reply on `big` and on `small` (the growth data set), with its raw-SQL baseline
/// on `big`.
pub async fn queries(
    big: &App,
    small: &App,
    org: &Org,
    now: DateTime<Utc>,
    budget: Budget,
) -> AppResult<Vec<QueryFigure>> {
    let g = org.main();
    let settings: GuildSettings = big.store.guild_settings(g.guild).await?;
    let history = crate::domain::history::DEFAULT_PERIODS;
    let mut out = Vec::new();
    let mut id = 990_000_000_000_000_000u64;
    for Case { label, line, scope, periods } in cases(big, org).await? {
        for period in periods.iter().copied() {
            let spec = PeriodSpec::parse(period)?;
            id += 1;
            let inv = invocation(org, &format!("{line} period:{period}"), id)?;
            eprintln!("rally bench:   {label} {period}");
            let (big_stats, error) = time_dispatch(big, &inv, now, budget).await?;
            let statements = statements_of(big, &inv, now).await;
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

/// One reply on two backends holding the same data, timed alternately ([`paired`]).
pub struct PairFigure {
    pub command: String,
    pub period: &'static str,
    /// Median and p99 on SQLite and on PostgreSQL, and the reply's error text on each, if any.
    pub sqlite: (Stats, Option<String>),
    pub postgres: (Stats, Option<String>),
    /// Statements one reply ran on the read connections: (SQLite, PostgreSQL).
    pub statements: (u64, u64),
}

/// Each [`cases`] reply on `sqlite` and on `postgres`, the same org loaded into each, timed
/// alternately so that their ratio compares the backends and not two stretches of the machine's
/// time.
pub async fn side_by_side(
    sqlite: &App,
    postgres: &App,
    org: &Org,
    now: DateTime<Utc>,
    budget: Budget,
) -> AppResult<Vec<PairFigure>> {
    let mut out = Vec::new();
    let mut id = 980_000_000_000_000_000u64;
    for Case { label, line, periods, .. } in cases(postgres, org).await? {
        for period in periods.iter().copied() {
            id += 1;
            let inv = invocation(org, &format!("{line} period:{period}"), id)?;
            eprintln!("rally bench:   {label} {period}, SQLite and PostgreSQL alternately");
            let [lite, pg] =
                paired(budget, || reply_once(sqlite, &inv, now), || reply_once(postgres, &inv, now)).await?;
            out.push(PairFigure {
                command: label.clone(),
                period,
                sqlite: lite,
                postgres: pg,
                statements: (statements_of(sqlite, &inv, now).await, statements_of(postgres, &inv, now).await),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn paired_warms_both_up_then_alternates_which_goes_first_and_keeps_their_samples_and_errors_apart() {
        let calls = RefCell::new(String::new());
        let budget = Budget { time: Duration::ZERO, max: 4, min: 4, warm_up: 2 };
        let call = |side: char, error: Option<&'static str>| {
            let calls = &calls;
            move || async move {
                calls.borrow_mut().push(side);
                Ok(error.map(str::to_string))
            }
        };
        let [(a, a_error), (b, b_error)] = run(paired(budget, call('a', None), call('b', Some("⚠️ b")))).unwrap();
        // Two untimed pairs, then four timed ones whose order swaps every time.
        assert_eq!(calls.borrow().as_str(), "abababbaabba");
        assert_eq!((a.n, b.n), (4, 4));
        assert_eq!((a_error, b_error.as_deref()), (None, Some("⚠️ b")));
    }

    #[test]
    fn repeat_makes_its_warm_up_calls_untimed_and_at_least_one() {
        for (warm_up, expected) in [(0, 1 + 3), (1, 1 + 3), (8, 8 + 3)] {
            let calls = RefCell::new(0);
            let budget = Budget { time: Duration::ZERO, max: 3, min: 3, warm_up };
            let (stats, _) = run(repeat(budget, || async {
                *calls.borrow_mut() += 1;
                Ok(None)
            }))
            .unwrap();
            assert_eq!((stats.n, *calls.borrow()), (3, expected), "warm_up {warm_up}");
        }
    }
}
