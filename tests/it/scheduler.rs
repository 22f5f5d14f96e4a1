//! The scheduler with simulated time against the loopback Discord: slots at the right local time
//! across DST, each posted once across restarts, retries and crashes; missed slots skipped.

use std::sync::Arc;
use std::time::Duration;

use rally::handlers::{MANAGE_GUILD, Response, dispatch};
use rally::loopback::{Loopback, openapi_for_tests};
use rally::scheduler::Scheduler;

use crate::helpers::*;
use crate::slash::invocation;

const CHANNEL: u64 = 555;

async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

fn http(url: &str) -> Arc<serenity::http::Http> {
    Arc::new(rally::discord::http_client("test-token", Some(url)))
}

async fn manager(t: &TestApp, id: u64, line: &str, now: &str) -> String {
    match dispatch(&t.app, &invocation(id, 9, MANAGE_GUILD, line), at(now)).await {
        Response::Message(m) => {
            let text = message_text(&m);
            assert!(!text.starts_with("⚠️"), "{line}: {text}");
            text
        }
        other => panic!("{other:?}"),
    }
}

/// A guild in Berlin with some activity and a weekday 09:00 leaderboard.
async fn berlin_floor(t: &TestApp, now: &str) {
    manager(t, 1, "/settings timezone timezone:Europe/Berlin", now).await;
    import(
        &t.app,
        1,
        &format!("{HEADER}2026-03-23T10:00:00Z,42,Ann,Alpha,call,7,,,a\n2026-03-24T10:00:00Z,43,Ben,Beta,demo,2,,,b\n"),
        now,
    )
    .await;
    let reply = manager(
        t,
        2,
        &format!("/schedule add what:leaderboard channel:<#{CHANNEL}> at:\"weekdays 09:00\" period:this-month"),
        now,
    )
    .await;
    assert!(reply.contains("Schedule #1"), "{reply}");
}

#[tokio::test]
async fn a_week_of_slots_across_a_dst_change_posts_once_each_at_nine_local() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    let scheduler = Scheduler::new(t.app.clone(), http(&lb.url()));
    // Simulated time over a week spanning 29 March (clocks spring forward): each step goes to the
    // instant the scheduler says is next, as its sleep would, or an hour on when nothing is due.
    let mut now = at("2026-03-26T12:00:00Z");
    while now < at("2026-04-02T12:00:00Z") {
        let next = scheduler.tick(now).await.unwrap();
        now =
            next.filter(|n| *n > now).unwrap_or(now + chrono::Duration::hours(1)).min(now + chrono::Duration::hours(1));
    }
    let slots: Vec<String> = t.app.store.slots(1).await.unwrap().into_iter().map(|(s, _)| s.to_rfc3339()).collect();
    assert_eq!(
        slots,
        [
            "2026-03-27T08:00:00+00:00", // Friday, CET
            "2026-03-30T07:00:00+00:00", // Monday, CEST
            "2026-03-31T07:00:00+00:00",
            "2026-04-01T07:00:00+00:00",
            "2026-04-02T07:00:00+00:00",
        ]
    );
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 5, "one post per slot");
    assert!(posts[0]["embeds"][0]["title"].as_str().unwrap().starts_with("🏆 Reps by points"), "{}", posts[0]);
    assert!(posts[0]["embeds"][0]["description"].as_str().unwrap().contains("Ann"));
    assert_eq!(posts[0]["embeds"][0]["image"]["url"], "attachment://leaderboard.png", "posts carry a bar chart");
    let upload = lb
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with(&format!("/channels/{CHANNEL}/messages")) && !r.files.is_empty())
        .expect("the chart is uploaded with the post");
    assert!(upload.files[0].1.starts_with(b"\x89PNG"));
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_slot_recorded_before_a_crash_is_delivered_once_after_restart() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    // First run: Discord is unreachable, so the slot is recorded and its post stays queued.
    let down = Scheduler::new(t.app.clone(), http("http://127.0.0.1:9"));
    down.tick(at("2026-03-27T08:00:30Z")).await.unwrap();
    assert_eq!(t.app.store.slots(1).await.unwrap().len(), 1);
    assert!(lb.channel_messages(CHANNEL).is_empty());
    // "Restart": a new scheduler on the same database delivers it; ticking again changes nothing.
    let up = Scheduler::new(t.app.clone(), http(&lb.url()));
    up.tick(at("2026-03-27T08:05:00Z")).await.unwrap();
    up.tick(at("2026-03-27T08:10:00Z")).await.unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1);
    assert_eq!(t.app.store.slots(1).await.unwrap().len(), 1, "the slot was recorded once");

    // A crash after Discord accepted the post but before it was marked delivered: the retry carries
    // the same nonce, and Discord answers with the earlier message instead of posting again.
    let next = at("2026-03-30T07:00:10Z");
    down.tick(next).await.unwrap();
    let queued = t.app.store.due_posts(next + chrono::Duration::hours(1), 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    http(&lb.url())
        .send_message(serenity::model::id::ChannelId::new(CHANNEL), vec![], &queued[0].body)
        .await
        .expect("the post reaches Discord before the crash");
    up.tick(next + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 2, "posted once, not twice");
    assert!(t.app.store.posts(1).await.unwrap().iter().all(|p| p.delivered));
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_and_the_post_appears_once() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    lb.fail_next(&format!("/channels/{CHANNEL}/messages"), 429, 1);
    lb.fail_next(&format!("/channels/{CHANNEL}/messages"), 500, 1);
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    let mut now = at("2026-03-27T08:00:00Z");
    for _ in 0..6 {
        if let Some(next) = s.tick(now).await.unwrap() {
            now = next.min(now + chrono::Duration::minutes(5)).max(now + chrono::Duration::seconds(1));
        }
    }
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1);
    let post = &t.app.store.posts(1).await.unwrap()[0];
    assert!(post.delivered);
    assert_eq!(post.attempts, 3, "two failures, then the delivery");
}

