//! "Did you mean ...?": a kind, metric or timezone typed in another case or close to a known one
//! is refused with the name to use, and nothing changes; spreadsheet-mangled ids say why.

use rally::domain::period::PeriodSpec;
use rally::handlers::{MANAGE_GUILD, Response, dispatch};

use crate::helpers::*;
use crate::slash::invocation;

const NOW: &str = "2026-11-27T15:00:00Z";
const KINDS: &str = "call, email, meeting, demo, proposal, won, lost";

async fn run(t: &TestApp, id: u64, permissions: u64, line: &str) -> String {
    match dispatch(&t.app, &invocation(id, 9, permissions, line), at(NOW)).await {
        Response::Message(m) => message_text(&m),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plural_kind_suggests_the_singular_and_logs_nothing() {
    let t = spawn_app();
    run(&t, 1, 0, "/log kind:call").await;
    let before = t.app.store.audit_count(1).await.unwrap();
    for (i, typed) in ["calls", "Calls"].into_iter().enumerate() {
        let reply = run(&t, 10 + i as u64, 0, &format!("/log kind:{typed}")).await;
        assert_eq!(
            reply,
            format!("⚠️ `calls` is not an activity kind here; did you mean `call`? The kinds are: {KINDS}")
        );
    }
    let reply = run(&t, 12, 0, "/log kind:emial").await;
    assert!(reply.contains("did you mean `email`?"), "{reply}");
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before);
    let r = t.app.report(id(1), &PeriodSpec::Today, None, at(NOW)).await.unwrap();
    assert_eq!(r.totals.points, 1, "only the first /log counted");
}

#[tokio::test]
async fn a_timezone_in_the_wrong_case_is_refused_with_the_right_spelling_and_changes_nothing() {
    let t = spawn_app();
    let before = t.app.store.audit_count(1).await.unwrap();
    let reply = run(&t, 1, MANAGE_GUILD, "/settings timezone timezone:europe/berlin").await;
    assert_eq!(
        reply,
        "⚠️ `europe/berlin` is not an IANA timezone; did you mean `Europe/Berlin`? (the names are case-sensitive)"
    );
    let reply = run(&t, 2, MANAGE_GUILD, "/settings timezone timezone:\"america/new york\"").await;
    assert_eq!(reply, "⚠️ `america/new york` is not an IANA timezone; did you mean `America/New_York`?");
    assert_eq!(t.app.store.guild_settings(1).await.unwrap().timezone, chrono_tz::UTC);
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before);
    let reply = run(&t, 3, MANAGE_GUILD, "/settings timezone timezone:Europe/Berlin").await;
    assert!(reply.contains("Timezone: Europe/Berlin"), "{reply}");
}

#[tokio::test]
async fn removing_a_kind_by_its_plural_suggests_the_kind_and_retires_nothing() {
    let t = spawn_app();
    run(&t, 1, 0, "/log kind:demo").await;
    let before = t.app.store.audit_count(1).await.unwrap();
    let reply = run(&t, 2, MANAGE_GUILD, "/settings kind-remove name:demos").await;
    assert_eq!(reply, format!("⚠️ `demos` is not an activity kind here; did you mean `demo`? The kinds are: {KINDS}"));
    let reply = run(&t, 3, MANAGE_GUILD, "/settings kind-remove name:juggling").await;
    assert_eq!(reply, format!("⚠️ `juggling` is not an activity kind here; try one of: {KINDS}"));
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before);
    assert_eq!(t.app.store.kinds(1).await.unwrap().len(), 7);
}

#[tokio::test]
async fn a_metric_close_to_a_kind_or_a_named_metric_is_suggested_wherever_metrics_are_typed() {
    let t = spawn_app();
    run(&t, 1, 0, "/log kind:meeting").await;
    let before = t.app.store.audit_count(1).await.unwrap();
    let cases = [
        (
            "/leaderboard metric:calls",
            format!(
                "⚠️ `calls` is not a metric here; did you mean `call`? Use points, revenue, goal, improvement or a kind: {KINDS}"
            ),
        ),
        (
            "/goal set scope:me metric:reveune target:5 period:week",
            format!(
                "⚠️ `reveune` is not a metric here; did you mean `revenue`? \
                 Use points, revenue, deals-won or a kind: {KINDS}"
            ),
        ),
        (
            "/compete create name:Dash metric:meetings between:reps scoring:total start:2026-11-23 end:2026-11-27",
            format!(
                "⚠️ `meetings` is not a metric here; did you mean `meeting`? \
                 Use points, revenue, deals-won or a kind: {KINDS}"
            ),
        ),
        (
            "/schedule add what:leaderboard channel:<#77> at:\"daily 17:00\" metric:demos",
            format!(
                "⚠️ `demos` is not a metric here; did you mean `demo`? Use points, revenue, goal, improvement or a kind: {KINDS}"
            ),
        ),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        assert_eq!(&run(&t, 10 + i as u64, MANAGE_GUILD, line).await, want, "{line}");
    }
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before);
}

#[tokio::test]
async fn an_id_a_spreadsheet_put_in_scientific_notation_is_refused_with_the_reason() {
    let t = spawn_app();
    let csv = format!("{HEADER}2026-11-02T09:00:00Z,1.01E+17,Alice,Alpha,call,2,,,sci1\n");
    let s = import(&t.app, 1, &csv, NOW).await;
    assert_eq!(s.imported, 0);
    assert_eq!(s.rejected.len(), 1);
    let reason = &s.rejected[0].reason;
    assert!(
        reason.contains(
            "`1.01E+17` looks like an id a spreadsheet turned into scientific notation, which loses its last digits; \
             format the column as text (or the cell as a number with 0 decimals) and export again"
        ),
        "{reason}"
    );
    assert!(t.app.store.members(1).await.unwrap().is_empty());
}
