use rally::app::AppError;
use rally::domain::period::PeriodSpec;

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z";

#[tokio::test]
async fn every_bad_row_is_reported_with_its_line_and_nothing_half_written() {
    let t = spawn_app();
    // The bad rows name a team and members that exist nowhere else: none of them may appear.
    let csv = format!(
        "{HEADER}\
2026-11-02T09:00:00Z,101,Alice,Alpha,call,2,,,ok1
yesterday,901,Ghost1,Ghosts,call,1,,,b1
2026-11-02T09:00:00Z,902,Ghost2,Ghosts,dance,1,,,b2
2026-11-02T09:00:00Z,903,Ghost3,Ghosts,call,0,,,b3
2026-11-02T09:00:00Z,904,Ghost4,Ghosts,call,5000,,,b4
2026-11-02T09:00:00Z,905,Ghost5,Ghosts,won,1,-10.00,,b5
2026-11-02T09:00:00Z,906,Ghost6,Ghosts,call,1,10.00,,b6
2026-11-28T09:00:00Z,907,Ghost7,Ghosts,call,1,,,b7
2026-11-02T09:00:00Z,bob,Ghost8,Ghosts,call,1,,,b8
2026-11-02T09:00:00Z,909,Ghost9,Ghosts,call,1,12.345,,b9
2026-11-02T09:00:00Z,910,Ghost10,Ghosts,call,1,,{long},b10
2026-11-03T09:00:00Z,102,Bob,Alpha,won,1,99.50,,ok2
",
        long = "x".repeat(501)
    );
    let s = import(&t.app, 1, &csv, NOW).await;
    assert_eq!(s.imported, 2);
    let got: Vec<(u64, &str)> = s.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (
                3,
                "occurred_at: `yesterday` is not a time rally reads; write 2026-11-02 09:00 (local time), 2026-11-02T09:00:00+01:00 (with an offset) or 2026-11-02 (a day, counted at 12:00)"
            ),
            (4, "`dance` is not an activity kind here; try one of: call, email, meeting, demo, proposal, won, lost"),
            (5, "quantity must be between 1 and 1000, not 0"),
            (6, "quantity must be between 1 and 1000, not 5000"),
            (7, "amount: an amount cannot be negative"),
            (8, "`call` does not carry an amount; only kinds like `won` do"),
            (9, "occurred_at 2026-11-28T09:00:00Z is in the future"),
            (10, "user_id: `bob` is not a Discord id"),
            (
                11,
                "amount: `12.345` has 3 decimals, but USD has 2; in the 1.234,56 format it would mean 12,345.00\u{a0}USD. Write amounts like 1,250.50 or 1250.50"
            ),
            (12, "note is 501 characters long; the limit is 500"),
        ]
    );
    let teams: Vec<String> = t.app.store.teams(1).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(teams, ["Alpha"]);
    let members: Vec<u64> = t.app.store.members(1).await.unwrap().into_iter().map(|m| m.user_id).collect();
    assert_eq!(members, [101, 102]);
    let r = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!((r.totals.points, r.totals.revenue), (22, 9_950));
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let t = spawn_app();
    // Two identical rows without an external id are two real calls: both count, once each.
    let csv = format!(
        "{HEADER}\
2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,
2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,
2026-11-02T10:00:00Z,101,Alice,Alpha,won,1,100,,crm-7
"
    );
    let first = import(&t.app, 1, &csv, NOW).await;
    assert_eq!((first.imported, first.duplicates), (3, 0));
    let second = import(&t.app, 1, &csv, NOW).await;
    assert_eq!((second.imported, second.duplicates, second.rejected.len()), (0, 3, 0));
    let r = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(r.totals.points, 22);
    // Day, month and points rollups written by the batched import equal a recomputation.
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_export_imports_into_another_guild_unchanged() {
    let t = spawn_app();
    let csv = format!(
        "{HEADER}\
2026-11-02T09:00:00+01:00,101,Alice,Alpha,call,12,,\"first call, \"\"warm\"\"\nsecond line\",e1
2026-11-02T10:00:00+01:00,101,Alice,Alpha,won,1,1250.00,Acme,e2
2026-11-03T10:00:00-05:00,102,Bob,,demo,2,,,
2026-11-04T11:00:00Z,103,Zoë,Beta,meeting,3,,Grüße,e4
"
    );
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 4);
    let mut exported = Vec::new();
    t.app.export_csv(id(1), &PeriodSpec::ThisMonth, at(NOW), &mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();

    // Into the same guild: nothing new.
    let again = import(&t.app, 1, &exported, NOW).await;
    assert_eq!((again.imported, again.duplicates), (0, 4), "{exported}");
    // Into a fresh guild: the same activities, and the same export.
    assert_eq!(import(&t.app, 2, &exported, NOW).await.imported, 4);
    let mut second = Vec::new();
    t.app.export_csv(id(2), &PeriodSpec::ThisMonth, at(NOW), &mut second).await.unwrap();
    assert_eq!(exported, String::from_utf8(second).unwrap());
    let a = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    let b = t.app.report(id(2), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(a.totals, b.totals);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());

    let json = t.app.export_json(id(1), &PeriodSpec::ThisMonth, at(NOW)).await.unwrap();
    assert_eq!(json[0]["note"], "first call, \"warm\"\nsecond line");
    assert_eq!(json[1]["amount"], "1,250.00");
    assert_eq!(json[3]["user_name"], "Zoë");
}

