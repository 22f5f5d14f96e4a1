//! Goals through the shared pipeline and the store: who may set what, versions over time, and the
//! attainment and pace every KPI reply shows.

use chrono::NaiveDate;
use rally::domain::activity::{KindName, Snowflake};
use rally::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject, GoalVersion, in_force};
use rally::handlers::{Action, Choice, CommandCall, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch};

use crate::helpers::*;

/// Tuesday 24 Nov 2026, midnight UTC: Monday (one of five working days) is over.
const TUESDAY: &str = "2026-11-24T00:00:00Z";
const MANAGER: u64 = 9;

fn invocation(guild: u64, id: u64, user: u64, permissions: u64, line: &str) -> Invocation {
    Invocation {
        id,
        guild: Snowflake::new(guild).unwrap(),
        channel: Some(7),
        user: Snowflake::new(user).unwrap(),
        user_name: format!("rep{user}"),
        roles: Vec::new(),
        permissions,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(cmdline::parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message))),
    }
}

async fn run_in(t: &TestApp, guild: u64, id: u64, user: u64, line: &str, now: &str) -> Message {
    let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
    match dispatch(&t.app, &invocation(guild, id, user, permissions, line), at(now)).await {
        Response::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn run(t: &TestApp, id: u64, user: u64, line: &str, now: &str) -> Message {
    run_in(t, 1, id, user, line, now).await
}

/// Everything a message shows, as one string.
fn text(m: &rally::handlers::Message) -> String {
    message_text(m)
}

async fn ok(t: &TestApp, id: u64, user: u64, line: &str, now: &str) -> String {
    let s = text(&run(t, id, user, line, now).await);
    assert!(!s.starts_with("⚠️"), "{line}: {s}");
    s
}

fn member(user: u64) -> GoalSubject {
    GoalSubject::Member(id(user))
}

fn key(subject: GoalSubject, metric: GoalMetric, period: GoalPeriod) -> GoalKey {
    GoalKey { subject, metric, period }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn target_for(t: &TestApp, guild: u64, k: &GoalKey, on: NaiveDate) -> Option<i64> {
    t.app.goal_in_force(id(guild), k, on).await.unwrap().map(|v| v.target)
}

/// Team Alpha with reps 42 and 43, set up by the manager.
async fn alpha(t: &TestApp) {
    ok(t, 1, MANAGER, "/team create name:Alpha", TUESDAY).await;
    ok(t, 2, MANAGER, "/team add team:Alpha user:<@42>", TUESDAY).await;
    ok(t, 3, MANAGER, "/team add team:Alpha user:<@43>", TUESDAY).await;
}

#[tokio::test]
async fn a_rep_sets_a_personal_week_goal_and_the_log_reply_shows_the_pace() {
    let t = spawn_app();
    let set = ok(&t, 10, 42, "/goal set scope:me metric:points target:80 period:week", TUESDAY).await;
    assert!(
        set.starts_with("🎯 Goal set for you: **80 pts** a week, from the week starting Mon 23 Nov 2026 on."),
        "{set}"
    );
    // 0 of 80 with four of five working days left: 20 a day.
    assert!(
        set.contains("This week: **0** of 80 pts · **0%** · expected by now 16 · projected 0 · need 20/day"),
        "{set}"
    );

    // 48 points late on Monday: 60 % of 80, 32 to go over the four working days left.
    let log = ok(&t, 11, 42, "/log kind:proposal count:6 when:-2h", TUESDAY).await;
    assert!(log.contains("This week: **48 pts** · 60% of 80 · need 8/day"), "{log}");
    let me = ok(&t, 12, 42, "/me", TUESDAY).await;
    assert!(
        me.contains(
            "🎯 This week · points: **48** of 80 pts · **60%** · expected by now 16 · projected 240 · need 8/day"
        ),
        "{me}"
    );
    // Another rep's replies know nothing of it.
    let other = ok(&t, 13, 43, "/log kind:call", TUESDAY).await;
    assert!(!other.contains("of 80"), "{other}");
}

#[tokio::test]
async fn other_goals_get_their_own_line_in_the_log_reply() {
    let t = spawn_app();
    ok(&t, 10, 42, "/goal set scope:me metric:revenue target:12,500.00 period:month", TUESDAY).await;
    ok(&t, 11, 42, "/goal set scope:me metric:call target:30 period:week", TUESDAY).await;
    let log = ok(&t, 12, 42, "/log kind:won amount:1250 when:-2h", TUESDAY).await;
    // November 2026 has 21 working days; 16 are over at midnight on the 24th (2-6, 9-13, 16-20, 23),
    // so 11,250.00 to go over 5 days.
    assert!(log.contains("This week: **20 pts**\n"), "the week line has no points goal: {log}");
    assert!(log.contains("🎯 This week: **0** call · 0% of 30 · need 7.5/day"), "{log}");
    assert!(
        log.contains(
            "🎯 This month: **1,250.00\u{a0}USD** revenue · 10% of 12,500.00\u{a0}USD · need 2,250.00\u{a0}USD/day"
        ),
        "{log}"
    );
}

#[tokio::test]
async fn revenue_targets_are_stored_in_minor_units() {
    let t = spawn_app();
    ok(&t, 10, MANAGER, "/goal set scope:guild metric:revenue target:\"12,500.00\" period:quarter", TUESDAY).await;
    let k = key(GoalSubject::Guild, GoalMetric::Revenue, GoalPeriod::Quarter);
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 24)).await, Some(1_250_000));
    ok(&t, 11, MANAGER, "/goal set scope:guild metric:revenue target:13000 period:quarter", TUESDAY).await;
    assert_eq!(target_for(&t, 1, &k, day(2026, 12, 31)).await, Some(1_300_000));
}

