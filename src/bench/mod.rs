//! `rally bench`: builds a synthetic sales org in a temporary database, measures the figures of
//! issue 6 (write throughput, reply latency, growth, memory, start-up, import) next to plain-SQLite
//! baselines from the same run, and renders a Markdown report. Sits beside `main`: it may use
//! `handlers`, `app`, `store` (its `bench` SQL only) and `loopback::payload`; nothing imports it.

mod crm;
mod data;
mod measure;
mod postgres;
mod serve;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::{App, AppError, AppResult};
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::settings::GuildSettings;
use data::Org;
use measure::{Budget, Load, QueryFigure, Stats};

/// How big a run is. `Tiny` exists for the test suite only (a few seconds in a debug build).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// 1/100 of full: 1 guild, 1 team, 100 reps, 100,000 activities.
    Small,
    /// 10 guilds, 100 teams, 10,000 reps, 10 million activities.
    Full,
    #[value(hide = true)]
    Tiny,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Full => "full",
            Scale::Tiny => "tiny",
        }
    }

    pub fn sizes(self) -> Sizes {
        let secs = Duration::from_secs;
        match self {
            Scale::Full => Sizes {
                guilds: 10,
                teams: 100,
                reps: 10_000,
                activities: 10_000_000,
                logs: 20_000,
                serve_requests: 20_000,
                import_rows: 1_000_000,
                baseline_commits: 2_000,
                budget: Budget { time: secs(4), max: 1000, min: 5, warm_up: measure::WARM_UP },
                crm_activities: 1_000_000,
                webhooks: 2_000,
            },
            Scale::Small => Sizes {
                guilds: 1,
                teams: 1,
                reps: 100,
                activities: 100_000,
                logs: 10_000,
                serve_requests: 10_000,
                import_rows: 10_000,
                baseline_commits: 1_000,
                budget: Budget { time: secs(2), max: 1000, min: 5, warm_up: measure::WARM_UP },
                crm_activities: 100_000,
                webhooks: 1_000,
            },
            Scale::Tiny => Sizes {
                guilds: 1,
                teams: 2,
                reps: 20,
                activities: 2_000,
                logs: 128,
                serve_requests: 128,
                import_rows: 200,
                baseline_commits: 20,
                budget: Budget { time: Duration::from_millis(50), max: 3, min: 2, warm_up: 1 },
                crm_activities: 2_000,
                webhooks: 20,
            },
        }
    }
}

/// The sizes of one scale.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub guilds: usize,
    pub teams: usize,
    pub reps: usize,
    pub activities: u64,
    pub logs: usize,
    pub serve_requests: usize,
    pub import_rows: usize,
    pub baseline_commits: usize,
    pub budget: Budget,
    /// Activities backfilled from the loopback Pipedrive.
    pub crm_activities: u64,
    /// Webhook events posted one after another, each followed by `/me`.
    pub webhooks: usize,
}

pub struct BenchOptions {
    pub scale: Scale,
    /// Where the report is written.
    pub out: PathBuf,
    /// The clock; default [`DEFAULT_NOW`].
    pub now: Option<DateTime<Utc>>,
    /// The command line, quoted in the report so the run can be repeated.
    pub command: String,
    /// The `rally` binary to run `serve` from; without it the serve figures are marked not run.
    pub rally_exe: Option<PathBuf>,
    /// Keep the generated databases here and start later runs of the same scale and clock from
    /// copies of them instead of generating again (the full scale takes minutes to generate).
    pub data: Option<PathBuf>,
    /// Only the CRM figures.
    pub crm_only: bool,
    /// Only the replies (each query on the main and the growth data set, and the growth between
    /// them): for measuring a reply's growth at full scale without the hour of writes and imports.
    /// With `postgres`, also the same replies on PostgreSQL side by side (no writes, no scale-out).
    pub replies_only: bool,
    /// Only the wallboard series (six `rally serve` runs, three with [`WALLBOARDS`] wallboards
    /// open), on the data just loaded: for measuring the screens' cost without the rest.
    pub wallboards_only: bool,
    /// A PostgreSQL URL (`--db postgres://...`): an empty database to load the same org into and
    /// measure side by side with SQLite, plus the scale-out of several `rally serve`.
    pub postgres: Option<String>,
}

/// The end of the synthetic two years when no `--now` is given.
pub const DEFAULT_NOW: &str = "2026-11-27T15:00:00Z";
/// Concurrent loggers and HTTP clients, as the issue asks.
const CONCURRENCY: usize = 64;
/// Wallboards held open on the main guild during the second `rally serve` run (issue 15).
const WALLBOARDS: usize = 200;

