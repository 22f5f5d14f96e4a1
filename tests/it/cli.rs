use std::ffi::OsStr;
use std::process::{Command, Output};

use crate::helpers::{TestDb, on_postgres};

const NOW: &str = "2026-11-27T12:00:00Z";

fn rally(db: impl AsRef<OsStr>, args: &[&str]) -> Output {
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

/// `rally` with exactly these arguments: no `--db` or `--now`, for what clap does on its own.
fn rally_bare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rally")).args(args).env_remove("RALLY_DB").output().expect("run rally")
}

#[test]
fn bad_arguments_exit_2_with_clap_s_whole_message_and_usage() {
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
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains("Usage: rally") || err.contains("try '--help'"), "{args:?} printed:\n{err}");
    }
    let o = rally(&db, &["report", "--guild", "1", "--period", "fortnight"]);
    assert!(stderr(&o).contains("`fortnight` is not a period"), "the parser's reason is kept: {}", stderr(&o));
    let o = rally(&db, &["import", "--guild", "1", "/nonexistent/file.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: cannot open /nonexistent/file.csv"), "{}", stderr(&o));
}

#[test]
fn a_missing_required_option_is_named() {
    let o = rally_bare(&["report", "--period", "this-month"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("required arguments were not provided"), "{err}");
    assert!(err.contains("--guild <GUILD>"), "the missing flag is named:\n{err}");
    assert!(err.contains("Usage: rally report"), "{err}");
}

#[test]
fn a_mistyped_subcommand_suggests_the_right_one() {
    let o = rally_bare(&["improt"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("unrecognized subcommand 'improt'"), "{err}");
    assert!(err.contains("a similar subcommand exists: 'import'"), "{err}");
}

#[test]
fn a_value_outside_the_choices_lists_the_allowed_values() {
    let o = rally_bare(&["report", "--guild", "1", "--format", "xlsx"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("invalid value 'xlsx' for '--format <FORMAT>'"), "{err}");
    assert!(err.contains("[possible values: text, json]"), "{err}");
}

#[test]
fn rally_without_a_subcommand_prints_its_help_and_exits_2() {
    let o = rally_bare(&[]);
    assert_eq!(o.status.code(), Some(2), "clap's arg_required_else_help: help, as for a usage error");
    let help = stderr(&o);
    assert!(help.contains("Usage: rally [OPTIONS] <COMMAND>"), "{help}");
    for command in ["import", "export", "report", "run", "serve", "exec", "demo", "guild", "db"] {
        assert!(help.contains(&format!("\n  {command} ")), "`{command}` is listed:\n{help}");
    }
    for (group, commands) in [("guild", ["set", "show"]), ("db", ["backup", "check"])] {
        let o = rally_bare(&[group]);
        assert_eq!(o.status.code(), Some(2));
        let help = stderr(&o);
        assert!(help.contains(&format!("Usage: rally {group} [OPTIONS] <COMMAND>")), "{help}");
        for command in commands {
            assert!(help.contains(&format!("\n  {command} ")), "`{group} {command}` is listed:\n{help}");
        }
    }
}

#[test]
fn every_option_and_argument_is_described_in_help() {
    let commands: [&[&str]; 12] = [
        &["import"],
        &["export"],
        &["report"],
        &["run"],
        &["serve"],
        &["exec"],
        &["demo"],
        &["bench"],
        &["guild", "set"],
        &["guild", "show"],
        &["db", "backup"],
        &["db", "check"],
    ];
    for command in commands {
        // `-h`, the summary: one line per option, so a missing description shows as a bare name.
        let o = rally_bare(&[command, &["-h"]].concat());
        assert_eq!(o.status.code(), Some(0));
        let help = stdout(&o);
        // Each entry is `  --name <VALUE>  description`, or, when clap puts descriptions on their
        // own lines, `  --name <VALUE>` followed by a line indented deeper.
        let mut in_list = false;
        let mut undescribed: Option<&str> = None;
        for line in help.lines() {
            let indent = line.len() - line.trim_start().len();
            if line == "Options:" || line == "Arguments:" {
                in_list = true;
            } else if line.is_empty() {
                in_list = false;
            } else if line.trim().is_empty() {
                // What clap prints on the description's line when there is none.
            } else if in_list && indent > 6 && !line.trim_start().starts_with('-') {
                undescribed = None;
            } else if in_list {
                assert!(undescribed.is_none(), "`rally {}`: {undescribed:?} has no description", command.join(" "));
                let inline = line.trim_start().split_once("  ").is_some_and(|(_, d)| !d.trim().is_empty());
                undescribed = (!inline).then_some(line);
            }
        }
        assert!(undescribed.is_none(), "`rally {}`: {undescribed:?} has no description", command.join(" "));
    }
    let help = stdout(&rally_bare(&["report", "--help"]));
    for form in ["today", "yesterday", "last-quarter", "this-year", "2026-10", "2026-W44", "2026-Q4", "FY2026"] {
        assert!(help.contains(form), "--period lists `{form}`:\n{help}");
    }
    assert!(help.contains("2026-10-01..2026-10-15"), "{help}");
}

#[test]
fn a_command_that_only_reads_refuses_a_missing_database_and_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let copy = dir.path().join("copy.db");
    for args in [
        vec!["report", "--guild", "1"],
        vec!["export", "--guild", "1", "--period", "2026-11"],
        vec!["guild", "show", "--guild", "1"],
        vec!["db", "check"],
        vec!["db", "backup", copy.to_str().unwrap()],
    ] {
        let o = rally(&db, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with(&format!("error: no database at {}", db.display())), "{args:?}: {err}");
        assert!(err.contains("--db"), "says where the path came from: {err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{args:?} left {left:?} behind");
    }
}

#[test]
fn a_guild_rally_has_never_seen_is_an_error_not_an_empty_report() {
    let t = TestDb::new();
    let db = t.arg();
    let o = rally(&db, &["guild", "set", "--guild", "7", "--timezone", "Europe/Berlin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [
        vec!["report", "--guild", "999"],
        vec!["export", "--guild", "999", "--period", "2026-11"],
        vec!["guild", "show", "--guild", "999"],
    ] {
        let o = rally(&db, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!(
                "error: guild 999 has no data in {} (no settings, members or activities); check --guild\n",
                t.location()
            ),
            "{args:?}"
        );
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
    // A known guild with a quiet week is not an error.
    let o = rally(&db, &["report", "--guild", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("No reps yet."), "{}", stdout(&o));
}

#[test]
fn a_backup_to_a_missing_directory_fails_with_one_clean_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    assert!(rally(&db, &["guild", "set", "--guild", "1"]).status.success());
    let o = rally(&db, &["db", "backup", "/no/such/dir/x.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: cannot back up to /no/such/dir/x.db: there is no directory /no/such/dir\n");
}

#[test]
fn an_internal_error_prints_one_clean_line_without_a_debug_dump() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("not-a-database.db");
    std::fs::write(&db, "occurred_at,user_id\n".repeat(100)).unwrap();
    let o = rally(&db, &["db", "check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: cannot open the database at {}: file is not a database", db.display())),
        "{err}"
    );
    for debug in ["Error {", "SqliteFailure", "Open {", "ERROR", "DEBUG"] {
        assert!(!err.contains(debug), "`{debug}` in {err}");
    }
    // The debug form is there for whoever asks for it.
    let o = Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(&db)
        .args(["db", "check"])
        .env("RALLY_LOG", "debug")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("SqliteFailure"), "{}", stderr(&o));
}

#[test]
fn import_report_export_and_check_work_from_the_command_line() {
    let t = TestDb::new();
    let db = t.arg();
    let csv = t.dir().join("in.csv");
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
        "line 5: quantity must be between 1 and 1000, not 0\n\
         4 rows: 3 imported, 0 already imported (skipped), 1 rejected\n\
         Read as `,`-separated (found in the header), amounts as 1,234.56 USD, local times in Europe/Berlin\n\
         Times: 3 with an offset, 0 local, 0 date only (counted at 12:00)\n"
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

    let out = t.dir().join("out.csv");
    let o = rally(&db, &["export", "--guild", "7", "--period", "2026-11", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(exported.lines().count(), 4, "{exported}");
    assert!(exported.starts_with("occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id"));

    let o = rally(&db, &["db", "check"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("integrity: ok"));
    if on_postgres() {
        return; // `db backup` copies a SQLite file; PostgreSQL has pg_dump
    }
    let copy = t.dir().join("copy.db");
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
    let t = TestDb::new();
    let db = t.arg();
    let csv = t.dir().join("in.csv");
    std::fs::write(
        &csv,
        "occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n\
         2026-11-23T09:00:00Z,101,Alice,Alpha,call,12,,,e1\n\
         2026-11-23T10:00:00Z,101,Alice,Alpha,won,1,1250.00,Acme,\n\
         2026-11-24T10:00:00Z,102,Bob,Beta,demo,0,,,e3\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    let o = rally(&db, &["import", "--guild", "7", file]);
    assert!(stderr(&o).contains("guild 7 has no data in") && stderr(&o).contains("set them first"), "{}", stderr(&o));
    rally(&db, &["guild", "set", "--guild", "7", "--timezone", "UTC"]);
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
    assert!(stdout(&o).contains("\n3 rows: 2 imported, 0 already imported (skipped), 1 rejected\n"), "{}", stdout(&o));
    let o = rally(&db, &["db", "check"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn exec_runs_a_command_through_the_pipeline_and_each_run_is_its_own_interaction() {
    let t = TestDb::new();
    let db = t.arg();
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

#[test]
fn import_reads_another_tools_semicolon_file_with_columns_and_number_format_flags() {
    let t = TestDb::new();
    let db = t.arg();
    let csv = t.dir().join("crm.csv");
    std::fs::write(
        &csv,
        "\u{feff}Due date;Owner;Owner name;Type;Count;Value\r\n\
         2026-11-02 09:00;101;Alice;won;1;1.250,50\r\n\
         2026-11-02;101;Alice;calls;3;\r\n\
         2026-11-03 10:00;102;Bob;won;1;\r\n",
    )
    .unwrap();
    let o = rally(&db, &["guild", "set", "--guild", "7", "--timezone", "Europe/Berlin", "--currency", "EUR"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let map = "--columns=occurred_at=Due date,user_id=Owner,user_name=Owner name,kind=Type,quantity=Count,amount=Value";
    let o = rally(&db, &["import", "--guild", "7", map, "--number-format", "1.234,56", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("line 3: `calls` is not an activity kind here; did you mean `call`?"), "{out}");
    assert!(
        out.contains("line 4: warning: a `won` row without an amount counts as a deal won with no revenue\n"),
        "{out}"
    );
    assert!(out.contains("3 rows: 2 imported, 0 already imported (skipped), 1 rejected, 1 warning\n"), "{out}");
    assert!(out.contains(
        "Read as `;`-separated (found in the header), amounts as 1.234,56 EUR, local times in Europe/Berlin\n"
    ));
    assert!(out.contains("Times: 0 with an offset, 2 local, 0 date only (counted at 12:00)\n"), "{out}");
    let o = rally(&db, &["report", "--guild", "7", "--period", "2026-11"]);
    assert!(stdout(&o).contains("Total: 40 points, 2 won, revenue 1,250.50\u{a0}EUR"), "{}", stdout(&o));
    let o = rally(&db, &["import", "--guild", "7", "--columns", "when=Due date", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`when` is not one of rally's columns"), "{}", stderr(&o));
}

#[test]
fn exec_roles_take_manager_in_any_case_and_suggest_it_for_a_near_miss() {
    let t = TestDb::new();
    let db = t.arg();
    let o = rally(&db, &["exec", "--guild", "1", "--user", "9", "--roles", "Manger", "/settings show"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: `Manger` is not a role; did you mean `manager`? \
         --roles takes `manager` (the Manage Server permission) or role ids, comma-separated\n"
    );
    assert!(stdout(&o).is_empty(), "the command did not run: {}", stdout(&o));
    let o = rally(&db, &["exec", "--guild", "1", "--user", "9", "--roles", "Sales", "/settings show"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`Sales` is not a role: --roles takes `manager`"), "{}", stderr(&o));
    let o = rally(&db, &["exec", "--guild", "1", "--user", "9", "--roles", "Managers", "/settings show"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Timezone: UTC"), "{}", stdout(&o));
}

#[test]
fn a_timezone_in_the_wrong_case_is_refused_with_the_right_spelling_and_saves_nothing() {
    let t = TestDb::new();
    let db = t.arg();
    let o = rally(&db, &["guild", "set", "--guild", "1", "--timezone", "europe/berlin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "`europe/berlin` is not an IANA timezone; did you mean `Europe/Berlin`? (the names are case-sensitive)"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!t.exists(), "a refused argument creates no database");
}

#[test]
fn an_id_in_scientific_notation_is_refused_with_the_reason() {
    let t = TestDb::new();
    let db = t.arg();
    let o = rally(&db, &["exec", "--guild", "1.01E+17", "--user", "9", "/me"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("`1.01E+17` looks like an id a spreadsheet turned into scientific notation"));
}

#[test]
fn an_import_into_a_guild_rally_has_never_seen_asks_for_its_settings_and_creates_nothing() {
    let t = TestDb::new();
    let db = t.arg();
    let csv = t.dir().join("in.csv");
    std::fs::write(&csv, "occurred_at,user_id,user_name,kind,quantity\n2026-11-02 09:00,101,Alice,call,1\n").unwrap();
    let o = rally(&db, &["import", "--guild", "5", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("guild 5 has no data in") && err.contains("rally guild set --guild 5 --timezone"), "{err}");
    assert!(!t.exists(), "no database is created for a refused import");
    let o = rally(&db, &["guild", "set", "--guild", "5", "--timezone", "Europe/Berlin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.exists(), "settings make the database");
    let o = rally(&db, &["import", "--guild", "6", csv.to_str().unwrap()]);
    assert!(stderr(&o).contains("guild 6 has no data in"), "a mistyped id is not a new server: {}", stderr(&o));
    let o = rally(&db, &["import", "--guild", "5", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("local times in Europe/Berlin"), "{}", stdout(&o));
}

#[test]
fn a_one_row_import_says_one_row() {
    let t = TestDb::new();
    let db = t.arg();
    assert!(rally(&db, &["guild", "set", "--guild", "1", "--timezone", "UTC"]).status.success());
    let file = t.dir().join("one.csv");
    std::fs::write(&file, "occurred_at,user_id,user_name,kind,quantity\n2026-11-20T09:00:00Z,42,Ann,call,1\n").unwrap();
    let o = rally(&db, &["import", "--guild", "1", file.to_str().unwrap()]);
    assert!(stdout(&o).contains("1 row: 1 imported"), "{}", stdout(&o));
}

#[test]
fn exec_role_ids_are_the_members_roles_so_a_role_left_off_the_boards_can_be_tried_offline() {
    let t = TestDb::new();
    let db = t.arg();
    for (user, line) in [("42", "/log kind:call count:5"), ("43", "/log kind:call count:2")] {
        assert!(rally(&db, &["exec", "--guild", "1", "--user", user, line]).status.success());
    }
    let before = stdout(&rally(&db, &["exec", "--guild", "1", "--user", "43", "/leaderboard"]));
    assert!(before.contains("user 42 — **5**"), "{before}");
    let o = rally(
        &db,
        &["exec", "--guild", "1", "--user", "9", "--roles", "manager", "/settings leaderboard-exclude role:777"],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    // Rep 42 runs a command holding role 777: from then on they are off the boards.
    let o = rally(&db, &["exec", "--guild", "1", "--user", "42", "--roles", "777", "/me"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let board = stdout(&rally(&db, &["exec", "--guild", "1", "--user", "43", "/leaderboard"]));
    assert!(!board.contains("user 42") && board.contains("🥇"), "{board}");
    // `--roles manager` alone says nothing about Discord roles and changes nothing stored.
    rally(&db, &["exec", "--guild", "1", "--user", "42", "--roles", "manager", "/me"]);
    let board = stdout(&rally(&db, &["exec", "--guild", "1", "--user", "43", "/leaderboard"]));
    assert!(board.lines().filter(|l| l.contains("🥇") || l.contains("🥈")).count() == 1, "{board}");
}

#[test]
fn bad_shard_flags_are_refused_with_the_reason_before_the_token_or_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    // (flags, environment, what the error says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 9] = [
        (&["--shards", "2-1", "--total", "3"], &[], "shard range 2-1 runs backwards: write the lower id first (1-2)"),
        (
            &["--shards", "0-3", "--total", "3"],
            &[],
            "shard 3 does not exist in a total of 3: shard ids run from 0 to 2",
        ),
        (&["--shards", "3", "--total", "3"], &[], "shard 3 does not exist in a total of 3"),
        (&["--shards", "0", "--total", "0"], &[], "a bot needs at least one shard"),
        (&["--shards", "0", "--total", "2147483648"], &[], "more shards than Discord accepts (at most 2147483647)"),
        (&["--shards", "one-two", "--total", "3"], &[], "`one-two` is not a shard range: write FIRST-LAST"),
        (&["--shards", "0-1", "--total", "three"], &[], "`three` is not a shard count"),
        (&["--shards", "0-1"], &[], "--shards needs --total"),
        (&[], &[("RALLY_TOTAL_SHARDS", "3")], "--total needs --shards"),
    ];
    for (args, env, says) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_rally"))
            .arg("--db")
            .arg(&db)
            .arg("run")
            .args(args)
            .env_remove("RALLY_DB")
            .env_remove("DISCORD_TOKEN")
            .env_remove("RALLY_SHARDS")
            .env_remove("RALLY_TOTAL_SHARDS")
            .envs(env.iter().copied())
            .output()
            .expect("run rally");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?} {env:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{args:?} {env:?} printed:\n{err}");
        assert!(!err.contains("DISCORD_TOKEN"), "the flags are checked before the token: {err}");
        assert!(!db.exists(), "{args:?}: nothing is created");
    }
}

#[test]
fn run_without_a_token_and_serve_with_a_malformed_key_say_so_in_one_line_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let cases: [(&[&str], &str); 2] = [
        (&["run"], "set DISCORD_TOKEN to your bot's token"),
        (&["serve", "--listen", "127.0.0.1:0", "--public-key", "not-a-key"], "the public key must be 64 hexadecimal"),
    ];
    for (args, says) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_rally"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env_remove("RALLY_DB")
            .env_remove("DISCORD_TOKEN")
            .env_remove("RALLY_PUBLIC_KEY")
            .output()
            .expect("run rally");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{args:?} printed:\n{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line, nothing from a background task:\n{err}");
        assert!(!db.exists(), "{args:?}: nothing is created");
    }
}

#[test]
fn a_reader_that_stops_reading_ends_the_output_quietly_with_exit_0() {
    let t = TestDb::new();
    let db = t.arg();
    let o = rally(&db, &["guild", "set", "--guild", "7", "--timezone", "UTC"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `rally export | head -0`: the pipe is closed before rally writes its first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(&db)
        .args(["--now", NOW, "export", "--guild", "7", "--period", "this-year"])
        .env_remove("RALLY_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rally");
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "nothing said about the closed pipe");
}

#[test]
fn a_postgres_database_without_rally_tables_is_named_as_such_for_a_command_that_only_reads() {
    if !on_postgres() {
        return;
    }
    let t = TestDb::new();
    let o = rally(t.arg(), &["db", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("holds no rally tables yet (rally creates them on the first exec"), "{err}");
    assert!(!err.contains("no database at"), "the database is there: {err}");
}

#[test]
fn a_postgres_server_that_cannot_be_reached_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-server-here").display().to_string().replace('/', "%2F");
    let url = format!("postgresql://rally:s3cret@{socket}/rally");
    let o = rally(&url, &["db", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot connect to the database at") && err.contains("error connecting to server: "), "{err}");
    assert!(err.contains("No such file or directory"), "the cause, not just that it failed: {err}");
    assert!(!err.contains("s3cret"), "never the password: {err}");
}

/// `rally` with these arguments and `RALLY_DB` set to `db` (no `--now`).
fn rally_with_env_db(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rally")).args(args).env("RALLY_DB", db).output().expect("run rally")
}

#[test]
fn a_database_refused_or_shown_in_help_never_shows_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "S3cretPW";
    let refused = [
        format!("mysql://u:{secret}@localhost/rally"),
        format!("postgress://u:{secret}@localhost/rally"),
        format!("sqlite://u:{secret}@rally.db"),
        format!("host=/tmp user=u password='{secret} dbname=rally"),
        format!("usr=u password={secret}"),
    ];
    for db in &refused {
        // As --db, as RALLY_DB, and as a copy's FROM and TO: one line, exit 2, no password, no file.
        for o in [
            rally_bare(&["--db", db, "db", "check"]),
            rally_with_env_db(db, &["db", "check"]),
            rally_bare(&["db", "copy", db, dir.path().join("to.db").to_str().unwrap()]),
            rally_bare(&["db", "copy", dir.path().join("from.db").to_str().unwrap(), db]),
        ] {
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{db}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("error: ") && !err.contains(secret), "{err}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created");
    let e = stderr(&rally_bare(&["db", "copy", &refused[1], "to.db"]));
    assert!(e.starts_with("error: FROM: `postgress://`") && e.contains("Did you mean postgres://?"), "{e}");

    // The help names the variable, never its value.
    for args in [vec!["--help"], vec!["db", "check", "--help"], vec!["serve", "--help"]] {
        let o = rally_with_env_db(&format!("postgresql://u:{secret}@localhost/rally"), &args);
        assert!(o.status.success() && stdout(&o).contains("RALLY_DB") && !stdout(&o).contains(secret), "{args:?}");
    }

    // A copy names its own databases: a RALLY_DB it does not use cannot stop it.
    let from = dir.path().join("from.db");
    assert!(rally(&from, &["guild", "set", "--guild", "5", "--timezone", "Europe/Berlin"]).status.success());
    let to = dir.path().join("to.db");
    let o = rally_with_env_db("postgress://typo", &["db", "copy", from.to_str().unwrap(), to.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).starts_with("copied "), "{}", stderr(&o));
}
