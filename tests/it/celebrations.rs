//! Issue 15, celebrations: `/celebrate` rules ring the bell in a channel through the scheduler and
//! the outbox (the loopback Discord checks every post against Discord's API description): each
//! event once, never for what happened before the rule, never twice after an undo and redo, a
//! burst folded beyond the channel's rate, a CRM win celebrated like a logged one, and a crash
//! between a log and its celebration posting it once.

use std::sync::Arc;
use std::time::Duration;

use rally::app::App;
use rally::crm::pipedrive::{Pipedrive, Retry};
use rally::domain::crm::{Provider, Secret};
use rally::handlers::{Action, MANAGE_GUILD, Response, cmdline, dispatch};
use rally::loopback::pipedrive::{PdDeal, PdOptions, PipedriveLoopback};
use rally::loopback::{Loopback, openapi_for_tests};
use rally::scheduler::Scheduler;

use crate::helpers::*;

const GUILD: u64 = 1;
const MANAGER: u64 = 9;
/// Big wins, personal bests, first wins and streaks each post in a channel of their own here.
const WINS: u64 = 555;
const BESTS: u64 = 556;
const FIRSTS: u64 = 557;
const STREAKS: u64 = 558;
const WEEKS: u64 = 559;

async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

fn scheduler(app: &App, lb: &Loopback) -> Scheduler {
    Scheduler::new(app.clone(), Arc::new(rally::discord::http_client("test-token", Some(&lb.url()))))
}

/// A slash command as `user` with `permissions`, answered at `now`: the reply's text.
async fn run(app: &App, interaction: u64, user: u64, permissions: u64, line: &str, now: &str) -> String {
    let action = Action::Command(cmdline::parse(line).expect("command line parses"));
    match dispatch(app, &invocation(GUILD, user, interaction, permissions, action), at(now)).await {
        Response::Message(m) => message_text(&m).replace('\u{a0}', " "),
        other => panic!("{line}: {other:?}"),
    }
}

/// A manager's command that must succeed.
async fn manage(app: &App, interaction: u64, line: &str, now: &str) -> String {
    let text = run(app, interaction, MANAGER, MANAGE_GUILD, line, now).await;
    assert!(!text.starts_with("⚠️"), "{line}: {text}");
    text
}

/// A rep's `/log` that must succeed.
async fn log(app: &App, interaction: u64, user: u64, line: &str, now: &str) -> String {
    let text = run(app, interaction, user, 0, line, now).await;
    assert!(text.starts_with("✅"), "{line}: {text}");
    text
}

/// Every text a channel's posts show (content, embed titles and descriptions).
fn posts(lb: &Loopback, channel: u64) -> Vec<String> {
    lb.channel_messages(channel)
        .iter()
        .map(|m| {
            let mut text = m["content"].as_str().unwrap_or_default().to_string();
            for e in m["embeds"].as_array().map(Vec::as_slice).unwrap_or_default() {
                for key in ["title", "description"] {
                    if let Some(s) = e[key].as_str() {
                        text.push('\n');
                        text.push_str(s);
                    }
                }
            }
            // Money is written with a no-break space before its currency.
            text.replace('\u{a0}', " ")
        })
        .collect()
}