/// The serve run with [`WALLBOARDS`] wallboards of the main guild open: a link made on the
/// database first, as `/wallboard link` would.
async fn wallboards(exe: &Path, db: &Path, org: &Org, now: DateTime<Utc>, n: usize) -> AppResult<serve::WallSeries> {
    let app = App::open(db)?;
    app.set_public_url("http://127.0.0.1")?;
    let guild = crate::domain::activity::Snowflake::new(org.main().guild as u64)?;
    let link = app.wallboard_link(guild, "bench".into(), now).await?;
    drop(app);
    let token = link.url.rsplit('/').next().unwrap_or_default().to_string();
    let screens = serve::Screens { count: WALLBOARDS, path: format!("/wall/{token}/events") };
    serve::run_wall_series(exe, db, org, now, n, CONCURRENCY, &screens).await
}

/// Removes the temporary databases however the run ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generates the main and the growth databases.
async fn generate(
    big: &Path,
    growth: &Path,
    org: &Org,
    sizes: &Sizes,
    scale: Scale,
    now: DateTime<Utc>,
) -> AppResult<data::Loaded> {
    progress(&format!("generating {} activities ({} scale)", sizes.activities, scale.name()));
    let loaded = data::load(&big.into(), org, sizes.activities, now, 1).await?;
    progress(&format!(
        "  {} rows in {:.1} s ({:.0} rows/s)",
        loaded.rows,
        loaded.took.as_secs_f64(),
        loaded.rows as f64 / loaded.took.as_secs_f64().max(1e-9)
    ));
    let growth_rows = (sizes.activities / 100).max(1);
    progress(&format!("generating the growth data set ({growth_rows} activities)"));
    data::load(&growth.into(), org, growth_rows, now, 2).await?;
    Ok(loaded)
}

/// Copies the databases generated by an earlier run with `--data` into `work` (generating and
/// keeping them first if there are none for this scale and clock), so every run starts from the
/// same pristine data.
async fn cached_load(
    cache: &Path,
    work: &Path,
    org: &Org,
    sizes: &Sizes,
    scale: Scale,
    now: DateTime<Utc>,
) -> AppResult<data::Loaded> {
    let io = |what: &Path, e: std::io::Error| AppError::User(format!("cannot use {}: {e}", what.display()));
    std::fs::create_dir_all(cache).map_err(|e| io(cache, e))?;
    let stem = format!("{}-{}", scale.name(), now.timestamp());
    let kept = |name: &str| cache.join(format!("{stem}-{name}"));
    let meta = kept("loaded.json");
    if !meta.exists() {
        let loaded = generate(&work.join("bench.db"), &work.join("growth.db"), org, sizes, scale, now).await?;
        for name in ["bench.db", "growth.db"] {
            std::fs::copy(work.join(name), kept(name)).map_err(|e| io(&kept(name), e))?;
        }
        // Written last: its presence says the copies are complete.
        let text = serde_json::to_string(&loaded).unwrap_or_default();
        std::fs::write(&meta, text).map_err(|e| io(&meta, e))?;
        return Ok(loaded);
    }
    progress(&format!("copying the databases kept in {}", cache.display()));
    for name in ["bench.db", "growth.db"] {
        std::fs::copy(kept(name), work.join(name)).map_err(|e| io(&kept(name), e))?;
    }
    let text = std::fs::read_to_string(&meta).map_err(|e| io(&meta, e))?;
    serde_json::from_str(&text)
        .map_err(|e| AppError::User(format!("{} is not a bench data record: {e}", meta.display())))
}

fn progress(what: &str) {
    eprintln!("rally bench: {what}");
}

