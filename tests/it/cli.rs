use std::path::Path;
use std::process::{Command, Output};

const NOW: &str = "2026-11-27T12:00:00Z";

fn rally(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db)
        .args(["--now", NOW])
        .args(args)
        .env_remove("RALLY_DB")
        .output()
        .expect("run rally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_arguments_exit_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    for args in [
        vec!["report", "--guild", "1", "--period", "fortnight"],
        vec!["report", "--guild", "abc"],
        vec!["report"],
        vec!["import", "--guild", "1"],
        vec!["frobnicate"],
        vec!["guild", "set", "--guild", "1", "--timezone", "Mars/Base"],
        vec!["guild", "set", "--guild", "1", "--fiscal-year-start", "13"],
        vec!["report", "--guild", "1", "--now", "last tuesday"],
    ] {
        let o = rally(&db, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?} printed:\n{err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    let o = rally(&db, &["import", "--guild", "1", "/nonexistent/file.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: cannot open /nonexistent/file.csv"), "{}", stderr(&o));
}

#[test]
fn import_report_export_and_check_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n\
         2026-11-23T09:00:00+01:00,101,Alice,Alpha,call,12,,,e1\n\
         2026-11-23T10:00:00+01:00,101,Alice,Alpha,won,1,1250.00,Acme,e2\n\
         2026-11-24T10:00:00+01:00,102,Bob,Beta,demo,2,,,e3\n\
         2026-11-24T10:00:00+01:00,102,Bob,Beta,demo,0,,,e4\n",
    )
    .unwrap();
    let o = rally(&db, &["guild", "set", "--guild", "7", "--timezone", "Europe/Berlin", "--week-start", "sunday"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rally(&db, &["import", "--guild", "7", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a rejected row makes the exit code say so");
    assert_eq!(
        stdout(&o),
        "line 5: quantity must be between 1 and 1000, not 0\n4 rows: 3 imported, 0 already imported (skipped), 1 rejected\n"
    );

    let o = rally(&db, &["report", "--guild", "7", "--period", "this-week", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // The week starts on Sunday 22 November, local midnight in Berlin.
    assert_eq!(v["period"]["start"], "2026-11-21T23:00:00Z");
    assert_eq!(v["members"][0]["user_name"], "Alice");
    assert_eq!(v["members"][0]["points"], 32);
    assert_eq!(v["members"][0]["revenue_cents"], 125000);
    assert_eq!(v["members"][0]["counts"]["call"], 12);
    assert_eq!(v["teams"][1]["name"], "Beta");
    assert_eq!(v["teams"][1]["points_per_member"], 10.0);

    let o = rally(&db, &["report", "--guild", "7", "--period", "this-week"]);
    let text = stdout(&o);
    assert!(text.contains("Alice") && text.contains("1,250.00"), "{text}");

    let out = dir.path().join("out.csv");
    let o = rally(&db, &["export", "--guild", "7", "--period", "2026-11", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(exported.lines().count(), 4, "{exported}");
    assert!(exported.starts_with("occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id"));

    let o = rally(&db, &["db", "check"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("integrity: ok"));
    let copy = dir.path().join("copy.db");
    let o = rally(&db, &["db", "backup", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rally(&copy, &["report", "--guild", "7", "--period", "this-week", "--format", "json"]);
    let w: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(w["members"], v["members"]);
    let o = rally(&db, &["db", "backup", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a backup never overwrites a file");
}

#[test]
fn import_remove_takes_a_files_rows_back_and_prints_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n\
         2026-11-23T09:00:00Z,101,Alice,Alpha,call,12,,,e1\n\
         2026-11-23T10:00:00Z,101,Alice,Alpha,won,1,1250.00,Acme,\n\
         2026-11-24T10:00:00Z,102,Bob,Beta,demo,0,,,e3\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    rally(&db, &["import", "--guild", "7", file]);
    let o = rally(&db, &["import", "--remove", "--guild", "7", file]);
    assert_eq!(o.status.code(), Some(1), "a rejected row makes the exit code say so");
    assert_eq!(
        stdout(&o),
        "line 4: quantity must be between 1 and 1000, not 0\n\
         3 rows: 2 removed, 0 not found (never imported, or already removed), 1 rejected\n"
    );
    let o = rally(&db, &["db", "check"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let o = rally(&db, &["import", "--remove", "--guild", "7", "--format", "json", file]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["removed"].as_u64(), v["not_found"].as_u64()), (Some(0), Some(2)));
    let o = rally(&db, &["import", "--guild", "7", file]);
    assert!(stdout(&o).ends_with("3 rows: 2 imported, 0 already imported (skipped), 1 rejected\n"), "{}", stdout(&o));
    let o = rally(&db, &["db", "check"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn exec_runs_a_command_through_the_pipeline_and_each_run_is_its_own_interaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    for _ in 0..2 {
        let o = rally(&db, &["exec", "--guild", "1", "--user", "42", "/log kind:call count:2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("✅ Logged **2 × call** (+2 pts)"), "{}", stdout(&o));
    }
    // Another rep with the same --now is a different interaction, not a replay of the first.
    let o = rally(&db, &["exec", "--guild", "1", "--user", "43", "/log kind:demo"]);
    assert!(stdout(&o).contains("✅ Logged **1 × demo**"), "{}", stdout(&o));
    let o = rally(&db, &["exec", "--guild", "1", "--user", "42", "--json", "/me"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["type"], 4);
    assert_eq!(v["data"]["embeds"][0]["fields"][0]["value"], "**4** · +4 (new) vs previous");
    let o = rally(&db, &["exec", "--guild", "1", "--user", "42", "/kpi team"]);
    assert_eq!(o.status.code(), Some(1), "an error reply exits 1");
    let o = rally(&db, &["exec", "--guild", "1", "--user", "42", "/log count:2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the option `kind` is required"), "{}", stderr(&o));
}
