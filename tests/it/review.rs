//! The review queue (issue 14): a kind's daily cap, the outlier rule and `/review`'s decisions,
//! through the shared pipeline (`handlers::dispatch`) and, once, the real serenity client.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rally::domain::period::PeriodSpec;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch};

use crate::helpers::*;

const GUILD: u64 = 5_000_000_000_000_001;
const NOW: &str = "2026-11-27T15:00:00Z"; // a Friday
const BOSS: u64 = 9;
const REP: u64 = 42;

fn invocation(n: u64, user: u64, permissions: u64, action: Action) -> Invocation {
    super::helpers::invocation(GUILD, user, 5_100_000_000_000_000 + n, permissions, action)
}

/// Runs commands and presses buttons through `dispatch`, each with an interaction id of its own.
struct Floor {
    t: TestApp,
    next: std::cell::Cell<u64>,
}

impl Floor {
    fn new() -> Floor {
        Floor { t: spawn_app(), next: std::cell::Cell::new(1) }
    }

    async fn send(&self, user: u64, action: Action, now: DateTime<Utc>) -> Message {
        let n = self.next.get();
        self.next.set(n + 1);
        let permissions = if user == BOSS { MANAGE_GUILD } else { 0 };
        match dispatch(&self.t.app, &invocation(n, user, permissions, action), now).await {
            Response::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    async fn run_at(&self, user: u64, line: &str, now: DateTime<Utc>) -> Message {
        self.send(user, Action::Command(cmdline::parse(line).unwrap()), now).await
    }

    async fn run(&self, user: u64, line: &str) -> Message {
        self.run_at(user, line, at(NOW)).await
    }

    /// The reply's text, with a failed command reported as the test's failure.
    async fn ok(&self, user: u64, line: &str) -> String {
        let text = message_text(&self.run(user, line).await);
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
        text
    }

    async fn press(&self, user: u64, custom_id: &str) -> String {
        message_text(&self.send(user, Action::Button { custom_id: custom_id.into() }, at(NOW)).await)
    }

    /// The week's points of one rep as reports and boards read them (from the rollups).
    async fn points(&self, user: u64) -> i64 {
        let r = self.t.app.report(id(GUILD), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
        r.members.iter().find(|m| m.user_id == user.to_string()).map_or(0, |m| m.points)
    }

    async fn rollups_exact(&self) {
        let mismatches = self.t.app.store.verify_rollups(Some(GUILD as i64)).await.unwrap();
        assert!(mismatches.is_empty(), "rollups differ from a recomputation: {mismatches:#?}");
    }

    /// The audit trail's (actor, action, target) rows, oldest first.
    async fn audit(&self) -> Vec<(String, String, String)> {
        self.t.app.store.audit_trail(GUILD as i64).await.unwrap()
    }

    /// `/review`'s buttons' ids, in order.
    async fn review_buttons(&self) -> Vec<String> {
        self.run(BOSS, "/review").await.buttons.into_iter().map(|b| b.custom_id).collect()
    }
}

/// Logs `quantity` calls for `user` in chat, `days_ago` days before `NOW`.
async fn call(f: &Floor, user: u64, quantity: i64, days_ago: i64) -> String {
    let now = at(NOW) - chrono::Duration::days(days_ago);
    message_text(&f.run_at(user, &format!("/log kind:call count:{quantity}"), now).await)
}

#[tokio::test]
async fn a_daily_cap_accepts_a_day_exactly_at_the_cap_and_refuses_one_more_saying_what_is_left() {
    let f = Floor::new();
    let set = f.ok(BOSS, "/settings kind name:call daily-cap:10").await;
    assert_eq!(
        set,
        "Kind **call**: daily cap 10 per rep (their local day) · entries of 25 or more above 5× the rep's usual go to `/review`."
    );
    assert!(f.ok(REP, "/log kind:call count:6").await.starts_with("✅ Logged **6 × call**"));
    let over = f.run(REP, "/log kind:call count:5").await;
    assert_eq!(
        over.content.as_deref(),
        Some(
            "⚠️ `call` has a daily cap of 10 per rep and you have 6 that day, so 5 more would go over it: \
             you can log up to 4 more. Nothing was logged"
        )
    );
    assert!(f.ok(REP, "/log kind:call count:4").await.starts_with("✅ Logged **4 × call**"), "exactly the cap");
    let audit = f.audit().await.len();
    let full = f.run(REP, "/log kind:call count:1").await;
    assert_eq!(
        full.content.as_deref(),
        Some(
            "⚠️ `call` has a daily cap of 10 per rep and you have 10 that day: the cap is reached, so nothing was \
             logged. Ask a manager if it should be higher"
        )
    );
    assert_eq!(f.audit().await.len(), audit, "a refusal writes nothing");
    assert_eq!(f.points(REP).await, 10);
    // The cap is per rep and per kind.
    assert!(f.ok(43, "/log kind:call count:10").await.starts_with("✅"));
    assert!(f.ok(REP, "/log kind:email count:30").await.starts_with("✅"));
    // daily-cap:0 removes it; points and amount were never asked for.
    f.ok(BOSS, "/settings kind name:call daily-cap:0").await;
    assert!(f.ok(REP, "/log kind:call count:1").await.starts_with("✅ Logged **1 × call**"));
}

#[tokio::test]
async fn the_daily_cap_counts_the_rep_s_local_day_in_the_guild_s_timezone() {
    let f = Floor::new();
    f.ok(BOSS, "/settings timezone timezone:America/Los_Angeles").await;
    f.ok(BOSS, "/settings kind name:call daily-cap:10").await;
    // NOW is 07:00 in Los Angeles; 06:00 UTC the same UTC day was still Thursday evening there.
    assert!(f.ok(REP, "/log kind:call count:10 when:\"2026-11-26 22:00\"").await.contains("Thu 26 Nov 22:00"));
    // A new local day: another 10, though both are on 27 November in UTC.
    assert!(f.ok(REP, "/log kind:call count:10").await.starts_with("✅ Logged **10 × call**"));
    // Thursday, local, is full: one more back-dated to 23:59 there (07:59 UTC on Friday) is refused.
    let refused = f.run(REP, "/log kind:call count:1 when:\"2026-11-26 23:59\"").await;
    assert!(refused.content.unwrap().contains("you have 10 that day: the cap is reached"));
    let friday = f.run(REP, "/log kind:call count:1").await;
    assert!(friday.content.unwrap().contains("you have 10 that day"), "Friday is full as well");
    f.rollups_exact().await;
}

#[tokio::test]
async fn an_entry_above_five_times_the_rep_s_own_90th_percentile_is_flagged_and_one_at_it_is_not() {
    let f = Floor::new();
    // 31 days ago: outside the 30 days the rule reads, or the usual would be 10 (rank 10 of 11).
    call(&f, REP, 20, 31).await;
    // In the window: 1..=10, one a day. Nearest rank ⌈0.9 × 10⌉ = 9: the usual is 9, the bar 45.
    for q in 1..=10 {
        call(&f, REP, q, 11 - q).await;
    }
    let flagged = call(&f, REP, 46, 0).await;
    assert!(
        flagged.contains(
            "\n🔎 Flagged for a manager's review: 46 × call is more than 5× your usual (at most 9 per entry, \
             90th percentile of 30 days). It counts meanwhile."
        ),
        "{flagged}"
    );
    // The flagged 46 waits for review, so it does not raise the usual: 45 is exactly 5 × 9.
    let at_bar = call(&f, REP, 45, 0).await;
    assert!(!at_bar.contains("Flagged"), "{at_bar}");
    let review = message_text(&f.run(BOSS, "/review").await);
    assert!(
        review.contains("46 × call; their usual is at most 9 (90th percentile, 30 days) · counts meanwhile"),
        "{review}"
    );
    assert!(!review.contains("45 × call"), "{review}");
}

#[tokio::test]
async fn without_history_the_minimum_alone_decides_and_a_kind_can_set_or_switch_it_off() {
    let f = Floor::new();
    assert!(!call(&f, REP, 24, 0).await.contains("Flagged"), "below the default minimum of 25");
    let rep = 43;
    let first = call(&f, rep, 25, 0).await;
    assert!(
        first.contains(
            "🔎 Flagged for a manager's review: you logged no call in chat in the last 30 days, and entries of 25 or more \
             are reviewed."
        ),
        "{first}"
    );
    f.ok(BOSS, "/settings kind name:demo review-min:3").await;
    assert!(f.ok(44, "/log kind:demo count:3").await.contains("Flagged"));
    f.ok(BOSS, "/settings kind name:meeting review-min:0").await;
    assert!(!f.ok(44, "/log kind:meeting count:1000").await.contains("Flagged"), "review-min:0 turns it off");
    let show = message_text(&f.run(BOSS, "/settings show").await);
    assert!(show.contains("`call` 1 pt, review from 25"), "{show}");
    assert!(show.contains("`meeting` 3 pts, no review"), "{show}");
    assert!(show.contains("Flagged entries count: while pending"), "{show}");
}

#[tokio::test]
async fn flagged_entries_count_while_pending_by_default_and_a_removal_takes_one_back_exactly() {
    let f = Floor::new();
    call(&f, REP, 3, 2).await;
    call(&f, REP, 40, 0).await;
    assert_eq!(f.points(REP).await, 43, "it counts while it waits");
    let board = f.ok(BOSS, "/leaderboard").await;
    assert!(board.contains("rep42 — **43**"), "{board}");
    let buttons = f.review_buttons().await;
    assert_eq!(buttons.len(), 2);
    let removed = f.press(BOSS, &buttons[1]).await;
    assert!(
        removed.starts_with(
            "🗑️ Removed: **40 × call** by rep42 (Fri 27 Nov 15:00) no longer counts (−40 pts), as if undone."
        ),
        "{removed}"
    );
    assert!(removed.ends_with("Nothing else waits for review."), "{removed}");
    assert_eq!(f.points(REP).await, 3);
    assert!(f.ok(BOSS, "/leaderboard").await.contains("rep42 — **3**"));
    f.rollups_exact().await;
    assert_eq!(message_text(&f.run(BOSS, "/review").await), "✅ Nothing to review: no flagged entries are waiting.");
}

#[tokio::test]
async fn after_approval_counting_keeps_a_flagged_entry_off_totals_and_boards_until_a_manager_approves_it() {
    let f = Floor::new();
    let set = f.ok(BOSS, "/settings review counting:after-approval").await;
    assert_eq!(set, "🔎 Flagged entries now count only once a manager approves them in `/review`.");
    call(&f, REP, 2, 1).await;
    let logged = call(&f, REP, 40, 0).await;
    assert!(logged.contains("It counts once a manager approves it."), "{logged}");
    assert!(logged.contains("Today: **0 × call**"), "the held entry is not in today's totals: {logged}");
    assert_eq!(f.points(REP).await, 2);
    let board = f.ok(BOSS, "/leaderboard metric:call").await;
    assert!(board.contains("rep42 — **2**"), "{board}");
    f.rollups_exact().await;
    // The cap still sees the held 40: it was logged.
    f.ok(BOSS, "/settings kind name:call daily-cap:45").await;
    assert!(f.run(REP, "/log kind:call count:6").await.content.unwrap().contains("you have 40 that day"));

    let review = message_text(&f.run(BOSS, "/review").await);
    assert!(review.contains("not counted until approved"), "{review}");
    assert!(review.contains("Flagged entries count only once approved"), "{review}");
    let buttons = f.review_buttons().await;
    let approved = f.press(BOSS, &buttons[0]).await;
    assert_eq!(
        approved,
        "✅ Approved: **40 × call** by rep42 (Fri 27 Nov 15:00) counts. Nothing else waits for review."
    );
    assert_eq!(f.points(REP).await, 42);
    assert!(f.ok(BOSS, "/leaderboard metric:call").await.contains("rep42 — **42**"));
    f.rollups_exact().await;
}

#[tokio::test]
async fn removing_a_held_entry_soft_deletes_it_and_leaves_rollups_exact() {
    let f = Floor::new();
    f.ok(BOSS, "/settings review counting:after-approval").await;
    call(&f, REP, 1, 1).await;
    call(&f, REP, 30, 0).await;
    let buttons = f.review_buttons().await;
    let removed = f.press(BOSS, &buttons[1]).await;
    assert!(removed.starts_with("🗑️ Removed: **30 × call**"), "{removed}");
    assert_eq!(f.points(REP).await, 1);
    f.rollups_exact().await;
    let week = f.t.app.activities(id(GUILD), &PeriodSpec::ThisWeek, at(NOW)).await.unwrap().1;
    assert_eq!(week.len(), 1, "the removed entry is gone from exports like an undone one");
    // The rep's undo finds nothing of theirs left to take back but the 1 call.
    let undo = f.ok(REP, "/undo").await;
    assert!(undo.starts_with("↩️ Undone: **1 × call** (−1 pt)"), "one point, as `/log` says it: {undo}");
    f.rollups_exact().await;
}

#[tokio::test]
async fn undoing_a_held_entry_says_it_had_not_counted_and_takes_nothing_back() {
    let f = Floor::new();
    f.ok(BOSS, "/settings review counting:after-approval").await;
    call(&f, REP, 1, 1).await;
    let logged = call(&f, REP, 30, 0).await;
    assert!(logged.contains("(+30 pts once approved)"), "{logged}");
    let undo = f.ok(REP, "/undo").await;
    assert!(undo.starts_with("↩️ Undone: **30 × call** (it had not counted yet)"), "{undo}");
    assert_eq!(f.points(REP).await, 1);
    f.rollups_exact().await;
}

#[tokio::test]
async fn changing_the_counting_choice_moves_the_entries_waiting_now_in_or_out_of_the_totals() {
    let f = Floor::new();
    call(&f, REP, 30, 0).await;
    call(&f, 43, 50, 0).await;
    assert_eq!((f.points(REP).await, f.points(43).await), (30, 50));
    let set = f.ok(BOSS, "/settings review counting:after-approval").await;
    assert_eq!(
        set,
        "🔎 Flagged entries now count only once a manager approves them in `/review`. \
         The 2 entries waiting for review no longer count until approved."
    );
    assert_eq!((f.points(REP).await, f.points(43).await), (0, 0));
    f.rollups_exact().await;
    let again = f.ok(BOSS, "/settings review counting:after-approval").await;
    assert_eq!(
        again, "🔎 Flagged entries now count only once a manager approves them in `/review`.",
        "nothing moves twice"
    );
    let buttons = f.review_buttons().await;
    f.press(BOSS, &buttons[0]).await;
    let set = f.ok(BOSS, "/settings review counting:while-pending").await;
    assert!(set.ends_with("The 1 entry waiting for review count from now on."), "{set}");
    assert_eq!((f.points(REP).await, f.points(43).await), (30, 50));
    f.rollups_exact().await;
}

#[tokio::test]
async fn a_second_press_says_who_decided_and_changes_nothing() {
    let f = Floor::new();
    call(&f, REP, 30, 0).await;
    let buttons = f.review_buttons().await;
    f.press(BOSS, &buttons[0]).await;
    let audit = f.audit().await.len();
    let again = f.press(BOSS, &buttons[1]).await;
    assert_eq!(
        again,
        "ℹ️ **30 × call** by rep42 (Fri 27 Nov 15:00) was already approved by <@9> on Fri 27 Nov 15:00; nothing changed."
    );
    assert_eq!(f.audit().await.len(), audit);
    assert_eq!(f.points(REP).await, 30);
    // A rep who undid their flagged entry withdrew it: nothing left to decide.
    call(&f, 43, 30, 0).await;
    let buttons = f.review_buttons().await;
    f.ok(43, "/undo").await;
    let late = f.press(BOSS, &buttons[0]).await;
    assert!(late.contains("was undone by the rep on Fri 27 Nov 15:00 before review; nothing to decide."), "{late}");
    assert_eq!(f.points(43).await, 0);
    f.rollups_exact().await;
}

#[tokio::test]
async fn a_rep_pressing_a_review_button_is_refused_and_nothing_changes() {
    let f = Floor::new();
    call(&f, REP, 30, 0).await;
    let buttons = f.review_buttons().await;
    let audit = f.audit().await.len();
    for id in &buttons {
        let refused = f.press(REP, id).await;
        assert_eq!(
            refused,
            "⚠️ only managers (Manage Server permission or the manager role set in /settings) decide flagged entries"
        );
    }
    let refused = message_text(&f.run(REP, "/review").await);
    assert!(refused.starts_with("⚠️ this command is for managers"), "{refused}");
    assert_eq!(f.audit().await.len(), audit);
    assert_eq!(f.review_buttons().await, buttons, "still waiting");
    // Forged or stale ids: a clear error, and undo buttons still go to undo.
    assert!(f.press(BOSS, "review:approve:999999").await.starts_with("⚠️ there is no flagged entry #999999"));
    assert!(f.press(BOSS, "review:maybe:1").await.starts_with("⚠️ this button is not one rally knows"));
    let logged = f.run(REP, "/log kind:email").await;
    let undone = f.press(REP, &logged.buttons[0].custom_id).await;
    assert!(undone.starts_with("↩️ Undone: **1 × email**"), "{undone}");
}

#[tokio::test]
async fn every_flag_setting_and_decision_is_in_the_audit_log() {
    let f = Floor::new();
    f.ok(BOSS, "/settings kind name:call daily-cap:500").await;
    f.ok(BOSS, "/settings review counting:after-approval").await;
    call(&f, REP, 30, 0).await;
    call(&f, 43, 30, 0).await;
    let buttons = f.review_buttons().await;
    f.press(BOSS, &buttons[0]).await;
    f.press(BOSS, &buttons[3]).await;
    let audit = f.audit().await;
    let ids: Vec<String> = buttons.iter().map(|b| format!("activity:{}", b.rsplit(':').next().unwrap())).collect();
    let want = [
        ("user:9", "kind.limits", "kind:call".to_string()),
        ("user:9", "guild.review", format!("guild:{GUILD}")),
        ("rally", "activity.flag", ids[0].clone()),
        ("rally", "activity.flag", ids[2].clone()),
        ("user:9", "review.approve", ids[0].clone()),
        ("user:9", "activity.remove", ids[2].clone()),
        ("user:9", "review.remove", ids[2].clone()),
    ];
    for (actor, action, target) in want {
        assert!(
            audit.iter().any(|(a, x, t)| a == actor && x == action && *t == target),
            "no audit row {actor} {action} {target} in {audit:#?}"
        );
    }
    let decisions: Vec<&String> = audit.iter().map(|(_, x, _)| x).filter(|x| x.starts_with("review.")).collect();
    assert_eq!(decisions, ["review.approve", "review.remove"]);
}

#[tokio::test]
async fn review_lists_the_oldest_five_with_a_row_of_buttons_each_and_says_how_many_more() {
    let f = Floor::new();
    for rep in 1..=7u64 {
        call(&f, 100 + rep, 25 + rep as i64, 7 - rep as i64).await;
    }
    let m = f.run(BOSS, "/review").await;
    assert_eq!(m.buttons.len(), 10);
    assert_eq!(m.row_width, Some(2), "each entry's pair of buttons on its own row");
    assert_eq!(m.buttons[0].label, "Approve 1");
    assert_eq!(m.buttons[1].label, "Remove 1");
    let text = message_text(&m);
    assert!(text.contains("🔎 7 flagged entries to review"), "{text}");
    assert!(text.contains("**1.** rep101 · **26 × call** · Sat 21 Nov 15:00"), "oldest first: {text}");
    assert!(text.contains("**5.** rep105 · **30 × call**"), "{text}");
    assert!(!text.contains("rep106"), "{text}");
    assert!(text.contains("2 more after these: they move up as these are decided"), "{text}");
    let pressed = f.send(BOSS, Action::Button { custom_id: m.buttons[0].custom_id.clone() }, at(NOW)).await;
    assert!(pressed.update, "the list is redrawn in place");
    let decided = message_text(&pressed);
    assert!(
        decided.starts_with("✅ Approved: **26 × call** by rep101") && decided.contains("6 more waiting."),
        "{decided}"
    );
    assert!(decided.contains("**5.** rep106") && !decided.contains("rep101 ·"), "the next entry moved up: {decided}");
    let rendered = rally::discord::render::text(&Response::Message(m));
    assert!(rendered.contains("[Approve 1] [Remove 1]\n[Approve 2] [Remove 2]\n"), "{rendered}");
}

#[tokio::test]
async fn a_retried_flagged_log_is_answered_as_the_first_time_and_flagged_once() {
    let f = Floor::new();
    let inv = invocation(77, REP, 0, Action::Command(cmdline::parse("/log kind:call count:30").unwrap()));
    let first = dispatch(&f.t.app, &inv, at(NOW)).await;
    let again = dispatch(&f.t.app, &inv, at(NOW)).await;
    let (Response::Message(first), Response::Message(again)) = (first, again) else { panic!() };
    assert!(message_text(&first).contains("🔎 Flagged"));
    assert!(message_text(&again).contains("✅ Already Logged") && message_text(&again).contains("🔎 Flagged"));
    assert_eq!(f.review_buttons().await.len(), 2);
    assert_eq!(f.points(REP).await, 30);
}

#[tokio::test]
async fn setting_a_cap_needs_no_points_but_a_new_kind_still_does() {
    let f = Floor::new();
    f.ok(BOSS, "/settings kind name:upsell points:4 amount:true").await;
    let cap = f.ok(BOSS, "/settings kind name:upsell daily-cap:3 review-min:0").await;
    assert_eq!(cap, "Kind **upsell**: daily cap 3 per rep (their local day) · no outlier check.");
    let show = message_text(&f.run(BOSS, "/settings show").await);
    assert!(show.contains("`upsell` 4 pts + amount, cap 3/day, no review"), "points and amount kept: {show}");
    let new = f.run(BOSS, "/settings kind name:referral daily-cap:5").await;
    assert_eq!(new.content.as_deref(), Some("⚠️ `referral` is a new kind: give its points too (points:)"));
    let nothing = f.run(BOSS, "/settings kind name:call").await;
    assert_eq!(
        nothing.content.as_deref(),
        Some(
            "Kind **call** scores 1 point per activity · no daily cap · entries of 25 or more above 5× the rep's \
             usual go to `/review`. Change it with points:, amount:, daily-cap: or review-min:."
        )
    );
    let rep = f.run(REP, "/settings kind name:call daily-cap:1").await;
    assert!(rep.content.unwrap().starts_with("⚠️ this command is for managers"));
}

#[tokio::test]
async fn imports_are_systems_of_record_and_are_neither_capped_nor_flagged() {
    let f = Floor::new();
    f.ok(BOSS, "/settings kind name:call daily-cap:10").await;
    let csv = format!("{HEADER}2026-11-27T09:00:00Z,{REP},rep42,,call,500,,,crm-1\n");
    let summary = import(&f.t.app, GUILD, &csv, NOW).await;
    assert_eq!(summary.imported, 1, "{summary:?}");
    assert_eq!(f.points(REP).await, 500);
    assert!(f.review_buttons().await.is_empty());
    // Chat entries on that day meet the cap the imported calls already fill.
    assert!(f.run(REP, "/log kind:call").await.content.unwrap().contains("you have 500 that day"));
}

/// The real `rally run` (serenity's gateway client) against the loopback Discord: a rep's outlier
/// is flagged, a manager lists it and presses Approve, a second press and a rep's press change nothing.
#[tokio::test]
async fn a_manager_approves_a_flagged_entry_by_pressing_its_button_through_serenity() {
    use crate::e2e::{CHANNEL, GUILD as E2E_GUILD, WAIT, command, content, loopback, manager, rally_run, rep};
    use rally::loopback::payload;

    let lb = loopback().await;
    let db = crate::helpers::TestDb::new();
    let _bot = rally_run(&lb, &db).await;
    let logged = lb.interact(command(1, &rep(42), "/log kind:call count:30"), WAIT).await.unwrap();
    assert!(content(&logged.body).contains("🔎 Flagged for a manager's review"), "{}", logged.body);

    let review = lb.interact(command(2, &manager(9), "/review"), WAIT).await.unwrap();
    assert!(review.elapsed < Duration::from_secs(3));
    let embed = &review.body["data"]["embeds"][0];
    assert_eq!(embed["title"], "🔎 1 flagged entry to review", "{}", review.body);
    let row = review.body["data"]["components"][0]["components"].as_array().unwrap().clone();
    assert_eq!(row.len(), 2, "{}", review.body);
    assert_eq!((row[0]["label"].as_str(), row[1]["label"].as_str()), (Some("Approve 1"), Some("Remove 1")));
    let approve = row[0]["custom_id"].as_str().unwrap();
    let remove = row[1]["custom_id"].as_str().unwrap();

    let refused = lb.interact(payload::button(3, E2E_GUILD, CHANNEL, &rep(42), remove), WAIT).await.unwrap();
    assert!(content(&refused.body).starts_with("⚠️ only managers"), "{}", refused.body);
    let approved = lb.interact(payload::button(4, E2E_GUILD, CHANNEL, &manager(9), approve), WAIT).await.unwrap();
    assert!(content(&approved.body).starts_with("✅ Approved: **30 × call** by rep42"), "{}", approved.body);
    let again = lb.interact(payload::button(5, E2E_GUILD, CHANNEL, &manager(9), remove), WAIT).await.unwrap();
    assert!(content(&again.body).contains("was already approved by <@9>"), "{}", again.body);

    assert_eq!(crate::e2e::points(&db, 42).await, 30);
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
