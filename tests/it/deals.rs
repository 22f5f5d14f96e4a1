//! The deal pipeline through the shared slash-command pipeline: stages, deals and their history,
//! one `won` activity per won deal, funnels against hand-computed numbers, mentor suggestions, and
//! the reads the forecast builds on.

use std::cell::Cell;

use chrono::NaiveDate;
use rally::app::deals::{DealFilter, FunnelSubject};
use rally::domain::period::{Period, PeriodSpec};
use rally::domain::pipeline::Outcome;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch};

use crate::helpers::*;

const NOW: &str = "2026-11-27T15:00:00Z"; // a Friday
const BOSS: u64 = 9;
const ANN: u64 = 42;
const BOB: u64 = 43;
const CY: u64 = 44;

/// One guild on a fresh database; every interaction gets a new id unless a test repeats one.
struct Guild {
    t: TestApp,
    guild: u64,
    next: Cell<u64>,
}

impl Guild {
    fn new() -> Guild {
        Guild { t: spawn_app(), guild: 1, next: Cell::new(1_000) }
    }

    fn invocation(&self, id: u64, user: u64, line: &str) -> Invocation {
        let name = match user {
            ANN => "Ann",
            BOB => "Bob",
            CY => "Cy",
            BOSS => "Boss",
            _ => "Someone",
        };
        Invocation {
            id,
            guild: rally::domain::activity::Snowflake::new(self.guild).unwrap(),
            channel: Some(7),
            user: rally::domain::activity::Snowflake::new(user).unwrap(),
            user_name: name.to_string(),
            roles: Vec::new(),
            permissions: if user == BOSS { MANAGE_GUILD } else { 0 },
            app_permissions: None,
            resolved_users: vec![(ANN, "Ann".into()), (BOB, "Bob".into()), (CY, "Cy".into())],
            locale: None,
            action: Action::Command(cmdline::parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message))),
        }
    }

    async fn run_with_id(&self, id: u64, user: u64, at_time: &str, line: &str) -> Message {
        let response = dispatch(&self.t.app, &self.invocation(id, user, line), at(at_time)).await;
        assert_eq!(rally::handlers::limits::check(&response), Ok(()), "{line}");
        match response {
            Response::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    async fn run_at(&self, user: u64, at_time: &str, line: &str) -> String {
        self.next.set(self.next.get() + 1);
        text(&self.run_with_id(self.next.get(), user, at_time, line).await)
    }

    async fn run(&self, user: u64, line: &str) -> String {
        self.run_at(user, NOW, line).await
    }

    /// Runs a line that must succeed.
    async fn ok_at(&self, user: u64, at_time: &str, line: &str) -> String {
        let reply = self.run_at(user, at_time, line).await;
        assert!(!reply.starts_with("⚠️"), "{line} failed: {reply}");
        reply
    }

    async fn audit(&self) -> i64 {
        self.t.app.store.audit_count(self.guild as i64).await.unwrap()
    }

    async fn deals(&self, user: u64) -> Vec<rally::store::DealRecord> {
        let filter = DealFilter { user: Some(id(user)), ..DealFilter::default() };
        self.t.app.list_deals(id(self.guild), filter, |n| Ok(0..n)).await.unwrap().deals
    }
}

fn text(m: &rally::handlers::Message) -> String {
    message_text(m)
}

/// The cells of the funnel table's row for a step.
fn cells<'a>(reply: &'a str, step: &str) -> Vec<&'a str> {
    let line = reply.lines().find(|l| l.starts_with(step)).unwrap_or_else(|| panic!("no row `{step}` in {reply}"));
    line[step.len()..].split_whitespace().collect()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn a_deal_moves_back_and_forth_and_winning_it_logs_exactly_one_won_activity() {
    let g = Guild::new();
    let reply =
        g.ok_at(ANN, "2026-11-20T10:00:00Z", "/deal open name:\"Acme renewal\" value:12,500.00 close:2026-12-15").await;
    assert_eq!(
        reply,
        "✅ Opened **Acme renewal** · 12,500.00\u{a0}USD · **lead** (10 %) · expected to close 2026-12-15\n\
         Move it with `/deal move`, close it with `/deal won` or `/deal lost`."
    );
    let reply = g.ok_at(ANN, "2026-11-21T10:00:00Z", "/deal move deal:\"acme RENEWAL\" stage:demo").await;
    assert_eq!(reply, "➡️ **Acme renewal** moved from **lead** to **demo** (40 %) · 12,500.00\u{a0}USD");
    // Backwards is allowed and recorded.
    g.ok_at(ANN, "2026-11-22T10:00:00Z", "/deal move deal:\"Acme renewal\" stage:qualified").await;
    let same = g.ok_at(ANN, "2026-11-22T11:00:00Z", "/deal move deal:\"Acme renewal\" stage:qualified").await;
    assert_eq!(same, "**Acme renewal** is in **qualified** (25 %) already.");

    let before = g.audit().await;
    let won = g.run_with_id(77, ANN, NOW, "/deal won deal:\"Acme renewal\" value:11800").await;
    assert!(won.ephemeral);
    assert_eq!(
        won.content.as_deref(),
        Some("🏆 Won **Acme renewal** at 11,800.00\u{a0}USD after 7 days · logged as a `won` activity.")
    );
    // A redelivered interaction changes nothing.
    let again = g.run_with_id(77, ANN, NOW, "/deal won deal:\"Acme renewal\" value:11800").await;
    assert!(again.content.unwrap().starts_with("🏆 Already Won **Acme renewal**"));
    assert_eq!(g.audit().await, before + 2, "one audit row for the activity and one for the deal");

    let activities = g.t.app.store.activities_between(1, day("2026-11-01"), day("2026-12-01")).await.unwrap();
    assert_eq!(activities.len(), 1, "one record, not two: {activities:?}");
    let a = &activities[0];
    assert_eq!((a.kind.as_str(), a.amount, a.deal_ref.as_deref()), ("won", Some(1_180_000), Some("Acme renewal")));
    assert_eq!((a.source.as_str(), a.idem_key.as_str(), a.points), ("slash", "interaction:77", 20));

    let deal = g.t.app.store.deals(1, rally::store::DealQuery { limit: 10, ..Default::default() }).await.unwrap();
    let deal = &deal[0];
    assert_eq!((deal.outcome, deal.value, deal.stage.as_str()), (Some(Outcome::Won), 1_180_000, "won"));
    assert_eq!(deal.won_activity, Some(a.id));
    let history = g.t.app.store.deal_history(1, deal.id).await.unwrap();
    let stages: Vec<(&str, i64, String)> =
        history.iter().map(|(s, p, t)| (s.as_str(), *p, t.format("%m-%d").to_string())).collect();
    assert_eq!(
        stages,
        [
            ("lead", 1, "11-20".to_string()),
            ("demo", 3, "11-21".into()),
            ("qualified", 2, "11-22".into()),
            ("won", 6, "11-27".into())
        ]
    );
    let totals = g.t.app.member_totals(id(1), id(ANN), &month(&g).await).await.unwrap();
    assert_eq!((totals.revenue, totals.deals_won()), (1_180_000, 1));
    assert!(g.t.app.store.verify_rollups(Some(1)).await.unwrap().is_empty());
}

