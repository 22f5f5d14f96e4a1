//! `rally bench` at a tiny scale: the report has every figure with a baseline next to it. Checks
//! the shape only; timings depend on the machine and are never asserted.

use std::process::Command;

/// The figures of issues 6, 12, 14, 15 and 16, by the start of their row.
const FIGURES: [&str; 34] = [
    "| durable `/log` via `App::log`",
    "| durable `/log` via `rally serve`",
    "| resident memory of `rally serve` under that load",
    "| `rally serve` with 200 wallboards of the guild open",
    "| resident memory of `rally serve` with 200 wallboards open",
    "| wallboard update: `/log` acknowledged to on every one of the 200 screens",
    "| `/me` this-week",
    "| `/me` this-month",
    "| `/me` this-year",
    "| `/kpi team` (10 reps) this-week",
    "| `/kpi team` (10 reps) this-month",
    "| `/kpi team` (10 reps) this-year",
    "| `/leaderboard` (20 reps) this-week",
    "| `/leaderboard` (20 reps) this-month",
    "| `/leaderboard` (20 reps) this-year",
    "| `/leaderboard` ▶ to the last page (20 reps) this-week",
    "| `/leaderboard` ▶ to the last page (20 reps) this-month",
    "| `/leaderboard` ▶ to the last page (20 reps) this-year",
    "| `/leaderboard metric:goal` (20 reps) this-week",
    "| `/leaderboard metric:goal` (20 reps) this-month",
    "| `/leaderboard metric:improvement` (20 reps) this-week",
    "| `/leaderboard metric:improvement` (20 reps) this-month",
    "| `/leaderboard metric:improvement` (20 reps) this-year",
    "| `/leaderboard scope:teams` (2 teams) this-week",
    "| `/leaderboard scope:teams` (2 teams) this-month",
    "| `/leaderboard scope:teams` (2 teams) this-year",
    "| `/kpi rep` with a 6-month history and its chart this-month",
    "| `/kpi team history:6` (10 reps) this-month",
    "| growth: each query",
    "| start to ready",
    "| import of a 200-row CSV",
    "| CRM backfill of 2,000 activities",
    "| Pipedrive webhook POST to the activity showing in `/me`",
    "| intake API POST to the activity showing in `/me`",
];

#[test]
fn a_tiny_bench_reports_every_figure_with_its_baseline_and_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCH.md");
    let run = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["bench", "--scale", "tiny", "--out"])
        .arg(&out)
        .output()
        .expect("rally bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "rally bench failed: {}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    let written = std::fs::read_to_string(&out).expect("the report file is written");
    assert_eq!(written.trim(), stdout.trim(), "the file holds what was printed");

    assert!(stdout.contains("| figure | measured | SQLite baseline (same run) | vs baseline | target | verdict |"));
    assert!(stdout.contains("Command: `") && stdout.contains("bench --scale tiny"), "the exact command is quoted");
    assert!(stdout.contains("Machine: ") && stdout.contains("CPUs"), "the machine is described");
    let table = main_table(&stdout);
    assert_eq!(table.len(), FIGURES.len(), "one row per figure:\n{}", table.join("\n"));
    for (row, figure) in table.iter().zip(FIGURES) {
        assert!(row.starts_with(figure), "expected a row for {figure}, got {row}");
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 6, "six columns in {row}");
        assert!(!cells[2].trim().is_empty(), "a baseline cell in {row}");
        assert!(!cells[1].contains("not run"), "every figure is measured at tiny scale: {row}");
        assert!(!cells[1].contains("reply was an error") && !cells[1].contains("failed:"), "{row}");
        assert!(["met", "**MISSED**"].contains(&cells[5].trim()), "a verdict in {row}");
    }
}

/// `rally bench --scale tiny FLAG` (a run of one part): what it printed, checked to be what it wrote.
fn tiny_part(flag: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("PART.md");
    let run = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["bench", "--scale", "tiny", flag, "--out"])
        .arg(&out)
        .output()
        .expect("rally bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "rally bench {flag} failed: {}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), stdout.trim());
    stdout
}

/// The rows of a report's first table (after its header and separator).
fn main_table(report: &str) -> Vec<&str> {
    report.lines().skip_while(|l| !l.starts_with("| figure")).skip(2).take_while(|l| l.starts_with('|')).collect()
}

#[test]
fn a_replies_only_bench_reports_each_reply_and_its_growth_and_nothing_else() {
    let stdout = tiny_part("--replies-only");
    assert!(stdout.contains("## rally bench: replies only, tiny scale"), "{stdout}");
    let table = main_table(&stdout);
    // The replies and the growth row: the figures between `/me` this-week and the growth, no writes.
    let first = FIGURES.iter().position(|f| f.starts_with("| `/me` this-week")).unwrap();
    let growth = FIGURES.iter().position(|f| f.starts_with("| growth")).unwrap();
    assert_eq!(table.len(), growth + 1 - first, "{}", table.join("\n"));
    for (row, figure) in table.iter().zip(&FIGURES[first..=growth]) {
        assert!(row.starts_with(figure), "expected a row for {figure}, got {row}");
        assert!(!row.contains("reply was an error"), "{row}");
    }
    assert!(
        stdout.contains("### Queries in detail") && stdout.contains("| `/kpi team history:6` (10 reps) this-month")
    );
    assert!(!stdout.contains("durable `/log`") && !stdout.contains("CRM backfill"), "{stdout}");
}

