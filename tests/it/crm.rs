//! The CRM as a source: a guild connected to the loopback Pipedrive (strict against Pipedrive's
//! OpenAPI descriptions) shows exactly what the CRM holds after a backfill, edits, deletions,
//! merges, links and mappings; passes resume at their cursor; webhooks go through the same path.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rally::app::App;
use rally::app::crm::{ConnectRequest, SyncReport};
use rally::crm::pipedrive::{Pipedrive, Retry};
use rally::domain::crm::{Provider, Secret};
use rally::domain::kpi::Totals;
use rally::domain::period::{Period, PeriodSpec};
use rally::loopback::pipedrive::{PdActivity, PdDeal, PdOptions, PipedriveLoopback};
use rally::store::DealQuery;

use super::helpers::{TestApp, TestDb, at, id, log_req, spawn_app};

const GUILD: u64 = 7_000_000_000_000_001;
const ALICE: u64 = 7_100_000_000_000_001;
const BOB: u64 = 7_100_000_000_000_002;
const TOKEN: &str = "loopback-pipedrive-token";

/// Fast retries: tests never wait for Pipedrive's real backoff.
fn quick() -> Retry {
    Retry { attempts: 3, base: Duration::from_millis(5), max_wait: Duration::from_millis(200) }
}

struct Crm {
    t: TestApp,
    pd: PipedriveLoopback,
    client: Pipedrive,
}

impl Crm {
    fn app(&self) -> &App {
        &self.t.app
    }

    async fn sync(&self, now: DateTime<Utc>) -> SyncReport {
        self.t.app.crm_sync(&self.client, GUILD as i64, None, false, now, &mut |_| {}).await.expect("sync pass")
    }

    async fn full(&self, now: DateTime<Utc>) -> SyncReport {
        self.t.app.crm_sync(&self.client, GUILD as i64, None, true, now, &mut |_| {}).await.expect("full pass")
    }

    async fn totals(&self, user: u64, spec: &str, now: DateTime<Utc>) -> Totals {
        let settings = self.app().settings(id(GUILD)).await.unwrap();
        let period = Period::resolve(&PeriodSpec::parse(spec).unwrap(), &settings, now).unwrap();
        self.app().member_totals(id(GUILD), id(user), &period).await.unwrap()
    }

    async fn rollups_exact(&self) {
        let mismatches = self.app().store.verify_rollups(Some(GUILD as i64)).await.unwrap();
        assert!(mismatches.is_empty(), "rollups differ from activities: {mismatches:?}");
    }

    fn strict(&self) {
        let violations = self.pd.violations();
        assert!(violations.is_empty(), "requests Pipedrive's OpenAPI description does not allow: {violations:#?}");
    }
}

/// What `rally crm connect` asks for, against `pd`, with the loopback's token.
fn request(pd: &PipedriveLoopback, token: &str, webhook_base: Option<String>) -> ConnectRequest {
    ConnectRequest {
        guild: GUILD as i64,
        provider: Provider::Pipedrive,
        api_url: pd.url(),
        token: Secret::new(token),
        pipeline: None,
        webhook_base,
    }
}

/// A Pipedrive company with two users, three activity types and one pipeline of three stages; a
/// guild connected to it, with Alice linked and Bob not.
async fn connected(now: DateTime<Utc>) -> Crm {
    let pd = PipedriveLoopback::start(PdOptions::default()).await.expect("loopback Pipedrive");
    pd.set_clock(Some(now));
    pd.add_user(1, "Alice Andersen", "alice@example.com");
    pd.add_user(2, "Bob Berg", "bob@example.com");
    pd.add_activity_type("call", "Call");
    pd.add_activity_type("meeting", "Meeting");
    pd.add_activity_type("lunch", "Lunch");
    pd.add_pipeline(1, "Sales");
    pd.add_stage(11, 1, "Qualified", 1, 10);
    pd.add_stage(12, 1, "Proposal Made", 2, 50);
    pd.add_stage(13, 1, "Negotiation", 3, 80);
    let t = spawn_app();
    let client = Pipedrive::with_retry(&pd.url(), Secret::new(TOKEN), quick());
    let request = request(&pd, TOKEN, None);
    t.app.crm_connect(&client, request, now).await.expect("connect");
    t.app.crm_link(GUILD as i64, "alice@example.com", Some((ALICE, "Alice".into())), 0, now).await.expect("link");
    Crm { t, pd, client }
}

fn call(owner: i64, done_at: &str) -> PdActivity {
    PdActivity {
        subject: "Call".into(),
        r#type: "call".into(),
        owner_id: owner,
        done: true,
        marked_as_done_time: Some(at(done_at)),
        ..PdActivity::default()
    }
}

fn deal(owner: i64, title: &str, value: f64, stage: i64) -> PdDeal {
    PdDeal {
        title: title.into(),
        owner_id: owner,
        value,
        currency: "USD".into(),
        stage_id: stage,
        pipeline_id: 1,
        status: "open".into(),
        ..PdDeal::default()
    }
}