#[tokio::test]
async fn reps_may_only_set_and_clear_their_own_goals() {
    let t = spawn_app();
    alpha(&t).await;
    let before = t.app.store.audit_count(1).await.unwrap();
    for (i, line) in [
        "/goal set scope:rep user:<@43> metric:points target:80 period:week",
        "/goal set scope:team team:Alpha metric:points target:80 period:week",
        "/goal set scope:team team:Nowhere metric:points target:80 period:week",
        "/goal set scope:guild metric:points target:80 period:week",
        "/goal clear scope:guild metric:points period:week",
    ]
    .iter()
    .enumerate()
    {
        let s = text(&run(&t, 20 + i as u64, 42, line, TUESDAY).await);
        assert!(s.starts_with("⚠️ only managers set goals for a rep, a team or the server"), "{line}: {s}");
    }
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before, "nothing was written");
    // scope:rep naming yourself is your own goal.
    ok(&t, 30, 42, "/goal set scope:rep user:<@42> metric:points target:80 period:week", TUESDAY).await;
    assert_eq!(
        target_for(&t, 1, &key(member(42), GoalMetric::Points, GoalPeriod::Week), day(2026, 11, 24)).await,
        Some(80)
    );
    // The manager role counts as much as Manage Server.
    ok(&t, 31, MANAGER, "/settings manager-role role:555", TUESDAY).await;
    let mut inv = invocation(1, 32, 43, 0, "/goal set scope:team team:Alpha metric:points target:400 period:week");
    inv.roles = vec![555];
    let Response::Message(m) = dispatch(&t.app, &inv, at(TUESDAY)).await else { panic!() };
    assert!(text(&m).starts_with("🎯 Goal set for team **Alpha**: **400 pts** a week"), "{}", text(&m));
}

