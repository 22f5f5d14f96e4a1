//! The CRM figures of `rally bench`: a backfill of N activities from the loopback Pipedrive through
//! the real client and `App::crm_sync` (with the same pages read and parsed alone as the baseline),
//! the API calls and Pipedrive token cost per 10,000 activities, and the time from a webhook POST to
//! the activity showing in `/me` (beside a chat `/log` to `/me`).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::measure::{Stats, stats};
use crate::app::crm::{ConnectRequest, CrmSource, Feed, secret_hash};
use crate::app::{App, AppError, AppResult};
use crate::crm::pipedrive::Pipedrive;
use crate::domain::activity::Snowflake;
use crate::domain::crm::{Provider, Secret, Window};
use crate::handlers::{Action, Invocation, MANAGE_GUILD};
use crate::loopback::pipedrive::{PdActivity, PdOptions, PipedriveLoopback};

/// The guild the CRM figures run in (its own database).
const GUILD: i64 = 9_000_000_000_000_001;
/// Pipedrive users, each linked to a member.
const USERS: i64 = 100;
const WEBHOOK_USER: &str = "rally-bench";
const WEBHOOK_PASSWORD: &str = "bench-webhook-password";

/// What the CRM part of a run measured.
pub struct CrmRun {
    pub activities: u64,
    /// The backfill pass through `App::crm_sync`.
    pub backfill: Duration,
    /// The same pages fetched and parsed by the client, nothing stored.
    pub read_only: Duration,
    pub calls: u64,
    pub cost: u64,
    /// A webhook POST (acknowledged once durable) and then `/me`, per event.
    pub webhook: Stats,
    /// A chat `/log` and then `/me`, per log: the baseline.
    pub chat: Stats,
    /// An intake API POST (acknowledged once durable) and then `/me`, per activity.
    pub intake: Stats,
    /// Calls the webhooks added to the user's day (as `/me` counts them), against the events sent.
    pub webhook_counted: (i64, usize),
}

fn err(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::User(format!("bench (CRM {what}): {e}"))
}

fn sid(n: i64) -> AppResult<Snowflake> {
    Ok(Snowflake::new(n as u64)?)
}

fn me(user: i64, id: u64) -> AppResult<Invocation> {
    Ok(Invocation {
        id,
        guild: sid(GUILD)?,
        channel: None,
        user: sid(user)?,
        user_name: format!("Rep {user}"),
        roles: Vec::new(),
        permissions: MANAGE_GUILD,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(crate::handlers::cmdline::parse("/me period:today")?),
    })
}

fn member(i: i64) -> i64 {
    8_000_000_000_000_000 + i
}