#[tokio::test]
async fn a_backfill_counts_each_done_activity_once_holds_unlinked_owners_and_ignores_the_rest() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    for t in ["2026-11-02T09:00:00Z", "2026-11-03T10:00:00Z", "2026-11-04T11:00:00Z"] {
        crm.pd.put_activity(call(1, t));
    }
    crm.pd.put_activity(PdActivity { done: false, marked_as_done_time: None, ..call(1, "2026-11-04T12:00:00Z") });
    crm.pd.put_activity(PdActivity { r#type: "lunch".into(), ..call(1, "2026-11-04T12:00:00Z") });
    crm.pd.put_activity(call(2, "2026-11-05T09:00:00Z"));
    crm.pd.put_activity(call(2, "2026-11-05T10:00:00Z"));

    let report = crm.sync(now).await;
    assert_eq!(report.activities.imported, 3);
    assert_eq!(report.activities.held, 2, "Bob's calls wait for his link");
    assert_eq!(report.activities.ignored, 2, "an undone call and an unmapped lunch");
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("call"), Some(&3));
    crm.rollups_exact().await;

    let again = crm.sync(now + chrono::Duration::minutes(5)).await;
    assert_eq!((again.activities.imported, again.activities.updated, again.activities.removed), (0, 0, 0));
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("call"), Some(&3), "read twice, counted once");

    let linked = crm.app().crm_link(GUILD as i64, "2", Some((BOB, "Bob".into())), 0, now).await.unwrap();
    assert_eq!(linked.counts.imported, 2, "Bob's held calls are credited once he is linked");
    assert_eq!(crm.totals(BOB, "this-week", now).await.counts.get("call"), Some(&2));

    let status = crm.app().crm_status(GUILD as i64).await.unwrap();
    assert_eq!((status.counted, status.held), (5, 0));
    assert!(status.unmapped_types.iter().any(|(key, _, n)| key == "lunch" && *n == 1), "{status:?}");
    crm.rollups_exact().await;
    crm.strict();
}

#[tokio::test]
async fn mapping_a_type_counts_its_activities_and_log_refuses_a_kind_the_crm_feeds() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.pd.put_activity(PdActivity { r#type: "lunch".into(), ..call(1, "2026-11-04T12:00:00Z") });
    crm.sync(now).await;
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("meeting"), None);

    let counts = crm.app().crm_map(GUILD as i64, "Lunch", Some("meeting"), 0, now).await.unwrap();
    assert_eq!(counts.imported, 1);
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("meeting"), Some(&1));

    let refused = crm.app().log(log_req(GUILD, ALICE, "call", 1, "chat-1"), now).await.unwrap_err();
    assert!(refused.to_string().contains("arrive from Pipedrive"), "{refused}");
    crm.app().log(log_req(GUILD, ALICE, "demo", 1, "chat-2"), now).await.expect("demos still come from chat");

    // Back to chat: the CRM's meetings stop counting, and /log takes meetings again.
    let counts = crm.app().crm_source(GUILD as i64, "meeting", false, 0, now).await.unwrap();
    assert_eq!(counts.removed, 1);
    crm.app().log(log_req(GUILD, ALICE, "meeting", 1, "chat-3"), now).await.expect("meetings come from chat now");
    crm.rollups_exact().await;
    crm.strict();
}

#[tokio::test]
async fn edits_undone_marks_owner_moves_and_deletions_in_the_crm_are_followed_exactly() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.app().crm_link(GUILD as i64, "2", Some((BOB, "Bob".into())), 0, now).await.unwrap();
    let a = crm.pd.put_activity(call(1, "2026-11-02T09:00:00Z"));
    let b = crm.pd.put_activity(call(1, "2026-11-03T09:00:00Z"));
    let c = crm.pd.put_activity(call(1, "2026-11-04T09:00:00Z"));
    crm.sync(now).await;
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("call"), Some(&3));

    let later = now + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(later));
    // a: moved to last week; b: marked not done; c: given to Bob.
    crm.pd.put_activity(PdActivity { id: a, ..call(1, "2026-10-28T09:00:00Z") });
    crm.pd.put_activity(PdActivity {
        id: b,
        done: false,
        marked_as_done_time: None,
        ..call(1, "2026-11-03T09:00:00Z")
    });
    crm.pd.put_activity(PdActivity { id: c, ..call(2, "2026-11-04T09:00:00Z") });
    let report = crm.sync(later).await;
    assert_eq!((report.activities.updated, report.activities.removed), (2, 1), "{:?}", report.activities);
    assert_eq!(crm.totals(ALICE, "this-week", later).await.counts.get("call"), None);
    assert_eq!(crm.totals(ALICE, "last-week", later).await.counts.get("call"), Some(&1));
    assert_eq!(crm.totals(BOB, "this-week", later).await.counts.get("call"), Some(&1));
    crm.rollups_exact().await;

    // Pipedrive's lists leave deleted activities out: the incremental pass cannot see a deletion,
    // the daily full pass does.
    crm.pd.delete_activity(c);
    let quiet = crm.sync(later + chrono::Duration::minutes(5)).await;
    assert_eq!(quiet.activities.removed, 0);
    let full = crm.full(later + chrono::Duration::minutes(6)).await;
    assert_eq!(full.swept.removed, 1);
    assert_eq!(crm.totals(BOB, "this-week", later).await.counts.get("call"), None);
    crm.rollups_exact().await;
    crm.strict();
}