#[test]
fn a_wallboards_only_bench_reports_the_three_wallboard_rows_from_six_measured_runs_and_nothing_else() {
    let stdout = tiny_part("--wallboards-only");
    assert!(stdout.contains("## rally bench: wallboards only, tiny scale"), "{stdout}");
    let table = main_table(&stdout);
    let walls: Vec<&str> =
        FIGURES.iter().copied().filter(|f| f.contains("200 wallboards") || f.contains("200 screens")).collect();
    assert_eq!(table.len(), walls.len(), "{}", table.join("\n"));
    for (row, figure) in table.iter().zip(walls) {
        assert!(row.starts_with(figure), "expected a row for {figure}, got {row}");
        assert!(!row.contains("not run") && !row.contains("failed:"), "{row}");
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert!(["met", "**MISSED**"].contains(&cells[5].trim()), "a verdict in {row}");
    }
    // Every run's throughput and peak, in the order they ran: three of each side.
    let runs = stdout.lines().find(|l| l.contains("throughput of each run")).expect("the runs' throughputs");
    assert_eq!(runs.matches("/s").count(), 6, "{runs}");
    let peaks = stdout.lines().find(|l| l.contains("peak resident memory (VmHWM) of each run")).expect("the peaks");
    assert_eq!(peaks.matches(" MB").count(), 6, "{peaks}");
    assert!(!stdout.contains("| `/me`") && !stdout.contains("CRM backfill"), "{stdout}");
}

#[test]
fn an_unknown_scale_is_refused_by_the_command_line() {
    let run = Command::new(env!("CARGO_BIN_EXE_rally")).args(["bench", "--scale", "huge"]).output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("huge"));
}

#[test]
fn a_tiny_bench_on_postgres_adds_replies_side_by_side_and_the_scale_out_of_three_instances() {
    let Some(db) = rally::store::postgres::testing::scratch_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCH.md");
    let run = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["--db", db.url(), "bench", "--scale", "tiny", "--out"])
        .arg(&out)
        .output()
        .expect("rally bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "rally bench failed: {}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    let section = stdout.split("## PostgreSQL, side by side with SQLite").nth(1).expect("the PostgreSQL section");
    let replies: Vec<&str> =
        section.lines().skip_while(|l| !l.starts_with("| reply")).skip(2).take_while(|l| l.starts_with('|')).collect();
    assert!(replies.len() >= 20, "every reply measured on both: {replies:#?}");
    for row in &replies {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 9, "{row}");
        assert!(cells[6].ends_with('x') && ["met", "**MISSED**"].contains(&cells[7].trim()), "{row}");
        // Statements per reply, SQLite / PostgreSQL: the same reads on both, at least one each.
        let statements: Vec<u64> = cells[8].trim().split(" / ").map(|n| n.parse().unwrap()).collect();
        assert!(statements.len() == 2 && statements.iter().all(|n| *n >= 1), "{row}");
        assert!(!cells[0].contains("⚠️"), "a reply was an error on PostgreSQL: {row}");
    }
    assert!(section.contains("| `/log` through `App::log`, 64 loggers |"), "{section}");
    let scale: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| processes"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(scale.len(), 3, "1, 2 and 3 processes: {scale:#?}");
    for (k, row) in scale.iter().enumerate() {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells[0].trim(), (k + 1).to_string(), "{row}");
        assert_eq!(cells[4].trim(), "0", "no failed request: {row}");
        assert_eq!(cells[5].split(", ").count(), k + 1, "CPU of every process: {row}");
    }
    // A second run into the same database is refused: it already holds the org.
    let again = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["--db", db.url(), "bench", "--scale", "tiny", "--out"])
        .arg(dir.path().join("again.md"))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds one"), "{again:?}");
}

#[test]
fn a_second_replies_only_bench_on_postgres_measures_on_the_org_the_first_loaded_without_loading_it_again() {
    let Some(db) = rally::store::postgres::testing::scratch_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rally"))
            .args(["--db", db.url(), "bench", "--scale", "tiny", "--replies-only", "--out"])
            .arg(dir.path().join(name))
            .output()
            .expect("rally bench runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "rally bench failed: {stderr}\n{stdout}");
        let section = stdout.split("## PostgreSQL, side by side with SQLite").nth(1).expect("the PostgreSQL section");
        let replies =
            section.lines().skip_while(|l| !l.starts_with("| reply")).skip(2).take_while(|l| l.starts_with('|'));
        assert!(replies.count() >= 20, "every reply measured on both: {section}");
        (section.to_owned(), stderr.into_owned())
    };
    let (first, first_progress) = run("first.md");
    assert!(first.contains("rows/s through the store's writer"), "{first}");
    assert!(first_progress.contains("PostgreSQL: loading"), "{first_progress}");
    // The replies wrote nothing: the same org, so the second run measures on it as it is.
    let (second, second_progress) = run("second.md");
    assert!(second.contains("by an earlier run: the database held it"), "{second}");
    assert!(!second_progress.contains("PostgreSQL: loading"), "loaded again: {second_progress}");
    assert!(second_progress.contains("equal: measuring on it as it is"), "{second_progress}");
}