#[tokio::test]
async fn a_file_without_required_columns_is_refused_whole() {
    let t = spawn_app();
    let err = t
        .app
        .import_csv(id(1), "when,user\n2026-11-02T09:00:00Z,101\n".as_bytes(), "test".into(), at(NOW))
        .await
        .unwrap_err();
    let AppError::User(message) = err else { panic!("expected a user error") };
    assert!(
        message.starts_with("no column matches `occurred_at`, `user_id`, `user_name`, `kind`, `quantity`; the file's columns are: `when`, `user`"),
        "{message}"
    );
    assert!(t.app.store.members(1).await.unwrap().is_empty());
}

#[tokio::test]
async fn odd_bytes_and_a_byte_order_mark_are_handled() {
    let t = spawn_app();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(HEADER.as_bytes());
    bytes.extend_from_slice(b"2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,a\n");
    bytes.extend_from_slice(b"2026-11-02T09:00:00Z,102,B\xFFb,Alpha,call,1,,,b\n");
    bytes.extend_from_slice(b"2026-11-02T09:00:00Z,103,Cara,Alpha,call,1,,,c\n");
    let s = t.app.import_csv(id(1), bytes.as_slice(), "test".into(), at(NOW)).await.unwrap();
    assert_eq!(s.imported, 2);
    assert_eq!(s.rejected.len(), 1);
    assert_eq!(s.rejected[0].line, 3);
    assert_eq!(
        s.rejected[0].reason,
        "the row is not valid UTF-8 text (the file may be saved as Windows-1252 or Latin-1; save it as CSV UTF-8)"
    );
}

#[tokio::test]
async fn a_rep_moves_to_the_team_of_their_newest_row_and_history_stays() {
    let t = spawn_app();
    let csv = format!(
        "{HEADER}\
2026-11-10T09:00:00Z,101,Alice,Beta,call,5,,,b
2026-11-02T09:00:00Z,101,Alice,Alpha,call,3,,,a
"
    );
    import(&t.app, 1, &csv, NOW).await;
    let r = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(r.members[0].team.as_deref(), Some("Beta"));
    let points: Vec<(&str, i64)> = r.teams.iter().map(|t| (t.name.as_str(), t.points)).collect();
    assert_eq!(points, [("Beta", 5), ("Alpha", 3)]);
}

async fn remove(app: &rally::app::App, guild: u64, csv: &str, now: &str) -> rally::app::import::RemoveSummary {
    app.remove_csv(id(guild), csv.as_bytes(), "test".into(), at(now)).await.expect("removal runs")
}

