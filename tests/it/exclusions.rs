//! A role left off the boards: managers who log (or test) stay off leaderboards, team tables and
//! competitions, and keep their own `/me`.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};

use super::helpers::{at, invocation, message_text, spawn_app};

const GUILD: u64 = 4_100_000_000_000_001;
const NOW: &str = "2026-11-26T15:00:00Z";
const TESTER: u64 = 777;
const MANAGER: u64 = 9;

/// Runs `line` as `user` holding `roles`, as Discord delivers it (roles and the bot's permissions
/// present, so rally notes the roles).
async fn ask(app: &App, user: u64, roles: &[u64], line: &str, n: u64, now: DateTime<Utc>) -> String {
    let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
    let action = Action::Command(cmdline::parse(line).unwrap());
    let inv = Invocation {
        channel: Some(55),
        roles: roles.to_vec(),
        app_permissions: Some(0x4_0000_0800),
        ..invocation(GUILD, user, 4_910_000_000_000_000 + n, permissions, action)
    };
    match dispatch(app, &inv, now).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

#[tokio::test]
async fn members_with_the_excluded_role_are_left_off_boards_tables_and_competitions_but_keep_their_me() {
    let t = spawn_app();
    let now = at(NOW);
    let mut n = 0;
    let mut run = |user: u64, roles: &'static [u64], line: String| {
        n += 1;
        let app = t.app.clone();
        async move { ask(&app, user, roles, &line, n, now).await }
    };
    for line in ["/team create name:Alpha", "/team add team:Alpha user:<@5>", "/team add team:Alpha user:<@9>"] {
        run(MANAGER, &[TESTER], line.to_string()).await;
    }
    // The manager tests with 40 demos (200 pts); the reps log real work.
    run(MANAGER, &[TESTER], "/log kind:demo count:40".into()).await;
    run(5, &[], "/log kind:call count:7".into()).await;
    run(6, &[], "/log kind:call count:3".into()).await;
    let before = run(5, &[], "/leaderboard period:this-week".into()).await;
    assert!(before.contains("🥇 `#1  ` rep9 — **200**"), "nobody is left off yet: {before}");

    let saved = run(MANAGER, &[TESTER], format!("/settings leaderboard-exclude role:<@&{TESTER}>")).await;
    assert!(saved.contains("left off boards, team tables and competitions"), "{saved}");
    let board = run(5, &[], "/leaderboard period:this-week".into()).await;
    assert!(!board.contains("rep9"), "the tester is off the board: {board}");
    assert!(board.contains("🥇 `#1  ` **rep5** (you) — **7**") && board.contains("🥈 `#2  ` rep6 — **3**"), "{board}");
    let teams = run(5, &[], "/leaderboard period:this-week scope:teams".into()).await;
    assert!(teams.contains("Alpha — **7**"), "the team total leaves the tester's 200 out: {teams}");
    let table = run(MANAGER, &[TESTER], "/kpi team period:this-week team:Alpha".into()).await;
    assert!(!table.contains("rep9") && table.contains("Points: **7**"), "{table}");
    let me = run(MANAGER, &[TESTER], "/me".into()).await;
    assert!(me.contains("200") && !me.contains("Rank in team"), "the tester keeps their numbers, unranked: {me}");
    let rep_me = run(5, &[], "/me".into()).await;
    assert!(rep_me.contains("#1 of 1 in Alpha"), "the tester is not counted among the team: {rep_me}");
    let rep = run(MANAGER, &[TESTER], "/kpi rep user:<@9> period:this-week".into()).await;
    assert!(rep.contains("left off boards") && rep.contains("200"), "{rep}");
    let ranked = run(MANAGER, &[TESTER], "/kpi rep user:<@6> period:this-week".into()).await;
    assert!(ranked.contains("Rank: #2 of 2"), "ranked among the reps on the boards, not the tester: {ranked}");

    run(
        MANAGER,
        &[TESTER],
        "/compete create name:Dash metric:points between:reps scoring:total start:2026-11-23 end:2026-11-27".into(),
    )
    .await;
    let standing = run(5, &[], "/compete show name:Dash".into()).await;
    assert!(!standing.contains("rep9") && standing.contains("rep5"), "{standing}");

    // The manager hands the tester role back: their next command shows it, and they are back.
    run(MANAGER, &[], "/me".into()).await;
    let back = run(5, &[], "/leaderboard period:this-week".into()).await;
    assert!(back.contains("rep9 — **200**"), "without the role they are on the board again: {back}");
    // Clearing the setting brings everyone back too.
    run(MANAGER, &[TESTER], "/me".into()).await;
    assert!(!run(5, &[], "/leaderboard period:this-week".into()).await.contains("rep9"));
    let cleared = run(MANAGER, &[TESTER], "/settings leaderboard-exclude".into()).await;
    assert!(cleared.contains("Nobody is left off boards"), "{cleared}");
    assert!(run(5, &[], "/leaderboard period:this-week".into()).await.contains("rep9 — **200**"));
}

#[tokio::test]
async fn commands_run_from_the_cli_do_not_erase_the_roles_discord_showed() {
    let t = spawn_app();
    let now = at(NOW);
    ask(&t.app, MANAGER, &[TESTER], "/log kind:call", 1, now).await;
    ask(&t.app, MANAGER, &[TESTER], &format!("/settings leaderboard-exclude role:<@&{TESTER}>"), 2, now).await;
    ask(&t.app, 5, &[], "/log kind:call", 3, now).await;
    // `rally exec` builds invocations without roles or the bot's permissions.
    let action = Action::Command(cmdline::parse("/me").unwrap());
    let inv = Invocation { channel: None, ..invocation(GUILD, MANAGER, 4_910_000_000_000_099, MANAGE_GUILD, action) };
    dispatch(&t.app, &inv, now).await;
    let board = ask(&t.app, 5, &[], "/leaderboard period:this-week", 4, now).await;
    assert!(!board.contains("rep9"), "{board}");
}
