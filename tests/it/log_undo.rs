use rally::app::AppError;
use rally::domain::period::PeriodSpec;

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z";

async fn points(t: &TestApp, guild: u64) -> i64 {
    t.app.report(id(guild), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap().totals.points
}

/// What `/undo` says when the rep logged nothing in chat that it could take back.
fn nothing_to_undo(guild: u64) -> String {
    format!(
        "nothing you logged in chat in the last 24 hours to undo; \
         imported rows are removed with `rally import --remove --guild {guild} FILE`"
    )
}

fn user_error(e: AppError) -> String {
    match e {
        AppError::User(m) => m,
        other => panic!("expected a user error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retried_interaction_is_counted_once() {
    let t = spawn_app();
    let first = t.app.log(log_req(1, 101, "demo", 2, "interaction:9001"), at(NOW)).await.unwrap();
    let again = t.app.log(log_req(1, 101, "demo", 2, "interaction:9001"), at(NOW)).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.record.id, first.record.id);
    assert_eq!(points(&t, 1).await, 10);
}

#[tokio::test]
async fn undo_removes_the_latest_activity_from_rollups_and_kpis() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "call", 3, "a"), at(NOW)).await.unwrap();
    t.app.log(log_req(1, 101, "proposal", 1, "b"), at(NOW)).await.unwrap();
    assert_eq!(points(&t, 1).await, 11);
    let undone = t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    assert_eq!((undone.record.kind.as_str(), undone.record.deleted), ("proposal", true));
    assert_eq!(points(&t, 1).await, 3);
    let undone = t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    assert_eq!(undone.record.kind, "call");
    assert_eq!(points(&t, 1).await, 0);
    let err = user_error(t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap_err());
    assert_eq!(err, nothing_to_undo(1));
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
    let week = t.app.activities(id(1), &PeriodSpec::ThisWeek, at(NOW)).await.unwrap().1;
    assert!(week.is_empty(), "undone activities are not exported");
}

#[tokio::test]
async fn undo_of_a_given_activity_checks_owner_state_and_age() {
    let t = spawn_app();
    let logged = t.app.log(log_req(1, 101, "call", 1, "a"), at(NOW)).await.unwrap().record;
    // Someone else cannot undo it.
    let err = user_error(t.app.undo(id(1), id(102), Some(logged.id), at(NOW)).await.unwrap_err());
    assert_eq!(err, "there is no activity of yours to undo");
    // Too late after 24 hours.
    let later = at("2026-11-28T12:00:01Z");
    let err = user_error(t.app.undo(id(1), id(101), Some(logged.id), later).await.unwrap_err());
    assert!(err.contains("too old to undo"), "{err}");
    t.app.undo(id(1), id(101), Some(logged.id), at(NOW)).await.unwrap();
    let err = user_error(t.app.undo(id(1), id(101), Some(logged.id), at(NOW)).await.unwrap_err());
    assert_eq!(err, "that activity was already undone");
}

#[tokio::test]
async fn rejected_logs_change_nothing() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "call", 1, "ok"), at(NOW)).await.unwrap();
    let audit_before = t.app.store.audit_count(1).await.unwrap();
    let cases = [
        (when(log_req(1, 102, "call", 1, "f"), "2026-11-27T12:00:01Z"), "an activity cannot be logged in the future"),
        (when(log_req(1, 102, "call", 1, "o"), "2026-11-19T12:00:00Z"), "activities can be back-dated at most 7 days"),
        (
            with_amount(log_req(1, 102, "call", 1, "m"), "10"),
            "`call` does not carry an amount; only kinds like `won` do",
        ),
        (
            log_req(1, 102, "dance", 1, "k"),
            "`dance` is not an activity kind here; try one of: call, email, meeting, demo, proposal, won, lost",
        ),
    ];
    for (req, want) in cases {
        assert_eq!(user_error(t.app.log(req, at(NOW)).await.unwrap_err()), want);
    }
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), audit_before);
    assert!(t.app.store.member(1, 102).await.unwrap().is_none(), "no member was created");
    assert_eq!(points(&t, 1).await, 1);
}

