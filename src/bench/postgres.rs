//! `rally bench --db postgres://...`: the same org loaded into a PostgreSQL database, the same
//! replies and durable writes measured on it, side by side with SQLite's figures from the same run,
//! and the scale-out of 1, 2 and 3 `rally serve` processes against it (issue 13).

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::data::{self, Org};
use super::measure::{self, Load, PairFigure};
use super::serve::{self, ScaleRun, ServeRun};
use super::{BenchOptions, CONCURRENCY, Sizes, count, ms, progress, verdict};
use crate::app::{App, AppError, AppResult, Location};

/// Reply p99 on PostgreSQL may be at most this many times SQLite's (the target).
const P99_RATIO_TARGET: f64 = 2.0;

/// Interaction ids of the scale-out runs: far from every other run's, one block per instance count.
const SCALE_IDS: u64 = 960_000_000_000_000_000;

/// What the PostgreSQL part measured.
pub struct PgRun {
    /// `None` when the database already held the org ([`load_and_reply`]).
    pub loaded: Option<data::Loaded>,
    /// A read of 1 and of 10 `SELECT 1`: (SQLite, PostgreSQL) for each, timed alternately.
    pub round_trips: [[measure::Stats; 2]; 2],
    /// The replies on SQLite and on PostgreSQL, timed alternately.
    pub replies: Vec<PairFigure>,
    /// `None` until [`PgRun::writes`], and with `--replies-only`.
    pub logs: Option<Load>,
    pub scale: Vec<AppResult<ScaleRun>>,
    /// Untimed calls before each timed series.
    pub warm_up: usize,
}

/// Loads the org into the empty database `url` and measures its replies side by side with
/// `sqlite`, which holds the same org and nothing written since (the writes come after, in
/// [`PgRun::writes`]).
///
/// A database that already holds this org is used as it is when every table's rows and every sum
/// of `rally db check` equal those of `sqlite` (the copy a `--replies-only` run leaves behind: its
/// load takes half an hour at full scale); one that holds anything else is refused, since its
/// replies would not be the same org's.
pub async fn load_and_reply(url: &str, org: &Org, sizes: &Sizes, now: DateTime<Utc>, sqlite: &App) -> AppResult<PgRun> {
    let location = Location::Postgres(url.to_owned());
    let loaded = match App::open_existing_at(&location)? {
        Some(app) if app.guild_exists(crate::domain::activity::Snowflake::new(org.main().guild as u64)?).await? => {
            progress(&format!("PostgreSQL: {location} already holds the org; comparing its totals with SQLite's copy"));
            let (theirs, ours) = (app.store.totals().await?, sqlite.store.totals().await?);
            if theirs != ours {
                return Err(AppError::User(format!(
                    "rally bench loads its synthetic org into {location}, which already holds one that differs from \
                     this run's (rows or sums of `rally db check` differ): give it a new, empty database (createdb \
                     rally_bench_2, then --db postgres://.../rally_bench_2)"
                )));
            }
            progress("  equal: measuring on it as it is");
            None
        }
        _ => {
            progress(&format!("PostgreSQL: loading {} activities into {location}", sizes.activities));
            let loaded = data::load(&location, org, sizes.activities, now, 1).await?;
            progress(&format!(
                "  {} rows in {:.1} s ({:.0} rows/s)",
                loaded.rows,
                loaded.took.as_secs_f64(),
                loaded.rows as f64 / loaded.took.as_secs_f64().max(1e-9)
            ));
            Some(loaded)
        }
    };
    let app = App::open_at(&location)?;
    progress("PostgreSQL: statement round trips (SELECT 1), SQLite and PostgreSQL alternately");
    let round_trips = measure::round_trips(sqlite, &app, sizes.budget).await?;
    progress("PostgreSQL: queries through handlers::dispatch, SQLite and PostgreSQL alternately");
    let replies = measure::side_by_side(sqlite, &app, org, now, sizes.budget).await?;
    Ok(PgRun { loaded, round_trips, replies, logs: None, scale: Vec::new(), warm_up: sizes.budget.warm_up })
}

