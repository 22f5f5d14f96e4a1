//! The CRM under `kill -9`: a backfill by `rally crm sync` killed again and again, and `rally serve`
//! killed during webhook bursts, then restarted: every activity is counted exactly once, nothing
//! acknowledged is lost, and every rollup equals a recomputation. Long: run with `--ignored` (CI
//! does, with RALLY_CRM_CRASH_KILLS).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::TestDb;
use chrono::{DateTime, Utc};
use rally::app::crm::{ConnectRequest, secret_hash};
use rally::crm::pipedrive::Pipedrive;
use rally::domain::crm::{Provider, Secret};
use rally::domain::period::{Period, PeriodSpec};
use rally::loopback::pipedrive::{PdActivity, PdOptions, PipedriveLoopback};
use serde_json::json;

use super::helpers::{at, id};

const GUILD: u64 = 5_000_000_000_000_001;
const NOW: &str = "2026-11-06T17:00:00Z";
const USERS: i64 = 20;

fn member(u: i64) -> u64 {
    5_100_000_000_000_000 + u as u64
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// A reproducible sequence of kill moments.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Calls counted for every member over the whole year, and whether the rollups match.
async fn counted(db: &TestDb) -> (i64, bool) {
    let app = db.app();
    let settings = app.settings(id(GUILD)).await.unwrap();
    let year = Period::resolve(&PeriodSpec::ThisYear, &settings, at(NOW)).unwrap();
    let mut total = 0;
    for u in 1..=USERS {
        let t = app.member_totals(id(GUILD), id(member(u)), &year).await.unwrap();
        total += t.counts.values().sum::<i64>();
    }
    let exact = app.store.verify_rollups(Some(GUILD as i64)).await.unwrap().is_empty();
    (total, exact)
}

/// A guild connected to `pd`, its users linked, in the database at `db`.
async fn connect(pd: &PipedriveLoopback, db: &TestDb, webhook: Option<(&str, &str)>) {
    let app = db.app();
    let client = Pipedrive::new(&pd.url(), Secret::new(PdOptions::default().token));
    let request = ConnectRequest {
        guild: GUILD as i64,
        provider: Provider::Pipedrive,
        api_url: pd.url(),
        token: Secret::new(PdOptions::default().token),
        pipeline: None,
        webhook_base: None,
    };
    app.crm_connect(&client, request, at(NOW)).await.unwrap();
    for u in 1..=USERS {
        app.crm_link(GUILD as i64, &u.to_string(), Some((member(u), format!("Rep {u}"))), 0, at(NOW)).await.unwrap();
    }
    if let Some((user, password)) = webhook {
        let c = app.store.crm_connection(GUILD as i64).await.unwrap().unwrap();
        app.store
            .crm_connect(
                rally::store::crm::NewConnection {
                    guild: GUILD as i64,
                    provider: Provider::Pipedrive,
                    api_url: c.api_url,
                    api_token: c.api_token,
                    pipeline: c.pipeline,
                    webhook_user: Some(user.into()),
                    webhook_hash: Some(secret_hash(password)),
                    webhook_ids: vec!["1".into()],
                },
                at(NOW),
            )
            .await
            .unwrap();
    }
}

async fn company(activities: u64) -> PipedriveLoopback {
    let pd = PipedriveLoopback::start(PdOptions::default()).await.unwrap();
    pd.set_clock(Some(at(NOW) - chrono::Duration::hours(1)));
    for u in 1..=USERS {
        pd.add_user(u, &format!("Rep {u}"), &format!("rep{u}@example.com"));
    }
    pd.add_activity_type("call", "Call");
    pd.add_pipeline(1, "Sales");
    pd.add_stage(1, 1, "Qualified", 1, 20);
    let now: DateTime<Utc> = at(NOW);
    pd.bulk_activities((0..activities).map(|i| PdActivity {
        subject: "Call".into(),
        r#type: "call".into(),
        owner_id: (i as i64 % USERS) + 1,
        done: true,
        marked_as_done_time: Some(now - chrono::Duration::minutes(60 + (i % 50_000) as i64)),
        ..PdActivity::default()
    }));
    pd
}

fn sync(db: &TestDb) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db.arg())
        .args(["--now", NOW, "crm", "sync", "--guild", &GUILD.to_string()])
        .env_remove("RALLY_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rally crm sync")
}