/// Runs the benchmark, writes the report to `options.out` and returns it.
pub async fn run(options: BenchOptions) -> AppResult<String> {
    let sizes = options.scale.sizes();
    let now = match options.now {
        Some(t) => t,
        None => DateTime::parse_from_rfc3339(DEFAULT_NOW).map(|t| t.with_timezone(&Utc)).unwrap_or_default(),
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = TempDir(std::env::temp_dir().join(format!("rally-bench-{}-{nanos:x}", std::process::id())));
    std::fs::create_dir_all(&dir.0).map_err(|e| AppError::User(format!("cannot create {}: {e}", dir.0.display())))?;
    let big = dir.0.join("bench.db");
    let growth = dir.0.join("growth.db");
    let org = Org::new(&sizes);
    if options.crm_only {
        return crm_only(&options, &dir.0, sizes, now).await;
    }

    let loaded = match &options.data {
        Some(cache) => cached_load(cache, &dir.0, &org, &sizes, options.scale, now).await?,
        None => generate(&big, &growth, &org, &sizes, options.scale, now).await?,
    };

    if options.replies_only {
        return replies_only(&options, &big, &growth, &org, sizes, now).await;
    }
    if options.wallboards_only {
        return wallboards_only(&options, &big, &org, sizes, now).await;
    }

    progress("start to ready");
    let (ready, ready_plain) = measure::start_to_ready(&big, &org, now, 5).await?;

    progress("queries through handlers::dispatch");
    let app = App::open(&big)?;
    let (activities, rollups) = app.store.bench_counts().await?;
    let small_app = App::open(&growth)?;
    let queries = measure::queries(&app, &small_app, &org, now, sizes.budget).await?;
    drop(small_app);
    // Before any write, while SQLite's copy holds what PostgreSQL will: the replies side by side.
    let mut pg = match &options.postgres {
        Some(url) => Some(postgres::load_and_reply(url, &org, &sizes, now, &app).await?),
        None => None,
    };
    let settings = GuildSettings::default();
    let year = Period::resolve(&PeriodSpec::ThisYear, &settings, now)?;
    let plan = app.store.bench_kind_totals_plan(org.main().guild, year.first_day, year.end_day).await?;

    progress("durable writes: plain single-row commits (baseline)");
    let plain = measure::baseline_commits(&app.store, &org, now, sizes.baseline_commits).await?;
    progress(&format!("durable writes: {} /log through App::log, {CONCURRENCY} loggers", sizes.logs));
    let logs = measure::log_load(&app, &org, now, sizes.logs, CONCURRENCY).await?;
    drop(app);

    let served = match &options.rally_exe {
        Some(exe) => {
            progress(&format!("rally serve: {} signed /log, {CONCURRENCY} clients", sizes.serve_requests));
            Some(serve::run(exe, &big, &org, now, sizes.serve_requests, CONCURRENCY).await)
        }
        None => None,
    };
    let walled = match &options.rally_exe {
        Some(exe) => {
            progress(&format!(
                "rally serve six times more, three with {WALLBOARDS} wallboards of the guild open, interleaved: \
                 {} signed /log each, {CONCURRENCY} clients",
                sizes.serve_requests
            ));
            Some(wallboards(exe, &big, &org, now, sizes.serve_requests).await)
        }
        None => None,
    };

    progress(&format!("import of a {}-row CSV", sizes.import_rows));
    let csv = data::import_csv(&org, sizes.import_rows, now, 3);
    let app = App::open(&big)?;
    let imported = measure::import(&app, &org, csv, now).await?;
    drop(app);
    let db_bytes = file_size(&big);

    let postgres_section = match (&options.postgres, pg.as_mut()) {
        (Some(url), Some(pg)) => {
            pg.writes(url, &options, &org, &sizes, now).await?;
            Some(pg.render(Some(&logs), served.as_ref()))
        }
        _ => None,
    };

    progress(&format!(
        "CRM: backfill of {} activities from the loopback Pipedrive, then {} webhooks to /me",
        sizes.crm_activities, sizes.webhooks
    ));
    let crm = crm::run(&dir.0, sizes.crm_activities, sizes.webhooks, now).await;

    let report = Report {
        options: &options,
        sizes,
        now,
        org: &org,
        loaded_rows: loaded.rows,
        loaded_secs: loaded.took.as_secs_f64(),
        deals: loaded.deals,
        goals: loaded.goals,
        activities,
        rollups,
        db_bytes,
        ready,
        ready_plain,
        queries,
        plan,
        plain,
        logs,
        served,
        walled,
        imported,
        crm,
    }
    .render();
    let report = report + postgres_section.as_deref().unwrap_or_default();
    std::fs::write(&options.out, &report)
        .map_err(|e| AppError::User(format!("cannot write {}: {e}", options.out.display())))?;
    Ok(report)
}

/// `rally bench --crm-only`: the CRM rows alone, in the same table shape.
async fn crm_only(options: &BenchOptions, dir: &Path, sizes: Sizes, now: DateTime<Utc>) -> AppResult<String> {
    progress(&format!(
        "CRM: backfill of {} activities from the loopback Pipedrive, then {} webhooks to /me",
        sizes.crm_activities, sizes.webhooks
    ));
    let crm = crm::run(dir, sizes.crm_activities, sizes.webhooks, now).await;
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    crm_rows(&crm, sizes, &mut rows, &mut notes);
    part_report(options, "CRM figures only", "", &rows, &notes, "")
}

/// The report of a run of one part (`--crm-only`, `--replies-only`, `--wallboards-only`): its
/// heading (`part`), the command and the machine, `before` (a line on the data, or nothing), the
/// table, its notes and `after`; written to `--out` and returned.
fn part_report(
    options: &BenchOptions,
    part: &str,
    before: &str,
    rows: &[Row],
    notes: &[String],
    after: &str,
) -> AppResult<String> {
    let mut s = String::new();
    let _ = writeln!(s, "## rally bench: {part}, {} scale\n", options.scale.name());
    let _ = writeln!(s, "Command: `{}`\n", options.command);
    let _ = writeln!(s, "Machine: {}\n", machine());
    s.push_str(before);
    s.push_str(&table(rows));
    for n in notes {
        let _ = writeln!(s, "\n- {n}");
    }
    s.push_str(after);
    std::fs::write(&options.out, &s)
        .map_err(|e| AppError::User(format!("cannot write {}: {e}", options.out.display())))?;
    Ok(s)
}

/// `rally bench --replies-only`: the replies' rows and their detail, on the data just loaded; with
/// a PostgreSQL `--db`, the same replies on PostgreSQL side by side.
async fn replies_only(
    options: &BenchOptions,
    big: &Path,
    growth: &Path,
    org: &Org,
    sizes: Sizes,
    now: DateTime<Utc>,
) -> AppResult<String> {
    progress("queries through handlers::dispatch");
    let app = App::open(big)?;
    let (activities, rollups) = app.store.bench_counts().await?;
    let small_app = App::open(growth)?;
    let queries = measure::queries(&app, &small_app, org, now, sizes.budget).await?;
    let rows = reply_rows(&queries, sizes, options.scale);
    let data = format!(
        "Data set: {} activities ({} day-rollup rows); measured on guild 1 ({} reps, {} teams; `/kpi team` on its \
         largest team of {} reps).\n\n",
        count(activities as f64),
        count(rollups as f64),
        org.main().reps.len(),
        org.main().teams.len(),
        org.first_team_size(),
    );
    let mut after = query_detail(&queries);
    drop(small_app);
    if let Some(url) = &options.postgres {
        let pg = postgres::load_and_reply(url, org, &sizes, now, &app).await?;
        after.push_str(&pg.render(None, None));
    }
    part_report(options, "replies only", &data, &rows, &[], &after)
}

/// `rally bench --wallboards-only`: the wallboard series alone, on the data just loaded (its day
/// starts with the generated activities only, where the whole run's series starts after the
/// durable-write runs have logged theirs).
async fn wallboards_only(
    options: &BenchOptions,
    big: &Path,
    org: &Org,
    sizes: Sizes,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let walled = match &options.rally_exe {
        Some(exe) => {
            progress(&format!(
                "rally serve six times, three with {WALLBOARDS} wallboards of the guild open, interleaved: \
                 {} signed /log each, {CONCURRENCY} clients",
                sizes.serve_requests
            ));
            Some(wallboards(exe, big, org, now, sizes.serve_requests).await)
        }
        None => None,
    };
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    wallboard_rows(&walled, &mut rows, &mut notes);
    part_report(options, "wallboards only", "", &rows, &notes, "")
}

fn file_size(db: &Path) -> u64 {
    ["", "-wal"].iter().filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok()).map(|m| m.len()).sum()
}

