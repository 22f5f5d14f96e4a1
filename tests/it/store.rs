use rally::store::Store;

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z";

#[tokio::test]
async fn an_acknowledged_log_survives_reopening_the_database() {
    let t = spawn_app();
    t.app.log(log_req(1, 101, "meeting", 2, "a"), at(NOW)).await.unwrap();
    let location = t.location();
    drop(t.app);
    let reopened = Store::open_at(&location).unwrap();
    let rows =
        reopened.activities_between(1, at(NOW).date_naive(), at("2026-11-28T00:00:00Z").date_naive()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].kind.as_str(), rows[0].quantity, rows[0].points), ("meeting", 2, 6));
}

#[tokio::test]
async fn the_database_runs_in_wal_mode_at_the_current_schema() {
    let t = spawn_app();
    assert_eq!(t.app.store.schema_version().await.unwrap(), rally::store::MIGRATIONS.len());
    assert_eq!(t.app.store.integrity_check().await.unwrap(), ["ok"]);
    if t.is_sqlite() {
        let mode: String = rusqlite::Connection::open(t.db_path())
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[tokio::test]
async fn a_backup_taken_while_writing_is_consistent() {
    let t = spawn_app();
    let app = t.app.clone();
    let writer = tokio::spawn(async move {
        for i in 0..100 {
            app.log(log_req(1, 101, "call", 1, &format!("k{i}")), at(NOW)).await.unwrap();
        }
    });
    let backup = t.dir.path().join("copy.db");
    if !t.is_sqlite() {
        // A backup file is SQLite's; PostgreSQL has its own tools, and says so.
        let refused = t.app.store.backup(backup.clone()).await.unwrap_err().to_string();
        assert!(refused.contains("a backup copies a SQLite database"), "{refused}");
        return;
    }
    t.app.store.backup(backup.clone()).await.unwrap();
    writer.await.unwrap();
    let copy = Store::open(&backup).unwrap();
    assert_eq!(copy.integrity_check().await.unwrap(), ["ok"]);
    assert!(copy.verify_rollups(None).await.unwrap().is_empty(), "rollups in the copy match its activities");
}

#[tokio::test]
async fn kinds_can_be_added_repriced_and_retired_without_rewriting_history() {
    use rally::domain::activity::{ActivityKind, KindName};
    let t = spawn_app();
    t.app.log(log_req(1, 101, "call", 2, "a"), at(NOW)).await.unwrap();
    let call = ActivityKind { name: KindName::parse("call").unwrap(), points: 3, has_amount: false };
    t.app.store.upsert_kind(1, call, "test".into(), at(NOW)).await.unwrap();
    t.app.log(log_req(1, 101, "call", 1, "b"), at(NOW)).await.unwrap();
    let r = t.app.report(id(1), &rally::domain::period::PeriodSpec::Today, None, at(NOW)).await.unwrap();
    assert_eq!(r.members[0].points, 2 + 3, "old calls keep their points");
    let referral = ActivityKind { name: KindName::parse("referral").unwrap(), points: 4, has_amount: false };
    t.app.store.upsert_kind(1, referral, "test".into(), at(NOW)).await.unwrap();
    t.app.log(log_req(1, 101, "referral", 1, "c"), at(NOW)).await.unwrap();
    t.app.store.retire_kind(1, KindName::parse("referral").unwrap(), "test".into(), at(NOW)).await.unwrap();
    assert!(t.app.log(log_req(1, 101, "referral", 1, "d"), at(NOW)).await.is_err());
    assert!(t.app.store.retire_kind(1, KindName::parse("won").unwrap(), "test".into(), at(NOW)).await.is_err());
    let r = t.app.report(id(1), &rally::domain::period::PeriodSpec::Today, None, at(NOW)).await.unwrap();
    assert_eq!(r.members[0].points, 9, "a retired kind's history still counts");
}

#[tokio::test]
async fn a_removed_row_logged_again_one_by_one_as_an_import_comes_back_and_a_chat_retry_does_not() {
    use rally::domain::activity::{KindName, Note, Quantity, Source};
    use rally::store::{NewActivity, RemoveRowOutcome};
    // The importer's row-by-row fallback stores through the same path as a single log.
    let t = spawn_app();
    let row = |key: &str, source: Source| NewActivity {
        guild: 1,
        user: 101,
        user_name: "Alice".into(),
        team: None,
        kind: KindName::parse("demo").unwrap(),
        quantity: Quantity::ONE,
        amount: None,
        occurred_at: at(NOW),
        note: Note::default(),
        deal: None,
        source,
        idem_key: key.into(),
        alt_key: None,
        actor: 0,
    };
    let first = t.app.store.log_activity(row("crm-1", Source::Import), at(NOW)).await.unwrap().record;
    let removed = t.app.store.remove_import_batch(vec![row("crm-1", Source::Import)], "test".into(), at(NOW)).await;
    assert_eq!(removed.unwrap(), [RemoveRowOutcome::Removed]);
    // A chat retry of the same key is answered with the removed record and brings nothing back.
    let retry = t.app.store.log_activity(row("crm-1", Source::Slash), at(NOW)).await.unwrap();
    assert!(retry.duplicate && retry.record.deleted);
    let back = t.app.store.log_activity(row("crm-1", Source::Import), at(NOW)).await.unwrap();
    assert!(!back.duplicate && !back.record.deleted);
    assert_eq!(back.record.id, first.id, "the row is revived, its key stays unique");
    let again = t.app.store.log_activity(row("crm-1", Source::Import), at(NOW)).await.unwrap();
    assert!(again.duplicate);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
    let r = t.app.report(id(1), &rally::domain::period::PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
    assert_eq!(r.totals.points, 5);
}