#[tokio::test]
async fn bad_goal_options_get_a_clear_error_and_write_nothing() {
    let t = spawn_app();
    alpha(&t).await;
    let before = t.app.store.audit_count(1).await.unwrap();
    let cases = [
        (
            "/goal set scope:me metric:juggling target:5 period:week",
            "⚠️ `juggling` is not a metric here; use points, revenue, deals-won or a kind: call, email, meeting, demo, proposal, won, lost",
        ),
        (
            "/goal set scope:me metric:\"cold calls\" target:5 period:week",
            "⚠️ `cold calls` is not a goal metric; use points, revenue, deals-won or an activity kind",
        ),
        ("/goal set scope:me metric:points target:0 period:week", "⚠️ a target must be more than 0"),
        ("/goal set scope:me metric:points target:-3 period:week", "⚠️ a target must be more than 0"),
        (
            "/goal set scope:me metric:points target:2.5 period:week",
            "⚠️ `2.5` is not a target for pts; write a whole number like 80",
        ),
        (
            "/goal set scope:me metric:revenue target:12.345 period:month",
            "⚠️ `12.345` has 3 decimals, but USD has 2; in the 1.234,56 format it would mean 12,345.00\u{a0}USD. Write amounts like 1,250.50 or 1250.50",
        ),
        ("/goal set scope:me metric:revenue target:0.00 period:month", "⚠️ a revenue target must be more than 0"),
        (
            "/goal set scope:me metric:points target:80 period:month from:2026-10",
            "⚠️ `from` lies in a past month; a goal applies from the current month (2026-11-01) on, and past periods keep their targets",
        ),
        (
            "/goal set scope:me metric:points target:80 period:week from:someday",
            "⚠️ `from`: `someday` is not a period.",
        ),
        (
            "/goal set scope:me user:<@43> metric:points target:80 period:week",
            "⚠️ the `user` option is only for scope:rep",
        ),
        (
            "/goal set scope:me team:Alpha metric:points target:80 period:week",
            "⚠️ the `team` option is only for scope:team",
        ),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let m = run(&t, 100 + i as u64, 42, line, TUESDAY).await;
        assert!(m.ephemeral, "{line}");
        let got = m.content.unwrap_or_default();
        assert!(got.starts_with(want), "{line}\n got: {got}\nwant: {want}");
    }
    let manager_cases = [
        ("/goal set scope:rep metric:points target:80 period:week", "⚠️ choose the rep with the `user` option"),
        ("/goal set scope:team metric:points target:80 period:week", "⚠️ choose the team with the `team` option"),
        (
            "/goal set scope:team team:Nowhere metric:points target:80 period:week",
            "⚠️ there is no team named `Nowhere`; the teams are: Alpha",
        ),
    ];
    for (i, (line, want)) in manager_cases.iter().enumerate() {
        let got = text(&run(&t, 200 + i as u64, MANAGER, line, TUESDAY).await);
        assert_eq!(got, *want, "{line}");
    }
    // Values the command line refuses but a forged payload could carry.
    let mut forged = invocation(1, 300, 42, 0, "/goal set scope:me metric:points target:80 period:week");
    if let Action::Command(call) = &mut forged.action {
        call.options.retain(|(name, _)| name != "period" && name != "scope");
        call.options.push(("period".into(), rally::handlers::OptionValue::String("fortnight".into())));
        call.options.push(("scope".into(), rally::handlers::OptionValue::String("me".into())));
    }
    let Response::Message(m) = dispatch(&t.app, &forged, at(TUESDAY)).await else { panic!() };
    assert_eq!(m.content.as_deref(), Some("⚠️ `fortnight` is not a goal period; use week, month, quarter or year"));
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before, "nothing was written");
}