#[tokio::test]
async fn deals_feed_the_pipeline_and_revenue_through_wins_reopenings_deletions_and_merges() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    let acme = crm.pd.put_deal(deal(1, "Acme renewal", 12_500.0, 12));
    let globex = crm.pd.put_deal(deal(1, "Globex", 3_000.0, 11));
    crm.pd.put_deal(PdDeal { currency: "EUR".into(), ..deal(1, "Euro deal", 999.0, 11) });
    let report = crm.sync(now).await;
    assert_eq!(report.deals.imported, 2);
    assert_eq!(report.deals.ignored, 1, "a deal in EUR is never summed with USD");
    let pipeline = crm.app().pipeline(id(GUILD)).await.unwrap();
    let names: Vec<&str> = pipeline.stages().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["qualified", "proposal-made", "negotiation", "won", "lost"]);
    let open = crm.app().open_pipeline(id(GUILD), None).await.unwrap();
    let acme_open = open.iter().find(|d| d.name == "Acme renewal").expect("Acme is in the pipeline");
    assert_eq!((acme_open.value, acme_open.stage.as_str(), acme_open.probability), (1_250_000, "proposal-made", 50));

    let t1 = now + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(t1));
    crm.pd.put_deal(PdDeal {
        id: acme,
        status: "won".into(),
        won_time: Some(at("2026-11-06T17:05:00Z")),
        ..deal(1, "Acme renewal", 12_500.0, 13)
    });
    crm.sync(t1).await;
    assert_eq!(crm.totals(ALICE, "this-week", t1).await.revenue, 1_250_000);

    let t2 = t1 + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(t2));
    crm.pd.put_deal(PdDeal { id: acme, ..deal(1, "Acme renewal", 12_500.0, 13) });
    crm.sync(t2).await;
    assert_eq!(crm.totals(ALICE, "this-week", t2).await.revenue, 0, "reopened in Pipedrive: no longer revenue");

    let t3 = t2 + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(t3));
    crm.pd.merge_deals(globex, acme);
    crm.sync(t3).await;
    let deals = crm.app().store.deals(GUILD as i64, DealQuery { limit: 50, ..DealQuery::default() }).await.unwrap();
    assert_eq!(deals.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["Acme renewal"], "Globex merged away");

    let t4 = t3 + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(t4));
    crm.pd.put_deal(PdDeal {
        id: acme,
        status: "won".into(),
        won_time: Some(t4),
        ..deal(1, "Acme renewal", 15_000.0, 13)
    });
    crm.sync(t4).await;
    assert_eq!(crm.totals(ALICE, "this-week", t4).await.revenue, 1_500_000);
    crm.pd.delete_deal(acme);
    let t5 = t4 + chrono::Duration::minutes(10);
    crm.sync(t5).await;
    assert_eq!(crm.totals(ALICE, "this-week", t5).await.revenue, 0, "a deleted deal's win is taken back");
    assert!(
        crm.app().store.deals(GUILD as i64, DealQuery { limit: 50, ..DealQuery::default() }).await.unwrap().is_empty()
    );
    crm.rollups_exact().await;
    crm.strict();
}

#[tokio::test]
async fn a_pass_stopped_by_errors_resumes_at_its_cursor_and_counts_every_activity_once() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    // The history was last touched an hour ago, so the second pass's window holds only the new ones.
    crm.pd.set_clock(Some(now - chrono::Duration::hours(1)));
    for i in 0..1_200 {
        let minute = i % 600;
        crm.pd
            .put_activity(call(1, &format!("2026-11-0{}T{:02}:{:02}:00Z", 2 + i / 600, 8 + minute / 60, minute % 60)));
    }
    assert_eq!(crm.sync(now).await.activities.imported, 1_200);
    let later = now + chrono::Duration::minutes(10);
    crm.pd.set_clock(Some(later));
    for i in 0..600 {
        crm.pd.put_activity(call(1, &format!("2026-11-05T{:02}:{:02}:00Z", 8 + i / 60, i % 60)));
    }
    // The second page fails more often than the client retries: the pass stops after the first.
    let pd = &crm.pd;
    let mut fail_after_first_page = |p: rally::app::crm::Progress| {
        if p.pages == 1 {
            pd.fail_next("/api/v2/activities", 503, 4);
        }
    };
    let stopped = crm.app().crm_sync(&crm.client, GUILD as i64, None, false, later, &mut fail_after_first_page).await;
    assert!(stopped.is_err(), "503s beyond the retries stop the pass");
    let status = crm.app().crm_status(GUILD as i64).await.unwrap();
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("503")), "{status:?}");
    let resumed = crm.sync(later + chrono::Duration::minutes(1)).await;
    assert_eq!(resumed.activities.imported, 100, "the 500 of the stored first page are not read again");
    let cursors: Vec<bool> = crm
        .pd
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/activities")
        .map(|r| r.query.as_deref().unwrap_or("").contains("cursor="))
        .collect();
    assert!(cursors.last() == Some(&true), "the resumed pass asked for the stored cursor: {cursors:?}");
    assert_eq!(crm.totals(ALICE, "this-week", later).await.counts.get("call"), Some(&1_800));
    assert!(crm.app().crm_status(GUILD as i64).await.unwrap().last_error.is_none());
    crm.rollups_exact().await;
    crm.strict();
}

#[tokio::test]
async fn a_rate_limited_request_waits_for_the_window_and_goes_on() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.pd.put_activity(call(1, "2026-11-02T09:00:00Z"));
    crm.pd.fail_next("/api/v2/activities", 429, 1);
    // Pipedrive's window is 2 seconds: this client waits up to 3 for it to reset.
    let patient = Pipedrive::with_retry(
        &crm.pd.url(),
        Secret::new(TOKEN),
        Retry { attempts: 3, base: Duration::from_millis(5), max_wait: Duration::from_secs(3) },
    );
    let report = crm.app().crm_sync(&patient, GUILD as i64, None, false, now, &mut |_| {}).await.expect("sync");
    assert_eq!(report.activities.imported, 1);
    let statuses: Vec<u16> =
        crm.pd.requests().iter().filter(|r| r.path == "/api/v2/activities").map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
    crm.strict();
}

