//! Boards people trust: no rank or medal for nothing, ties sharing a rank.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};

use super::helpers::{at, invocation, log_req, message_text, spawn_app, when, with_amount};

const GUILD: u64 = 4_000_000_000_000_001;
const NOW: &str = "2026-11-06T17:00:00Z";

async fn ask(app: &App, user: u64, line: &str, n: u64, now: DateTime<Utc>) -> String {
    let action = Action::Command(cmdline::parse(line).unwrap());
    let inv = Invocation { channel: None, ..invocation(GUILD, user, 4_900_000_000_000_000 + n, MANAGE_GUILD, action) };
    match dispatch(app, &inv, now).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

#[tokio::test]
async fn a_revenue_board_ranks_only_those_with_revenue_and_counts_the_rest() {
    let t = spawn_app();
    let now = at(NOW);
    // 60 reps log a call; two of them win deals of the same size, one a smaller one.
    for rep in 1..=60u64 {
        t.app.log(when(log_req(GUILD, rep, "call", 1, &format!("c{rep}")), "2026-11-05T10:00:00Z"), now).await.unwrap();
    }
    for (rep, amount) in [(7u64, "500"), (8, "500"), (9, "100")] {
        let win = with_amount(log_req(GUILD, rep, "won", 1, &format!("w{rep}")), amount);
        t.app.log(when(win, "2026-11-05T11:00:00Z"), now).await.unwrap();
    }
    let board = ask(&t.app, 30, "/leaderboard metric:revenue period:this-week", 1, now).await;
    assert_eq!(board.matches("🥇").count(), 2, "a tie shares the first place: {board}");
    assert!(board.contains("🥉 `#3  ` rep9"), "the next place after a tie of two is 3: {board}");
    assert!(!board.contains("🥈"), "nobody is second after a tie for first: {board}");
    assert!(!board.contains("**0.00"), "nobody is shown with nothing: {board}");
    assert!(board.contains("57 more reps with none yet, you among them"), "{board}");

    let none = ask(&t.app, 30, "/leaderboard metric:proposal period:this-week", 2, now).await;
    assert!(none.contains("Nobody has any proposal in this period yet.") && !none.contains("more reps"), "{none}");
    let points = ask(&t.app, 30, "/leaderboard period:this-week", 3, now).await;
    assert!(!points.contains("none yet"), "everyone has points: {points}");
}

#[tokio::test]
async fn log_and_kpi_replies_read_right_for_one_point_and_no_streak() {
    let t = spawn_app();
    let now = at(NOW);
    let line = ask(&t.app, 5, "/log kind:call", 10, now).await;
    assert!(line.contains("(+1 pt)"), "one point is a point: {line}");
    assert!(line.contains("Today: **1 × call**, **1 pt** from everything"), "{line}");
    let me = ask(&t.app, 5, "/me", 11, now).await;
    assert!(me.contains("Streak: 🔥 1 working day\n"), "{me}");
    // Rep 6 logged on Monday only: by Friday the streak is broken.
    t.app.log(when(log_req(GUILD, 6, "call", 1, "m6"), "2026-11-02T10:00:00Z"), now).await.unwrap();
    let kpi = ask(&t.app, 5, "/kpi rep user:<@6> period:this-week", 12, now).await;
    assert!(kpi.contains("Streak: none yet"), "no flame for nothing: {kpi}");
    let team = ask(&t.app, 5, "/kpi team period:this-week", 13, now).await;
    assert!(team.contains("Points: **2** · +2 (new) vs previous") && !team.contains("))"), "{team}");
}

#[tokio::test]
async fn one_rounding_rule_shows_the_same_percent_in_goal_and_comp() {
    let t = spawn_app();
    let now = at(NOW);
    for (n, line) in [
        "/team create name:Alpha",
        "/team add team:Alpha user:<@5>",
        "/comp plan team:Alpha rate:8",
        "/goal set scope:me metric:revenue target:10000 period:month",
        "/log kind:won amount:3750",
    ]
    .iter()
    .enumerate()
    {
        let reply = ask(&t.app, 5, line, 20 + n as u64, now).await;
        assert!(!reply.starts_with("⚠️"), "{line}: {reply}");
    }
    let goal = ask(&t.app, 5, "/goal list", 30, now).await;
    let comp = ask(&t.app, 5, "/comp me", 31, now).await;
    assert!(goal.contains("37%") && !goal.contains("38%"), "{goal}");
    assert!(comp.contains("37%") && !comp.contains("38%"), "{comp}");
}

#[tokio::test]
async fn a_team_table_names_the_kinds_its_points_count_beyond_its_columns() {
    let t = spawn_app();
    let now = at(NOW);
    for (n, line) in [
        "/log kind:call count:3",
        "/log kind:email count:2",
        "/log kind:meeting",
        "/log kind:demo",
        "/log kind:proposal",
    ]
    .iter()
    .enumerate()
    {
        ask(&t.app, 5, line, 40 + n as u64, now).await;
    }
    let team = ask(&t.app, 5, "/kpi team period:this-week", 50, now).await;
    // 3 + 2 + 3 + 5 + 8 = 21 points; the columns show call, email and demo.
    assert!(team.contains("Pts also count meeting, proposal"), "{team}");
}

/// Logs `quantity` calls (1 pt each) for `rep` at `when`, as they happened.
async fn calls(app: &App, rep: u64, quantity: i64, when_: &str, key: &str) {
    app.log(when(log_req(GUILD, rep, "call", quantity, key), when_), at(when_)).await.unwrap();
}

#[tokio::test]
async fn a_goal_board_ranks_by_percent_of_each_ones_goal_and_lists_those_without_one_apart() {
    let t = spawn_app();
    let now = at(NOW);
    // Points goals for the week: rep 5 40, rep 6 100, rep 7 30; rep 9 has a calls goal only.
    for (n, (rep, line)) in [
        (5, "/goal set scope:me metric:points target:40 period:week"),
        (6, "/goal set scope:me metric:points target:100 period:week"),
        (7, "/goal set scope:me metric:points target:30 period:week"),
        (9, "/goal set scope:me metric:call target:10 period:week"),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(!ask(&t.app, rep, line, 60 + n as u64, now).await.contains("⚠️"), "{line}");
    }
    // This week: rep 5 30 pts (75 %), rep 6 90 (90 %), rep 7 nothing (a call last week only),
    // rep 8 50 without a goal, rep 9 20 calls on a calls goal.
    calls(&t.app, 7, 1, "2026-10-28T10:00:00Z", "g7").await;
    calls(&t.app, 5, 30, "2026-11-05T10:00:00Z", "g5").await;
    calls(&t.app, 6, 90, "2026-11-05T10:00:00Z", "g6").await;
    calls(&t.app, 8, 50, "2026-11-05T10:00:00Z", "g8").await;
    calls(&t.app, 9, 20, "2026-11-05T10:00:00Z", "g9").await;
    let board = ask(&t.app, 5, "/leaderboard metric:goal period:this-week", 70, now).await;
    assert!(board.contains("Reps by % of their points goal"), "{board}");
    assert!(board.contains("🥇 `#1  ` rep6 — **90%** · 90 of 100\n"), "{board}");
    assert!(board.contains("🥈 `#2  ` **rep5** (you) — **75%** · 30 of 40\n"), "{board}");
    assert!(board.contains("1 more rep with nothing towards it yet\n"), "rep 7: {board}");
    assert!(board.contains("Without such a goal: rep8, rep9"), "{board}");
    let today = ask(&t.app, 5, "/leaderboard metric:goal period:today", 71, now).await;
    assert!(today.contains("goals are set per week, month, quarter or year"), "{today}");
}

#[tokio::test]
async fn an_improvement_board_measures_each_against_their_own_last_period_with_a_minimum_base() {
    let t = spawn_app();
    let now = at(NOW);
    // Last week (26 Oct – 1 Nov) and this week (2 – 8 Nov):
    // rep 5 100 → 150 (+50 %), rep 6 1 → 3 (+2 of the 20-pt base: +10 %), rep 7 0 → 10 (+50 %),
    // rep 8 50 → 40 (no improvement).
    for (rep, before, now_) in [(5u64, 100, 150), (6, 1, 3), (7, 0, 10), (8, 50, 40)] {
        if before > 0 {
            calls(&t.app, rep, before, "2026-10-28T10:00:00Z", &format!("b{rep}")).await;
        }
        calls(&t.app, rep, now_, "2026-11-04T10:00:00Z", &format!("n{rep}")).await;
    }
    let board = ask(&t.app, 8, "/leaderboard metric:improvement period:this-week", 80, now).await;
    assert!(board.contains("Reps by improvement on 26 Oct – 1 Nov (at least 20 pts as the base)"), "{board}");
    assert!(board.contains("🥇 `#1  ` rep5 — **+50%** · 100 → 150 pts\n"), "{board}");
    assert!(board.contains("🥇 `#1  ` rep7 — **+50%** · 0 → 10 pts\n"), "a tie shares the rank: {board}");
    assert!(board.contains("🥉 `#3  ` rep6 — **+10%** · 1 → 3 pts\n"), "1 → 3 does not win: {board}");
    assert!(board.contains("1 more rep with no improvement yet, you among them"), "{board}");
}

#[tokio::test]
async fn under_money_privacy_a_revenue_board_shows_ranks_without_amounts_to_everyone() {
    let t = spawn_app();
    let now = at(NOW);
    for (rep, amount) in [(7u64, "500"), (8, "1200")] {
        let win = with_amount(log_req(GUILD, rep, "won", 1, &format!("w{rep}")), amount);
        t.app.log(when(win, "2026-11-05T11:00:00Z"), now).await.unwrap();
    }
    let open = ask(&t.app, 7, "/leaderboard metric:revenue period:this-week", 90, now).await;
    assert!(open.contains("rep8 — **1,200.00") && open.contains("(you) — **500.00"), "{open}");
    ask(&t.app, 7, "/settings privacy money:managers", 91, now).await;
    // `ask` runs as a manager: a board is public, so even a manager's shows no amounts.
    let private = ask(&t.app, 7, "/leaderboard metric:revenue period:this-week", 92, now).await;
    assert!(private.contains("🥇 `#1  ` rep8\n") && private.contains("🥈 `#2  ` **rep7** (you)\n"), "{private}");
    assert!(!private.contains("1,200") && !private.contains("500.00"), "{private}");
    assert!(private.contains("Amounts are private on this server: your own are in /me"), "{private}");
    let points = ask(&t.app, 7, "/leaderboard period:this-week", 93, now).await;
    assert!(points.contains("rep8 — **20**"), "points are everyone's: {points}");
}

#[tokio::test]
async fn teams_rank_by_their_team_goal_and_by_improvement_on_their_own_last_week() {
    let t = spawn_app();
    let now = at(NOW);
    for (n, line) in [
        "/team create name:Alpha",
        "/team create name:Beta",
        "/team create name:Gamma",
        "/team add team:Alpha user:<@5>",
        "/team add team:Beta user:<@6>",
        "/team add team:Gamma user:<@7>",
        "/goal set scope:team team:Alpha metric:points target:200 period:week",
        "/goal set scope:team team:Beta metric:points target:50 period:week",
    ]
    .into_iter()
    .enumerate()
    {
        assert!(!ask(&t.app, 9, line, 100 + n as u64, now).await.contains("⚠️"), "{line}");
    }
    // Last week: Alpha 100, Beta 40, Gamma 10. This week: Alpha 150 (75 % of 200, +50 %), Beta 45
    // (90 % of 50, +12 %: 5 of 40), Gamma 30 (no goal; +20 of a 20-pt base: +100 %).
    for (rep, before, now_) in [(5u64, 100, 150), (6, 40, 45), (7, 10, 30)] {
        calls(&t.app, rep, before, "2026-10-28T10:00:00Z", &format!("tb{rep}")).await;
        calls(&t.app, rep, now_, "2026-11-04T10:00:00Z", &format!("tn{rep}")).await;
    }
    let goal = ask(&t.app, 9, "/leaderboard metric:goal scope:teams", 110, now).await;
    assert!(goal.contains("Teams by % of their points goal"), "{goal}");
    assert!(goal.contains("🥇 `#1  ` Beta — **90%** · 45 of 50\n🥈 `#2  ` Alpha — **75%** · 150 of 200"), "{goal}");
    assert!(goal.contains("Without such a goal: Gamma"), "{goal}");
    let better = ask(&t.app, 9, "/leaderboard metric:improvement scope:teams", 111, now).await;
    assert!(better.contains("🥇 `#1  ` Gamma — **+100%** · 10 → 30 pts"), "{better}");
    assert!(better.contains("🥈 `#2  ` Alpha — **+50%** · 100 → 150 pts"), "{better}");
    assert!(better.contains("🥉 `#3  ` Beta — **+12%** · 40 → 45 pts"), "{better}");
}

#[tokio::test]
async fn a_back_dated_log_reports_the_totals_of_the_day_it_went_to() {
    let t = spawn_app();
    let now = at(NOW);
    // Thursday already holds 3 calls; today (Friday) 2.
    calls(&t.app, 5, 3, "2026-11-05T10:00:00Z", "thu").await;
    calls(&t.app, 5, 2, "2026-11-06T10:00:00Z", "fri").await;
    let line = ask(&t.app, 5, "/log kind:call count:4 when:yesterday", 120, now).await;
    assert!(line.contains("\nThu 5 Nov: **7 × call**, **7 pts** from everything · This week: **9 pts**"), "{line}");
    let line = ask(&t.app, 5, "/log kind:call", 121, now).await;
    assert!(line.contains("\nToday: **3 × call**, **3 pts** from everything · This week: **10 pts**"), "{line}");
}

#[tokio::test]
async fn a_goal_board_on_a_kind_counts_that_kind() {
    let t = spawn_app();
    let now = at(NOW);
    for (n, (rep, line)) in [
        (5, "/goal set scope:me metric:call target:20 period:week"),
        (6, "/goal set scope:me metric:call target:10 period:week"),
        (7, "/goal set scope:me metric:points target:10 period:week"),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(!ask(&t.app, rep, line, 130 + n as u64, now).await.contains("⚠️"), "{line}");
    }
    calls(&t.app, 5, 5, "2026-11-05T10:00:00Z", "k5").await;
    calls(&t.app, 6, 5, "2026-11-05T10:00:00Z", "k6").await;
    calls(&t.app, 7, 5, "2026-11-05T10:00:00Z", "k7").await;
    let board = ask(&t.app, 5, "/leaderboard metric:goal", 140, now).await;
    assert!(board.contains("Reps by % of their call goal"), "{board}");
    assert!(
        board.contains("🥇 `#1  ` rep6 — **50%** · 5 of 10\n🥈 `#2  ` **rep5** (you) — **25%** · 5 of 20"),
        "{board}"
    );
    assert!(board.contains("Without such a goal: rep7"), "{board}");
}

#[tokio::test]
async fn a_server_with_leaderboards_off_hears_so_whatever_else_is_wrong_with_the_board() {
    // The switch is read with the board's rows; a board refused for another reason (an unknown
    // team or metric) must still say that leaderboards are off, as it did when read first.
    let t = spawn_app();
    let now = at(NOW);
    t.app.log(when(log_req(GUILD, 1, "call", 1, "c1"), "2026-11-05T10:00:00Z"), now).await.unwrap();
    let on = ask(&t.app, 1, "/leaderboard period:this-week", 1, now).await;
    assert!(on.contains("rep1"), "{on}");
    let off = ask(&t.app, 1, "/settings leaderboards on:false", 2, now).await;
    assert!(off.contains("Leaderboards are off"), "{off}");
    for (n, line) in [
        (3, "/leaderboard period:this-week"),
        (4, "/leaderboard team:Nowhere"),
        (5, "/leaderboard metric:juggling"),
        (6, "/leaderboard scope:teams period:this-month"),
    ] {
        let refused = ask(&t.app, 1, line, n, now).await;
        assert!(refused.contains("leaderboards are turned off"), "{line}: {refused}");
    }
    ask(&t.app, 1, "/settings leaderboards on:true", 7, now).await;
    let unknown = ask(&t.app, 1, "/leaderboard team:Nowhere", 8, now).await;
    assert!(unknown.contains("no team named `Nowhere`"), "{unknown}");
}