struct Report<'a> {
    options: &'a BenchOptions,
    sizes: Sizes,
    now: DateTime<Utc>,
    org: &'a Org,
    loaded_rows: u64,
    loaded_secs: f64,
    deals: usize,
    goals: usize,
    activities: i64,
    rollups: i64,
    db_bytes: u64,
    ready: Stats,
    ready_plain: Stats,
    queries: Vec<QueryFigure>,
    plan: Vec<String>,
    plain: Load,
    logs: Load,
    served: Option<AppResult<serve::ServeRun>>,
    /// The same load three times with [`WALLBOARDS`] wallboards open and three times without,
    /// interleaved.
    walled: Option<AppResult<serve::WallSeries>>,
    imported: (usize, usize, Duration),
    crm: AppResult<crm::CrmRun>,
}

/// The wallboard figures (issue 15): the serve runs with [`WALLBOARDS`] wallboards of the guild
/// open, against the runs without them (`None`: no `rally` binary to serve from).
fn wallboard_rows(walled: &Option<AppResult<serve::WallSeries>>, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let throughput = format!("`rally serve` with {WALLBOARDS} wallboards of the guild open: durable `/log`");
    let memory = format!("resident memory of `rally serve` with {WALLBOARDS} wallboards open (VmHWM)");
    let latency = format!("wallboard update: `/log` acknowledged to on every one of the {WALLBOARDS} screens");
    let targets = ["throughput >= 90 % of the run without them", "<= 20 MB more than without them", "p99 <= 1 s"];
    let Some(Ok(series)) = walled else {
        let why = match walled {
            Some(Err(e)) => format!("failed: {e}"),
            _ => "no `rally` binary given".into(),
        };
        for (figure, target) in [throughput, memory, latency].into_iter().zip(targets) {
            rows.push(Row::not_run(figure, &why, target));
        }
        return;
    };
    // The median run of each side (by throughput): three runs each, interleaved.
    let median = |runs: &[serve::ServeRun]| -> Option<usize> {
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by(|a, b| runs[*a].load.per_second().total_cmp(&runs[*b].load.per_second()));
        order.get(order.len() / 2).copied()
    };
    let (Some(w), Some(wo)) = (median(&series.with), median(&series.without)) else { return };
    let (with, without) = (&series.with[w], &series.without[wo]);
    let (r, base) = (with.load.per_second(), without.load.per_second());
    let each = |runs: &[serve::ServeRun]| runs.iter().map(|run| rate(&run.load)).collect::<Vec<_>>().join(", ");
    notes.push(format!(
        "Wallboards, throughput of each run in the order they ran interleaved (without, with, with, without, \
             without, with): without them {}; with them {}. The rows compare the median run of each side.",
        each(&series.without),
        each(&series.with)
    ));
    let clean = series.with.iter().all(|run| run.load.failures == 0 && run.load.deferred == 0);
    rows.push(Row {
        figure: throughput,
        measured: format!("{} (median of 3)", rate(&with.load)),
        baseline: format!("{} without them (median of 3)", rate(&without.load)),
        ratio: if base > 0.0 { format!("{:.0} %", r / base * 100.0) } else { "-".into() },
        target: targets[0].into(),
        met: Some(r >= 0.9 * base && clean),
    });
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    // The median peak of each side, as for the throughput; every run's peak in the notes (the
    // database grows with each run, and the later runs' peaks with it).
    let peak = |runs: &[serve::ServeRun]| {
        let mut peaks: Vec<u64> = runs.iter().filter_map(|run| run.vm_hwm_kb).collect();
        peaks.sort_unstable();
        peaks.get(peaks.len() / 2).copied()
    };
    let (hwm, base_hwm) = (peak(&series.with), peak(&series.without));
    let peaks = |runs: &[serve::ServeRun]| {
        runs.iter().map(|run| run.vm_hwm_kb.map_or("?".into(), mb)).collect::<Vec<_>>().join(", ")
    };
    notes.push(format!(
        "Wallboards, peak resident memory (VmHWM) of each run in order: without them {}; with them {}.",
        peaks(&series.without),
        peaks(&series.with)
    ));
    rows.push(Row {
        figure: memory,
        measured: hwm.map_or("?".into(), mb),
        baseline: base_hwm.map_or("?".into(), |k| format!("{} without them", mb(k))),
        ratio: match (hwm, base_hwm) {
            (Some(a), Some(b)) => format!("{:+.1} MB", (a as f64 - b as f64) / 1024.0),
            _ => "-".into(),
        },
        target: targets[1].into(),
        met: hwm.zip(base_hwm).map(|(a, b)| a <= b + 20 * 1024),
    });
    // Every screen of every run with them.
    let mut pooled = serve::ScreenRun::default();
    let mut measured = false;
    for s in series.with.iter().filter_map(|run| run.screens.as_ref()) {
        measured = true;
        pooled.screens = pooled.screens.max(s.screens);
        pooled.connected = if pooled.connected == 0 { s.connected } else { pooled.connected.min(s.connected) };
        pooled.frames += s.frames;
        pooled.unseen += s.unseen;
        pooled.latencies.extend(s.latencies.iter().copied());
    }
    let screens = measured.then_some(pooled);
    match &screens {
        Some(s) => {
            let st = measure::stats(s.latencies.clone());
            rows.push(Row {
                figure: latency,
                measured: format!("median {}, p99 {} ({} pairs sampled)", ms(st.median), ms(st.p99), st.n),
                baseline: "-".into(),
                ratio: "-".into(),
                target: targets[2].into(),
                met: Some(
                    st.p99 <= Duration::from_secs(1)
                        && s.unseen == 0
                        && s.connected == WALLBOARDS
                        && !s.latencies.is_empty(),
                ),
            });
            notes.push(format!(
                "Wallboards, over the three runs with them: at least {} of {} screens connected before each \
                     load; {} frames reached them during the loads (one render per change, shared by every \
                     screen); {} (log, screen) pairs never showed the log.",
                s.connected, s.screens, s.frames, s.unseen
            ));
        }
        None => rows.push(Row {
            figure: latency,
            measured: "not measured".into(),
            baseline: "-".into(),
            ratio: "-".into(),
            target: targets[2].into(),
            met: None,
        }),
    }
}

