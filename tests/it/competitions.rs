//! Competitions: per-capita scoring that evens out teams of 3 and 7, seasons closed and announced
//! once (across repeated ticks and restarts), the reward role handed on each season, a missing
//! Manage Roles permission said in the channel, and bad input refused with nothing written.

use std::sync::Arc;

use rally::handlers::{Action, Invocation, MANAGE_GUILD, MANAGE_ROLES, Response, cmdline, dispatch};
use rally::loopback::{Loopback, openapi_for_tests};
use rally::scheduler::Scheduler;

use crate::helpers::*;

const CHANNEL: u64 = 900;
const ROLE: u64 = 77;
const SMALL: [u64; 3] = [11, 12, 13];
const BIG: [u64; 7] = [21, 22, 23, 24, 25, 26, 27];
/// Monday 23 November 2026, 09:00 in Berlin.
const MONDAY: &str = "2026-11-23T08:00:00Z";
/// The first instant after Friday 27 November in Berlin.
const WEEK_OVER: &str = "2026-11-27T23:00:00Z";

fn invocation(id: u64, user: u64, permissions: u64, app_permissions: Option<u64>, line: &str) -> Invocation {
    Invocation {
        id,
        guild: rally::domain::activity::Snowflake::new(1).unwrap(),
        channel: Some(CHANNEL),
        user: rally::domain::activity::Snowflake::new(user).unwrap(),
        user_name: format!("rep{user}"),
        roles: Vec::new(),
        permissions,
        app_permissions,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(cmdline::parse(line).unwrap()),
    }
}

async fn run(t: &TestApp, id: u64, user: u64, permissions: u64, line: &str, now: &str) -> String {
    match dispatch(&t.app, &invocation(id, user, permissions, Some(u64::MAX), line), at(now)).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{other:?}"),
    }
}

async fn manager(t: &TestApp, id: u64, line: &str, now: &str) -> String {
    let text = run(t, id, 9, MANAGE_GUILD, line, now).await;
    assert!(!text.starts_with("⚠️"), "{line}: {text}");
    text
}

async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

fn http(url: &str) -> Arc<serenity::http::Http> {
    Arc::new(rally::discord::http_client("test-token", Some(url)))
}

/// Team Small (3 reps, 12 calls each: 36 points) against team Big (7 reps, of whom 5 make 9 calls
/// each this week: 45 points; the other two last logged the week before).
async fn two_teams(t: &TestApp) {
    manager(t, 1, "/settings timezone timezone:Europe/Berlin", MONDAY).await;
    let mut csv = HEADER.to_string();
    for u in SMALL {
        csv.push_str(&format!("2026-11-24T10:00:00Z,{u},small{u},Small,call,12,,,s{u}\n"));
    }
    for u in BIG {
        if u <= 25 {
            csv.push_str(&format!("2026-11-25T10:00:00Z,{u},big{u},Big,call,9,,,b{u}\n"));
        } else {
            csv.push_str(&format!("2026-11-16T10:00:00Z,{u},big{u},Big,call,1,,,old{u}\n"));
        }
    }
    let summary = import(&t.app, 1, &csv, "2026-11-26T12:00:00Z").await;
    assert_eq!(summary.rejected.len(), 0, "{summary:?}");
}

#[tokio::test]
async fn per_capita_scoring_lets_a_team_of_three_beat_a_team_of_seven_that_leads_on_total() {
    let t = spawn_app();
    two_teams(&t).await;
    let create = |name: &str, scoring: &str| {
        format!(
            "/compete create name:\"{name}\" metric:points between:teams scoring:{scoring} start:2026-11-23 end:2026-11-27"
        )
    };
    manager(&t, 2, &create("Fair", "per-capita"), MONDAY).await;
    manager(&t, 3, &create("Raw", "total"), MONDAY).await;
    let now = "2026-11-26T12:00:00Z";
    let fair = run(&t, 4, 11, 0, "/compete show name:Fair", now).await;
    let small = fair.find("Small").expect("Small is on the board");
    let big = fair.find("Big").expect("Big is on the board");
    assert!(small < big, "per capita, Small (12 each) leads Big (9 per active member):\n{fair}");
    assert!(fair.contains("**12** per active member (36 · 3 active)"), "{fair}");
    // Two of Big's seven logged nothing this week: per capita divides by the five who did.
    assert!(fair.contains("**9** per active member (45 · 5 active)"), "{fair}");
    let raw = run(&t, 5, 11, 0, "/compete show name:Raw", now).await;
    assert!(raw.find("Big").unwrap() < raw.find("Small").unwrap(), "on total Big leads:\n{raw}");
    assert!(raw.contains("**45**") && raw.contains("**36**"), "{raw}");
    let list = run(&t, 6, 11, 0, "/compete list", now).await;
    assert!(list.contains("Fair") && list.contains("Raw") && list.contains("per active member"), "{list}");
}