#[tokio::test]
async fn a_goal_changed_mid_year_keeps_the_old_target_for_earlier_periods() {
    let t = spawn_app();
    let k = key(member(42), GoalMetric::Points, GoalPeriod::Month);
    ok(&t, 1, 42, "/goal set scope:me metric:points target:100 period:month", "2026-02-10T12:00:00Z").await;
    ok(&t, 2, 42, "/goal set scope:me metric:points target:150 period:month", "2026-07-03T12:00:00Z").await;
    assert_eq!(target_for(&t, 1, &k, day(2026, 1, 31)).await, None, "no goal before it was set");
    assert_eq!(target_for(&t, 1, &k, day(2026, 2, 1)).await, Some(100));
    assert_eq!(target_for(&t, 1, &k, day(2026, 6, 30)).await, Some(100));
    assert_eq!(target_for(&t, 1, &k, day(2026, 7, 1)).await, Some(150));
    assert_eq!(target_for(&t, 1, &k, day(2027, 3, 15)).await, Some(150), "goals recur until cleared");

    // Setting twice in one period replaces that period's version; a yearly goal set again in July
    // therefore replaces this year's target, and last year keeps its own.
    let y = key(member(42), GoalMetric::Points, GoalPeriod::Year);
    ok(&t, 3, 42, "/goal set scope:me metric:points target:1000 period:year", "2025-05-01T12:00:00Z").await;
    ok(&t, 4, 42, "/goal set scope:me metric:points target:1200 period:year", "2026-02-01T12:00:00Z").await;
    let again = ok(&t, 5, 42, "/goal set scope:me metric:points target:1500 period:year", "2026-07-01T12:00:00Z").await;
    assert!(again.contains("It replaces 1200 pts for that year."), "{again}");
    assert_eq!(target_for(&t, 1, &y, day(2025, 12, 31)).await, Some(1000));
    assert_eq!(target_for(&t, 1, &y, day(2026, 1, 1)).await, Some(1500));
    let versions = t.app.store.goal_versions(1).await.unwrap();
    assert_eq!(versions.iter().filter(|v| v.key == y).count(), 2);

    // /me for last month measures against last month's target.
    let csv = format!("{HEADER}2026-06-15T10:00:00Z,42,rep42,,proposal,5,,,a\n");
    import(&t.app, 1, &csv, "2026-07-03T12:00:00Z").await;
    let me = ok(&t, 6, 42, "/me period:2026-06", "2026-07-03T12:00:00Z").await;
    assert!(me.contains("🎯 Month 1 Jun – 30 Jun 2026 · points: **40** of 100 pts · **40%**"), "{me}");
    assert!(me.contains("n/a — no working days left"), "{me}");
}

#[tokio::test]
async fn from_schedules_a_target_for_a_later_period_and_the_list_shows_it() {
    let t = spawn_app();
    let k = key(member(42), GoalMetric::Points, GoalPeriod::Month);
    ok(&t, 1, 42, "/goal set scope:me metric:points target:100 period:month", TUESDAY).await;
    let later = ok(&t, 2, 42, "/goal set scope:me metric:points target:120 period:month from:next", TUESDAY).await;
    assert!(later.contains("from the month starting Tue 1 Dec 2026 on. Earlier months keep 100 pts."), "{later}");
    let dated =
        ok(&t, 3, 42, "/goal set scope:me metric:points target:140 period:month from:2027-02-14", TUESDAY).await;
    assert!(dated.contains("from the month starting Mon 1 Feb 2027 on."), "{dated}");
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 30)).await, Some(100));
    assert_eq!(target_for(&t, 1, &k, day(2026, 12, 1)).await, Some(120));
    assert_eq!(target_for(&t, 1, &k, day(2027, 2, 1)).await, Some(140));
    let list = ok(&t, 4, 42, "/goal list", TUESDAY).await;
    assert!(list.contains("**You** · points a month: 0/100 pts · 0% · need"), "{list}");
    assert!(list.contains("**Scheduled**\nFrom 1 Dec 2026: **You** · points a month → 120 pts"), "{list}");
    assert!(list.contains("From 1 Feb 2027: **You** · points a month → 140 pts"), "{list}");
}

#[tokio::test]
async fn clearing_ends_a_goal_from_this_period_and_history_keeps_it() {
    let t = spawn_app();
    let k = key(member(42), GoalMetric::Points, GoalPeriod::Week);
    ok(&t, 1, 42, "/goal set scope:me metric:points target:80 period:week", "2026-11-10T12:00:00Z").await;
    ok(&t, 2, 42, "/goal set scope:me metric:points target:90 period:week from:2026-12-07", TUESDAY).await;
    let cleared = ok(&t, 3, 42, "/goal clear scope:me metric:points period:week", TUESDAY).await;
    assert_eq!(
        cleared,
        "🧹 Cleared the points goal a week for you (was 80 pts) from this week on. Earlier weeks keep their targets. \
         Dropped 1 scheduled change."
    );
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 16)).await, Some(80), "last week keeps its target");
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 23)).await, None);
    assert_eq!(target_for(&t, 1, &k, day(2026, 12, 7)).await, None, "the scheduled change went too");
    let log = ok(&t, 4, 42, "/log kind:call", TUESDAY).await;
    assert!(!log.contains("of 80"), "{log}");

    let before = t.app.store.audit_count(1).await.unwrap();
    let again = ok(&t, 5, 42, "/goal clear scope:me metric:points period:week", TUESDAY).await;
    assert_eq!(again, "There is no points goal a week for you to clear; nothing changed.");
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before, "nothing was written");
    // Set again later, it applies from then on.
    ok(&t, 6, 42, "/goal set scope:me metric:points target:70 period:week", "2026-12-01T09:00:00Z").await;
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 23)).await, None);
    assert_eq!(target_for(&t, 1, &k, day(2026, 11, 30)).await, Some(70));
}