/// One line of the main table.
struct Row {
    figure: String,
    measured: String,
    baseline: String,
    ratio: String,
    target: String,
    /// `None`: not measured in this run.
    met: Option<bool>,
}

impl Row {
    /// A figure this run could not measure, and why (`failed: ...`, no binary to serve from).
    fn not_run(figure: String, why: &str, target: &str) -> Row {
        Row {
            figure,
            measured: format!("not run ({why})"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: target.into(),
            met: None,
        }
    }
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 { format!("{v:.2} ms") } else { format!("{v:.1} ms") }
}

fn count(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn lat(s: &Stats) -> String {
    format!("median {}, p99 {} (n={})", ms(s.median), ms(s.p99), s.n)
}

fn rate(l: &Load) -> String {
    let s = measure::stats(l.latencies.clone());
    format!("{}/s (median {}, p99 {})", count(l.per_second()), ms(s.median), ms(s.p99))
}

/// "4.2x faster" or "0.5x (slower)": how our figure compares with the baseline's.
fn speedup(ours: f64, base: f64) -> String {
    if ours <= 0.0 || base <= 0.0 {
        return "-".into();
    }
    let x = ours / base;
    if x >= 1.0 { format!("{x:.1}x better") } else { format!("{x:.2}x (worse)") }
}

/// The main table: one row per figure, its baseline from the same run, and the verdict.
fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| figure | measured | SQLite baseline (same run) | vs baseline | target | verdict |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.figure,
            r.measured,
            r.baseline,
            r.ratio,
            r.target,
            verdict(r.met)
        );
    }
    s
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**MISSED**",
        None => "not run",
    }
}