async fn month(g: &Guild) -> Period {
    let settings = g.t.app.settings(id(g.guild)).await.unwrap();
    Period::resolve(&PeriodSpec::Month { year: 2026, month: 11 }, &settings, at(NOW)).unwrap()
}

#[tokio::test]
async fn a_lost_deal_keeps_its_reason_and_logs_a_lost_activity_for_the_win_rate() {
    let g = Guild::new();
    g.ok_at(ANN, "2026-11-25T10:00:00Z", "/deal open name:Globex value:900 stage:proposal").await;
    let reply = g.ok_at(ANN, NOW, "/deal lost deal:Globex reason:\"went with a competitor\"").await;
    assert_eq!(reply, "Marked **Globex** lost after 2 days · went with a competitor.");
    let deal = &g.t.app.store.deals(1, rally::store::DealQuery { limit: 5, ..Default::default() }).await.unwrap()[0];
    assert_eq!(
        (deal.outcome, deal.lost_reason.as_deref(), deal.won_activity),
        (Some(Outcome::Lost), Some("went with a competitor"), None)
    );
    let totals = g.t.app.member_totals(id(1), id(ANN), &month(&g).await).await.unwrap();
    assert_eq!((totals.deals_lost(), totals.revenue, totals.points), (1, 0, 0));
    // The name is free again for a new open deal.
    g.ok_at(ANN, NOW, "/deal open name:Globex value:900").await;
}