/// Runs the CRM figures in a database of their own under `dir`.
pub async fn run(dir: &Path, activities: u64, webhooks: usize, now: DateTime<Utc>) -> AppResult<CrmRun> {
    let pd = PipedriveLoopback::start(PdOptions::default()).await.map_err(|e| err("loopback", e))?;
    let token = PdOptions::default().token;
    pd.set_clock(Some(now - chrono::Duration::hours(1)));
    for u in 1..=USERS {
        pd.add_user(u, &format!("Rep {u}"), &format!("rep{u}@example.com"));
    }
    for (key, name) in [("call", "Call"), ("email", "Email"), ("meeting", "Meeting")] {
        pd.add_activity_type(key, name);
    }
    pd.add_pipeline(1, "Sales");
    pd.add_stage(1, 1, "Qualified", 1, 20);
    let kinds = ["call", "call", "email", "meeting"];
    pd.bulk_activities((0..activities).map(|i| {
        let minutes = (i % (90 * 24 * 60)) as i64;
        PdActivity {
            subject: "Bench".into(),
            r#type: kinds[(i % 4) as usize].into(),
            owner_id: (i as i64 % USERS) + 1,
            done: true,
            marked_as_done_time: Some(now - chrono::Duration::minutes(minutes + 60)),
            ..PdActivity::default()
        }
    }));

    let app = App::open(dir.join("crm.db"))?;
    let client = Pipedrive::new(&pd.url(), Secret::new(token.clone()));
    let request = ConnectRequest {
        guild: GUILD,
        provider: Provider::Pipedrive,
        api_url: pd.url(),
        token: Secret::new(token.clone()),
        pipeline: None,
        webhook_base: None,
    };
    app.crm_connect(&client, request, now).await?;
    for u in 1..=USERS {
        app.crm_link(GUILD, &u.to_string(), Some((member(u) as u64, format!("Rep {u}"))), 0, now).await?;
    }

    // Baseline: the pages alone, read and parsed.
    let reader = Pipedrive::new(&pd.url(), Secret::new(token.clone()));
    let started = Instant::now();
    let mut cursor = None;
    let mut read = 0u64;
    loop {
        let page = reader
            .page(Feed::Activities, Window { since: None, until: now }, cursor)
            .await
            .map_err(|e| err("read", e))?;
        read += page.records.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let read_only = started.elapsed();
    if read != activities {
        return Err(err("read", format!("read {read} of {activities} activities")));
    }

    let started = Instant::now();
    let report = app.crm_sync(&client, GUILD, None, false, now, &mut |_| {}).await?;
    let backfill = started.elapsed();
    if report.activities.imported != activities {
        return Err(err("backfill", format!("imported {} of {activities}", report.activities.imported)));
    }

    // Webhooks: a known password for the guild's webhook (what connect generates and registers).
    app.store
        .crm_connect(
            crate::store::crm::NewConnection {
                guild: GUILD,
                provider: Provider::Pipedrive,
                api_url: pd.url(),
                api_token: Secret::new(token),
                pipeline: Some("1".into()),
                webhook_user: Some(WEBHOOK_USER.into()),
                webhook_hash: Some(secret_hash(WEBHOOK_PASSWORD)),
                webhook_ids: vec!["1".into(), "2".into()],
            },
            now,
        )
        .await?;
    let router = crate::web::router(app.clone(), crate::discord::Clock::starting_at(now));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| err("listen", e))?;
    let addr = listener.local_addr().map_err(|e| err("listen", e))?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let settings = app.settings(sid(GUILD)?).await?;
    let today = crate::domain::period::Period::resolve(&crate::domain::period::PeriodSpec::Today, &settings, now)?;
    let calls_today = |totals: crate::domain::kpi::Totals| *totals.counts.get("call").unwrap_or(&0);
    let before = calls_today(app.member_totals(sid(GUILD)?, sid(member(1))?, &today).await?);
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/crm/pipedrive/{GUILD}");
    let user = member(1);
    let mut samples = Vec::with_capacity(webhooks);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for i in 0..webhooks {
        let id = 50_000_000 + i as i64;
        let done = stamp(now - chrono::Duration::seconds(30));
        let body = json!({
            "meta": {"action": "create", "entity": "activity", "entity_id": id.to_string(), "attempt": 1,
                "id": format!("bench-{i}"), "timestamp": done, "version": "2.0"},
            "data": {"id": id, "owner_id": 1, "type": "call", "subject": "Webhook", "done": true,
                "marked_as_done_time": done, "update_time": done, "add_time": done},
            "previous": null
        });
        let started = Instant::now();
        let answer = http
            .post(&url)
            .basic_auth(WEBHOOK_USER, Some(WEBHOOK_PASSWORD))
            .json(&body)
            .send()
            .await
            .map_err(|e| err("webhook", e))?;
        if !answer.status().is_success() {
            return Err(err("webhook", format!("answered {}", answer.status())));
        }
        crate::handlers::dispatch(&app, &me(user, 1_000 + i as u64)?, now).await;
        samples.push(started.elapsed());
    }
    // The intake API: the same, with rally's own body shape. The per-key limit (50/s, bursts of
    // 200) is not what is measured: the requests rotate over enough keys to stay inside it.
    let mut keys = Vec::new();
    for k in 0..=(webhooks / 150) {
        keys.push(app.api_key_create(GUILD, &format!("bench {k}"), now).await?.0);
    }
    let intake_url = format!("http://{addr}/api/v1/activities");
    let mut intake = Vec::with_capacity(webhooks);
    for i in 0..webhooks {
        let body = json!({"external_id": format!("bench-{i}"), "user_id": member(3).to_string(), "kind": "demo",
            "occurred_at": stamp(now - chrono::Duration::seconds(30))});
        let started = Instant::now();
        let answer = http
            .post(&intake_url)
            .bearer_auth(&keys[i % keys.len()])
            .json(&body)
            .send()
            .await
            .map_err(|e| err("intake", e))?;
        if !answer.status().is_success() {
            return Err(err("intake", format!("answered {}", answer.status())));
        }
        crate::handlers::dispatch(&app, &me(member(3), 4_000_000 + i as u64)?, now).await;
        intake.push(started.elapsed());
    }
    server.abort();
    let counted = calls_today(app.member_totals(sid(GUILD)?, sid(user)?, &today).await?) - before;

    // Baseline: a chat /log of a kind the CRM does not feed, then /me.
    let mut chat = Vec::with_capacity(webhooks);
    for i in 0..webhooks {
        let mut inv = me(member(2), 2_000_000 + i as u64)?;
        inv.action = Action::Command(crate::handlers::cmdline::parse("/log kind:demo")?);
        let started = Instant::now();
        crate::handlers::dispatch(&app, &inv, now).await;
        crate::handlers::dispatch(&app, &me(member(2), 3_000_000 + i as u64)?, now).await;
        chat.push(started.elapsed());
    }
    Ok(CrmRun {
        activities,
        backfill,
        read_only,
        calls: report.usage.calls,
        cost: report.usage.cost,
        webhook: stats(samples),
        chat: stats(chat),
        intake: stats(intake),
        webhook_counted: (counted, webhooks),
    })
}