impl Report<'_> {
    fn rows(&self) -> (Vec<Row>, Vec<String>) {
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        let plain_rate = self.plain.per_second();
        let plain_text = rate(&self.plain);

        let log_rate = self.logs.per_second();
        rows.push(Row {
            figure: format!("durable `/log` via `App::log`, {CONCURRENCY} concurrent loggers"),
            measured: rate(&self.logs),
            baseline: format!("{plain_text} plain single-row commits"),
            ratio: speedup(log_rate, plain_rate),
            target: ">= 20,000 acknowledged/s".into(),
            met: Some(log_rate >= 20_000.0 && self.logs.failures == 0),
        });
        if self.logs.failures > 0 {
            notes.push(format!(
                "`App::log`: {} of {} writes failed (first: {}).",
                self.logs.failures,
                self.sizes.logs,
                self.logs.first_failure.as_deref().unwrap_or("?")
            ));
        }

        let serve_figure = format!("durable `/log` via `rally serve` (signed HTTP, loopback), {CONCURRENCY} clients");
        let rss_figure = "resident memory of `rally serve` under that load (VmHWM)".to_string();
        match &self.served {
            Some(Ok(s)) => {
                let st = measure::stats(s.load.latencies.clone());
                let r = s.load.per_second();
                rows.push(Row {
                    figure: serve_figure,
                    measured: rate(&s.load),
                    baseline: format!("{plain_text} plain single-row commits"),
                    ratio: speedup(r, plain_rate),
                    target: ">= 5,000/s, p99 <= 20 ms".into(),
                    met: Some(
                        r >= 5_000.0
                            && st.p99 <= Duration::from_millis(20)
                            && s.load.failures == 0
                            && s.load.deferred == 0,
                    ),
                });
                if s.load.failures > 0 {
                    notes.push(format!(
                        "`rally serve`: {} requests failed (first: {}).",
                        s.load.failures,
                        s.load.first_failure.as_deref().unwrap_or("?")
                    ));
                }
                if s.load.deferred > 0 {
                    notes.push(format!(
                        "`rally serve`: {} requests were deferred (`{{\"type\":5}}`: the work outlasted the endpoint's \
                         2 s, so the reply would follow through REST); they are not counted as acknowledged.",
                        s.load.deferred
                    ));
                }
                let mb = |kb: Option<u64>| kb.map_or("?".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
                rows.push(Row {
                    figure: rss_figure,
                    measured: format!(
                        "{} peak, {} at the end (separate process, /proc/PID/status)",
                        mb(s.vm_hwm_kb),
                        mb(s.vm_rss_kb)
                    ),
                    baseline: format!("n/a (database: {:.0} MB on disk)", self.db_bytes as f64 / 1e6),
                    ratio: "-".into(),
                    target: "<= 64 MB".into(),
                    met: s.vm_hwm_kb.map(|k| k <= 64 * 1024),
                });
                notes.push(format!("`rally serve` took {} from spawn to listening.", ms(s.start)));
            }
            other => {
                let why = match other {
                    Some(Err(e)) => format!("failed: {e}"),
                    _ => "no `rally` binary given".into(),
                };
                for (figure, target) in [(serve_figure, ">= 5,000/s, p99 <= 20 ms"), (rss_figure, "<= 64 MB")] {
                    rows.push(Row::not_run(figure, &why, target));
                }
            }
        }
        wallboard_rows(&self.walled, &mut rows, &mut notes);

        rows.extend(reply_rows(&self.queries, self.sizes, self.options.scale));

        rows.push(Row {
            figure: "start to ready: open + migrations + first `/me` (big database)".into(),
            measured: lat(&self.ready),
            baseline: format!("{} plain open + raw `GROUP BY`", lat(&self.ready_plain)),
            ratio: speedup(self.ready_plain.median.as_secs_f64(), self.ready.median.as_secs_f64()),
            target: "<= 1 s".into(),
            met: Some(self.ready.p99 <= Duration::from_secs(1)),
        });

        let (imported, rejected, took) = self.imported;
        let import_rate = imported as f64 / took.as_secs_f64().max(1e-9);
        rows.push(Row {
            figure: format!("import of a {}-row CSV via `App::import_csv`", count(self.sizes.import_rows as f64)),
            measured: format!(
                "{} rows/s ({} rows in {:.2} s)",
                count(import_rate),
                count(imported as f64),
                took.as_secs_f64()
            ),
            baseline: format!("{}/s plain single-row commits", count(plain_rate)),
            ratio: speedup(import_rate, plain_rate),
            target: ">= 200,000 rows/s".into(),
            met: Some(import_rate >= 200_000.0 && rejected == 0),
        });
        if rejected > 0 {
            notes.push(format!("import: {rejected} rows were rejected."));
        }
        crm_rows(&self.crm, self.sizes, &mut rows, &mut notes);
        (rows, notes)
    }
}