fn strict(lb: &Loopback) {
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn each_rule_fires_once_with_its_own_words() {
    let lb = loopback().await;
    let t = spawn_app();
    // History before any rule: rep 43's best demo day is 2; rep 44 logged calls Monday to Thursday.
    let mut csv = HEADER.to_string();
    for day in 16..=20 {
        csv.push_str(&format!("2026-11-{day}T10:00:00Z,43,rep43,,demo,2,,,d{day}\n"));
    }
    for day in 23..=26 {
        csv.push_str(&format!("2026-11-{day}T10:00:00Z,44,rep44,,call,1,,,c{day}\n"));
    }
    assert_eq!(import(&t.app, GUILD, &csv, "2026-11-27T08:00:00Z").await.imported, 9);
    let setup = "2026-11-27T09:00:00Z"; // a Friday
    manage(&t.app, 1, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:10,000"), setup).await;
    manage(&t.app, 2, &format!("/celebrate add when:best-day channel:<#{BESTS}> kind:demo"), setup).await;
    manage(&t.app, 3, &format!("/celebrate add when:first-win channel:<#{FIRSTS}>"), setup).await;
    manage(&t.app, 4, &format!("/celebrate add when:streak channel:<#{STREAKS}>"), setup).await;
    manage(&t.app, 6, &format!("/celebrate add when:best-week channel:<#{WEEKS}> kind:demo"), setup).await;
    let list = manage(&t.app, 5, "/celebrate list", setup).await;
    for line in ["#1", "10,000.00 USD", "#2", "best day ever for demo", "#3", "#4", "5, 10, 20"] {
        assert!(list.contains(line), "{line} in {list}");
    }

    let now = "2026-11-27T10:00:00Z";
    log(&t.app, 10, 42, "/log kind:won amount:12,000 deal:ACME-1", now).await;
    log(&t.app, 11, 43, "/log kind:demo count:3", now).await;
    log(&t.app, 12, 44, "/log kind:call", now).await;
    // A small win is no big win, and rep 42's second win is no first one.
    log(&t.app, 13, 42, "/log kind:won amount:500", now).await;
    let s = scheduler(&t.app, &lb);
    s.tick(at("2026-11-27T10:00:30Z")).await.unwrap();

    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 1, "{wins:?}");
    assert!(wins[0].contains("rep42") && wins[0].contains("12,000.00 USD") && wins[0].contains("ACME-1"), "{wins:?}");
    let bests = posts(&lb, BESTS);
    assert_eq!(bests.len(), 1, "{bests:?}");
    assert!(bests[0].contains("rep43") && bests[0].contains("3 × demo") && bests[0].contains("best before: 2"));
    let firsts = posts(&lb, FIRSTS);
    assert_eq!(firsts.len(), 1, "{firsts:?}");
    assert!(firsts[0].contains("rep42") && firsts[0].contains("first deal"), "{firsts:?}");
    let streaks = posts(&lb, STREAKS);
    assert_eq!(streaks.len(), 1, "{streaks:?}");
    assert!(streaks[0].contains("rep44") && streaks[0].contains("5-day streak"), "{streaks:?}");

    // Three demos this week are no record against last week's ten.
    assert!(posts(&lb, WEEKS).is_empty());

    // More of the same later that day is the same event: the best day grows, nothing new is posted.
    log(&t.app, 14, 43, "/log kind:demo count:2", "2026-11-27T11:00:00Z").await;
    log(&t.app, 15, 44, "/log kind:email", "2026-11-27T11:00:00Z").await;
    s.tick(at("2026-11-27T11:00:30Z")).await.unwrap();
    // Six more make the week's eleven: the best week, over last week's ten.
    log(&t.app, 16, 43, "/log kind:demo count:6", "2026-11-27T12:00:00Z").await;
    s.tick(at("2026-11-27T12:00:30Z")).await.unwrap();
    s.tick(at("2026-11-27T13:00:00Z")).await.unwrap();
    let counts: Vec<usize> = [WINS, BESTS, FIRSTS, STREAKS, WEEKS].iter().map(|c| posts(&lb, *c).len()).collect();
    assert_eq!(counts, [1, 1, 1, 1, 1]);
    let weeks = posts(&lb, WEEKS);
    assert!(weeks[0].contains("best week") && weeks[0].contains("11 × demo") && weeks[0].contains("before: 10"));
    strict(&lb);
}

#[tokio::test]
async fn nothing_that_happened_before_the_rule_is_celebrated_not_even_an_import_of_last_weeks_wins() {
    let lb = loopback().await;
    let t = spawn_app();
    let added = "2026-11-27T09:00:00Z";
    manage(&t.app, 1, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:1,000"), added).await;
    manage(&t.app, 2, &format!("/celebrate add when:first-win channel:<#{FIRSTS}>"), added).await;
    // Last week's wins arrive in a file after the rule was added.
    let csv = format!(
        "{HEADER}2026-11-20T10:00:00Z,42,rep42,,won,1,50000,,w1\n2026-11-21T10:00:00Z,43,rep43,,won,1,90000,,w2\n"
    );
    assert_eq!(import(&t.app, GUILD, &csv, "2026-11-27T09:30:00Z").await.imported, 2);
    // A win back-dated to before the rule, logged after it.
    log(&t.app, 10, 44, "/log kind:won amount:5,000 when:\"today 08:00\"", "2026-11-27T09:45:00Z").await;
    let s = scheduler(&t.app, &lb);
    s.tick(at("2026-11-27T10:00:00Z")).await.unwrap();
    assert!(posts(&lb, WINS).is_empty() && posts(&lb, FIRSTS).is_empty());
    assert!(t.app.celebrations(GUILD as i64).await.unwrap().is_empty());
    // Rep 42 won last week: today's win is not their first, but it is big.
    log(&t.app, 11, 42, "/log kind:won amount:5,000", "2026-11-27T10:10:00Z").await;
    s.tick(at("2026-11-27T10:11:00Z")).await.unwrap();
    assert_eq!(posts(&lb, WINS).len(), 1);
    assert!(posts(&lb, FIRSTS).is_empty(), "{:?}", posts(&lb, FIRSTS));
    strict(&lb);
}

#[tokio::test]
async fn an_undone_win_logged_again_is_celebrated_once() {
    let lb = loopback().await;
    let t = spawn_app();
    manage(&t.app, 1, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:10,000"), "2026-11-27T09:00:00Z")
        .await;
    let s = scheduler(&t.app, &lb);
    // Celebrated, then undone and logged again.
    log(&t.app, 10, 42, "/log kind:won amount:12,000 deal:ACME-1", "2026-11-27T10:00:00Z").await;
    s.tick(at("2026-11-27T10:00:30Z")).await.unwrap();
    t.app.undo(id(GUILD), id(42), None, at("2026-11-27T10:01:00Z")).await.unwrap();
    log(&t.app, 11, 42, "/log kind:won amount:12,000 deal:ACME-1", "2026-11-27T10:02:00Z").await;
    s.tick(at("2026-11-27T10:02:30Z")).await.unwrap();
    // Undone and logged again before the scheduler saw either (no deal reference this time).
    log(&t.app, 12, 43, "/log kind:won amount:20,000", "2026-11-27T10:03:00Z").await;
    t.app.undo(id(GUILD), id(43), None, at("2026-11-27T10:03:10Z")).await.unwrap();
    log(&t.app, 13, 43, "/log kind:won amount:20,000", "2026-11-27T10:03:20Z").await;
    s.tick(at("2026-11-27T10:04:00Z")).await.unwrap();
    s.tick(at("2026-11-27T10:30:00Z")).await.unwrap();
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 2, "one post for each win: {wins:#?}");
    assert!(wins[0].contains("rep42") && wins[1].contains("rep43"), "{wins:#?}");
    strict(&lb);
}

#[tokio::test]
async fn a_deal_won_in_pipedrive_rings_the_big_win_bell() {
    const CRM_GUILD: u64 = 7_000_000_000_000_001;
    const ALICE: u64 = 7_100_000_000_000_001;
    let lb = loopback().await;
    let now = at("2026-11-06T17:00:00Z");
    let pd = PipedriveLoopback::start(PdOptions::default()).await.expect("loopback Pipedrive");
    pd.set_clock(Some(now));
    pd.add_user(1, "Alice Andersen", "alice@example.com");
    pd.add_pipeline(1, "Sales");
    pd.add_stage(11, 1, "Qualified", 1, 10);
    let t = spawn_app();
    let retry = Retry { attempts: 3, base: Duration::from_millis(5), max_wait: Duration::from_millis(200) };
    let client = Pipedrive::with_retry(&pd.url(), Secret::new("loopback-pipedrive-token"), retry);
    let request = rally::app::crm::ConnectRequest {
        guild: CRM_GUILD as i64,
        provider: Provider::Pipedrive,
        api_url: pd.url(),
        token: Secret::new("loopback-pipedrive-token"),
        pipeline: None,
        webhook_base: None,
    };
    t.app.crm_connect(&client, request, now).await.expect("connect");
    t.app.crm_link(CRM_GUILD as i64, "alice@example.com", Some((ALICE, "Alice".into())), 0, now).await.expect("link");
    let action = Action::Command(
        cmdline::parse(&format!("/celebrate add when:big-win channel:<#{WINS}> amount:10,000")).unwrap(),
    );
    let reply = dispatch(&t.app, &invocation(CRM_GUILD, MANAGER, 1, MANAGE_GUILD, action), now).await;
    assert!(matches!(&reply, Response::Message(m) if message_text(m).contains("Celebration #1")), "{reply:?}");

    let won = now + chrono::Duration::minutes(5);
    pd.set_clock(Some(won));
    pd.put_deal(PdDeal {
        title: "Acme renewal".into(),
        owner_id: 1,
        value: 12_500.0,
        currency: "USD".into(),
        stage_id: 11,
        pipeline_id: 1,
        status: "won".into(),
        won_time: Some(won),
        ..PdDeal::default()
    });
    let synced = won + chrono::Duration::minutes(1);
    t.app.crm_sync(&client, CRM_GUILD as i64, None, false, synced, &mut |_| {}).await.expect("sync");
    let s = scheduler(&t.app, &lb);
    s.tick(synced).await.unwrap();
    s.tick(synced + chrono::Duration::minutes(5)).await.unwrap();
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 1, "{wins:#?}");
    assert!(wins[0].contains("Alice") && wins[0].contains("12,500.00 USD"), "{wins:#?}");
    strict(&lb);
    assert!(pd.violations().is_empty(), "{:#?}", pd.violations());
}

#[tokio::test]
async fn a_win_sent_through_the_intake_api_is_celebrated_like_a_logged_one() {
    let lb = loopback().await;
    let t = spawn_app();
    manage(&t.app, 1, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:10,000"), "2026-11-27T09:00:00Z")
        .await;
    let now = at("2026-11-27T10:00:00Z");
    let (_, key) = t.app.api_key_create(GUILD as i64, "crm bridge", now).await.unwrap();
    let body = serde_json::json!({
        "external_id": "hub-77", "user_id": "42", "user_name": "Ana", "kind": "won", "amount": "15000",
    });
    t.app.intake_activity(GUILD as i64, key.id, &body, now).await.expect("intake takes the win");
    // Sent twice (a retry): still one celebration.
    t.app.intake_activity(GUILD as i64, key.id, &body, now).await.expect("a retry is answered");
    let s = scheduler(&t.app, &lb);
    s.tick(at("2026-11-27T10:00:30Z")).await.unwrap();
    s.tick(at("2026-11-27T10:30:00Z")).await.unwrap();
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 1, "{wins:#?}");
    assert!(wins[0].contains("Ana") && wins[0].contains("15,000.00 USD"), "{wins:#?}");
    strict(&lb);
}

#[tokio::test]
async fn a_rule_removed_before_its_celebration_went_out_posts_nothing() {
    let lb = loopback().await;
    let t = spawn_app();
    manage(&t.app, 1, &format!("/celebrate add when:first-win channel:<#{FIRSTS}>"), "2026-11-27T09:00:00Z").await;
    log(&t.app, 10, 42, "/log kind:won amount:100", "2026-11-27T10:00:00Z").await;
    // The pass fired it, then the rule was removed before the post was queued.
    assert_eq!(t.app.celebrate_recent(at("2026-11-27T10:00:10Z")).await.unwrap(), 1);
    manage(&t.app, 2, "/celebrate remove id:1", "2026-11-27T10:00:20Z").await;
    let s = scheduler(&t.app, &lb);
    s.tick(at("2026-11-27T10:00:30Z")).await.unwrap();
    s.tick(at("2026-11-27T10:30:00Z")).await.unwrap();
    assert!(posts(&lb, FIRSTS).is_empty());
    let events = t.app.celebrations(GUILD as i64).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].1.is_some(), "retired, so never posted later: {events:?}");
}