/// (points, revenue) of the guild's month.
async fn month(t: &TestApp, guild: u64) -> (i64, i64) {
    let r = t.app.report(id(guild), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    (r.totals.points, r.totals.revenue)
}

/// A file with external ids and without, and two identical rows that are two real calls.
fn week_file() -> String {
    format!(
        "{HEADER}\
2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,
2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,
2026-11-02T10:00:00Z,101,Alice,Alpha,won,1,100,,crm-7
2026-11-03T10:00:00Z,102,Bob,Beta,demo,2,,,crm-8
"
    )
}

#[tokio::test]
async fn removing_a_file_takes_back_exactly_its_rows_and_rollups_match_a_recomputation() {
    let t = spawn_app();
    import(&t.app, 1, &week_file(), NOW).await;
    // Rows the file does not hold: another file's, one identical to a row of the file but for its
    // external id, and one logged in chat. All of them stay.
    let other = format!(
        "{HEADER}\
2026-11-02T09:00:00Z,101,Alice,Alpha,call,1,,,crm-9
2026-11-04T10:00:00Z,102,Bob,Beta,meeting,1,,,
"
    );
    assert_eq!(import(&t.app, 1, &other, NOW).await.imported, 2);
    t.app.log(log_req(1, 101, "proposal", 1, "interaction:1"), at(NOW)).await.unwrap();
    // The same file imported into another server is never touched there.
    import(&t.app, 2, &week_file(), NOW).await;
    assert_eq!(month(&t, 1).await, (44, 10_000));

    let s = remove(&t.app, 1, &week_file(), NOW).await;
    assert_eq!((s.removed, s.not_found, s.rejected.len()), (4, 0, 0));
    assert_eq!(month(&t, 1).await, (1 + 3 + 8, 0));
    let left: Vec<(String, String)> = t
        .app
        .activities(id(1), &PeriodSpec::ThisMonth, at(NOW))
        .await
        .unwrap()
        .1
        .into_iter()
        .map(|r| (r.kind, r.source))
        .collect();
    assert_eq!(
        left,
        [("call".into(), "import".into()), ("meeting".into(), "import".into()), ("proposal".into(), "slash".into())]
    );
    assert_eq!(month(&t, 2).await, (32, 10_000));
    // Every rollup (member and team, day and month, points) equals a recomputation.
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_removed_row_is_imported_again_and_a_second_import_changes_nothing() {
    let t = spawn_app();
    import(&t.app, 1, &week_file(), NOW).await;
    let before = month(&t, 1).await;
    remove(&t.app, 1, &week_file(), NOW).await;
    assert_eq!(month(&t, 1).await, (0, 0));

    let again = import(&t.app, 1, &week_file(), NOW).await;
    assert_eq!((again.imported, again.duplicates, again.rejected.len()), (4, 0, 0));
    assert_eq!(month(&t, 1).await, before);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
    let twice = import(&t.app, 1, &week_file(), NOW).await;
    assert_eq!((twice.imported, twice.duplicates), (0, 4));
    assert_eq!(month(&t, 1).await, before);

    // Removing twice removes once; the second run finds nothing and leaves no trace.
    remove(&t.app, 1, &week_file(), NOW).await;
    let audit = t.app.store.audit_count(1).await.unwrap();
    let s = remove(&t.app, 1, &week_file(), NOW).await;
    assert_eq!((s.removed, s.not_found), (0, 4));
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), audit);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_corrected_row_comes_back_with_its_new_content() {
    let t = spawn_app();
    let wrong = format!("{HEADER}2026-11-02T10:00:00Z,101,Alice,Alpha,won,1,100,,crm-7\n");
    import(&t.app, 1, &wrong, NOW).await;
    remove(&t.app, 1, &wrong, NOW).await;
    // Same external id, the right amount and day: the row is back as the file now says.
    let right = format!("{HEADER}2026-11-05T10:00:00Z,101,Alice,Alpha,won,1,1000,,crm-7\n");
    assert_eq!(import(&t.app, 1, &right, NOW).await.imported, 1);
    assert_eq!(month(&t, 1).await, (20, 100_000));
    let rows = t.app.activities(id(1), &PeriodSpec::ThisMonth, at(NOW)).await.unwrap().1;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].local_day.to_string(), rows[0].amount), ("2026-11-05".into(), Some(100_000)));
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_removal_reports_bad_rows_and_rows_of_another_member_and_removes_nothing_for_them() {
    let t = spawn_app();
    import(&t.app, 1, &week_file(), NOW).await;
    let before = month(&t, 1).await;
    let audit = t.app.store.audit_count(1).await.unwrap();
    let file = format!(
        "{HEADER}\
2026-11-02T10:00:00Z,102,Bob,Alpha,won,1,100,,crm-7
2026-11-02T10:00:00Z,101,Alice,Alpha,dance,1,,,crm-8
2026-11-09T10:00:00Z,101,Alice,Alpha,call,1,,,never-imported
"
    );
    let s = remove(&t.app, 1, &file, NOW).await;
    assert_eq!((s.removed, s.not_found), (0, 1));
    let got: Vec<(u64, &str)> = s.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "the activity with this key belongs to another member (101); nothing was removed"),
            (3, "`dance` is not an activity kind here; try one of: call, email, meeting, demo, proposal, won, lost"),
        ]
    );
    assert_eq!(month(&t, 1).await, before);
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), audit);

    let err = t.app.remove_csv(id(1), "when,user\n".as_bytes(), "test".into(), at(NOW)).await.unwrap_err();
    let AppError::User(message) = err else { panic!("expected a user error") };
    assert!(message.starts_with("no column matches"), "{message}");
}

#[tokio::test]
async fn an_undone_chat_row_comes_back_when_an_export_holding_it_is_imported() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "demo", 1, "interaction:1"), at(NOW)).await.unwrap();
    let mut exported = Vec::new();
    t.app.export_csv(id(1), &PeriodSpec::ThisMonth, at(NOW), &mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();
    // While the row is live, the export holding it is a duplicate.
    assert_eq!(import(&t.app, 1, &exported, NOW).await.duplicates, 1);
    t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    assert_eq!(import(&t.app, 1, &exported, NOW).await.imported, 1);
    let rows = t.app.activities(id(1), &PeriodSpec::ThisMonth, at(NOW)).await.unwrap().1;
    // It came back through the importer, so the importer's removal, not /undo, takes it back.
    assert_eq!((rows.len(), rows[0].source.as_str()), (1, "import"));
    assert!(t.app.undo(id(1), id(101), None, at(NOW)).await.is_err());
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}
