//! Nudges, hygiene reminders, milestones and working hours, with simulated time driving the
//! scheduler against the loopback Discord: who gets a DM, who never does, and that nothing is sent
//! twice across retries and restarts.
//!
//! The week of Monday 23 November 2026 in UTC, Mon-Fri, working hours 09:00-18:00. At Wednesday
//! 12:00 two working days and 3 of Wednesday's 9 working hours are gone (2⅓ of 5), so a goal of 100
//! expects 46.7 by now, with 2⅔ working days left.

use std::sync::Arc;

use rally::handlers::{MANAGE_GUILD, Response, dispatch};
use rally::loopback::{Loopback, openapi_for_tests};
use rally::scheduler::Scheduler;
use rally::store::schedules::PostTarget;
use serde_json::Value;

use crate::helpers::*;
use crate::slash::invocation;

const MANAGER: u64 = 9;
/// Where the schedules are added; nudges by DM never appear here.
const SCHEDULE_CHANNEL: u64 = 555;
const TEAM_CHANNEL: u64 = 777;
const MONDAY: &str = "2026-11-23T10:00:00Z";
const WEDNESDAY_NOON: &str = "2026-11-25T12:00:00Z";

async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

fn http(url: &str) -> Arc<serenity::http::Http> {
    Arc::new(rally::discord::http_client("test-token", Some(url)))
}

/// Runs a command as `user` and returns its reply text.
async fn run(t: &TestApp, id: u64, user: u64, line: &str, now: &str) -> String {
    let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
    match dispatch(&t.app, &invocation(id, user, permissions, line), at(now)).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{other:?}"),
    }
}

/// The same, failing the test when the reply is an error.
async fn ok(t: &TestApp, id: u64, user: u64, line: &str, now: &str) -> String {
    let reply = run(t, id, user, line, now).await;
    assert!(!reply.trim_start().starts_with("⚠️"), "{line}: {reply}");
    reply
}

async fn calls(t: &TestApp, user: u64, n: i64, key: &str) {
    t.app.log(log_req(1, user, "call", n, key), at(MONDAY)).await.expect("logged");
}

/// Team Alpha (reps 42, 43, 44; channel 777), each with a goal of 100 calls a week: by Wednesday
/// noon 42 has 20 (30 points behind), 43 has 45 (5 behind), 44 has 10 (40 behind).
async fn alpha(t: &TestApp) {
    ok(t, 1, MANAGER, "/settings working-hours hours:\"09:00-18:00\"", MONDAY).await;
    ok(t, 2, MANAGER, "/team create name:Alpha", MONDAY).await;
    ok(t, 3, MANAGER, &format!("/team channel team:Alpha channel:<#{TEAM_CHANNEL}>"), MONDAY).await;
    for (i, rep) in [42u64, 43, 44].into_iter().enumerate() {
        let i = i as u64;
        ok(t, 10 + i, MANAGER, &format!("/team add team:Alpha user:<@{rep}>"), MONDAY).await;
        let goal = format!("/goal set scope:rep user:<@{rep}> metric:call target:100 period:week");
        ok(t, 20 + i, MANAGER, &goal, MONDAY).await;
    }
    calls(t, 42, 20, "a").await;
    calls(t, 43, 45, "b").await;
    calls(t, 44, 10, "c").await;
}

async fn schedule(t: &TestApp, id: u64, options: &str, now: &str) {
    let line = format!("/schedule add channel:<#{SCHEDULE_CHANNEL}> {options}");
    let reply = ok(t, id, MANAGER, &line, now).await;
    assert!(reply.contains("Schedule #"), "{reply}");
}

/// Everything one DM or post shows: content, embed title, description and footer.
fn shown(post: &Value) -> String {
    let mut s = post["content"].as_str().unwrap_or_default().to_string();
    for e in post["embeds"].as_array().into_iter().flatten() {
        for key in ["title", "description"] {
            s.push_str(&format!("\n{}", e[key].as_str().unwrap_or_default()));
        }
        s.push_str(&format!("\n{}", e["footer"]["text"].as_str().unwrap_or_default()));
    }
    s
}