#[tokio::test]
async fn a_season_is_announced_once_and_the_reward_role_moves_to_the_next_winners() {
    let lb = loopback().await;
    let t = spawn_app();
    two_teams(&t).await;
    manager(
        &t,
        2,
        &format!(
            "/compete create name:\"Weekly Dash\" metric:points between:teams scoring:per-capita start:2026-11-23 \
             end:2026-11-27 repeat:weekly channel:<#{CHANNEL}> reward-role:{ROLE}"
        ),
        MONDAY,
    )
    .await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    // Before the week is over nothing is posted; the scheduler says when to wake.
    let next = s.tick(at("2026-11-27T12:00:00Z")).await.unwrap();
    assert_eq!(next, Some(at(WEEK_OVER)), "it sleeps until the season ends");
    assert!(lb.channel_messages(CHANNEL).is_empty());
    // The season ends: announced once, however often the scheduler wakes or restarts.
    s.tick(at(WEEK_OVER)).await.unwrap();
    s.tick(at("2026-11-27T23:00:05Z")).await.unwrap();
    Scheduler::new(t.app.clone(), http(&lb.url())).tick(at("2026-11-28T08:00:00Z")).await.unwrap();
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let content = posts[0]["content"].as_str().unwrap();
    assert!(content.contains("Congratulations to **Small**"), "{content}");
    assert!(content.contains(&format!("<@&{ROLE}>")) && content.contains("until the next season ends"), "{content}");
    assert_eq!(posts[0]["embeds"][0]["image"]["url"], "attachment://standings.png");
    for u in SMALL {
        assert_eq!(lb.member_roles(1, u), vec![ROLE], "Small's rep {u} holds the reward");
    }
    assert!(lb.member_roles(1, 21).is_empty());

    // Season 2: Big's whole roster outworks Small; the role moves from Small to Big.
    let mut csv = HEADER.to_string();
    for u in BIG {
        csv.push_str(&format!("2026-12-01T10:00:00Z,{u},big{u},Big,demo,3,,,w2b{u}\n"));
    }
    csv.push_str("2026-12-01T10:00:00Z,11,small11,Small,call,1,,,w2s11\n");
    import(&t.app, 1, &csv, "2026-12-01T12:00:00Z").await;
    s.tick(at("2026-12-04T23:00:00Z")).await.unwrap();
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1]["content"].as_str().unwrap().contains("season 2 is over. Congratulations to **Big**"),
        "{}",
        posts[1]["content"]
    );
    for u in SMALL {
        assert!(lb.member_roles(1, u).is_empty(), "last season's winner {u} hands the role on");
    }
    for u in BIG {
        assert_eq!(lb.member_roles(1, u), vec![ROLE]);
    }
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn without_manage_roles_the_bot_says_so_in_the_channel_once_instead_of_failing_silently() {
    let lb = loopback().await;
    let t = spawn_app();
    two_teams(&t).await;
    manager(
        &t,
        2,
        &format!(
            "/compete create name:Dash metric:points between:teams scoring:per-capita start:2026-11-23 \
             end:2026-11-27 channel:<#{CHANNEL}> reward-role:{ROLE}"
        ),
        MONDAY,
    )
    .await;
    // Discord refuses every role change: the bot lost Manage Roles after the competition began.
    lb.fail_next("/roles/", 403, 100);
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at(WEEK_OVER)).await.unwrap();
    s.tick(at("2026-11-27T23:00:01Z")).await.unwrap();
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 2, "the announcement and one warning for three refused role changes: {posts:#?}");
    let warning = posts[1]["content"].as_str().unwrap();
    assert!(warning.contains("Manage Roles") && warning.contains(&format!("<@&{ROLE}>")), "{warning}");
    assert!(lb.member_roles(1, 11).is_empty());
    let given_up = t.app.store.posts(1).await.unwrap().into_iter().filter(|p| p.failed).count();
    assert_eq!(given_up, 3, "each refused role change is given up, not retried forever");

    // Asking for a reward role where the bot lacks Manage Roles is refused up front.
    let line = "/compete create name:Other metric:points between:teams scoring:total start:2026-11-30 \
                end:2026-12-04 reward-role:77";
    let inv = invocation(50, 9, MANAGE_GUILD, Some(1 << 11), line);
    let Response::Message(m) = dispatch(&t.app, &inv, at(MONDAY)).await else { panic!() };
    assert!(message_text(&m).contains("Manage Roles"), "{}", message_text(&m));
    assert_eq!(t.app.competitions(id(1), at(MONDAY)).await.unwrap().len(), 1, "nothing was created");
    let with = invocation(51, 9, MANAGE_GUILD, Some(MANAGE_ROLES | (1 << 11)), line);
    let Response::Message(m) = dispatch(&t.app, &with, at(MONDAY)).await else { panic!() };
    assert!(message_text(&m).contains("Other** is on"), "{}", message_text(&m));
}