#[tokio::test]
async fn a_burst_of_wins_in_one_channel_folds_into_one_post_beyond_the_rate() {
    let lb = loopback().await;
    let t = spawn_app();
    manage(&t.app, 1, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:1,000"), "2026-11-27T09:00:00Z")
        .await;
    for rep in 0..7u64 {
        log(&t.app, 100 + rep, 40 + rep, &format!("/log kind:won amount:{},000", 2 + rep), "2026-11-27T10:00:00Z")
            .await;
    }
    let s = scheduler(&t.app, &lb);
    s.tick(at("2026-11-27T10:01:00Z")).await.unwrap();
    let wins = posts(&lb, WINS);
    // At most three posts per channel in ten minutes: two wins of their own, then one for the rest.
    assert_eq!(wins.len(), 3, "{wins:#?}");
    assert!(wins[0].contains("rep40") && wins[1].contains("rep41"), "{wins:#?}");
    assert!(wins[2].contains("5 more to celebrate"), "{wins:#?}");
    for (rep, amount) in [(42, "4,000.00 USD"), (46, "8,000.00 USD")] {
        assert!(wins[2].contains(&format!("**rep{rep}** won {amount}")), "{wins:#?}");
    }
    // Two more right after: the rate is used up, so they wait for the window to move on…
    log(&t.app, 200, 50, "/log kind:won amount:3,000", "2026-11-27T10:02:00Z").await;
    log(&t.app, 201, 51, "/log kind:won amount:3,000", "2026-11-27T10:02:00Z").await;
    let next = s.tick(at("2026-11-27T10:02:30Z")).await.unwrap();
    assert_eq!(posts(&lb, WINS).len(), 3);
    assert_eq!(next, Some(at("2026-11-27T10:11:00Z")), "the scheduler wakes when the window moves on");
    // …and then go out, once.
    s.tick(at("2026-11-27T10:11:00Z")).await.unwrap();
    s.tick(at("2026-11-27T10:30:00Z")).await.unwrap();
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 5, "{wins:#?}");
    assert!(wins[3].contains("rep50") && wins[4].contains("rep51"), "{wins:#?}");
    strict(&lb);
}