#[tokio::test]
async fn a_rep_behind_by_more_than_the_threshold_gets_one_dm_with_the_numbers_and_a_rep_on_pace_gets_none() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    schedule(&t, 30, "what:nudges at:\"weekdays 12:00\"", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();

    let dms = lb.dm_messages(42);
    assert_eq!(dms.len(), 1, "{dms:#?}");
    let text = shown(&dms[0]);
    // 20 of 100 is 20 %; pace expects 100 × 2⅓ / 5 = 46.7; (100 − 20) / 2⅔ = 30 a day.
    assert!(
        text.contains(
            "**Calls this week** — You're at **20** of 100 calls (20%) — pace says 46.7 by now. \
             **30/day** over the 2.7 working days left gets you there."
        ),
        "{text}"
    );
    assert!(text.contains("/nudges off"), "every nudge says how to stop them: {text}");
    assert!(lb.dm_messages(43).is_empty(), "45 of an expected 46.7 is within 15 points");
    assert_eq!(lb.dm_messages(44).len(), 1, "36.7 points behind");
    assert!(lb.channel_messages(SCHEDULE_CHANNEL).is_empty(), "nudges go by DM");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_rep_who_opted_out_is_never_nudged_nor_reminded_until_they_opt_back_in() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    let off = ok(&t, 40, 44, "/nudges off", MONDAY).await;
    assert!(off.contains("Nudges are off"), "{off}");
    assert!(ok(&t, 41, 44, "/nudges off", MONDAY).await.contains("already off"), "a second off changes nothing");
    assert!(ok(&t, 42, 44, "/nudges status", MONDAY).await.contains("off (since Mon 23 Nov 2026)"));
    schedule(&t, 30, "what:nudges at:\"weekdays 12:00\"", "2026-11-25T11:00:00Z").await;
    schedule(&t, 31, "what:hygiene at:\"weekdays 17:00\"", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    for slot in [WEDNESDAY_NOON, "2026-11-25T17:00:00Z", "2026-11-26T12:00:00Z", "2026-11-26T17:00:00Z"] {
        s.tick(at(slot)).await.unwrap();
        s.tick(at(slot)).await.unwrap();
    }
    s.tick(at("2026-11-27T12:00:00Z")).await.unwrap();
    assert!(lb.dm_messages(44).is_empty(), "{:#?}", lb.dm_messages(44));
    assert!(lb.dm_channel(44).is_none(), "not even a DM channel was opened");
    assert_eq!(lb.dm_messages(42).len(), 3 + 2, "42 is nudged at three slots and reminded on two days");

    // Back on: Monday 30 November at 12:00 the new week expects 10, Tuesday 30 of 100 — 44 has 0.
    assert!(ok(&t, 43, 44, "/nudges on", "2026-11-28T10:00:00Z").await.contains("Nudges are on"));
    let status = ok(&t, 44, 44, "/nudges status", "2026-11-28T10:00:00Z").await;
    assert!(status.contains("Your nudges are on: DMs come only on working days, 09:00-18:00 (UTC time)"), "{status}");
    s.tick(at("2026-12-01T12:00:00Z")).await.unwrap();
    let dms = lb.dm_messages(44);
    assert_eq!(dms.len(), 1, "{dms:#?}");
    // Tuesday 12:00: one working day and 3 of 9 working hours gone, 1⅓ of 5: 100 × 1⅓ / 5 = 26.7.
    assert!(
        shown(&dms[0]).contains("You're at **0** of 100 calls (0%) — pace says 26.7 by now."),
        "{}",
        shown(&dms[0])
    );
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_slot_outside_working_hours_or_on_a_day_off_sends_nothing() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    schedule(&t, 30, "what:nudges at:\"daily 19:00\"", "2026-11-25T11:00:00Z").await;
    schedule(&t, 31, "what:nudges at:\"daily 08:30\"", "2026-11-25T11:00:00Z").await;
    schedule(&t, 32, "what:hygiene at:\"sat 12:00\"", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    for now in ["2026-11-25T19:00:00Z", "2026-11-26T08:30:00Z", "2026-11-28T12:00:00Z"] {
        s.tick(at(now)).await.unwrap();
    }
    // Each schedule recorded its first slot (and later missed ones) as sent nothing.
    for (schedule, first, why) in [
        (1, "2026-11-25T19:00:00Z", "after 18:00"),
        (2, "2026-11-26T08:30:00Z", "before 09:00"),
        (3, "2026-11-28T12:00:00Z", "a Saturday"),
    ] {
        let slots = t.app.store.slots(schedule).await.unwrap();
        assert_eq!(slots.first(), Some(&(at(first), false)), "{why}");
        assert!(slots.iter().all(|(_, queued)| !queued), "{why}: {slots:?}");
    }
    for rep in [42, 43, 44] {
        assert!(lb.dm_messages(rep).is_empty(), "rep {rep}");
    }
    assert!(t.app.store.posts(1).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_team_channel_mode_posts_one_message_in_the_team_channel_and_no_dms() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    // The team's 75 calls against 300: expected 150 by now, 25 points behind; 225 to go.
    ok(&t, 25, MANAGER, "/goal set scope:team team:Alpha metric:call target:300 period:week", MONDAY).await;
    schedule(&t, 30, "what:nudges at:\"weekdays 12:00\" to:team-channel", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();

    let posts = lb.channel_messages(TEAM_CHANNEL);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let text = shown(&posts[0]);
    assert!(text.contains("Team Alpha is behind pace"), "{text}");
    assert!(
        text.contains(
            "The team is at **75** of 300 calls (25%) — pace says 140 by now. \
             **84.4/day** over the 2.7 working days left gets the team there."
        ),
        "{text}"
    );
    assert!(text.contains("2 reps are more than 15 points behind on their own goals."), "{text}");
    assert!(lb.channel_messages(SCHEDULE_CHANNEL).is_empty(), "the team has a channel of its own");
    for rep in [42, 43, 44] {
        assert!(lb.dm_messages(rep).is_empty(), "no DMs in team-channel mode (rep {rep})");
    }
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_retried_slot_or_a_restart_after_a_crash_never_doubles_a_nudge() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    schedule(&t, 30, "what:nudges at:\"weekdays 12:00\" threshold:35", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();
    assert_eq!(lb.dm_messages(44).len(), 1, "ticked twice at the same instant, nudged once");
    assert!(lb.dm_messages(42).is_empty(), "30 points behind is within a threshold of 35");

    // Thursday (70 expected): Discord is unreachable, so the slot is recorded with both DMs
    // queued. Before the bot crashes 44's DM reaches Discord, but is never marked delivered.
    let thursday = at("2026-11-26T12:00:00Z");
    Scheduler::new(t.app.clone(), http("http://127.0.0.1:9")).tick(thursday).await.unwrap();
    let queued = t.app.store.due_posts(thursday + chrono::Duration::minutes(5), 10).await.unwrap();
    assert_eq!(queued.len(), 2, "{queued:#?}");
    let to_44 = queued.iter().find(|p| p.target == PostTarget::Dm(44)).expect("44 is nudged on Thursday");
    let discord = http(&lb.url());
    let dm = discord.create_private_channel(&serde_json::json!({ "recipient_id": "44" })).await.unwrap();
    discord.send_message(dm.id, vec![], &to_44.body).await.expect("the DM reaches Discord before the crash");

    // A fresh scheduler on the same database retries with the same nonce: Discord returns the
    // earlier message, so the rep still sees one DM for Thursday.
    let restarted = Scheduler::new(t.app.clone(), http(&lb.url()));
    restarted.tick(thursday + chrono::Duration::minutes(5)).await.unwrap();
    restarted.tick(thursday + chrono::Duration::minutes(10)).await.unwrap();
    assert_eq!(lb.dm_messages(44).len(), 2, "one for Wednesday, one for Thursday");
    assert_eq!(lb.dm_messages(42).len(), 1, "Thursday's, 50 points behind");
    assert_eq!(t.app.store.slots(1).await.unwrap().len(), 2);
    assert!(t.app.store.posts(1).await.unwrap().iter().all(|p| p.delivered));
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn hygiene_reminds_only_reps_on_a_team_with_no_activity_that_working_day() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    ok(&t, 40, 44, "/nudges off", MONDAY).await;
    // 42 logs on Wednesday; 43 logged only on Monday; 44 opted out; 45 is on no team.
    t.app.log(log_req(1, 42, "email", 1, "w"), at("2026-11-25T09:30:00Z")).await.unwrap();
    t.app.log(log_req(1, 45, "call", 1, "x"), at(MONDAY)).await.unwrap();
    schedule(&t, 30, "what:hygiene at:\"weekdays 17:00\"", "2026-11-25T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-25T17:00:00Z")).await.unwrap();

    let reminded = lb.dm_messages(43);
    assert_eq!(reminded.len(), 1);
    let text = shown(&reminded[0]);
    assert!(text.contains("nothing logged for today (Wed 25 Nov) yet"), "{text}");
    assert!(text.contains("/nudges off"), "{text}");
    for rep in [42, 44, 45] {
        assert!(lb.dm_messages(rep).is_empty(), "rep {rep}");
    }
    // Thursday nobody logged: both reps still reminded, once each.
    s.tick(at("2026-11-26T17:00:00Z")).await.unwrap();
    s.tick(at("2026-11-26T17:00:00Z")).await.unwrap();
    assert_eq!(lb.dm_messages(42).len(), 1);
    assert_eq!(lb.dm_messages(43).len(), 2);
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn milestones_at_half_and_all_of_a_goal_are_each_posted_once_in_the_team_channel() {
    let lb = loopback().await;
    let t = spawn_app();
    ok(&t, 1, MANAGER, "/team create name:Alpha", MONDAY).await;
    ok(&t, 2, MANAGER, &format!("/team channel team:Alpha channel:<#{TEAM_CHANNEL}>"), MONDAY).await;
    ok(&t, 3, MANAGER, "/team add team:Alpha user:<@42>", MONDAY).await;
    ok(&t, 4, MANAGER, "/goal set scope:rep user:<@42> metric:call target:10 period:week", MONDAY).await;
    ok(&t, 5, MANAGER, "/goal set scope:team team:Alpha metric:call target:20 period:week", MONDAY).await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    let mut interaction = 100;
    let mut log_and_tick = async |count: u32, now: &str| {
        interaction += 1;
        ok(&t, interaction, 42, &format!("/log kind:call count:{count}"), now).await;
        s.tick(at(now)).await.unwrap();
        s.tick(at(now)).await.unwrap();
        lb.channel_messages(TEAM_CHANNEL).iter().map(shown).collect::<Vec<_>>()
    };
    assert!(log_and_tick(4, "2026-11-23T10:00:00Z").await.is_empty(), "40 % is no milestone");
    let posts = log_and_tick(1, "2026-11-23T11:00:00Z").await;
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(posts[0].contains("Halfway there!"), "{}", posts[0]);
    assert!(posts[0].contains("<@42> is halfway to their weekly calls goal: **5** of 10 calls."), "{}", posts[0]);
    assert_eq!(log_and_tick(2, "2026-11-24T10:00:00Z").await.len(), 1, "70 % celebrates nothing new");
    // 10 calls: all of 42's goal and half of the team's 20.
    let posts = log_and_tick(3, "2026-11-24T11:00:00Z").await;
    assert_eq!(posts.len(), 3, "{posts:#?}");
    assert!(
        posts
            .iter()
            .any(|p| p.contains("Goal reached!") && p.contains("<@42> hit their weekly calls goal: **10** of 10")),
        "{posts:#?}"
    );
    assert!(
        posts.iter().any(|p| p.contains("Team **Alpha** is halfway to its weekly calls goal: **10** of 20 calls.")),
        "{posts:#?}"
    );
    assert_eq!(log_and_tick(5, "2026-11-25T10:00:00Z").await.len(), 3, "150 % is still one 100 %");
    // A restarted scheduler finds nothing left to announce.
    Scheduler::new(t.app.clone(), http(&lb.url())).tick(at("2026-11-25T11:00:00Z")).await.unwrap();
    assert_eq!(lb.channel_messages(TEAM_CHANNEL).len(), 3);
    assert!(t.app.pending_milestones(10).await.unwrap().is_empty());
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn working_hours_parse_errors_are_friendly_and_change_nothing() {
    let t = spawn_app();
    let now = MONDAY;
    let before = t.app.store.audit_count(1).await.unwrap();
    for (hours, says) in [
        ("18:00-09:00", "must end after they start"),
        ("nine to five", "`nine` is not a time of day"),
        ("09:00", "is not a range of hours"),
        ("09:75-18:00", "is not a time of day"),
    ] {
        let reply = run(&t, 1, MANAGER, &format!("/settings working-hours hours:\"{hours}\""), now).await;
        assert!(reply.starts_with("⚠️") && reply.contains(says), "{hours}: {reply}");
        assert!(reply.contains("09:00-18:00") || says.contains("end after"), "shows the expected form: {reply}");
    }
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before, "nothing was written");
    assert!(ok(&t, 2, MANAGER, "/settings show", now).await.contains("Working hours: 08:00-18:00"), "the default");
    let saved = ok(&t, 3, MANAGER, "/settings working-hours hours:\"9:30-17:30\"", now).await;
    assert!(saved.contains("Working hours: 09:30-17:30"), "{saved}");
    let rep = run(&t, 4, 42, "/settings working-hours hours:\"09:00-18:00\"", now).await;
    assert!(rep.starts_with("⚠️") && rep.contains("for managers"), "{rep}");
}

#[tokio::test]
async fn a_nudge_waiting_for_a_retry_is_dropped_when_the_rep_turns_nudges_off_meanwhile() {
    let lb = loopback().await;
    let t = spawn_app();
    alpha(&t).await;
    schedule(&t, 30, "what:nudges at:\"weekdays 12:00\"", "2026-11-25T11:00:00Z").await;
    // Discord is down when the slot comes: both DMs (42 and 44) wait in the outbox for a retry.
    lb.fail_next("/users/@me/channels", 500, 2);
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at(WEDNESDAY_NOON)).await.unwrap();
    assert!(lb.dm_messages(42).is_empty() && lb.dm_messages(44).is_empty());
    ok(&t, 40, 42, "/nudges off", "2026-11-25T12:00:01Z").await;
    s.tick(at("2026-11-25T12:05:00Z")).await.unwrap();
    assert!(lb.dm_messages(42).is_empty(), "42 turned nudges off before the retry");
    assert_eq!(lb.dm_messages(44).len(), 1, "44 still gets theirs");
    let dropped = t.app.store.posts(1).await.unwrap().into_iter().find(|p| p.target == PostTarget::Dm(42)).unwrap();
    assert!(dropped.failed && !dropped.delivered, "{dropped:?}");
}