#[tokio::test]
async fn a_slot_missed_beyond_the_grace_window_is_skipped_and_one_within_it_is_posted() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url())).with_grace(Duration::from_secs(2 * 3600));
    // The bot was down from Thursday to Monday 08:30 local: Friday's slot is days old, skipped.
    s.tick(at("2026-03-30T06:30:00Z")).await.unwrap();
    assert_eq!(t.app.store.slots(1).await.unwrap(), vec![(at("2026-03-27T08:00:00Z"), false)]);
    assert!(lb.channel_messages(CHANNEL).is_empty());
    // Down again until 10:30 local Monday: 09:00 is within two hours, posted late but once.
    s.tick(at("2026-03-30T08:30:00Z")).await.unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1);
}

#[tokio::test]
async fn paused_schedules_and_guilds_without_leaderboards_post_nothing() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    manager(&t, 3, "/schedule pause id:1", "2026-03-26T12:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-03-27T08:00:00Z")).await.unwrap();
    assert!(t.app.store.slots(1).await.unwrap().is_empty());
    manager(&t, 4, "/schedule resume id:1", "2026-03-27T12:00:00Z").await;
    let off = manager(&t, 6, "/settings leaderboards on:false", "2026-03-27T12:00:00Z").await;
    assert!(off.contains("Leaderboards are off"), "{off}");
    let refused = match dispatch(&t.app, &invocation(7, 42, 0, "/leaderboard"), at("2026-03-27T12:00:00Z")).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{other:?}"),
    };
    assert!(refused.contains("leaderboards are turned off"), "{refused}");
    s.tick(at("2026-03-30T07:00:00Z")).await.unwrap();
    assert_eq!(t.app.store.slots(1).await.unwrap(), vec![(at("2026-03-30T07:00:00Z"), false)], "recorded, not posted");
    assert!(lb.channel_messages(CHANNEL).is_empty());
    let list = manager(&t, 5, "/schedule list", "2026-03-30T12:00:00Z").await;
    assert!(list.contains("#1") && list.contains("weekdays 09:00") && list.contains("turned off"), "{list}");
    let shown = manager(&t, 8, "/settings show", "2026-03-30T12:00:00Z").await;
    assert!(shown.contains("Leaderboards: off"), "{shown}");
    manager(&t, 9, "/settings leaderboards on:true", "2026-03-30T12:00:00Z").await;
    s.tick(at("2026-03-31T07:00:00Z")).await.unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1, "on again: the next slot posts");
}