#[tokio::test]
async fn amounts_stay_out_of_celebrations_where_money_is_private_and_excluded_members_are_not_celebrated() {
    let lb = loopback().await;
    let t = spawn_app();
    let setup = "2026-11-27T09:00:00Z";
    manage(&t.app, 1, "/settings privacy money:managers", setup).await;
    manage(&t.app, 2, &format!("/celebrate add when:big-win channel:<#{WINS}> amount:1,000"), setup).await;
    manage(&t.app, 3, "/settings leaderboard-exclude role:<@&77>", setup).await;
    // Rep 43 holds the excluded role (as their interactions show it).
    log(&t.app, 10, 43, "/log kind:call", setup).await;
    t.app.store.set_member_roles(GUILD as i64, 43, &[77]).await.unwrap();
    log(&t.app, 11, 42, "/log kind:won amount:5,000", "2026-11-27T10:00:00Z").await;
    log(&t.app, 12, 43, "/log kind:won amount:5,000", "2026-11-27T10:00:00Z").await;
    scheduler(&t.app, &lb).tick(at("2026-11-27T10:00:30Z")).await.unwrap();
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 1, "{wins:#?}");
    assert!(wins[0].contains("rep42") && !wins[0].contains("5,000"), "{wins:#?}");
    strict(&lb);
}