/// The rows of the replies: each query against its p99 target, and the worst growth from the
/// growth data set (1/100) to the main one.
fn reply_rows(queries: &[QueryFigure], sizes: Sizes, scale: Scale) -> Vec<Row> {
    let mut out = Vec::new();
    for q in queries {
        // A year, or a history of six months with its chart (issue 16): 25 ms.
        let long = q.period == "this-year" || q.command.contains("history");
        let limit = Duration::from_millis(if long { 25 } else { 5 });
        out.push(Row {
            figure: format!("{} {}", q.command, q.period),
            measured: match &q.error {
                Some(e) => format!("{} — reply was an error: {e}", lat(&q.big)),
                None => lat(&q.big),
            },
            baseline: format!("{} raw `GROUP BY`", lat(&q.baseline)),
            ratio: speedup(q.baseline.median.as_secs_f64(), q.big.median.as_secs_f64()),
            target: format!("p99 <= {} ms", limit.as_millis()),
            met: Some(q.big.p99 <= limit && q.error.is_none()),
        });
    }

    let growth: Vec<(f64, &QueryFigure)> =
        queries.iter().map(|q| (q.big.median.as_secs_f64() / q.small.median.as_secs_f64().max(1e-9), q)).collect();
    let worst = growth.iter().cloned().fold(None, |w: Option<(f64, &QueryFigure)>, x| match w {
        Some(w) if w.0 >= x.0 => Some(w),
        _ => Some(x),
    });
    let (big_n, small_n) = (sizes.activities, (sizes.activities / 100).max(1));
    let label = if scale == Scale::Full {
        format!("growth: each query at {} vs {} activities", count(big_n as f64), count(small_n as f64))
    } else {
        format!(
            "growth: each query at {} vs {} activities ({} scale: the data set against 1/100 of it, not 10 M vs 100 k)",
            count(big_n as f64),
            count(small_n as f64),
            scale.name()
        )
    };
    let base_growth = queries.iter().map(|q| q.baseline.median.as_secs_f64()).sum::<f64>();
    out.push(Row {
        figure: label,
        measured: worst
            .map_or("-".into(), |(x, q)| format!("worst {x:.1}x ({} {}); per query below", q.command, q.period)),
        baseline: format!("raw `GROUP BY` total {:.1} ms over the {} queries", base_growth * 1000.0, queries.len()),
        ratio: "-".into(),
        target: "<= 2x".into(),
        met: worst.map(|(x, _)| x <= 2.0),
    });

    out
}

/// The "Queries in detail" table: each query on both data sets, its growth, the rollup rows in its
/// period and the raw `GROUP BY` baseline.
fn query_detail(queries: &[QueryFigure]) -> String {
    let mut s = String::new();
    s.push_str("\n### Queries in detail\n\n");
    s.push_str("| query | main data set | growth data set (1/100) | growth | rollup rows in the period (guild; month + day rows) | raw `GROUP BY` | statements per reply |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for q in queries {
        let _ = writeln!(
            s,
            "| {} {} | median {} / p99 {} | median {} / p99 {} | {:.1}x | {} | median {} / p99 {} | {} |",
            q.command,
            q.period,
            ms(q.big.median),
            ms(q.big.p99),
            ms(q.small.median),
            ms(q.small.p99),
            q.big.median.as_secs_f64() / q.small.median.as_secs_f64().max(1e-9),
            count(q.rollup_rows as f64),
            ms(q.baseline.median),
            ms(q.baseline.p99),
            q.statements
        );
    }
    s
}