#[tokio::test]
async fn an_update_stamped_just_before_the_watermark_is_still_read() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.sync(now).await;
    // Pipedrive's clock runs two minutes behind rally's: its stamp falls before the watermark.
    crm.pd.set_clock(Some(now - chrono::Duration::minutes(2)));
    crm.pd.put_activity(call(1, "2026-11-06T16:50:00Z"));
    let report = crm.sync(now + chrono::Duration::minutes(1)).await;
    assert_eq!(report.activities.imported, 1, "the overlap window reads it");
    crm.strict();
}

#[tokio::test]
async fn a_connection_with_several_pipelines_asks_which_one_the_funnel_follows() {
    let now = at("2026-11-06T17:00:00Z");
    let pd = PipedriveLoopback::start(PdOptions::default()).await.unwrap();
    pd.add_user(1, "Alice", "alice@example.com");
    pd.add_pipeline(1, "Sales");
    pd.add_pipeline(2, "Partners");
    let t = spawn_app();
    let client = Pipedrive::with_retry(&pd.url(), Secret::new(TOKEN), quick());
    let request = request(&pd, TOKEN, None);
    let refused = t.app.crm_connect(&client, request.clone(), now).await.unwrap_err();
    assert!(refused.to_string().contains("1 (Sales), 2 (Partners)"), "{refused}");
    assert!(t.app.store.crm_connection(GUILD as i64).await.unwrap().is_none(), "nothing stored");
    let chosen = ConnectRequest { pipeline: Some("partners".into()), ..request };
    let c = t.app.crm_connect(&client, chosen, now).await.unwrap();
    assert_eq!(c.connection.pipeline.as_deref(), Some("2"));
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_what_to_do_and_nothing_is_stored() {
    let now = at("2026-11-06T17:00:00Z");
    let pd = PipedriveLoopback::start(PdOptions::default()).await.unwrap();
    let t = spawn_app();
    let client = Pipedrive::with_retry(&pd.url(), Secret::new("not-the-token"), quick());
    let request = request(&pd, "not-the-token", None);
    let refused = t.app.crm_connect(&client, request, now).await.unwrap_err().to_string();
    assert!(refused.contains("refused the API token") && refused.contains("PIPEDRIVE_API_TOKEN"), "{refused}");
    assert!(!refused.contains("not-the-token"), "the token is never shown back");
    assert!(t.app.store.crm_connection(GUILD as i64).await.unwrap().is_none());
}

#[tokio::test]
async fn activities_done_on_a_local_day_land_on_that_day_in_the_guilds_timezone() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    let change = rally::app::settings::SettingsChange {
        timezone: Some(rally::domain::settings::parse_timezone("Pacific/Auckland").unwrap()),
        ..Default::default()
    };
    crm.app().change_settings(id(GUILD), change, "test".into(), now).await.unwrap();
    // Done at 20:00 UTC on 2 November: 09:00 on 3 November in Auckland.
    crm.pd.put_activity(call(1, "2026-11-02T20:00:00Z"));
    crm.sync(now).await;
    let day = crm
        .app()
        .store
        .activities_between(
            GUILD as i64,
            NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 4).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    crm.strict();
}