impl PgRun {
    /// Durable writes through `App::log` on `url`, then the scale-out of 1, 2 and 3 `rally serve`
    /// (when the bench knows its `rally` binary).
    pub async fn writes(
        &mut self,
        url: &str,
        options: &BenchOptions,
        org: &Org,
        sizes: &Sizes,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let app = App::open_at(&Location::Postgres(url.to_owned()))?;
        progress(&format!("PostgreSQL: {} /log through App::log, {CONCURRENCY} loggers", sizes.logs));
        self.logs = Some(measure::log_load(&app, org, now, sizes.logs, CONCURRENCY).await?);
        drop(app);
        if let Some(exe) = options.rally_exe.as_ref() {
            for k in 1..=3usize {
                progress(&format!(
                    "PostgreSQL: {k} rally serve, {} signed /log, {CONCURRENCY} clients",
                    sizes.serve_requests
                ));
                let first_id = SCALE_IDS + k as u64 * 100_000_000;
                let load = serve::ServeLoad { n: sizes.serve_requests, clients: CONCURRENCY, instances: k, first_id };
                self.scale.push(serve::run_instances(exe, url, org, now, load, None).await);
            }
        }
        Ok(())
    }
}

fn p99_ratio(sqlite: Duration, postgres: Duration) -> f64 {
    postgres.as_secs_f64() / sqlite.as_secs_f64().max(1e-9)
}