#[tokio::test]
async fn bad_deal_input_gets_a_clear_private_error_and_writes_nothing() {
    let g = Guild::new();
    g.ok_at(ANN, NOW, "/deal open name:Acme value:100 stage:demo").await;
    g.ok_at(BOB, NOW, "/deal open name:Bobs value:100").await;
    let before = g.audit().await;
    let cases = [
        ("/deal open name:Acme value:5", "⚠️ you already have an open deal named `Acme`; pick another name"),
        ("/deal open name:ACME value:5", "⚠️ you already have an open deal named `ACME`; pick another name"),
        ("/deal open name:New value:-5", "⚠️ an amount cannot be negative"),
        (
            "/deal open name:New value:lots",
            "⚠️ `lots` is not an amount: `l` does not belong in one. Write amounts like 1,250.50 or 1250.50",
        ),
        (
            "/deal open name:New value:1 close:2026-13-01",
            "⚠️ `2026-13-01` is not a date; write the close date like 2026-12-15",
        ),
        (
            "/deal open name:New value:1 close:15.12.2026",
            "⚠️ `15.12.2026` is not a date; write the close date like 2026-12-15",
        ),
        (
            "/deal open name:New value:1 close:2026-11-26",
            "⚠️ the expected close date 2026-11-26 is in the past (today is 2026-11-27)",
        ),
        (
            "/deal open name:New value:1 stage:pilot",
            "⚠️ there is no stage `pilot`; the open stages are lead, qualified, demo, proposal, negotiation",
        ),
        ("/deal open name:New value:1 stage:won", "⚠️ `won` closes a deal; use `/deal won` for that"),
        ("/deal open name:\"  \" value:1", "⚠️ a deal needs a name"),
        ("/deal move deal:Nope stage:demo", "⚠️ you have no open deal named `Nope`"),
        ("/deal move deal:Bobs stage:demo", "⚠️ you have no open deal named `Bobs`"),
        ("/deal move deal:Acme stage:lost", "⚠️ `lost` closes a deal; use `/deal lost` for that"),
        ("/deal won deal:Bobs", "⚠️ you have no open deal named `Bobs`"),
        (
            "/deal won deal:Acme value:1.234",
            "⚠️ `1.234` has 3 decimals, but USD has 2; in the 1.234,56 format it would mean 1,234.00\u{a0}USD. Write amounts like 1,250.50 or 1250.50",
        ),
        ("/deal lost deal:Nope", "⚠️ you have no open deal named `Nope`"),
        ("/deal list user:<@43>", "⚠️ only managers can list other reps' deals; `/deal list` shows yours"),
        ("/deal list team:Alpha", "⚠️ only managers can list other reps' deals; `/deal list` shows yours"),
        (
            "/deal stage-set stage:pilot probability:50",
            "⚠️ this command is for managers (Manage Server permission or the manager role set in /settings)",
        ),
        (
            "/deal stage-remove stage:demo",
            "⚠️ this command is for managers (Manage Server permission or the manager role set in /settings)",
        ),
        (
            "/funnel user:<@43>",
            "⚠️ only managers can see another rep's, a team's or the server's funnel; `/funnel` shows yours",
        ),
        (
            "/funnel period:someday",
            "⚠️ `someday` is not a period. Try today, yesterday, this-week, last-month, this-quarter, this-year, 2026-10, 2026-W44, 2026-Q4, 2026, FY2026 or 2026-10-01..2026-10-15",
        ),
        (
            "/mentor suggest",
            "⚠️ this command is for managers (Manage Server permission or the manager role set in /settings)",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(g.run(ANN, line).await, want, "{line}");
    }
    let boss_cases = [
        ("/deal stage-remove stage:won", "⚠️ `won` closes deals and cannot be removed"),
        ("/deal stage-remove stage:demo", "⚠️ 1 open deal sits in `demo`; move it to another stage first"),
        ("/deal stage-remove stage:nope", "⚠️ there is no stage `nope`"),
        (
            "/deal stage-set stage:lost probability:5",
            "⚠️ `lost` is a closing stage (won 100 %, lost 0 %) and cannot be changed",
        ),
        ("/deal stage-set stage:pilot probability:50 position:9", "⚠️ the position must be between 1 and 6"),
        (
            "/deal stage-set stage:\"two words\" probability:50",
            "⚠️ `two words` is not a valid stage name (1-32 letters, digits, - or _)",
        ),
        (
            "/deal list team:Nowhere",
            "⚠️ there is no team named `Nowhere`; there are no teams yet (create one with /team create)",
        ),
        ("/deal list user:<@43> team:Alpha", "⚠️ list a rep's deals or a team's, not both"),
        (
            "/funnel team:Nowhere",
            "⚠️ there is no team named `Nowhere`; there are no teams yet (create one with /team create)",
        ),
    ];
    for (line, want) in boss_cases {
        assert_eq!(g.run(BOSS, line).await, want, "{line}");
    }
    // Values the command line cannot produce but a forged payload could.
    let mut forged = g.invocation(5_000, BOSS, "/deal stage-set stage:pilot probability:50");
    if let Action::Command(call) = &mut forged.action {
        call.options.retain(|(n, _)| n != "probability");
        call.options.push(("probability".into(), rally::handlers::OptionValue::Integer(500)));
        call.options.push(("position".into(), rally::handlers::OptionValue::Integer(-3)));
    }
    let Response::Message(m) = dispatch(&g.t.app, &forged, at(NOW)).await else { panic!() };
    assert_eq!(m.content.as_deref(), Some("⚠️ a probability is 0 to 100 %, not 500"));
    assert_eq!(g.audit().await, before, "nothing was written");
}

#[tokio::test]
async fn managers_configure_stages_which_are_seeded_lazily_per_guild() {
    let g = Guild::new();
    let shown = g.ok_at(ANN, NOW, "/deal stages").await;
    assert!(shown.contains("1. **lead** · 10 %\n2. **qualified** · 25 %"), "{shown}");
    assert!(shown.contains("6. **won** · 100 % · closes as won\n7. **lost** · 0 % · closes as lost"), "{shown}");
    assert_eq!(g.audit().await, 0, "reading the defaults writes nothing");

    let saved = g.ok_at(BOSS, NOW, "/deal stage-set stage:Discovery probability:15 position:2").await;
    assert!(saved.contains("1. **lead** · 10 %\n2. **discovery** · 15 %\n3. **qualified** · 25 %"), "{saved}");
    g.ok_at(BOSS, NOW, "/deal stage-set stage:demo probability:45").await;
    let removed = g.ok_at(BOSS, NOW, "/deal stage-remove stage:negotiation").await;
    assert!(removed.contains("4. **demo** · 45 %\n5. **proposal** · 60 %\n6. **won** · 100 %"), "{removed}");
    // A deal opened now starts in the first stage and may use the new one.
    g.ok_at(ANN, NOW, "/deal open name:Initech value:10 stage:discovery").await;
    assert_eq!(g.deals(ANN).await[0].probability, 15);

    // Another guild still has the defaults.
    let other = Guild { guild: 2, ..Guild::new() };
    let pipeline = other.t.app.pipeline(id(2)).await.unwrap();
    assert_eq!(pipeline.stages().len(), 7);
    let pipeline = g.t.app.pipeline(id(2)).await.unwrap();
    assert!(pipeline.get("negotiation").is_some(), "guild 2 of the same database is untouched");
}

#[tokio::test]
async fn reps_list_their_own_deals_and_managers_list_a_reps_or_a_teams() {
    let g = Guild::new();
    g.ok_at(BOSS, NOW, "/team create name:Alpha").await;
    g.ok_at(BOSS, NOW, "/team add team:Alpha user:<@42>").await;
    g.ok_at(ANN, NOW, "/deal open name:Acme value:1000 close:2026-12-15").await;
    g.ok_at(ANN, NOW, "/deal open name:Beta value:3000 stage:proposal close:2026-12-01").await;
    g.ok_at(BOB, NOW, "/deal open name:Bobs value:50").await;

    let mine = g.ok_at(ANN, NOW, "/deal list").await;
    assert!(mine.contains("Your open deals"), "{mine}");
    let beta = mine.find("Beta").unwrap();
    assert!(beta < mine.find("Acme").unwrap(), "soonest close first: {mine}");
    assert!(!mine.contains("Bobs"));
    assert!(mine.contains("2 deals · 4,000.00\u{a0}USD in total · 1,900.00\u{a0}USD weighted by stage"), "{mine}");

    let team = g.ok_at(BOSS, NOW, "/deal list team:alpha").await;
    assert!(team.contains("Team alpha open deals") && team.contains("Ann") && !team.contains("Bobs"), "{team}");
    let bob = g.ok_at(BOSS, NOW, "/deal list user:<@43>").await;
    assert!(bob.contains("Bob's open deals") && bob.contains("Bobs"), "{bob}");
    let in_stage = g.ok_at(ANN, NOW, "/deal list stage:proposal").await;
    assert!(in_stage.contains("Beta") && !in_stage.contains("Acme"), "{in_stage}");
    g.ok_at(ANN, NOW, "/deal won deal:Beta").await;
    let won = g.ok_at(ANN, NOW, "/deal list stage:won").await;
    assert!(won.contains("Your won deals") && won.contains("Beta") && won.contains("2026-11-27"), "{won}");
    assert_eq!(g.ok_at(CY, NOW, "/deal list").await, "Your open deals: none. Open one with `/deal open`.");
}

#[tokio::test]
async fn a_long_deal_list_fits_discord_in_pages_that_reach_every_deal() {
    let g = Guild::new();
    for i in 0..230 {
        g.ok_at(ANN, NOW, &format!("/deal open name:\"Deal number {i:03} {}\" value:9999999.99", "x".repeat(60))).await;
    }
    let mut seen = 0;
    for page in 1..=12 {
        let list = g.ok_at(ANN, NOW, &format!("/deal list page:{page}")).await;
        assert!(list.contains(&format!("Page {page} of 12")) && list.contains("230 deals"), "{list}");
        assert!(!list.contains("… and "), "a page holds its deals whole: {list}");
        seen += list.lines().filter(|l| l.starts_with("Deal number")).count();
    }
    assert_eq!(seen, 230);
}

/// Team Alpha: Ann and Bob sell, Cy has no deals yet. Hand-computed funnel in the comments.
async fn alpha_with_deals() -> Guild {
    let g = Guild::new();
    for line in ["/team create name:Alpha", "/team add team:Alpha user:<@42>", "/team add team:Alpha user:<@43>"] {
        g.ok_at(BOSS, "2026-11-01T08:00:00Z", line).await;
    }
    g.ok_at(BOSS, "2026-11-01T08:00:00Z", "/team add team:Alpha user:<@44>").await;
    let script: &[(u64, &str, &str)] = &[
        // Ann. A1: lead, lost after 2 days.
        (ANN, "2026-11-02T10:00:00Z", "/deal open name:A1 value:1000"),
        (ANN, "2026-11-04T10:00:00Z", "/deal lost deal:A1"),
        // A2: lead -> qualified, lost after 4 days.
        (ANN, "2026-11-03T10:00:00Z", "/deal open name:A2 value:1000"),
        (ANN, "2026-11-04T10:00:00Z", "/deal move deal:A2 stage:qualified"),
        (ANN, "2026-11-07T10:00:00Z", "/deal lost deal:A2"),
        // A3: lead, won after 10 days at 10,000.
        (ANN, "2026-11-05T10:00:00Z", "/deal open name:A3 value:9000"),
        (ANN, "2026-11-15T10:00:00Z", "/deal won deal:A3 value:10000"),
        // A4: lead, open.
        (ANN, "2026-11-06T10:00:00Z", "/deal open name:A4 value:5000 close:2026-12-15"),
        // Bob. B1: qualified -> demo, won after 5 days at 20,000.
        (BOB, "2026-11-02T10:00:00Z", "/deal open name:B1 value:20000 stage:qualified"),
        (BOB, "2026-11-03T10:00:00Z", "/deal move deal:B1 stage:demo"),
        (BOB, "2026-11-07T10:00:00Z", "/deal won deal:B1"),
        // B2: lead -> qualified, won after 6 days at 10,000.
        (BOB, "2026-11-03T10:00:00Z", "/deal open name:B2 value:10000"),
        (BOB, "2026-11-05T10:00:00Z", "/deal move deal:B2 stage:qualified"),
        (BOB, "2026-11-09T10:00:00Z", "/deal won deal:B2"),
        // B3: lead -> proposal, skipping qualified and demo; open.
        (BOB, "2026-11-04T10:00:00Z", "/deal open name:B3 value:8000 close:2026-12-20"),
        (BOB, "2026-11-06T10:00:00Z", "/deal move deal:B3 stage:proposal"),
        // B4: lead -> qualified, lost after 3 days.
        (BOB, "2026-11-05T10:00:00Z", "/deal open name:B4 value:1000"),
        (BOB, "2026-11-06T10:00:00Z", "/deal move deal:B4 stage:qualified"),
        (BOB, "2026-11-08T10:00:00Z", "/deal lost deal:B4"),
    ];
    for (user, when, line) in script {
        g.ok_at(*user, when, line).await;
    }
    g
}

#[tokio::test]
async fn the_funnel_matches_hand_computed_numbers_including_a_deal_that_skipped_stages() {
    let g = alpha_with_deals().await;
    let spec = PeriodSpec::Month { year: 2026, month: 11 };
    let r = g.t.app.funnel(id(1), FunnelSubject::Rep(id(ANN)), &spec, at(NOW)).await.unwrap();
    let steps = |s: &rally::domain::pipeline::FunnelStats| -> Vec<(u64, u64)> {
        s.steps.iter().map(|x| (x.reached_to, x.reached_from)).collect()
    };
    // Ann reached: lead 4, qualified 2 (A2, A3), demo 1, proposal 1, negotiation 1, won 1.
    assert_eq!(steps(&r.mine), [(2, 4), (1, 2), (1, 1), (1, 1), (1, 1)]);
    // Team: lead 8, qualified 6 (B3 skipped it but counts), demo 4, proposal 4, negotiation 3, won 3.
    assert_eq!(steps(&r.theirs), [(6, 8), (4, 6), (4, 4), (3, 4), (3, 3)]);
    assert_eq!(r.benchmark, "team Alpha");
    assert_eq!(r.mine.win_rate().map(|w| (w.num, w.den)), Some((1, 3)));
    assert_eq!(r.theirs.win_rate().map(|w| (w.num, w.den)), Some((3, 6)));
    assert_eq!(r.mine.average_deal_size(), Some(1_000_000));
    // (2,000,000 + 1,000,000 + 1,000,000) / 3, rounded half up.
    assert_eq!(r.theirs.average_deal_size(), Some(1_333_333));
    // Ann: (2 + 4 + 10) / 3 days; team: (2 + 4 + 10 + 5 + 6 + 3) / 6 days.
    assert!((r.mine.average_cycle_days().unwrap() - 16.0 / 3.0).abs() < 1e-9);
    assert!((r.theirs.average_cycle_days().unwrap() - 5.0).abs() < 1e-9);
    // Ann: 1 open × 1/3 × 1,000,000 / (16/3) = 62,500; team per rep: 2 × 1/2 × 1,333,333 / 5 / 2 reps.
    assert!((r.my_velocity.unwrap() - 62_500.0).abs() < 1e-6);
    assert!((r.their_velocity.unwrap() - 133_333.3).abs() < 1e-6);
    // Only lead -> qualified has the 3 deals it takes to judge Ann: 2/4 against 6/8.
    let gap = r.gap.as_ref().unwrap();
    assert_eq!((gap.step.label(), gap.points_below()), ("lead → qualified".to_string(), 25.0));

    let reply = g.ok_at(ANN, NOW, "/funnel period:2026-11").await;
    for want in [
        "Funnel · Ann · 2026-11 · 1 Nov – 30 Nov 2026",
        "Win rate: 33% (1/3) · team Alpha: 50% (3/6)",
        "Average deal size: 10,000.00\u{a0}USD · team Alpha: 13,333.33\u{a0}USD",
        "Average cycle (open → closed): 5.3 days · team Alpha: 5.0 days",
        "Sales velocity: 625.00\u{a0}USD/day · team Alpha: 1,333.33\u{a0}USD/day (per rep)",
        "Furthest below: **lead → qualified**: 2/4 50% against 6/8 75% for team Alpha, 25 points below.",
    ] {
        assert!(reply.contains(want), "missing `{want}` in:\n{reply}");
    }
    assert_eq!(cells(&reply, "lead → qualified"), ["2/4", "50%", "6/8", "75%"]);
    assert_eq!(cells(&reply, "demo → proposal"), ["1/1", "100%", "4/4", "100%"]);
    assert_eq!(cells(&reply, "negotiation → won"), ["1/1", "100%", "3/3", "100%"]);
    // A manager sees a team next to all teams, or another rep next to their team.
    let team = g.ok_at(BOSS, NOW, "/funnel team:Alpha period:2026-11").await;
    assert!(team.contains("Funnel · team Alpha") && team.contains("all teams"), "{team}");
    let bob = g.ok_at(BOSS, NOW, "/funnel user:<@43> period:2026-11").await;
    assert!(
        bob.contains("**proposal → negotiation**: 2/3 66% against 3/4 75% for team Alpha, 9 points below."),
        "{bob}"
    );
    // The cohort is the deals opened in the period: October has none.
    let empty = g.ok_at(ANN, NOW, "/funnel period:2026-10").await;
    assert!(empty.contains("No deals opened in this period for Ann."), "{empty}");
}

#[tokio::test]
async fn mentor_pairs_each_rep_with_the_teammate_who_converts_best_at_their_weakest_stage() {
    let g = alpha_with_deals().await;
    let reply = g.ok_at(BOSS, NOW, "/mentor suggest team:Alpha").await;
    for want in [
        "Mentor suggestions · deals opened last 365 days · 28 Nov 2025 – 27 Nov 2026",
        "**Alpha**",
        // Ann is judged at lead -> qualified only (3+ deals); Bob converts all 4 of his there.
        "• **Ann** converts worst at *lead → qualified*: 2/4 (50%) → ask **Bob**: 4/4 (100%)",
        // Bob's worst with 3+ deals is proposal -> negotiation (2/3); Ann has too few deals there.
        "• **Bob** converts worst at *proposal → negotiation*: 2/3 (66%) → no teammate converts better there yet",
        "• not enough deals yet: Cy",
    ] {
        assert!(reply.contains(want), "missing `{want}` in:\n{reply}");
    }
    let all = g.ok_at(BOSS, NOW, "/mentor suggest period:2026-11").await;
    assert!(all.contains("ask **Bob**: 4/4 (100%)"), "{all}");
    let none = g.ok_at(BOSS, NOW, "/mentor suggest period:2026-10").await;
    assert!(none.contains("• not enough deals yet: Ann, Bob, Cy"), "{none}");
}

#[tokio::test]
async fn the_forecast_reads_open_deals_with_probabilities_and_won_revenue_per_day() {
    let g = alpha_with_deals().await;
    let open = g.t.app.open_pipeline(id(1), None).await.unwrap();
    let got: Vec<(&str, i64, u8, Option<NaiveDate>)> =
        open.iter().map(|d| (d.name.as_str(), d.value, d.probability, d.expected_close)).collect();
    assert_eq!(got, [("A4", 500_000, 10, Some(day("2026-12-15"))), ("B3", 800_000, 60, Some(day("2026-12-20")))]);
    assert_eq!(g.t.app.open_pipeline(id(1), Some("alpha")).await.unwrap().len(), 2);
    let won = g.t.app.won_revenue_by_day(id(1), Some("Alpha"), &month(&g).await).await.unwrap();
    assert_eq!(won, [(day("2026-11-07"), 2_000_000), (day("2026-11-09"), 1_000_000), (day("2026-11-15"), 1_000_000)]);
    assert!(g.t.app.open_pipeline(id(2), None).await.unwrap().is_empty(), "another guild sees nothing");
    assert!(g.t.app.won_revenue_by_day(id(2), None, &month(&g).await).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deal_stays_with_the_team_it_was_opened_under_when_its_rep_moves() {
    let g = alpha_with_deals().await;
    g.ok_at(BOSS, NOW, "/team create name:Bravo").await;
    g.ok_at(BOSS, NOW, "/team add team:Bravo user:<@42>").await;
    let alpha = g.ok_at(BOSS, NOW, "/deal list team:Alpha").await;
    assert!(alpha.contains("A4") && alpha.contains("B3"), "{alpha}");
    assert!(g.t.app.open_pipeline(id(1), Some("Bravo")).await.unwrap().is_empty());
    // Ann's own funnel follows her; her benchmark is now her new team, which opened nothing yet.
    let r =
        g.t.app
            .funnel(id(1), FunnelSubject::Rep(id(ANN)), &PeriodSpec::Month { year: 2026, month: 11 }, at(NOW))
            .await
            .unwrap();
    assert_eq!((r.mine.deals, r.benchmark.as_str(), r.theirs.deals), (4, "team Bravo", 0));
}

#[tokio::test]
async fn deal_autocomplete_offers_only_my_open_deals_and_stage_autocomplete_the_stages() {
    let g = Guild::new();
    g.ok_at(ANN, NOW, "/deal open name:Acme value:1000").await;
    g.ok_at(ANN, NOW, "/deal open name:Closed value:1000").await;
    g.ok_at(ANN, NOW, "/deal won deal:Closed").await;
    g.ok_at(BOB, NOW, "/deal open name:Bobs value:1000").await;
    let complete = |user: u64, line: &str, focused: &str| {
        let mut inv = g.invocation(9_000, user, line);
        let Action::Command(call) = inv.action.clone() else { unreachable!() };
        inv.action = Action::Autocomplete { call, focused: focused.into() };
        inv
    };
    let Response::Choices(choices) = dispatch(&g.t.app, &complete(ANN, "/deal won deal:\"\"", "deal"), at(NOW)).await
    else {
        panic!()
    };
    let got: Vec<(&str, &str)> = choices.iter().map(|c| (c.name.as_str(), c.value.as_str())).collect();
    assert_eq!(got, [("Acme · lead · 1,000.00\u{a0}USD", "Acme")]);
    let Response::Choices(stages) =
        dispatch(&g.t.app, &complete(ANN, "/deal move deal:Acme stage:pro", "stage"), at(NOW)).await
    else {
        panic!()
    };
    assert_eq!(stages.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(), ["proposal"]);
    let Response::Choices(all) = dispatch(&g.t.app, &complete(ANN, "/deal list stage:\"\"", "stage"), at(NOW)).await
    else {
        panic!()
    };
    assert_eq!(all.len(), 7, "listing may ask for won and lost too");
}

#[tokio::test]
async fn a_stage_where_most_reps_fall_below_the_servers_own_rate_is_the_process_not_one_rep() {
    let g = Guild::new();
    for line in ["/team create name:Alpha", "/team add team:Alpha user:<@42>", "/team add team:Alpha user:<@43>"] {
        g.ok_at(BOSS, "2026-09-01T08:00:00Z", line).await;
    }
    // October: Ann qualifies all four of her leads, so the server's rate at lead → qualified over
    // the year before November is 4/4.
    for i in 1..=4 {
        g.ok_at(ANN, &format!("2026-10-0{i}T10:00:00Z"), &format!("/deal open name:O{i} value:1000")).await;
        g.ok_at(ANN, &format!("2026-10-0{i}T12:00:00Z"), &format!("/deal move deal:O{i} stage:qualified")).await;
    }
    // November: Ann qualifies 1 of 3 leads, Bob 2 of 3: both below 4/4.
    for (user, name, qualified) in [(ANN, "N", 1), (BOB, "M", 2)] {
        for i in 1..=3 {
            g.ok_at(user, &format!("2026-11-0{}T10:00:00Z", i + 1), &format!("/deal open name:{name}{i} value:1000"))
                .await;
            if i <= qualified {
                g.ok_at(
                    user,
                    &format!("2026-11-0{}T12:00:00Z", i + 1),
                    &format!("/deal move deal:{name}{i} stage:qualified"),
                )
                .await;
            }
        }
    }
    let team = g.ok_at(BOSS, NOW, "/funnel team:Alpha period:2026-11").await;
    let flag = "The process, not one rep · team Alpha: **lead → qualified** (3/6 50%): 2 of 2 reps convert below \
                the server's rate of the year before (100%)";
    assert!(team.contains(flag), "{team}");
    // Ann's own gap is at that stage: the reply says it is not hers alone.
    let ann = g.ok_at(BOSS, NOW, "/funnel user:<@42> period:2026-11").await;
    assert!(ann.contains("**lead → qualified**: 1/3 33% against 3/6 50% for team Alpha"), "{ann}");
    assert!(ann.contains("The whole team stalls there too: the process, not one rep."), "{ann}");
    // Mentoring pairs nobody on it: without the flag Ann would be sent to Bob there.
    let mentor = g.ok_at(BOSS, NOW, "/mentor suggest team:Alpha period:2026-11").await;
    assert!(
        mentor.contains(
            "• *lead → qualified*: the process, not one rep (2 of 2 reps convert below the server's rate of the \
             year before (100%)); left out of the pairings"
        ),
        "{mentor}"
    );
    assert!(!mentor.contains("ask **Bob**") && !mentor.contains("not enough deals yet"), "{mentor}");
    // The whole server's funnel: November next to the server's own year before, flagged the same.
    let server = g.ok_at(BOSS, NOW, "/funnel server:true period:2026-11").await;
    assert!(server.contains("Funnel · the server · "), "{server}");
    assert_eq!(cells(&server, "lead → qualified"), ["3/6", "50%", "4/4", "100%"], "{server}");
    assert!(server.contains("**lead → qualified**: 3/6 50% against 4/4 100% for the year before, 50"), "{server}");
    assert!(
        server.contains(
            "The process, not one rep · the server: **lead → qualified** (3/6 50%): 2 of 2 reps convert below the \
             server's rate of the year before (100%)"
        ),
        "{server}"
    );
    assert!(!server.contains("The whole team stalls"), "{server}");
    // Reps see only their own; the server's view takes no rep or team.
    let refused = g.run(ANN, "/funnel server:true").await;
    assert!(refused.contains("only managers can see another rep's, a team's or the server's funnel"), "{refused}");
    let both = g.run(BOSS, "/funnel server:true team:Alpha").await;
    assert!(both.contains("leave out the rep or team"), "{both}");
    // October against the year before it (no deals): nothing to flag.
    let october = g.ok_at(BOSS, NOW, "/funnel team:Alpha period:2026-10").await;
    assert!(!october.contains("the process, not one rep"), "{october}");
}