#[tokio::test]
async fn a_post_is_retried_through_a_long_outage_and_given_up_only_after_the_grace_window() {
    let lb = loopback().await;
    let t = spawn_app();
    berlin_floor(&t, "2026-03-26T12:00:00Z").await;
    // Discord answers 500 for the first half hour of retries: 1 s, 2 s, 4 s … then once a minute.
    lb.fail_next(&format!("/channels/{CHANNEL}/messages"), 500, 35);
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    let mut now = at("2026-03-27T08:00:00Z");
    while lb.channel_messages(CHANNEL).is_empty() && now < at("2026-03-27T09:00:00Z") {
        now = s.tick(now).await.unwrap().expect("a retry is due").max(now + chrono::Duration::seconds(1));
    }
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1, "delivered once Discord came back");
    let post = &t.app.store.posts(1).await.unwrap()[0];
    assert!(post.delivered && post.attempts == 36, "{post:?}");
    assert!(now - at("2026-03-27T08:00:00Z") > chrono::Duration::minutes(25), "well past the old ten attempts");

    // An outage longer than the grace window: the post is given up (and logged), not retried forever.
    lb.fail_next(&format!("/channels/{CHANNEL}/messages"), 500, 10_000);
    let mut now = at("2026-03-30T07:00:00Z");
    for _ in 0..1000 {
        match s.tick(now).await.unwrap() {
            Some(next) if next < at("2026-03-30T07:00:00Z") + chrono::Duration::hours(3) => now = next.max(now),
            _ => break,
        }
        if t.app.store.posts(1).await.unwrap()[1].failed {
            break;
        }
    }
    let given_up = &t.app.store.posts(1).await.unwrap()[1];
    assert!(given_up.failed && !given_up.delivered, "{given_up:?}");
    assert!(now - at("2026-03-30T07:00:00Z") <= chrono::Duration::hours(2), "given up within the grace window");
    assert!(lb.channel_messages(CHANNEL).len() == 1);
}

/// `n` posts to `CHANNEL`, each with its own nonce, queued at `now`.
async fn queue_posts(app: &rally::app::App, n: usize, now: chrono::DateTime<chrono::Utc>) {
    for i in 0..n {
        let nonce = format!("race-{i}");
        let post = rally::store::schedules::QueuedPost {
            target: rally::store::schedules::PostTarget::Channel(CHANNEL),
            body: serde_json::json!({"content": format!("post {i}"), "nonce": nonce, "enforce_nonce": true}),
            files: Vec::new(),
            nonce,
            source: "test".into(),
            marks: Vec::new(),
        };
        assert!(app.queue_post(1, post, now).await.unwrap());
    }
}

/// Discord's message-create requests the loopback received, by nonce.
fn attempts_by_nonce(lb: &Loopback) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in lb
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/channels/{CHANNEL}/messages")))
    {
        let nonce = r.body.as_ref().and_then(|b| b["nonce"].as_str()).unwrap_or_default().to_owned();
        *out.entry(nonce).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn two_schedulers_on_one_database_attempt_each_post_once() {
    let lb = loopback().await;
    let t = spawn_app();
    let now = at("2026-03-27T08:00:00Z");
    queue_posts(&t.app, 40, now).await;
    // A second process's view of the same database.
    let other = rally::app::App::open_at(&t.location()).unwrap();
    let a = Scheduler::new(t.app.clone(), http(&lb.url()));
    let b = Scheduler::new(other.clone(), http(&lb.url()));
    let (ra, rb) = tokio::join!(a.tick(now), b.tick(now));
    ra.unwrap();
    rb.unwrap();
    let attempts = attempts_by_nonce(&lb);
    assert_eq!(attempts.len(), 40, "every post was attempted: {attempts:?}");
    assert!(attempts.values().all(|n| *n == 1), "no post was attempted twice: {attempts:?}");
    assert_eq!(lb.channel_messages(CHANNEL).len(), 40);
    assert!(t.app.store.posts(1).await.unwrap().iter().all(|p| p.delivered));
}

#[tokio::test]
async fn a_post_whose_deliverer_died_is_delivered_by_another_after_the_lease_once() {
    let lb = loopback().await;
    let t = spawn_app();
    let now = at("2026-03-27T08:00:00Z");
    queue_posts(&t.app, 3, now).await;
    // One process takes the posts and dies before delivering them.
    assert_eq!(t.app.claim_posts(now, 50).await.unwrap().len(), 3);
    let other = rally::app::App::open_at(&t.location()).unwrap();
    let b = Scheduler::new(other.clone(), http(&lb.url()));
    // Within the lease the survivor leaves them alone, and sleeps until it ends.
    let wake = b.tick(now + chrono::Duration::seconds(30)).await.unwrap();
    assert!(lb.channel_messages(CHANNEL).is_empty());
    assert_eq!(wake, Some(now + rally::store::schedules::POST_LEASE), "it wakes when the lease runs out");
    b.tick(now + chrono::Duration::seconds(61)).await.unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 3);
    assert!(attempts_by_nonce(&lb).values().all(|n| *n == 1));
}