/// `latest_kill_ms`: kills land between 30 ms and this after the start, while the pass runs.
async fn backfill_run(kills: u64, activities: u64, latest_kill_ms: u64, seed: u64) {
    let pd = company(activities).await;
    let db = TestDb::new();
    connect(&pd, &db, None).await;
    let mut rng = Lcg(seed);
    let mut killed = 0;
    for _ in 0..kills {
        let mut child = sync(&db);
        tokio::time::sleep(Duration::from_millis(30 + rng.below(latest_kill_ms.saturating_sub(30)))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        // Whatever a killed pass stored, it stored whole.
        let (total, exact) = counted(&db).await;
        assert!(total <= activities as i64, "{total} counted of {activities}: some counted twice");
        assert!(exact, "rollups differ from activities after a kill");
    }
    assert!(killed > 0, "no pass was killed while it ran; the kill moments need to be earlier");
    let finished = sync(&db).wait_with_output().unwrap();
    assert!(finished.status.success(), "the last pass completes");
    let (total, exact) = counted(&db).await;
    assert_eq!(total, activities as i64, "every activity counted once after {killed} kills");
    assert!(exact);
    assert!(pd.violations().is_empty(), "{:#?}", pd.violations());
}

/// `rally serve` on `db`; returns the child and its base URL.
fn serve(db: &TestDb) -> (Child, String) {
    let key: String = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db.arg())
        .args(["--now", NOW, "serve", "--listen", "127.0.0.1:0", "--public-key", &key, "--crm-sync-every", "3600"])
        .env_remove("RALLY_DB")
        .env_remove("DISCORD_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rally serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect(&line).to_string();
    (child, base)
}

fn done_at() -> DateTime<Utc> {
    at(NOW) - chrono::Duration::minutes(30)
}

/// Pipedrive's webhook for the activity `put_events` created as `i`: the same record the poll reads.
fn event(i: u64) -> serde_json::Value {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let updated = stamp(at(NOW) - chrono::Duration::hours(1));
    let owner = (i as i64 % USERS) + 1;
    json!({"meta": {"action": "create", "entity": "activity", "entity_id": (900_000 + i).to_string(), "attempt": 1,
            "id": format!("event-{i}"), "version": "2.0", "timestamp": updated},
        "data": {"id": 900_000 + i, "owner_id": owner, "type": "call", "subject": "Call", "done": true,
            "marked_as_done_time": stamp(done_at()), "update_time": updated, "add_time": updated},
        "previous": null})
}

/// The activities the webhooks announce, held by Pipedrive as well (the poll's full pass would
/// otherwise rightly remove them as deleted).
fn put_events(pd: &PipedriveLoopback, events: std::ops::Range<u64>) {
    for i in events {
        pd.put_activity(PdActivity {
            id: 900_000 + i as i64,
            subject: "Call".into(),
            r#type: "call".into(),
            owner_id: (i as i64 % USERS) + 1,
            done: true,
            marked_as_done_time: Some(done_at()),
            ..PdActivity::default()
        });
    }
}

async fn webhook_run(kills: u64, per_burst: u64, seed: u64) {
    let pd = company(0).await;
    let db = TestDb::new();
    connect(&pd, &db, Some(("rally-test", "burst-password"))).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut rng = Lcg(seed);
    let total = kills * per_burst;
    let mut acknowledged = std::collections::BTreeSet::new();
    let mut next = 0u64;
    for _ in 0..kills {
        let (mut child, base) = serve(&db);
        let url = format!("{base}/crm/pipedrive/{GUILD}");
        // Pipedrive retries what was not acknowledged: those first, then this burst's new events.
        let mut sends: Vec<u64> = (0..next).filter(|i| !acknowledged.contains(i)).collect();
        // Pipedrive holds what it announces; the poll at each start of `rally serve` reads it too.
        put_events(&pd, next..next + per_burst);
        sends.extend(next..next + per_burst);
        next += per_burst;
        let kill_after = Duration::from_millis(20 + rng.below(200));
        let posts = sends.into_iter().map(|i| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let r = http.post(&url).basic_auth("rally-test", Some("burst-password")).json(&event(i)).send().await;
                (i, r.map(|r| r.status().as_u16()).unwrap_or(0))
            }
        });
        let burst = futures_util::future::join_all(posts);
        let killer = async {
            tokio::time::sleep(kill_after).await;
            child.kill().ok();
        };
        let (results, ()) = tokio::join!(burst, killer);
        child.wait().unwrap();
        for (i, status) in results {
            if status == 200 {
                acknowledged.insert(i);
            }
        }
        let (counted_now, exact) = counted(&db).await;
        assert!(exact, "rollups differ after a kill");
        if counted_now < acknowledged.len() as i64 {
            let app = db.app();
            let status = app.crm_status(GUILD as i64).await.unwrap();
            panic!(
                "an acknowledged event was lost: {counted_now} counted, {} acknowledged; {status:?}",
                acknowledged.len()
            );
        }
        assert!(counted_now <= next as i64, "an activity counted twice");
    }
    // The last redeliveries, with duplicates of acknowledged events (attempt 2) mixed in.
    let (mut child, base) = serve(&db);
    let url = format!("{base}/crm/pipedrive/{GUILD}");
    for i in 0..total {
        if !acknowledged.contains(&i) || i % 7 == 0 {
            let mut body = event(i);
            body["meta"]["attempt"] = json!(2);
            let r = http.post(&url).basic_auth("rally-test", Some("burst-password")).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    }
    child.kill().ok();
    child.wait().unwrap();
    let (counted_now, exact) = counted(&db).await;
    assert_eq!(counted_now, total as i64, "every event counted once");
    assert!(exact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: kill -9s of rally crm sync during a backfill; run with --ignored"]
async fn crm_crash_a_backfill_killed_again_and_again_counts_every_activity_once() {
    let kills = env_number("RALLY_CRM_CRASH_KILLS", 10);
    backfill_run(kills, env_number("RALLY_CRM_CRASH_ACTIVITIES", 30_000), 650, 0x5eed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: kill -9s of rally serve during webhook bursts; run with --ignored"]
async fn crm_crash_webhook_bursts_through_kills_lose_nothing_acknowledged_and_count_once() {
    let kills = env_number("RALLY_CRM_CRASH_KILLS", 10);
    webhook_run(kills, 200, 0xbee5).await;
}

/// The same two runs, small enough for every `cargo test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crm_crash_short_runs() {
    backfill_run(2, 10_000, 250, 7).await;
    webhook_run(2, 40, 11).await;
}