#[tokio::test]
async fn concurrent_logs_are_all_stored_once_by_group_commit() {
    let t = spawn_app();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let app = t.app.clone();
        tasks.push(tokio::spawn(async move {
            // Every request is sent twice, as a redelivery would.
            let req = log_req(1, 100 + i % 10, "call", 1, &format!("k{i}"));
            let a = app.log(req.clone(), at(NOW)).await.unwrap();
            let b = app.log(req, at(NOW)).await.unwrap();
            assert_eq!(a.record.id, b.record.id);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(points(&t, 1).await, 200);
    let r = t.app.report(id(1), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
    assert!(r.members.iter().all(|m| m.points == 20), "{:?}", r.members);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_write_is_audited_with_actor_and_target() {
    let t = spawn_app();
    let before = t.app.store.audit_count(1).await.unwrap();
    t.app.log(log_req(1, 101, "call", 1, "a"), at(NOW)).await.unwrap();
    t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    // guild created + member created + activity logged + activity undone
    assert_eq!(t.app.store.audit_count(1).await.unwrap() - before, 4);
}

#[tokio::test]
async fn undo_skips_an_imported_row_and_takes_back_the_chat_row_before_it() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "call", 3, "interaction:1"), at("2026-11-27T10:00:00Z")).await.unwrap();
    t.app.log(log_req(1, 101, "demo", 1, "interaction:2"), at("2026-11-27T11:00:00Z")).await.unwrap();
    // Imported after both: the rep's latest row, but not one they logged in chat.
    let csv = format!("{HEADER}2026-11-26T09:00:00Z,101,rep101,,proposal,1,,,crm-1\n");
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 1);
    assert_eq!(points(&t, 1).await, 16);

    let undone = t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    assert_eq!((undone.record.kind.as_str(), undone.record.source.as_str()), ("demo", "slash"));
    assert_eq!(points(&t, 1).await, 11, "the imported proposal stays");
    let undone = t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap();
    assert_eq!(undone.record.kind, "call");
    assert_eq!(user_error(t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap_err()), nothing_to_undo(1));
    assert_eq!(points(&t, 1).await, 8);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn undo_with_only_imported_rows_says_so_and_changes_nothing() {
    let t = spawn_app();
    let csv = format!(
        "{HEADER}\
2026-11-26T09:00:00Z,101,rep101,,call,2,,,crm-1
2026-11-26T10:00:00Z,101,rep101,,demo,1,,,
"
    );
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 2);
    let audit_before = t.app.store.audit_count(1).await.unwrap();
    assert_eq!(user_error(t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap_err()), nothing_to_undo(1));
    assert_eq!(points(&t, 1).await, 7);
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), audit_before);
}

#[tokio::test]
async fn undo_never_takes_back_a_chat_row_older_than_a_day_even_when_it_is_the_latest() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "call", 1, "interaction:1"), at("2026-11-26T11:59:59Z")).await.unwrap();
    assert_eq!(user_error(t.app.undo(id(1), id(101), None, at(NOW)).await.unwrap_err()), nothing_to_undo(1));
    assert_eq!(points(&t, 1).await, 1);
}

#[tokio::test]
async fn another_reps_row_is_never_undone() {
    let t = spawn_app();
    let theirs = t.app.log(log_req(1, 101, "call", 1, "interaction:1"), at(NOW)).await.unwrap().record;
    assert_eq!(user_error(t.app.undo(id(1), id(102), None, at(NOW)).await.unwrap_err()), nothing_to_undo(1));
    let err = user_error(t.app.undo(id(1), id(102), Some(theirs.id), at(NOW)).await.unwrap_err());
    assert_eq!(err, "there is no activity of yours to undo");
    // Nor from another server, even by its author.
    assert_eq!(user_error(t.app.undo(id(2), id(101), None, at(NOW)).await.unwrap_err()), nothing_to_undo(2));
    assert!(!t.app.store.activity(1, theirs.id).await.unwrap().unwrap().deleted);
    assert_eq!(points(&t, 1).await, 1);
}

#[tokio::test]
async fn the_undo_button_does_not_take_back_an_imported_row() {
    let t = spawn_app();
    let csv = format!("{HEADER}2026-11-26T09:00:00Z,101,rep101,,call,2,,,crm-1\n");
    import(&t.app, 1, &csv, NOW).await;
    let imported = t.app.activities(id(1), &PeriodSpec::ThisWeek, at(NOW)).await.unwrap().1;
    let err = user_error(t.app.undo(id(1), id(101), Some(imported[0].id), at(NOW)).await.unwrap_err());
    assert_eq!(err, nothing_to_undo(1));
    assert_eq!(points(&t, 1).await, 2);
}