/// rally's web routes on 127.0.0.1, as `rally serve` mounts them; returns the base URL.
async fn serve_web(app: &App, now: DateTime<Utc>) -> String {
    let router = rally::web::router(app.clone(), rally::discord::Clock::starting_at(now));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn webhooks_deliver_changes_through_the_same_path_and_a_redelivery_counts_once() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    let base = serve_web(crm.app(), now).await;
    let request = request(&crm.pd, TOKEN, Some(base.clone()));
    let c = crm.app().crm_connect(&crm.client, request.clone(), now).await.unwrap();
    assert_eq!(c.webhooks_added, 2);
    // Connecting again replaces rally's webhooks instead of doubling every event.
    let again = crm.app().crm_connect(&crm.client, request, now).await.unwrap();
    assert_eq!((again.webhooks_added, again.webhooks_found), (2, 2));
    assert_eq!(crm.pd.webhooks().len(), 2);

    crm.pd.duplicate_next_webhooks(1);
    let done = (now - chrono::Duration::minutes(1)).to_rfc3339();
    let a = crm.pd.put_activity(call(1, &done));
    let week = || async { crm.totals(ALICE, "today", now).await.counts.get("call").copied() };
    assert!(eventually(|| async { week().await == Some(1) }).await, "the webhook brought the call");
    assert!(
        eventually(|| async { crm.pd.deliveries().iter().filter(|d| d.status == Some(200)).count() >= 2 }).await,
        "the duplicate was delivered too: {:?}",
        crm.pd.deliveries()
    );
    assert_eq!(week().await, Some(1), "a redelivery counts once");

    crm.pd.delete_activity(a);
    assert!(eventually(|| async { week().await.is_none() }).await, "the delete webhook took it back");

    // The poll afterwards finds nothing new to do.
    let report = crm.sync(now + chrono::Duration::minutes(1)).await;
    assert_eq!((report.activities.imported, report.activities.removed), (0, 0));
    crm.rollups_exact().await;

    let wrong = reqwest::Client::new()
        .post(format!("{base}/crm/pipedrive/{GUILD}"))
        .basic_auth(format!("rally-{GUILD}"), Some("guessed"))
        .json(&serde_json::json!({"meta": {"action": "create", "entity": "activity"},
            "data": {"id": 999, "owner_id": 1, "type": "call", "done": true,
                "marked_as_done_time": done, "update_time": done}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let status = crm.app().crm_status(GUILD as i64).await.unwrap();
    assert_eq!(status.counted + status.held + status.ignored, 1, "the forged event stored nothing: {status:?}");
    crm.strict();
}

/// `rally crm ...` as an operator runs it, against the loopback Pipedrive: the token is read from
/// the environment and appears in no output, with RALLY_LOG=debug included.
#[tokio::test]
async fn the_cli_connects_syncs_and_reports_without_ever_printing_the_token() {
    let now = "2026-11-06T17:00:00Z";
    let secret = "s3cr3t-token-that-must-never-show";
    let pd = PipedriveLoopback::start(PdOptions { token: secret.into(), ..PdOptions::default() }).await.unwrap();
    pd.set_clock(Some(at(now)));
    pd.add_user(1, "Alice Andersen", "alice@example.com");
    pd.add_activity_type("call", "Call");
    pd.add_pipeline(1, "Sales");
    pd.add_stage(11, 1, "Qualified", 1, 10);
    pd.put_activity(call(1, "2026-11-05T09:00:00Z"));
    let t = TestDb::new();
    let db = t.arg();
    let url = pd.url();
    let guild = GUILD.to_string();
    let alice = ALICE.to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["guild", "set", "--guild", &guild, "--timezone", "UTC", "--currency", "USD"],
        vec!["crm", "connect", "--guild", &guild, "--provider", "pipedrive", "--api-url", &url],
        vec!["crm", "link", "--guild", &guild, "--crm-user", "alice@example.com", "--user", &alice],
        vec!["crm", "sync", "--guild", &guild],
        vec!["crm", "status", "--guild", &guild],
        vec!["crm", "status", "--guild", &guild, "--format", "json"],
    ];
    let mut outputs = String::new();
    for args in runs {
        let db = db.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let o = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
                .arg("--db")
                .arg(&db)
                .args(["--now", "2026-11-06T17:00:00Z"])
                .args(&args)
                .env("PIPEDRIVE_API_TOKEN", "s3cr3t-token-that-must-never-show")
                .env("RALLY_LOG", "debug")
                .env_remove("RALLY_DB")
                .output()
                .expect("run rally")
        })
        .await
        .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{text}");
        outputs.push_str(&text);
    }
    assert!(outputs.contains("connected to Pipedrive"), "{outputs}");
    assert!(outputs.contains("activities: 1 imported"), "{outputs}");
    assert!(outputs.contains("1 counted"), "{outputs}");
    assert!(!outputs.contains(secret), "the token leaked into the output:\n{outputs}");
    assert!(pd.violations().is_empty(), "{:#?}", pd.violations());
}

