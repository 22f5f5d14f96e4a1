//! Every rank reachable: long boards and tables come in pages, turned with ◀ ▶ (in place for the
//! one who asked, as a private copy for anyone else) or the `page` option; the caller's own row
//! stays in sight on every page; an old message's buttons show today's numbers.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch};
use rally::loopback::payload;
use serde_json::Value;

use super::e2e::{Bot, WAIT, loopback, rally_run, serve};
use super::helpers::{TestDb, at, log_req, message_text, spawn_app, when};

const GUILD: u64 = 4_200_000_000_000_001;
const NOW: &str = "2026-11-26T15:00:00Z";

fn invocation(user: u64, action: Action, n: u64) -> Invocation {
    let permissions = if user == 99 { MANAGE_GUILD } else { 0 };
    Invocation {
        channel: Some(55),
        ..super::helpers::invocation(GUILD, user, 4_920_000_000_000_000 + n, permissions, action)
    }
}

async fn message(app: &App, inv: &Invocation, now: DateTime<Utc>) -> Message {
    match dispatch(app, inv, now).await {
        Response::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

async fn ask(app: &App, user: u64, line: &str, n: u64) -> Message {
    message(app, &invocation(user, Action::Command(cmdline::parse(line).unwrap()), n), at(NOW)).await
}

async fn press(app: &App, user: u64, custom_id: &str, n: u64) -> Message {
    message(app, &invocation(user, Action::Button { custom_id: custom_id.into() }, n), at(NOW)).await
}

/// The enabled button labelled `label`.
fn button(m: &Message, label: &str) -> String {
    let b = m.buttons.iter().find(|b| b.label == label).unwrap_or_else(|| panic!("no {label}: {m:?}"));
    assert!(!b.disabled, "{label} is disabled: {m:?}");
    b.custom_id.clone()
}

/// Sixty reps, rep `i` with `i` calls this week: rep 60 leads, rep 1 is last.
async fn sixty_reps(app: &App) {
    for rep in 1..=60u64 {
        let req = when(log_req(GUILD, rep, "call", rep as i64, &format!("c{rep}")), "2026-11-25T10:00:00Z");
        app.log(req, at(NOW)).await.unwrap();
    }
}

#[tokio::test]
async fn a_sixty_rep_board_pages_through_every_rank_with_the_callers_row_on_each_page() {
    let t = spawn_app();
    sixty_reps(&t.app).await;
    // Rep 30 is 31st.
    let first = ask(&t.app, 30, "/leaderboard period:this-week", 1).await;
    let text = message_text(&first);
    assert!(text.contains("🥇 `#1  ` rep60 — **60**") && text.contains("`#15 ` rep46 — **46**"), "{text}");
    assert!(!text.contains("rep45 —"), "rank 16 is on page 2: {text}");
    assert!(text.contains("⋯\nYou: `#31` — **30**"), "the caller's row below the page: {text}");
    assert!(text.contains("Page 1 of 4 · places 1–15 of 60"), "{text}");
    assert!(first.buttons[0].label == "◀" && first.buttons[0].disabled, "no page before the first");
    assert!(!first.update, "a command's answer is a new message");

    let second = press(&t.app, 30, &button(&first, "▶"), 2).await;
    assert!(second.update && !second.ephemeral, "the owner turns the page in place");
    let text = message_text(&second);
    assert!(text.contains("`#16 ` rep45 — **45**") && text.contains("`#30 ` rep31 — **31**"), "{text}");
    assert!(text.contains("You: `#31` — **30**") && text.contains("Page 2 of 4 · places 16–30 of 60"), "{text}");
    let third = press(&t.app, 30, &button(&second, "▶"), 3).await;
    let text = message_text(&third);
    assert!(text.contains("`#31 ` **rep30** (you) — **30**") && !text.contains("You: `#"), "{text}");
    let fourth = press(&t.app, 30, &button(&third, "▶"), 4).await;
    let text = message_text(&fourth);
    assert!(text.contains("`#60 ` rep1 — **1**") && text.contains("You: `#31` — **30**\n⋯"), "above the page: {text}");
    assert!(fourth.buttons[1].disabled, "no page after the last");
    let back = press(&t.app, 30, &button(&fourth, "◀"), 5).await;
    assert!(message_text(&back).contains("Page 3 of 4"));

    // Someone else pressing the same button gets the page for themselves, with their own row.
    let other = press(&t.app, 5, &button(&first, "▶"), 6).await;
    assert!(other.ephemeral && !other.update, "a reader's press never flips the message for everyone");
    assert!(message_text(&other).contains("You: `#56` — **5**"), "{}", message_text(&other));

    // The option reaches any page; one past the end is refused with how many there are.
    let typed = message_text(&ask(&t.app, 30, "/leaderboard period:this-week page:4", 7).await);
    assert!(typed.contains("`#46 ` rep15 — **15**"), "{typed}");
    let past = message_text(&ask(&t.app, 30, "/leaderboard period:this-week page:5", 8).await);
    assert!(past.contains("there are only 4 pages here"), "{past}");
}

#[tokio::test]
async fn a_press_on_an_old_message_shows_the_board_as_it_is_now() {
    let t = spawn_app();
    sixty_reps(&t.app).await;
    let first = ask(&t.app, 30, "/leaderboard period:this-week", 1).await;
    let old_next = button(&first, "▶");
    // Rep 40 (21st, on page 2) logs 100 more calls and leads: everyone above moves down one, and
    // rep 46 (15th) opens page 2.
    let req = when(log_req(GUILD, 40, "call", 100, "late"), "2026-11-26T09:00:00Z");
    t.app.log(req, at(NOW)).await.unwrap();
    let second = message_text(&press(&t.app, 30, &old_next, 2).await);
    assert!(second.contains("`#16 ` rep46 — **46**") && !second.contains("rep40 —"), "{second}");
    let top = message_text(&press(&t.app, 30, &button(&first, "▶").replace(":2:", ":1:"), 3).await);
    assert!(top.contains("🥇 `#1  ` rep40 — **140**"), "{top}");
}

#[tokio::test]
async fn team_tables_deal_lists_and_competition_standings_page_too() {
    let t = spawn_app();
    for (n, line) in ["/team create name:Alpha"].iter().enumerate() {
        ask(&t.app, 99, line, 100 + n as u64).await;
    }
    for rep in 1..=25u64 {
        let req = when(log_req(GUILD, rep, "call", rep as i64, &format!("c{rep}")), "2026-11-25T10:00:00Z");
        t.app.log(req, at(NOW)).await.unwrap();
    }
    let table = ask(&t.app, 99, "/kpi team period:this-week", 1).await;
    let text = message_text(&table);
    assert!(text.contains("Page 1 of 2") && text.contains("rep25") && !text.contains("rep5 "), "{text}");
    let page2 = message_text(&press(&t.app, 99, &button(&table, "▶"), 2).await);
    assert!(page2.contains("rep5 ") && page2.contains("rep1 ") && !page2.contains("rep25"), "{page2}");
    assert!(page2.contains("Points: **325**"), "the totals are the whole table's: {page2}");
    // A rep pressing a manager's table button is still refused the table.
    let refused = message_text(&press(&t.app, 7, &button(&table, "▶"), 3).await);
    assert!(refused.contains("this command is for managers"), "{refused}");

    for d in 1..=25u64 {
        let line = format!("/deal open name:Deal{d:02} value:{} close:2026-12-{:02}", d * 100, d);
        assert!(!message_text(&ask(&t.app, 7, &line, 200 + d).await).contains("⚠️"));
    }
    let deals = ask(&t.app, 7, "/deal list", 4).await;
    let text = message_text(&deals);
    assert!(text.contains("Deal01") && text.contains("Deal20") && !text.contains("Deal21"), "{text}");
    // 100 + 200 + ... + 2,500 = 32,500 over all 25 deals, on every page.
    assert!(text.contains("Page 1 of 2") && text.contains("25 deals · 32,500.00"), "{text}");
    let rest = message_text(&press(&t.app, 7, &button(&deals, "▶"), 5).await);
    assert!(rest.contains("Deal25") && !rest.contains("Deal20") && rest.contains("25 deals · 32,500.00"), "{rest}");

    let line = "/compete create name:Dash metric:points between:reps scoring:total start:2026-11-23 end:2026-11-27";
    ask(&t.app, 99, line, 6).await;
    let standings = ask(&t.app, 3, "/compete show name:Dash", 7).await;
    let text = message_text(&standings);
    assert!(text.contains("Page 1 of 2") && text.contains("rep25") && text.contains("rep3"), "own row kept: {text}");
    let next = press(&t.app, 3, &button(&standings, "▶"), 8).await;
    assert!(next.attachments.is_empty(), "a turned page does not upload the chart again");
    assert!(message_text(&next).contains("rep1"), "{}", message_text(&next));
}

/// The first ▶ of a reply body as Discord received it.
fn next_button(body: &Value) -> String {
    body["data"]["components"][0]["components"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["label"] == "▶"))
        .and_then(|b| b["custom_id"].as_str())
        .unwrap_or_else(|| panic!("no ▶ in {body}"))
        .to_string()
}

async fn seeded(db: &TestDb) {
    let app = db.app();
    for rep in 1..=20u64 {
        let req = when(log_req(super::e2e::GUILD, rep, "call", rep as i64, &format!("s{rep}")), "2026-11-26T09:00:00Z");
        app.log(req, at(super::e2e::NOW)).await.unwrap();
    }
}

fn rep(n: u64) -> payload::Member {
    payload::Member { user_id: n, username: format!("rep{n}"), roles: vec![], permissions: 0 }
}

#[tokio::test]
async fn a_page_turns_in_place_through_serenitys_gateway_client() {
    let lb = loopback().await;
    let db = TestDb::new();
    seeded(&db).await;
    let _bot: Bot = rally_run(&lb, &db).await;
    let board = lb.interact(super::e2e::command(1, &rep(3), "/leaderboard"), WAIT).await.unwrap();
    assert_eq!(board.body["type"], 4, "{}", board.body);
    let pressed = lb
        .interact(payload::button(2, super::e2e::GUILD, super::e2e::CHANNEL, &rep(3), &next_button(&board.body)), WAIT)
        .await
        .unwrap();
    assert_eq!(pressed.body["type"], 7, "UPDATE_MESSAGE: {}", pressed.body);
    let page = pressed.body["data"]["embeds"][0].to_string();
    assert!(page.contains("rep5") && page.contains("Page 2 of 2") && !page.contains("rep20"), "{page}");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

#[tokio::test]
async fn a_page_turns_in_place_through_the_http_endpoint() {
    let lb = loopback().await;
    let db = TestDb::new();
    seeded(&db).await;
    let s = serve(&db, &lb.url()).await;
    let board = s.signed(&super::e2e::command(1, &rep(3), "/leaderboard")).await;
    assert_eq!(board["type"], 4, "{board}");
    let pressed =
        s.signed(&payload::button(2, super::e2e::GUILD, super::e2e::CHANNEL, &rep(3), &next_button(&board))).await;
    assert_eq!(pressed["type"], 7, "UPDATE_MESSAGE: {pressed}");
    assert!(pressed["data"]["embeds"][0].to_string().contains("Page 2 of 2"), "{pressed}");
    // Someone else's press: a message of their own, only they see it.
    let other =
        s.signed(&payload::button(3, super::e2e::GUILD, super::e2e::CHANNEL, &rep(4), &next_button(&board))).await;
    assert_eq!((other["type"].as_u64(), other["data"]["flags"].as_u64()), (Some(4), Some(64)), "{other}");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