#[tokio::test]
async fn ending_early_announces_final_standings_scored_against_each_reps_goal() {
    let lb = loopback().await;
    let t = spawn_app();
    two_teams(&t).await;
    // Weekly call goals: 11 must make 24 (12 is 50 %), 21 only 10 (9 is 90 %); 12 has none.
    manager(&t, 2, "/goal set scope:rep user:<@11> metric:call target:24 period:week", MONDAY).await;
    manager(&t, 3, "/goal set scope:rep user:<@21> metric:call target:10 period:week", MONDAY).await;
    manager(
        &t,
        4,
        &format!(
            "/compete create name:Goals metric:call between:reps scoring:percent-of-goal teams:Small,Big \
             start:this-week end:this-week channel:<#{CHANNEL}>"
        ),
        MONDAY,
    )
    .await;
    let show = run(&t, 5, 12, 0, "/compete show", "2026-11-26T12:00:00Z").await;
    assert!(show.find("big21").unwrap() < show.find("small11").unwrap(), "{show}");
    assert!(show.contains("**90%** of goal (9 of 10)") && show.contains("**50%** of goal (12 of 24)"), "{show}");
    assert!(show.contains("small12 — no goal set"), "reps without a goal are listed, unranked: {show}");
    let ended = manager(&t, 6, "/compete end name:goals", "2026-11-26T12:00:00Z").await;
    assert!(ended.contains("has ended"), "{ended}");
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-26T12:00:01Z")).await.unwrap();
    s.tick(at(WEEK_OVER)).await.unwrap();
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(posts[0]["content"].as_str().unwrap().contains("Congratulations to <@21>"), "{}", posts[0]);
    assert_eq!(posts[0]["allowed_mentions"]["parse"], serde_json::json!([]), "announcements do not ping");
    let again = run(&t, 7, 9, MANAGE_GUILD, "/compete end name:goals", "2026-11-26T13:00:00Z").await;
    assert!(again.starts_with("⚠️"), "{again}");
}

#[tokio::test]
async fn a_competition_schedule_posts_the_standings_with_a_chart() {
    let lb = loopback().await;
    let t = spawn_app();
    two_teams(&t).await;
    manager(
        &t,
        2,
        "/compete create name:Dash metric:points between:teams scoring:total start:2026-11-23 end:2026-11-27",
        MONDAY,
    )
    .await;
    let added = manager(
        &t,
        3,
        &format!("/schedule add what:competition channel:<#{CHANNEL}> at:\"daily 17:00\" competition:dash"),
        MONDAY,
    )
    .await;
    assert!(added.contains("competition"), "{added}");
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-25T16:00:00Z")).await.unwrap();
    let posts = lb.channel_messages(CHANNEL);
    assert_eq!(posts.len(), 1);
    assert!(posts[0]["embeds"][0]["title"].as_str().unwrap().contains("Dash"), "{}", posts[0]);
    assert_eq!(posts[0]["embeds"][0]["image"]["url"], "attachment://standings.png");
    let refused = run(
        &t,
        4,
        9,
        MANAGE_GUILD,
        &format!("/schedule add what:competition channel:<#{CHANNEL}> at:\"daily 17:00\" competition:nope"),
        MONDAY,
    )
    .await;
    assert!(refused.contains("no competition named `nope`"), "{refused}");
}