#[tokio::test]
async fn a_record_rally_cannot_store_is_kept_as_ignored_and_the_rest_of_the_page_counts() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.sync(now).await;
    crm.app().crm_map(GUILD as i64, "lunch", Some("demo"), 0, now).await.unwrap();
    // The kind a type maps to is retired afterwards: its activities cannot be stored as it.
    let demo = rally::domain::activity::KindName::parse("demo").unwrap();
    crm.app().store.retire_kind(GUILD as i64, demo, "test".into(), now).await.unwrap();
    crm.pd.put_activity(call(1, "2026-11-02T09:00:00Z"));
    crm.pd.put_activity(PdActivity { r#type: "lunch".into(), ..call(1, "2026-11-03T12:00:00Z") });
    crm.pd.put_activity(call(1, "2026-11-04T09:00:00Z"));
    let report = crm.sync(now + chrono::Duration::minutes(1)).await;
    assert_eq!((report.activities.imported, report.activities.ignored), (2, 1), "{:?}", report.activities);
    assert_eq!(crm.totals(ALICE, "this-week", now).await.counts.get("call"), Some(&2));
    let status = crm.app().crm_status(GUILD as i64).await.unwrap();
    assert!(status.ignored_reasons.iter().any(|(r, _)| r.contains("not an activity kind")), "{status:?}");
    crm.rollups_exact().await;
}

/// A slash command as a manager types it, through the whole pipeline; the reply's text.
async fn ask(app: &App, line: &str, n: u64, now: DateTime<Utc>) -> String {
    let inv = rally::handlers::Invocation {
        id: 7_900_000_000_000_000 + n,
        guild: id(GUILD),
        channel: None,
        user: id(ALICE),
        user_name: "Alice".into(),
        roles: Vec::new(),
        permissions: rally::handlers::MANAGE_GUILD,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: rally::handlers::Action::Command(rally::handlers::cmdline::parse(line).unwrap()),
    };
    match rally::handlers::dispatch(app, &inv, now).await {
        rally::handlers::Response::Message(m) => super::helpers::message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

#[tokio::test]
async fn kpi_leaderboard_funnel_and_forecast_show_what_pipedrive_holds() {
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    crm.app().crm_link(GUILD as i64, "2", Some((BOB, "Bob".into())), 0, now).await.unwrap();
    for t in ["2026-11-02T09:00:00Z", "2026-11-03T09:00:00Z"] {
        crm.pd.put_activity(call(1, t));
    }
    crm.pd.put_activity(call(2, "2026-11-04T09:00:00Z"));
    crm.pd.put_deal(PdDeal {
        status: "won".into(),
        won_time: Some(at("2026-11-05T10:00:00Z")),
        ..deal(2, "Globex", 4_200.0, 13)
    });
    crm.pd.put_deal(PdDeal {
        expected_close_date: NaiveDate::from_ymd_opt(2026, 11, 20),
        ..deal(1, "Acme", 10_000.0, 13)
    });
    crm.pd.put_deal(PdDeal {
        expected_close_date: NaiveDate::from_ymd_opt(2026, 11, 25),
        ..deal(1, "Initech", 2_000.0, 11)
    });
    crm.sync(now).await;

    let board = ask(crm.app(), "/leaderboard metric:revenue period:this-week", 1, now).await;
    assert!(board.contains("Bob") && board.contains("4,200.00"), "{board}");
    let kpi = ask(crm.app(), &format!("/kpi rep user:<@{ALICE}> period:this-week"), 2, now).await;
    assert!(kpi.contains("call: **2**"), "Alice's two calls: {kpi}");
    // Weighted pipeline: 10,000 at negotiation (80 %) + 2,000 at qualified (10 %) = 8,200.
    let forecast = ask(crm.app(), "/forecast period:this-month", 3, now).await;
    assert!(forecast.contains("8,200.00"), "{forecast}");
    assert!(forecast.contains("4,200.00"), "won so far: {forecast}");
    let funnel = ask(crm.app(), "/funnel period:this-month", 4, now).await;
    assert!(funnel.contains("negotiation") && funnel.contains("qualified"), "{funnel}");
    crm.strict();
}

/// What a newcomer tripped on: `rally crm` and `rally api-key` never create a database or a guild,
/// say where a Pipedrive that cannot be reached was looked for, and never echo a secret back.
#[test]
fn crm_and_api_key_commands_need_a_guild_set_up_and_explain_what_went_wrong() {
    let t = TestDb::new();
    let db = t.arg();
    let rally = |args: &[&str], token: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_rally"));
        c.arg("--db").arg(&db).args(args).env_remove("RALLY_DB").env_remove("PIPEDRIVE_API_TOKEN");
        if let Some(t) = token {
            c.env("PIPEDRIVE_API_TOKEN", t);
        }
        let o = c.output().unwrap();
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    let (ok, text) = rally(&["api-key", "create", "--guild", "42"], None);
    assert!(!ok && text.contains("guild 42 has no data in") && !t.exists(), "{text}");
    let (ok, _) = rally(&["guild", "set", "--guild", "42", "--timezone", "UTC", "--currency", "USD"], None);
    assert!(ok);
    let (ok, text) = rally(&["crm", "connect", "--guild", "42", "--provider", "pipedrive"], None);
    assert!(!ok && text.contains("set PIPEDRIVE_API_TOKEN"), "{text}");
    let (ok, text) =
        rally(&["crm", "connect", "--guild", "42", "--api-url", "http://127.0.0.1:9"], Some("secret-1234567890"));
    assert!(!ok && text.contains("Pipedrive at http://127.0.0.1:9 could not be reached"), "{text}");
    assert!(!text.contains("next sync resumes") && !text.contains("secret-1234567890"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("WARN")).count(), 0, "retries are not warnings: {text}");
    let (ok, text) = rally(&["crm", "connect", "--guild", "42", "--webhook-url", "rally.example.com"], Some("t"));
    assert!(!ok && text.contains("https://rally.example.com"), "{text}");

    let (ok, key) = rally(&["api-key", "create", "--guild", "42", "--label", "Zapier"], None);
    assert!(ok);
    let key = key.lines().next().unwrap().trim().to_string();
    let wrong = "rally_wrongwrongwrongwrongwrongwrongwrongwrong";
    let (ok, text) = rally(&["api-key", "revoke", "--guild", "42", "--prefix", wrong], None);
    assert!(!ok && text.contains("rally_wrongw") && !text.contains(wrong), "only a prefix is shown back: {text}");
    let (ok, text) = rally(&["api-key", "revoke", "--guild", "42", "--prefix", &key], None);
    assert!(ok && text.contains("revoked"), "the whole key revokes it: {text}");
}

#[tokio::test]
async fn an_open_crm_deal_with_nothing_planned_next_breaks_no_next_activity_and_one_with_a_plan_does_not() {
    use rally::domain::hygiene::Rule;
    let now = at("2026-11-06T17:00:00Z");
    let crm = connected(now).await;
    let close = NaiveDate::from_ymd_opt(2026, 12, 1);
    let acme = crm.pd.put_deal(PdDeal { expected_close_date: close, ..deal(1, "Acme renewal", 12_500.0, 12) });
    crm.pd.put_deal(PdDeal {
        expected_close_date: close,
        next_activity_id: Some(77),
        ..deal(1, "Globex", 3_000.0, 11)
    });
    crm.sync(now).await;
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    let of = |name: &str| checks.iter().find(|c| c.deal.name == name).unwrap_or_else(|| panic!("{name}: {checks:?}"));
    let rules = |name: &str| of(name).breaches.iter().map(|b| b.rule()).collect::<Vec<_>>();
    assert_eq!(rules("Acme renewal"), vec![Rule::NoNextActivity]);
    assert_eq!(of("Acme renewal").deal.crm_id, Some(acme.to_string()));
    assert_eq!(rules("Globex"), Vec::<Rule>::new());
    // Something planned on Acme in Pipedrive: the next sync clears it.
    crm.pd.put_deal(PdDeal {
        id: acme,
        expected_close_date: close,
        next_activity_id: Some(78),
        ..deal(1, "Acme renewal", 12_500.0, 12)
    });
    crm.sync(at("2026-11-06T17:05:00Z")).await;
    let checks = crm.app().hygiene_checks(id(GUILD), at("2026-11-06T17:05:00Z")).await.unwrap();
    assert!(checks.iter().all(|c| c.breaches.is_empty()), "{checks:?}");
    crm.strict();
}

/// Alice presses a hygiene DM's button.
async fn press(app: &App, custom_id: &str, now: DateTime<Utc>) -> String {
    use rally::handlers::{Action, Invocation, Response};
    let inv = Invocation {
        id: 9_000 + now.timestamp() as u64 % 1_000 + custom_id.len() as u64,
        guild: id(GUILD),
        channel: Some(7),
        user: id(ALICE),
        user_name: "Alice".into(),
        roles: Vec::new(),
        permissions: 0,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Button { custom_id: custom_id.into() },
    };
    match rally::handlers::dispatch(app, &inv, now).await {
        Response::Message(m) => m.content.unwrap_or_default(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_reps_hygiene_buttons_change_a_crm_deal_in_pipedrive_only_where_the_connection_allows_it() {
    use rally::crm::pipedrive::PipedriveWriter;
    use rally::domain::hygiene::Rule;
    let now = at("2026-11-06T17:00:00Z"); // a Friday
    let crm = connected(now).await;
    crm.app().set_crm_writer(std::sync::Arc::new(PipedriveWriter { retry: quick() }));
    let due = NaiveDate::from_ymd_opt(2026, 11, 2);
    let acme = crm.pd.put_deal(PdDeal {
        expected_close_date: due,
        next_activity_id: Some(5),
        ..deal(1, "Acme renewal", 12_500.0, 12)
    });
    crm.sync(now).await;
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    let check = checks.iter().find(|c| c.deal.name == "Acme renewal").expect("the CRM deal");
    assert_eq!(check.breaches.iter().map(|b| b.rule()).collect::<Vec<_>>(), vec![Rule::Overdue]);
    let week = format!("hyg:week:{GUILD}:{}:2026-11-02", check.deal.id);

    // Write-back off (the default): refused, and nothing changes anywhere.
    assert!(!crm.app().crm_writes(id(GUILD)).await.unwrap());
    let refused = press(crm.app(), &week, now).await;
    assert!(refused.contains("takes no changes from rally: change it in the CRM"), "{refused}");
    assert_eq!(crm.pd.deal(acme).unwrap().expected_close_date, due);
    // So the hygiene DM links to the deal in Pipedrive rather than offer buttons that cannot work.
    let discord = rally::loopback::Loopback::start(rally::loopback::openapi_for_tests().as_deref()).await.unwrap();
    let schedule = rally::app::schedules::NewSchedule {
        what: "hygiene".into(),
        channel: 555,
        at: "weekdays 17:30".into(),
        params: serde_json::json!({}),
    };
    crm.app().add_schedule(id(GUILD), schedule, "test".into(), now).await.unwrap();
    let http = std::sync::Arc::new(rally::discord::http_client("test-token", Some(&discord.url())));
    rally::scheduler::Scheduler::new(crm.app().clone(), http).tick(at("2026-11-06T17:30:00Z")).await.unwrap();
    let dm = discord.dm_messages(ALICE).pop().expect("Alice's hygiene DM");
    let buttons = dm["components"][0]["components"].as_array().cloned().unwrap_or_default();
    assert_eq!(buttons.len(), 1, "{dm}");
    assert_eq!(buttons[0]["label"], "1 · Open in the CRM");
    assert_eq!(buttons[0]["url"], format!("{}/deal/{acme}", crm.pd.url()));
    assert!(discord.violations().is_empty(), "{:#?}", discord.violations());

    // On: the close date changes in Pipedrive, and in rally at once (not at the next sync).
    crm.app().crm_set_write_back(GUILD as i64, true, "test".into(), now).await.unwrap();
    assert!(crm.app().crm_writes(id(GUILD)).await.unwrap());
    // A change Pipedrive refuses (a token without write access) changes nothing, and says so.
    crm.pd.fail_next(&format!("/api/v2/deals/{acme}"), 403, 1);
    let refused = press(crm.app(), &week, now).await;
    assert!(refused.contains("the CRM did not take the change, so nothing changed"), "{refused}");
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    assert_eq!(checks[0].deal.expected_close, due);
    let pushed = press(crm.app(), &week, now).await;
    assert_eq!(pushed, "📅 `Acme renewal` now closes Fri 13 Nov 2026.");
    assert_eq!(crm.pd.deal(acme).unwrap().expected_close_date, NaiveDate::from_ymd_opt(2026, 11, 13));
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    let check = checks.iter().find(|c| c.deal.name == "Acme renewal").unwrap();
    assert_eq!(check.deal.expected_close, NaiveDate::from_ymd_opt(2026, 11, 13));
    assert!(check.breaches.is_empty(), "{check:?}");
    let patches = crm.pd.requests().into_iter().filter(|r| r.method == "PATCH" && r.status == 200).count();
    assert_eq!(patches, 1);
    let again = press(crm.app(), &week, now).await;
    assert!(again.contains("already had its close date changed"), "{again}");
    assert_eq!(crm.pd.requests().into_iter().filter(|r| r.method == "PATCH").count(), 2, "nothing sent twice");

    // Lost, in Pipedrive; rally no longer counts the deal as open.
    let lost = press(crm.app(), &format!("hyg:lost:{GUILD}:{}", check.deal.id), now).await;
    assert!(lost.starts_with("❌ `Acme renewal` is marked lost"), "{lost}");
    assert_eq!(crm.pd.deal(acme).unwrap().status, "lost");
    assert!(crm.app().hygiene_checks(id(GUILD), now).await.unwrap().is_empty());
    crm.strict();
}

/// Alice submits a hygiene DM's next-step form for deal `deal` (rally's id) as interaction `id`.
async fn submit_step(app: &App, id: u64, deal: i64, what: &str, due: &str, now: DateTime<Utc>) -> String {
    use rally::handlers::{Action, Invocation, Response};
    let inv = Invocation {
        id,
        guild: self::id(GUILD),
        channel: Some(7),
        user: self::id(ALICE),
        user_name: "Alice".into(),
        roles: Vec::new(),
        permissions: 0,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::ModalSubmit {
            custom_id: format!("hyg:step:{GUILD}:{deal}"),
            fields: vec![("what".into(), what.into()), ("due".into(), due.into())],
        },
    };
    match rally::handlers::dispatch(app, &inv, now).await {
        Response::Message(m) => m.content.unwrap_or_default(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_next_step_on_a_crm_deal_is_planned_in_pipedrive_only_where_the_connection_allows_it() {
    use rally::crm::pipedrive::PipedriveWriter;
    use rally::domain::hygiene::Rule;
    let now = at("2026-11-06T17:00:00Z"); // a Friday
    let crm = connected(now).await;
    crm.app().set_crm_writer(std::sync::Arc::new(PipedriveWriter { retry: quick() }));
    let acme = crm.pd.put_deal(PdDeal {
        expected_close_date: NaiveDate::from_ymd_opt(2026, 12, 20),
        ..deal(1, "Acme renewal", 12_500.0, 12)
    });
    crm.sync(now).await;
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    let check = checks.iter().find(|c| c.deal.name == "Acme renewal").expect("the CRM deal");
    assert_eq!(check.breaches.iter().map(|b| b.rule()).collect::<Vec<_>>(), vec![Rule::NoNextActivity]);
    let deal_id = check.deal.id;
    let posts = |crm: &Crm| {
        crm.pd.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/api/v2/activities").count()
    };

    // Write-back off (the default): refused, nothing sent.
    let refused = submit_step(crm.app(), 8_001, deal_id, "call their CFO", "2026-11-10", now).await;
    assert!(refused.contains("plan the next step in the CRM"), "{refused}");
    assert_eq!(posts(&crm), 0);

    crm.app().crm_set_write_back(GUILD as i64, true, "test".into(), now).await.unwrap();
    // A bad date changes nothing and sends nothing.
    let bad = submit_step(crm.app(), 8_002, deal_id, "call their CFO", "10/11/2026", now).await;
    assert!(bad.starts_with("⚠️") && bad.contains("is not a date"), "{bad}");
    assert_eq!(posts(&crm), 0);
    // Pipedrive refusing it (a token without write access) changes nothing, and says so.
    crm.pd.fail_next("/api/v2/activities", 403, 1);
    let refused = submit_step(crm.app(), 8_003, deal_id, "call their CFO", "2026-11-10", now).await;
    assert!(refused.contains("the CRM did not take the next step, so nothing changed"), "{refused}");
    assert_eq!(crm.pd.deal(acme).unwrap().next_activity_id, None);
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    assert_eq!(checks[0].breaches.iter().map(|b| b.rule()).collect::<Vec<_>>(), vec![Rule::NoNextActivity]);

    // Taken: the activity is in Pipedrive on the deal, and rally sees the deal's next activity at
    // once (not at the next sync).
    let done = submit_step(crm.app(), 8_004, deal_id, "call their CFO", "2026-11-10", now).await;
    assert_eq!(done, "📝 Next step on `Acme renewal` planned in the CRM: `call their CFO`, due Tue 10 Nov 2026.");
    let planned = crm.pd.deal(acme).unwrap().next_activity_id.expect("a next activity on the deal");
    let activity = crm.pd.activity(planned).expect("the activity");
    assert_eq!(
        (activity.subject.as_str(), activity.deal_id, activity.due_date),
        ("call their CFO", Some(acme), NaiveDate::from_ymd_opt(2026, 11, 10))
    );
    let checks = crm.app().hygiene_checks(id(GUILD), now).await.unwrap();
    assert!(checks.iter().all(|c| c.breaches.is_empty()), "{checks:?}");
    // The same submission again sends nothing.
    let again = submit_step(crm.app(), 8_004, deal_id, "call their CFO", "2026-11-10", now).await;
    assert!(again.starts_with("That form was already sent"), "{again}");
    assert_eq!(posts(&crm), 2, "the refused one and the taken one");
    crm.strict();
}