#[tokio::test]
async fn bad_celebrate_input_is_refused_and_changes_nothing() {
    let t = spawn_app();
    let now = "2026-11-27T09:00:00Z";
    manage(&t.app, 1, &format!("/celebrate add when:streak channel:<#{WINS}>"), now).await;
    let audit = t.app.store.audit_count(GUILD as i64).await.unwrap();
    let lines = [
        format!("/celebrate add when:big-win channel:<#{WINS}>"),
        format!("/celebrate add when:big-win channel:<#{WINS}> amount:12k"),
        format!("/celebrate add when:big-win channel:<#{WINS}> amount:-5"),
        format!("/celebrate add when:big-win channel:<#{WINS}> amount:1,000 kind:demo"),
        format!("/celebrate add when:best-week channel:<#{WINS}>"),
        format!("/celebrate add when:best-week channel:<#{WINS}> kind:dmeo"),
        format!("/celebrate add when:streak channel:<#{WINS}> amount:5"),
        // Rules that would ring for nothing worth it, or twice for the same thing.
        format!("/celebrate add when:big-win channel:<#{WINS}> amount:0"),
        format!("/celebrate add when:best-day channel:<#{WINS}> kind:lost"),
        format!("/celebrate add when:streak channel:<#{WINS}>"),
        "/celebrate remove id:99".to_string(),
    ];
    for (i, line) in lines.iter().enumerate() {
        let reply = run(&t.app, 100 + i as u64, MANAGER, MANAGE_GUILD, line, now).await;
        assert!(reply.starts_with("⚠️"), "{line}: {reply}");
    }
    let unknown = run(
        &t.app,
        200,
        MANAGER,
        MANAGE_GUILD,
        &format!("/celebrate add when:best-day channel:<#{WINS}> kind:dmeo"),
        now,
    )
    .await;
    assert!(unknown.contains("demo"), "names the kind meant: {unknown}");
    assert_eq!(t.app.celebration_rules(id(GUILD)).await.unwrap().len(), 1);
    assert_eq!(t.app.store.audit_count(GUILD as i64).await.unwrap(), audit);
    // Removing is for real, and a removed rule is gone from the list.
    let removed = manage(&t.app, 300, "/celebrate remove id:1", now).await;
    assert!(removed.contains("#1 removed"), "{removed}");
    assert!(manage(&t.app, 301, "/celebrate list", now).await.contains("No celebrations yet"));
}