#[tokio::test]
async fn kpi_team_shows_the_team_goal_and_each_reps_attainment() {
    let t = spawn_app();
    alpha(&t).await;
    ok(&t, 10, MANAGER, "/goal set scope:team team:Alpha metric:points target:200 period:week", TUESDAY).await;
    ok(&t, 11, MANAGER, "/goal set scope:rep user:<@42> metric:points target:80 period:week", TUESDAY).await;
    ok(&t, 12, 42, "/log kind:proposal count:6 when:-2h", TUESDAY).await;
    ok(&t, 13, 43, "/log kind:demo count:2 when:-3h", TUESDAY).await;
    let m = run(&t, 14, MANAGER, "/kpi team team:Alpha", TUESDAY).await;
    let s = text(&m);
    // 58 of 200 after one of five working days: 40 expected, 290 projected, 35.5 a day to go.
    assert!(
        s.contains("Team goals: 🎯 This week · points: **58** of 200 pts · **29%** · expected by now 40 · projected 290 · need 35.5/day"),
        "{s}"
    );
    let table = m.embeds[0].description.clone().unwrap();
    let header = table.lines().nth(1).unwrap();
    assert!(header.ends_with("Goal"), "{table}");
    let row = |user: &str| table.lines().find(|l| l.contains(user)).unwrap().to_string();
    assert!(row("rep42").ends_with("60%"), "{table}");
    assert!(row("rep43").ends_with('-'), "{table}");
    assert!(s.contains("Goal: % of each rep's points goal"), "{s}");

    // For a single day the table is not a goal period: no column, but the team's week goal shows.
    let today = text(&run(&t, 15, MANAGER, "/kpi team team:Alpha period:today", TUESDAY).await);
    assert!(!today.contains("Goal: %"), "{today}");
    assert!(today.contains("Team goals: 🎯 This week · points"), "{today}");
    // Without a team the server's goals show; there are none.
    let all = text(&run(&t, 16, MANAGER, "/kpi team", TUESDAY).await);
    assert!(!all.contains("Server goals"), "{all}");

    let rep = text(&run(&t, 17, MANAGER, "/kpi rep user:<@42>", TUESDAY).await);
    assert!(rep.contains("Team Alpha\n🎯 This week · points: **48** of 80 pts · **60%**"), "{rep}");
}

#[tokio::test]
async fn a_team_goal_counts_what_was_logged_for_the_team_even_after_a_rep_moves() {
    let t = spawn_app();
    alpha(&t).await;
    ok(&t, 4, MANAGER, "/team create name:Bravo", TUESDAY).await;
    ok(&t, 10, MANAGER, "/goal set scope:team team:Alpha metric:call target:10 period:week", TUESDAY).await;
    ok(&t, 11, MANAGER, "/goal set scope:guild metric:call target:20 period:week", TUESDAY).await;
    ok(&t, 12, 42, "/log kind:call count:3 when:-2h", TUESDAY).await;
    ok(&t, 13, MANAGER, "/team add team:Bravo user:<@42>", TUESDAY).await;
    ok(&t, 14, 42, "/log kind:call count:4", TUESDAY).await;
    ok(&t, 15, 43, "/log kind:call count:2", TUESDAY).await;
    let alpha_id = t.app.team(id(1), "Alpha").await.unwrap().id;
    let progress = |subject| {
        let k = key(subject, GoalMetric::Kind(KindName::parse("call").unwrap()), GoalPeriod::Week);
        let app = t.app.clone();
        async move { app.goal_progress_of(id(1), &k, day(2026, 11, 24), at(TUESDAY)).await.unwrap().unwrap() }
    };
    let team = progress(GoalSubject::Team(alpha_id)).await;
    assert_eq!((team.actual, team.target), (5, 10), "3 calls before the move and 2 by rep 43");
    assert!((team.pace.attainment - 0.5).abs() < 1e-9);
    let guild = progress(GoalSubject::Guild).await;
    assert_eq!(guild.actual, 9);
}

