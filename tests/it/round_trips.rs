//! Statements per reply: on PostgreSQL each statement is one round trip (~45 µs on one machine),
//! so the replies `rally bench` measures keep to a few; and the figures those few statements
//! read are the same as the replies showed before, across period edges, on both backends.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};

use super::helpers::{HEADER, at, import, invocation, message_text, spawn_app};

const GUILD: u64 = 4_200_000_000_000_001;
const MANAGER: u64 = 9;

async fn reply(app: &App, user: u64, line: &str, n: u64, now: DateTime<Utc>) -> String {
    let action = match line.strip_prefix("press ") {
        Some(command) => {
            let call = cmdline::parse(command).unwrap();
            Action::Button { custom_id: rally::handlers::paging::custom_id(&call, 1000, 0).unwrap() }
        }
        None => Action::Command(cmdline::parse(line).unwrap()),
    };
    let inv = Invocation { channel: None, ..invocation(GUILD, user, 4_920_000_000_000_000 + n, MANAGE_GUILD, action) };
    match dispatch(app, &inv, now).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

/// A team of three reps with goals of every subject, and activities in this and last week, month
/// and year.
async fn org(app: &App, now: DateTime<Utc>) {
    let setup = [
        "/team create name:Alpha",
        "/team add team:Alpha user:<@5>",
        "/team add team:Alpha user:<@6>",
        "/team add team:Alpha user:<@7>",
        "/goal set scope:rep user:<@5> metric:points target:60 period:week",
        "/goal set scope:rep user:<@5> metric:revenue target:20000 period:month",
        "/goal set scope:rep user:<@5> metric:call target:200 period:year",
        "/goal set scope:team team:Alpha metric:points target:300 period:week",
        "/goal set scope:guild metric:points target:2000 period:month",
    ];
    for (i, line) in setup.iter().enumerate() {
        let text = reply(app, MANAGER, line, i as u64, now).await;
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
    }
    let mut csv = HEADER.to_string();
    let rows = [
        ("2026-01-05T10:00:00Z", 5, "call", 4, ""),
        ("2025-12-30T10:00:00Z", 5, "demo", 1, ""),
        ("2026-10-30T10:00:00Z", 5, "won", 1, "900"),
        ("2026-11-02T10:00:00Z", 5, "call", 3, ""),
        ("2026-11-20T10:00:00Z", 5, "meeting", 2, ""),
        ("2026-11-23T09:00:00Z", 5, "won", 1, "1500"),
        ("2026-11-24T09:00:00Z", 5, "lost", 1, ""),
        ("2026-11-25T09:00:00Z", 5, "call", 5, ""),
        ("2026-11-26T09:00:00Z", 6, "demo", 2, ""),
        ("2026-11-26T11:00:00Z", 7, "call", 9, ""),
        ("2026-11-01T23:30:00Z", 7, "email", 2, ""),
    ];
    for (i, (when, user, kind, quantity, amount)) in rows.iter().enumerate() {
        csv.push_str(&format!("{when},{user},rep{user},Alpha,{kind},{quantity},{amount},,x{i}\n"));
    }
    assert_eq!(import(app, GUILD, &csv, "2026-11-27T12:00:00Z").await.imported, rows.len());
}

#[tokio::test]
async fn the_benched_replies_each_run_a_few_statements() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org(&t.app, now).await;
    let lines = [
        "/me",
        "/kpi team team:Alpha",
        "/leaderboard",
        "press /leaderboard",
        "/leaderboard metric:goal",
        "/leaderboard metric:improvement",
        "/leaderboard scope:teams",
    ];
    let mut n = 100;
    let mut counts = Vec::new();
    for line in lines {
        for period in ["this-week", "this-month", "this-year"] {
            let line = format!("{line} period:{period}");
            n += 1;
            // Once to warm the connection (its prepared statements and kind names), once counted.
            reply(&t.app, 5, &line, n, now).await;
            let before = t.app.store.read_statements();
            let text = reply(&t.app, 5, &line, n, now).await;
            let statements = t.app.store.read_statements() - before;
            assert!(!text.starts_with("⚠️"), "{line}: {text}");
            counts.push((line, statements));
        }
    }
    // Before issue 13's fourth step: /me 7, /kpi team 6/5/5, boards 2, goal boards 3,
    // improvement boards 3.
    let expected = |line: &str| match line.split(" period:").next().unwrap_or_default() {
        "/me" => 2,
        "/kpi team team:Alpha" if line.ends_with("this-week") => 6,
        "/kpi team team:Alpha" => 5,
        "/leaderboard metric:goal" => 2,
        _ => 1,
    };
    for (line, n) in &counts {
        assert_eq!(*n, expected(line), "statements of {line}: {counts:?}");
    }
}