#[tokio::test]
async fn only_managers_add_list_or_remove_celebrations() {
    let t = spawn_app();
    let now = "2026-11-27T09:00:00Z";
    manage(&t.app, 1, &format!("/celebrate add when:first-win channel:<#{WINS}>"), now).await;
    for (i, line) in [
        format!("/celebrate add when:streak channel:<#{WINS}>"),
        "/celebrate list".into(),
        "/celebrate remove id:1".into(),
    ]
    .iter()
    .enumerate()
    {
        let reply = run(&t.app, 10 + i as u64, 42, 0, line, now).await;
        assert!(reply.starts_with("⚠️") && reply.contains("managers"), "{line}: {reply}");
    }
    assert_eq!(t.app.celebration_rules(id(GUILD)).await.unwrap().len(), 1);
}

/// Polls `done` every 50 ms (letting the loopback serve meanwhile) until it holds; panics with
/// `what` and the process's log after a minute.
async fn wait_for(what: &str, log: &std::path::Path, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        let said = || std::fs::read_to_string(log).unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}; rally run said:\n{}", said());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The celebration's outbox rows: (announced events, posts queued, posts delivered).
fn celebration_state(db: &TestDb) -> (i64, i64, i64) {
    let one = |sql: &str| db.raw_query(sql, &[])[0][0].int().unwrap_or_default();
    (
        one("SELECT COUNT(*) FROM celebrations WHERE announced_at IS NOT NULL"),
        one("SELECT COUNT(*) FROM outbox WHERE source LIKE 'celebration:%'"),
        one("SELECT COUNT(*) FROM outbox WHERE source LIKE 'celebration:%' AND delivered_at IS NOT NULL"),
    )
}

#[tokio::test]
async fn a_rally_killed_between_a_log_and_its_celebration_posts_it_once_after_restart() {
    const REAL_GUILD: u64 = 700_000_000_000_000_101;
    let lb = loopback().await;
    let db = TestDb::new();
    let exec = |user: u64, now: &str, line: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
            .arg("--db")
            .arg(db.arg())
            .args(["--now", now, "exec", "--guild", &REAL_GUILD.to_string(), "--user", &user.to_string()])
            .args(["--roles", "manager", line])
            .env_remove("RALLY_DB")
            .output()
            .expect("run rally exec");
        assert!(
            o.status.success(),
            "{line}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    exec(9, "2026-11-27T09:00:00Z", &format!("/celebrate add when:big-win channel:<#{WINS}> amount:10,000"));
    // Logged by a process with no scheduler: as if rally died right after the log's commit.
    exec(42, "2026-11-27T09:01:00Z", "/log kind:won amount:12,000");
    let path = format!("/channels/{WINS}/messages");
    // Discord fails the first attempts: the first run cannot deliver before it is killed.
    lb.fail_next(&path, 500, 3);
    let start = |now: &str, log: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
            .arg("--db")
            .arg(db.arg())
            .args(["--now", now, "run", "--dev-guild", &REAL_GUILD.to_string()])
            .env_remove("RALLY_DB")
            .env("DISCORD_TOKEN", "test-token")
            .env("RALLY_DISCORD_API", lb.url())
            .env("RALLY_LOG", "warn,rally=info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(db.dir().join(log)).expect("log file"))
            .spawn()
            .expect("start rally run")
    };
    let attempts = || lb.requests().into_iter().filter(|r| r.method == "POST" && r.path.ends_with(&path)).count();
    let mut first = start("2026-11-27T09:02:00Z", "first.log");
    wait_for("a failed attempt at the celebration", &db.dir().join("first.log"), || attempts() > 0).await;
    first.kill().expect("SIGKILL rally run");
    first.wait().expect("reap");
    assert_eq!(celebration_state(&db), (1, 1, 0), "celebrated once, queued, not delivered");
    assert!(lb.channel_messages(WINS).is_empty());

    // Discord recovers after what failures are left; the restarted run retries through them.
    let mut second = start("2026-11-27T09:04:00Z", "second.log");
    wait_for("the celebration delivered", &db.dir().join("second.log"), || celebration_state(&db).2 == 1).await;
    second.kill().expect("SIGKILL rally run");
    second.wait().expect("reap");
    assert_eq!(celebration_state(&db), (1, 1, 1));
    let wins = posts(&lb, WINS);
    assert_eq!(wins.len(), 1, "{wins:#?}");
    assert!(wins[0].contains("12,000.00 USD"), "{wins:#?}");
    strict(&lb);
}