#[tokio::test]
async fn goals_stay_inside_their_guild() {
    let t = spawn_app();
    ok(&t, 1, 42, "/goal set scope:me metric:points target:80 period:week", TUESDAY).await;
    let k = key(member(42), GoalMetric::Points, GoalPeriod::Week);
    assert_eq!(target_for(&t, 2, &k, day(2026, 11, 24)).await, None);
    let elsewhere = text(&run_in(&t, 2, 2, 42, "/goal list", TUESDAY).await);
    assert!(elsewhere.starts_with("No goals yet."), "{elsewhere}");
    let log = text(&run_in(&t, 2, 3, 42, "/log kind:call", TUESDAY).await);
    assert!(!log.contains("of 80"), "{log}");
    assert!(t.app.store.goal_versions(2).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rep_lists_their_own_their_teams_and_the_servers_goals_and_a_manager_lists_all() {
    let t = spawn_app();
    alpha(&t).await;
    ok(&t, 4, MANAGER, "/team create name:Bravo", TUESDAY).await;
    ok(&t, 10, MANAGER, "/goal set scope:team team:Alpha metric:points target:200 period:week", TUESDAY).await;
    ok(&t, 11, MANAGER, "/goal set scope:team team:Bravo metric:points target:300 period:week", TUESDAY).await;
    ok(&t, 12, MANAGER, "/goal set scope:guild metric:deals-won target:5 period:month", TUESDAY).await;
    ok(&t, 13, MANAGER, "/goal set scope:rep user:<@43> metric:points target:70 period:week", TUESDAY).await;
    ok(&t, 14, 42, "/goal set scope:me metric:demo target:4 period:week", TUESDAY).await;
    let mine = ok(&t, 20, 42, "/goal list", TUESDAY).await;
    assert!(mine.contains("Your goals"), "{mine}");
    let lines: Vec<&str> = mine.lines().filter(|l| l.starts_with("**")).collect();
    assert_eq!(
        lines,
        [
            "**Server** · deals-won a month: 0/5 deals won · 0% · need 1/day",
            "**Alpha** · points a week: 0/200 pts · 0% · need 50/day",
            "**You** · demo a week: 0/4 demo · 0% · need 1/day",
        ],
        "{mine}"
    );
    let all = ok(&t, 21, MANAGER, "/goal list", TUESDAY).await;
    for want in ["**Bravo** · points a week", "**<@43>** · points a week: 0/70 pts", "**<@42>** · demo a week"] {
        assert!(all.contains(want), "{want}: {all}");
    }
    // A deleted team's goals leave the list with it.
    ok(&t, 22, MANAGER, "/team delete team:Bravo", TUESDAY).await;
    assert!(!ok(&t, 23, MANAGER, "/goal list", TUESDAY).await.contains("Bravo"));
}

#[tokio::test]
async fn me_for_a_single_day_shows_this_weeks_and_this_months_goals() {
    let t = spawn_app();
    ok(&t, 1, 42, "/goal set scope:me metric:points target:80 period:week", TUESDAY).await;
    ok(&t, 2, 42, "/goal set scope:me metric:points target:300 period:month", TUESDAY).await;
    ok(&t, 3, 42, "/goal set scope:me metric:points target:900 period:quarter", TUESDAY).await;
    ok(&t, 4, 42, "/log kind:call", TUESDAY).await;
    let me = ok(&t, 5, 42, "/me period:today", TUESDAY).await;
    assert!(me.contains("🎯 This week · points: **1** of 80"), "{me}");
    assert!(me.contains("🎯 This month · points: **1** of 300"), "{me}");
    assert!(!me.contains("of 900"), "a quarter goal is for quarter reports: {me}");
    let quarter = ok(&t, 6, 42, "/me period:this-quarter", TUESDAY).await;
    assert!(quarter.contains("🎯 This quarter · points: **1** of 900"), "{quarter}");
    assert!(!quarter.contains("of 80 "), "{quarter}");
    // Someone who never logged still sees their goals.
    ok(&t, 7, 44, "/goal set scope:me metric:call target:10 period:week", TUESDAY).await;
    let fresh = ok(&t, 8, 44, "/me", TUESDAY).await;
    assert!(fresh.starts_with("You have not logged anything yet."), "{fresh}");
    assert!(fresh.contains("🎯 This week · call: **0** of 10 call"), "{fresh}");
}

#[tokio::test]
async fn every_goal_write_leaves_an_audit_row() {
    let t = spawn_app();
    ok(&t, 1, 42, "/log kind:call", TUESDAY).await;
    let start = t.app.store.audit_count(1).await.unwrap();
    ok(&t, 2, 42, "/goal set scope:me metric:points target:80 period:week", TUESDAY).await;
    ok(&t, 3, 42, "/goal set scope:me metric:points target:90 period:week", TUESDAY).await;
    ok(&t, 4, 42, "/goal clear scope:me metric:points period:week", TUESDAY).await;
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), start + 3);
}