impl PgRun {
    /// The section appended to the report: replies side by side, durable writes (when both sides
    /// measured them), scale-out.
    pub fn render(&self, sqlite_logs: Option<&Load>, sqlite_serve: Option<&AppResult<ServeRun>>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n## PostgreSQL, side by side with SQLite (same run, same data)\n");
        let loaded = match &self.loaded {
            Some(l) => format!(
                "{} rows in {:.1} s, {} rows/s through the store's writer",
                count(l.rows as f64),
                l.took.as_secs_f64(),
                count(l.rows as f64 / l.took.as_secs_f64().max(1e-9))
            ),
            None => "by an earlier run: the database held it, with every table's rows and sums equal".to_owned(),
        };
        let _ = writeln!(
            s,
            "The same synthetic org loaded into PostgreSQL ({loaded}), beside SQLite's copy of it before any write. \
             Each reply goes through `handlers::dispatch`, on SQLite and on PostgreSQL alternately (the order swapped \
             at every pair, {} untimed pairs first), so both meet the same moments of the machine. Target: reply p99 \
             at most {P99_RATIO_TARGET}x SQLite's.\n",
            self.warm_up,
        );
        s.push_str("| reply | period | SQLite median | SQLite p99 | PostgreSQL median | PostgreSQL p99 | p99 ratio | verdict | statements (SQLite / PostgreSQL) |\n");
        s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        let mut worst: f64 = 0.0;
        for q in &self.replies {
            let (lite, pg) = (&q.sqlite.0, &q.postgres.0);
            let ratio = p99_ratio(lite.p99, pg.p99);
            worst = worst.max(ratio);
            let error = [&q.sqlite.1, &q.postgres.1]
                .into_iter()
                .flatten()
                .next()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {}{error} | {} | {} | {} | {} | {} | {ratio:.2}x | {} | {} / {} |",
                q.command,
                q.period,
                ms(lite.median),
                ms(lite.p99),
                ms(pg.median),
                ms(pg.p99),
                verdict(Some(ratio <= P99_RATIO_TARGET && error.is_empty())),
                q.statements.0,
                q.statements.1,
            );
        }
        let _ = writeln!(s, "\nWorst p99 ratio: {worst:.2}x.\n");
        s.push_str(
            "Where a reply's time goes: a read through the store (a blocking thread, a pooled connection) of one \
             `SELECT 1`, and of ten; the difference over nine is one statement's round trip.\n\n",
        );
        s.push_str("| read | SQLite median | SQLite p99 | PostgreSQL median | PostgreSQL p99 |\n| --- | --- | --- | --- | --- |\n");
        let [[lite_one, pg_one], [lite_ten, pg_ten]] = &self.round_trips;
        for (label, lite, pg) in [("1 statement", lite_one, pg_one), ("10 statements", lite_ten, pg_ten)] {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} |",
                ms(lite.median),
                ms(lite.p99),
                ms(pg.median),
                ms(pg.p99)
            );
        }
        let per = |one: &measure::Stats, ten: &measure::Stats| {
            format!("{:.1} µs", ten.median.saturating_sub(one.median).as_secs_f64() * 1e6 / 9.0)
        };
        let _ = writeln!(
            s,
            "| one more statement (median) | {} | | {} | |\n",
            per(lite_one, lite_ten),
            per(pg_one, pg_ten)
        );

        let (Some(sqlite_logs), Some(logs)) = (sqlite_logs, &self.logs) else {
            return s;
        };
        let lite = measure::stats(sqlite_logs.latencies.clone());
        let pg = measure::stats(logs.latencies.clone());
        s.push_str("| durable writes | SQLite | PostgreSQL | ratio |\n| --- | --- | --- | --- |\n");
        let _ = writeln!(
            s,
            "| `/log` through `App::log`, {CONCURRENCY} loggers | {}/s, p99 {} | {}/s, p99 {} | {:.2}x the throughput |",
            count(sqlite_logs.per_second()),
            ms(lite.p99),
            count(logs.per_second()),
            ms(pg.p99),
            logs.per_second() / sqlite_logs.per_second().max(1e-9),
        );
        if let (Some(Ok(lite)), Some(Ok(one))) = (sqlite_serve, self.scale.first()) {
            let (a, b) = (measure::stats(lite.load.latencies.clone()), measure::stats(one.load.latencies.clone()));
            let _ = writeln!(
                s,
                "| `rally serve`, signed `/log` over HTTP, {CONCURRENCY} clients | {}/s, p99 {} | {}/s, p99 {} | {:.2}x the throughput |",
                count(lite.load.per_second()),
                ms(a.p99),
                count(one.load.per_second()),
                ms(b.p99),
                one.load.per_second() / lite.load.per_second().max(1e-9),
            );
        }

        let _ = writeln!(s, "\n### Scale-out: several `rally serve` on one PostgreSQL\n");
        s.push_str(
            "Clients spread evenly over the processes; every process, the load generator and PostgreSQL share this \
             machine's cores. CPU is each `rally serve` process's user + system time during the measured load, as a \
             share of one core over the run's wall time.\n\n",
        );
        s.push_str("| processes | throughput | median | p99 | failures | CPU per process | efficiency vs 1 |\n");
        s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        let one = self.scale.first().and_then(|r| r.as_ref().ok()).map(|r| r.load.per_second());
        for run in &self.scale {
            match run {
                Ok(r) => {
                    let st = measure::stats(r.load.latencies.clone());
                    let wall = r.load.wall.as_secs_f64().max(1e-9);
                    let cpu: Vec<String> =
                        r.processes.iter().map(|p| format!("{:.0} %", p.cpu.as_secs_f64() / wall * 100.0)).collect();
                    let efficiency = one.map_or("-".into(), |one| {
                        format!("{:.0} %", r.load.per_second() / (one * r.instances as f64).max(1e-9) * 100.0)
                    });
                    let _ = writeln!(
                        s,
                        "| {} | {}/s | {} | {} | {} | {} | {efficiency} |",
                        r.instances,
                        count(r.load.per_second()),
                        ms(st.median),
                        ms(st.p99),
                        r.load.failures,
                        cpu.join(", "),
                    );
                }
                Err(e) => {
                    let _ = writeln!(s, "| - | not run: {e} | | | | | |");
                }
            }
        }
        s
    }
}
