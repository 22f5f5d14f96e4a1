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

/// Ends every other connection to the PostgreSQL database at `url`, as a server restart or a
/// failover would, and returns how many it ended.
async fn end_connections(url: &str) -> i64 {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("an admin connection");
        admin
            .query_one(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .expect("the connections end")
            .get(0)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn on_postgres_logs_and_reads_go_on_after_the_server_closes_every_connection() {
    let Some(db) = rally::store::postgres::testing::scratch_database() else { return };
    let app = rally::app::App::open_at(&rally::app::Location::Postgres(db.url().to_owned())).unwrap();
    app.log(log_req(1, 101, "call", 2, "before"), at(NOW)).await.unwrap();
    let week = rally::domain::period::PeriodSpec::ThisWeek;
    assert_eq!(app.report(id(1), &week, None, at(NOW)).await.unwrap().members[0].points, 2);
    let ended = end_connections(db.url()).await;
    assert!(ended >= 2, "the writer and a reader were connected: {ended}");
    // Neither the next write nor the next read sees the lost connections: both start over on new
    // ones (no job had run on the writer's; a read changes nothing, so it runs again).
    let logged = app.log(log_req(1, 101, "call", 3, "after"), at(NOW)).await.expect("the next /log is stored");
    assert!(!logged.duplicate);
    assert_eq!(app.report(id(1), &week, None, at(NOW)).await.unwrap().members[0].points, 5);
    // And again, with the new connections ended too.
    end_connections(db.url()).await;
    assert_eq!(app.report(id(1), &week, None, at(NOW)).await.unwrap().members[0].points, 5);
    app.log(log_req(1, 101, "call", 1, "again"), at(NOW)).await.expect("and the one after");
    assert!(app.store.verify_rollups(None).await.unwrap().is_empty());
}