/// The rows of the CRM figures: the backfill against the pages read alone, webhook to `/me`
/// against chat `/log` to `/me`.
fn crm_rows(crm: &AppResult<crm::CrmRun>, sizes: Sizes, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let backfill = format!(
        "CRM backfill of {} activities from the loopback Pipedrive (`App::crm_sync`, real client over HTTP)",
        count(sizes.crm_activities as f64)
    );
    let webhook = "Pipedrive webhook POST to the activity showing in `/me` (one after another)".to_string();
    match crm {
        Ok(c) => {
            let per_s = c.activities as f64 / c.backfill.as_secs_f64().max(1e-9);
            let read_per_s = c.activities as f64 / c.read_only.as_secs_f64().max(1e-9);
            let per_10k = |n: u64| n as f64 * 10_000.0 / c.activities.max(1) as f64;
            rows.push(Row {
                figure: backfill,
                measured: format!(
                    "{} activities/s ({:.2} s); {:.1} API calls and {:.0} Pipedrive tokens per 10,000",
                    count(per_s),
                    c.backfill.as_secs_f64(),
                    per_10k(c.calls),
                    per_10k(c.cost)
                ),
                baseline: format!("{}/s: the same pages read and parsed, nothing stored", count(read_per_s)),
                ratio: speedup(per_s, read_per_s),
                target: ">= 50,000 activities/s".into(),
                met: Some(per_s >= 50_000.0),
            });
            rows.push(Row {
                figure: webhook,
                measured: lat(&c.webhook),
                baseline: format!("{} chat `/log` then `/me`", lat(&c.chat)),
                ratio: speedup(c.chat.median.as_secs_f64(), c.webhook.median.as_secs_f64()),
                target: "p99 <= 100 ms".into(),
                met: Some(
                    c.webhook.p99 <= Duration::from_millis(100) && c.webhook_counted.0 == c.webhook_counted.1 as i64,
                ),
            });
            rows.push(Row {
                figure: "intake API POST to the activity showing in `/me` (one after another)".into(),
                measured: lat(&c.intake),
                baseline: format!("{} chat `/log` then `/me`", lat(&c.chat)),
                ratio: speedup(c.chat.median.as_secs_f64(), c.intake.median.as_secs_f64()),
                target: "p99 <= 100 ms".into(),
                met: Some(c.intake.p99 <= Duration::from_millis(100)),
            });
            if c.webhook_counted.0 != c.webhook_counted.1 as i64 {
                notes.push(format!(
                    "CRM webhooks: `/me` counted {} of {} events.",
                    c.webhook_counted.0, c.webhook_counted.1
                ));
            }
        }
        Err(e) => {
            let intake = "intake API POST to the activity showing in `/me` (one after another)".to_string();
            for (figure, target) in
                [(backfill, ">= 50,000 activities/s"), (webhook, "p99 <= 100 ms"), (intake, "p99 <= 100 ms")]
            {
                rows.push(Row {
                    figure,
                    measured: format!("failed: {e}"),
                    baseline: "-".into(),
                    ratio: "-".into(),
                    target: target.into(),
                    met: Some(false),
                });
            }
        }
    }
}

impl Report<'_> {
    fn render(&self) -> String {
        let (rows, notes) = self.rows();
        let mut s = String::new();
        let _ = writeln!(s, "## rally bench: {} scale\n", self.options.scale.name());
        let _ = writeln!(s, "Command: `{}`\n", self.options.command);
        let _ = writeln!(s, "Machine: {}\n", machine());
        let org = self.org;
        let _ = writeln!(
            s,
            "Data set: {} guild(s), {} team(s), {} reps; {} activities ({} day-rollup rows) over {} days ending {}; \
             database {:.0} MB. Measured on guild 1 ({} reps, {} teams; `/kpi team` on its largest team of {} reps). \
             Also {} deals (open ones in every stage, won and lost) and {} goals (guild, teams, half the reps), \
             so goal lines, pace and pipelines are in the replies. Generated with the bulk loader in \
             `src/store/bench.rs` ({} activities at {} rows/s, rollups summed in memory).\n",
            self.sizes.guilds,
            self.sizes.teams,
            self.sizes.reps,
            count(self.activities as f64),
            count(self.rollups as f64),
            data::HISTORY_DAYS,
            self.now.format("%Y-%m-%d %H:%M UTC"),
            self.db_bytes as f64 / 1e6,
            org.main().reps.len(),
            org.main().teams.len(),
            org.first_team_size(),
            count(self.deals as f64),
            count(self.goals as f64),
            count(self.loaded_rows as f64),
            count(self.loaded_rows as f64 / self.loaded_secs.max(1e-9)),
        );
        s.push_str(&table(&rows));
        s.push_str(&query_detail(&self.queries));
        let _ = writeln!(
            s,
            "\nQuery plans of the rollup reads behind every KPI reply, whole months then odd days (`EXPLAIN QUERY PLAN`):\n"
        );
        for line in &self.plan {
            let _ = writeln!(s, "    {line}");
        }
        let missed: Vec<&str> = rows.iter().filter(|r| r.met == Some(false)).map(|r| r.figure.as_str()).collect();
        s.push_str("\n### Notes\n\n");
        if missed.is_empty() {
            s.push_str("- Every measured target was met.\n");
        } else {
            let _ = writeln!(s, "- Missed targets ({}): {}.", missed.len(), missed.join("; "));
        }
        for n in &notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push_str(
            "- Latencies are per request (median and p99, nearest rank); throughput is acknowledged requests \
             over the wall time of the run. Queries run through `handlers::dispatch` with the fixed `now`, after \
             one untimed warm-up call. The write baseline is one connection doing single-row autocommit INSERTs \
             into `activities` (WAL, `synchronous=FULL`), the query baseline a `GROUP BY` over raw activities.\n",
        );
        s
    }
}

/// CPU count and model, memory, kernel and rustc version of this machine.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or("? GB".to_string(), |kb| format!("{:.1} GB", kb as f64 / 1024.0 / 1024.0));
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "rustc unknown".into());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|v| v.trim().to_string()).unwrap_or_default();
    // Other work on the machine skews every figure; the load average at the end says how much.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    format!(
        "{cpus} CPUs ({model}), {mem} RAM, Linux {kernel}, {rustc}, {} build; load average {load} at the end of the run",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    )
}