#[tokio::test]
async fn the_metric_option_suggests_points_revenue_deals_won_and_the_kinds() {
    let t = spawn_app();
    let call = CommandCall {
        name: "goal".into(),
        sub: Some("set".into()),
        options: vec![("metric".into(), rally::handlers::OptionValue::String(String::new()))],
    };
    let inv = Invocation {
        action: Action::Autocomplete { call, focused: "metric".into() },
        ..invocation(1, 1, 42, 0, "/goal list")
    };
    let Response::Choices(choices) = dispatch(&t.app, &inv, at(TUESDAY)).await else { panic!() };
    let values: Vec<&str> = choices.iter().map(|c: &Choice| c.value.as_str()).collect();
    assert_eq!(values, ["points", "revenue", "deals-won", "call", "email", "meeting", "demo", "proposal", "lost"]);
}

#[tokio::test]
async fn the_store_picks_the_same_version_in_force_as_the_domain_rule() {
    let t = spawn_app();
    let k = key(GoalSubject::Team(7), GoalMetric::DealsWon, GoalPeriod::Month);
    let now = at(TUESDAY);
    let mut versions: Vec<GoalVersion> = Vec::new();
    // An irregular history: set, changed, cleared, set again, replaced in its own period.
    for (from, target) in
        [((2026, 1, 1), 5), ((2026, 4, 1), 7), ((2026, 6, 1), 0), ((2026, 9, 1), 4), ((2026, 9, 1), 6)]
    {
        let from = day(from.0, from.1, from.2);
        if target == 0 {
            t.app.store.clear_goal(1, k.clone(), from, "test".into(), now).await.unwrap();
        } else {
            t.app.store.set_goal(1, k.clone(), target, from, "test".into(), now).await.unwrap();
        }
        versions.retain(|v| v.effective_from < from);
        versions.push(GoalVersion { key: k.clone(), target, effective_from: from, cleared: target == 0 });
    }
    assert_eq!(t.app.store.goal_versions(1).await.unwrap(), versions);
    let mut first = day(2025, 12, 1);
    while first < day(2027, 2, 1) {
        let want = in_force(&versions, first).map(|v| v.target);
        let got = t.app.store.goal_in_force(1, k.clone(), first).await.unwrap().map(|v| v.target);
        assert_eq!(got, want, "{first}");
        let all = t.app.store.goals_in_force(1, GoalPeriod::Month, first).await.unwrap();
        assert_eq!(all.first().map(|v| v.target), want, "{first}");
        first = first.checked_add_months(chrono::Months::new(1)).unwrap();
    }
}