#[tokio::test]
async fn bad_competitions_are_refused_with_a_reason_and_nothing_is_written() {
    let t = spawn_app();
    two_teams(&t).await;
    manager(
        &t,
        2,
        "/compete create name:Dash metric:points between:teams scoring:total start:2026-11-23 end:2026-11-27",
        MONDAY,
    )
    .await;
    let cases = [
        ("/compete create name:dash metric:points between:teams scoring:total end:2026-11-27", "already running"),
        ("/compete create name:X metric:points between:reps scoring:per-capita end:2026-11-27", "per-capita"),
        ("/compete create name:X metric:points between:teams scoring:total start:2026-11-27 end:2026-11-23", "before"),
        ("/compete create name:X metric:points between:teams scoring:total end:2026-11-27 teams:Nope", "Nope"),
        ("/compete create name:X metric:naps between:teams scoring:total end:2026-11-27", "naps"),
        (
            "/compete create name:X metric:points between:teams scoring:total start:2026-11-01 end:2026-11-20",
            "already be over",
        ),
        (
            "/compete create name:X metric:points between:teams scoring:total end:2026-11-27 repeat:weekly start:2026-11-01",
            "weekly",
        ),
        ("/compete show name:ghost", "no competition named"),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let text = run(&t, 100 + i as u64, 9, MANAGE_GUILD, line, MONDAY).await;
        assert!(text.starts_with("⚠️") && text.contains(want), "{line}: {text}");
    }
    let rep = run(&t, 200, 11, 0, "/compete end name:dash", MONDAY).await;
    assert!(rep.contains("for managers"), "{rep}");
    let comps = t.app.competitions(id(1), at(MONDAY)).await.unwrap();
    assert_eq!(comps.len(), 1);
    assert!(comps[0].row.ended_at.is_none());
}

#[tokio::test]
async fn posts_and_announcements_of_one_guild_never_show_another_guilds_data() {
    let lb = loopback().await;
    let t = spawn_app();
    two_teams(&t).await;
    // Guild 2 reuses a user id of guild 1 under another name, on a team of its own.
    let csv = format!("{HEADER}2026-11-24T10:00:00Z,11,Zed,Zephyr,call,50,,,z1\n");
    import(&t.app, 2, &csv, "2026-11-26T12:00:00Z").await;
    let in_guild = |guild: u64, id: u64, line: String| {
        let mut inv = invocation(id, 9, MANAGE_GUILD, Some(u64::MAX), &line);
        inv.guild = rally::domain::activity::Snowflake::new(guild).unwrap();
        inv
    };
    for (guild, channel) in [(1u64, CHANNEL), (2, CHANNEL + 1)] {
        for (i, line) in [
            format!(
                "/compete create name:Dash metric:points between:reps scoring:total start:2026-11-23 end:2026-11-27 \
                 channel:<#{channel}>"
            ),
            format!("/schedule add what:leaderboard channel:<#{channel}> at:\"daily 17:00\""),
        ]
        .into_iter()
        .enumerate()
        {
            let Response::Message(m) =
                dispatch(&t.app, &in_guild(guild, 300 + guild * 10 + i as u64, line), at(MONDAY)).await
            else {
                panic!()
            };
            assert!(!message_text(&m).starts_with("⚠️"), "{}", message_text(&m));
        }
    }
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    // Guild 1 is in Berlin, guild 2 in UTC: each one's 17:00 and midnight.
    for now in ["2026-11-27T16:00:00Z", "2026-11-27T17:00:00Z", WEEK_OVER, "2026-11-28T00:00:00Z"] {
        s.tick(at(now)).await.unwrap();
    }
    let mine = serde_json::to_string(&lb.channel_messages(CHANNEL)).unwrap();
    let theirs = serde_json::to_string(&lb.channel_messages(CHANNEL + 1)).unwrap();
    assert_eq!(lb.channel_messages(CHANNEL).len(), 2, "a leaderboard and an announcement each");
    assert_eq!(lb.channel_messages(CHANNEL + 1).len(), 2);
    assert!(mine.contains("small11") && !mine.contains("Zed") && !mine.contains("**50**"), "{mine}");
    assert!(theirs.contains("Zed") && !theirs.contains("small") && !theirs.contains("big2"), "{theirs}");
}
