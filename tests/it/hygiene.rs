//! Pipeline hygiene (issue 17) through the shared pipeline: each rule at its boundary in the
//! guild's timezone, the manager's `/hygiene` view and `/forecast`'s split against hand-computed
//! figures, `/hygiene rules`, the hygiene schedule's DM (each breach told once) and its buttons,
//! and a button pressed in a DM through the real serenity client.

use std::sync::Arc;

use rally::app::hygiene::DealCheck;
use rally::domain::activity::Snowflake;
use rally::domain::hygiene::{Facts, Rule};
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch};
use rally::loopback::{Loopback, openapi_for_tests, payload};
use rally::scheduler::Scheduler;
use serde_json::Value;

use crate::helpers::*;

const BOSS: u64 = 9;
const ANN: u64 = 42;
const BOB: u64 = 43;
const CY: u64 = 44;
/// A Friday.
const NOW: &str = "2026-11-27T15:00:00Z";
const USD: &str = "\u{a0}USD";

struct Guild {
    app: rally::app::App,
    guild: u64,
    next: std::cell::Cell<u64>,
}

impl Guild {
    fn new(app: rally::app::App, guild: u64) -> Guild {
        Guild { app, guild, next: std::cell::Cell::new(1_000) }
    }

    fn invocation(&self, user: u64, action: Action) -> Invocation {
        self.next.set(self.next.get() + 1);
        Invocation {
            id: self.next.get(),
            guild: Snowflake::new(self.guild).unwrap(),
            channel: Some(7),
            user: Snowflake::new(user).unwrap(),
            user_name: format!("rep{user}"),
            roles: Vec::new(),
            permissions: if user == BOSS { MANAGE_GUILD } else { 0 },
            app_permissions: None,
            resolved_users: Vec::new(),
            locale: None,
            action,
        }
    }

    async fn message(&self, user: u64, now: &str, action: Action) -> Message {
        let response = dispatch(&self.app, &self.invocation(user, action), at(now)).await;
        assert_eq!(rally::handlers::limits::check(&response), Ok(()));
        match response {
            Response::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    async fn run(&self, user: u64, now: &str, line: &str) -> Message {
        let call = cmdline::parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message));
        self.message(user, now, Action::Command(call)).await
    }

    async fn ok(&self, user: u64, now: &str, line: &str) -> String {
        let reply = message_text(&self.run(user, now, line).await);
        assert!(!reply.trim_start().starts_with("⚠️"), "{line}: {reply}");
        reply
    }

    async fn press(&self, user: u64, now: &str, custom_id: &str) -> String {
        message_text(&self.message(user, now, Action::Button { custom_id: custom_id.to_string() }).await)
    }

    async fn checks(&self, now: &str) -> Vec<DealCheck> {
        self.app.hygiene_checks(Snowflake::new(self.guild).unwrap(), at(now)).await.unwrap()
    }

    /// The rules the deal named `name` breaks at `now`, with their facts.
    async fn facts(&self, name: &str, now: &str) -> Vec<Facts> {
        let checks = self.checks(now).await;
        let check = checks.iter().find(|c| c.deal.name == name).unwrap_or_else(|| panic!("no open deal {name}"));
        check.breaches.iter().map(|b| b.facts.clone()).collect()
    }
}

fn rules(facts: &[Facts]) -> Vec<Rule> {
    facts
        .iter()
        .map(|f| match f {
            Facts::Overdue { .. } => Rule::Overdue,
            Facts::Stale { .. } => Rule::Stale,
            Facts::MissingData { .. } => Rule::MissingData,
            Facts::MovedBack { .. } => Rule::MovedBack,
            Facts::NoNextActivity { .. } => Rule::NoNextActivity,
        })
        .collect()
}

#[tokio::test]
async fn a_close_date_of_today_in_berlin_is_not_overdue_and_one_of_yesterday_is_even_before_midnight_utc() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    g.ok(BOSS, "2026-11-19T10:00:00Z", "/settings timezone timezone:Europe/Berlin").await;
    g.ok(ANN, "2026-11-19T10:00:00Z", "/deal open name:Acme value:1000 close:2026-11-20").await;
    // 23:59 on the 20th in Berlin: due today.
    assert!(g.facts("Acme", "2026-11-20T22:59:00Z").await.is_empty());
    // 00:30 on the 21st in Berlin, still the 20th in UTC: one day overdue.
    assert_eq!(
        g.facts("Acme", "2026-11-20T23:30:00Z").await,
        vec![Facts::Overdue { expected_close: "2026-11-20".parse().unwrap(), days: 1 }]
    );
}

#[tokio::test]
async fn a_deal_untouched_for_its_stages_limit_goes_stale_on_the_next_local_day_across_the_dst_change() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    g.ok(BOSS, "2026-10-15T09:00:00Z", "/settings timezone timezone:Europe/Berlin").await;
    g.ok(BOSS, "2026-10-15T09:00:00Z", "/hygiene rules stale-days:6 stage:demo").await;
    // Opened (its one stage change) at 00:30 CEST on 22 October; Berlin leaves summer time on the
    // 25th, so the 6 local days to 23:45 CET on the 28th are 7 days and 15 minutes of clock time.
    g.ok(ANN, "2026-10-21T22:30:00Z", "/deal open name:Acme value:1000 stage:demo close:2026-12-31").await;
    assert!(g.facts("Acme", "2026-10-28T22:45:00Z").await.is_empty());
    let stale = g.facts("Acme", "2026-10-28T23:15:00Z").await;
    assert!(matches!(stale.as_slice(), [Facts::Stale { days: 7, limit: 6, .. }]), "{stale:?}");
    // Another stage keeps the default of 14 days; a call on the deal resets the count.
    g.ok(ANN, "2026-10-21T22:31:00Z", "/deal open name:Beta value:1000 stage:proposal close:2026-12-31").await;
    assert!(g.facts("Beta", "2026-11-04T22:45:00Z").await.is_empty());
    assert_eq!(rules(&g.facts("Beta", "2026-11-05T23:15:00Z").await), vec![Rule::Stale]);
    g.ok(ANN, "2026-10-29T10:00:00Z", "/log kind:call deal:Acme").await;
    assert!(g.facts("Acme", "2026-11-04T10:00:00Z").await.is_empty(), "touched on the 29th");
}

#[tokio::test]
async fn a_deal_moved_back_breaks_the_rule_once_and_moving_it_forward_keeps_that_state() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    g.ok(ANN, "2026-11-23T10:00:00Z", "/deal open name:Acme value:1000 stage:negotiation close:2026-12-31").await;
    g.ok(ANN, "2026-11-24T10:00:00Z", "/deal move deal:Acme stage:demo").await;
    let moved = g.facts("Acme", "2026-11-25T10:00:00Z").await;
    assert_eq!(moved, vec![Facts::MovedBack { from: 5, to: 3, entered_at: at("2026-11-24T10:00:00Z") }]);
    g.ok(ANN, "2026-11-25T11:00:00Z", "/deal move deal:Acme stage:proposal").await;
    assert_eq!(g.facts("Acme", "2026-11-26T10:00:00Z").await, moved, "the backward step is what broke the rule");
    // A deal only ever moved forward breaks nothing.
    g.ok(ANN, "2026-11-23T10:00:00Z", "/deal open name:Beta value:1000 stage:lead close:2026-12-31").await;
    g.ok(ANN, "2026-11-24T10:00:00Z", "/deal move deal:Beta stage:demo").await;
    assert!(g.facts("Beta", "2026-11-25T10:00:00Z").await.is_empty());
}

/// Team Alpha (Ann), team Bravo (Bob), Cy on no team, in UTC; five open deals at `NOW` (Fri 27 Nov):
///
/// | deal  | owner | value     | stage (prob.)    | close  | breaks                   | weighted |
/// |-------|-------|-----------|------------------|--------|--------------------------|----------|
/// | Acme  | Ann   | 10,000.00 | proposal (60 %)  | 20 Nov | overdue 7 d, stale 25 d  | 6,000.00 |
/// | Beta  | Ann   |  5,000.00 | demo (40 %)      | 30 Nov | — (call on 26 Nov)       | 2,000.00 |
/// | Gamma | Bob   |      0.00 | lead (10 %)      | 28 Nov | missing data (value)     |     0.00 |
/// | Delta | Bob   | 20,000.00 | proposal (60 %)  | 15 Dec | moved back (negotiation) |12,000.00 |
/// | Echo  | Cy    |  3,000.00 | qualified (25 %) | —      | missing data (close)     |   750.00 |
///
/// `/hygiene show` runs on Fri 20 Nov too, when Acme and Beta were both stale (18 days) and Acme
/// due that day.
async fn crowd(g: &Guild) {
    let early = "2026-11-02T10:00:00Z";
    g.ok(BOSS, early, "/team create name:Alpha").await;
    g.ok(BOSS, early, "/team create name:Bravo").await;
    g.ok(BOSS, early, &format!("/team add team:Alpha user:<@{ANN}>")).await;
    g.ok(BOSS, early, &format!("/team add team:Bravo user:<@{BOB}>")).await;
    g.ok(BOSS, early, "/settings working-hours hours:\"09:00-18:00\"").await;
    g.ok(ANN, early, "/deal open name:Acme value:10000 stage:proposal close:2026-11-20").await;
    g.ok(ANN, early, "/deal open name:Beta value:5000 stage:demo close:2026-11-30").await;
    let week_ago = g.run(BOSS, "2026-11-20T15:00:00Z", "/hygiene show").await;
    let text = message_text(&week_ago);
    assert!(text.contains("**2** of 2 open deals break a rule"), "{text}");
    assert!(text.contains("No trend yet"), "{text}");
    let later = "2026-11-25T10:00:00Z";
    g.ok(BOB, later, "/deal open name:Gamma value:0 stage:lead close:2026-11-28").await;
    g.ok(BOB, later, "/deal open name:Delta value:20000 stage:negotiation close:2026-12-15").await;
    g.ok(CY, later, "/deal open name:Echo value:3000 stage:qualified").await;
    g.ok(BOB, "2026-11-26T10:00:00Z", "/deal move deal:Delta stage:proposal").await;
    g.ok(ANN, "2026-11-26T10:00:00Z", "/log kind:call deal:Beta").await;
}

fn field<'a>(m: &'a Message, name: &str) -> &'a str {
    let fields = &m.embeds[0].fields;
    fields.iter().find(|f| f.name == name).map(|f| f.value.as_str()).unwrap_or_else(|| panic!("no field {name}: {m:?}"))
}

#[tokio::test]
async fn the_managers_view_adds_up_each_rule_per_team_and_rep_with_the_forecast_share_and_the_weeks_trend() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    crowd(&g).await;
    let m = g.run(BOSS, NOW, "/hygiene show").await;
    let description = m.embeds[0].description.clone().unwrap();
    // Open: 38,000.00, weighted 20,750.00; broken: Acme, Gamma, Delta, Echo = 33,000.00, weighted
    // 18,750.00 (90.36 %).
    assert!(
        description.contains(&format!(
            "**4** of 5 open deals break a rule: **33,000.00{USD}** of 38,000.00{USD} in pipeline (90% of the weighted pipeline)."
        )),
        "{description}"
    );
    // This month from Fri 27 Nov: Acme (overdue: today) 6,000.00 + Beta 2,000.00 + Gamma 0; Delta
    // closes in December, Echo has no date. Flagged: Acme and Gamma, 6,000.00 = 75 %.
    assert!(
        description
            .contains(&format!("**75%** of this month's forecast (6,000.00{USD} of 8,000.00{USD}) rests on them.")),
        "{description}"
    );
    assert!(
        description
            .contains(&format!("Since Fri 20 Nov: 2 → 4 deals breaking a rule (+2) · 15,000.00{USD} → 33,000.00{USD}")),
        "{description}"
    );
    assert_eq!(field(&m, "Overdue"), format!("1 deal · 10,000.00{USD} (was 0)"), "Acme was due that very day");
    assert_eq!(field(&m, "Stale"), format!("1 deal · 10,000.00{USD} (was 2)"));
    assert_eq!(field(&m, "Missing data"), format!("2 deals · 3,000.00{USD} (was 0)"));
    assert_eq!(field(&m, "Moved back"), format!("1 deal · 20,000.00{USD} (was 0)"));
    assert_eq!(field(&m, "No next activity"), format!("0 deals · 0.00{USD}"));
    assert_eq!(
        field(&m, "Teams"),
        format!(
            "**Alpha** · 1 of 2 open · 10,000.00{USD} (75% of weighted) · overdue 1 (10,000.00{USD}), stale 1 (10,000.00{USD}) (was 2)\n\
             **Bravo** · 2 of 2 open · 20,000.00{USD} (100% of weighted) · missing-data 1 (0.00{USD}), moved-back 1 (20,000.00{USD}) (was 0)\n\
             **No team** · 1 of 1 open · 3,000.00{USD} (100% of weighted) · missing-data 1 (3,000.00{USD}) (was 0)"
        )
    );
    assert_eq!(
        field(&m, "Reps"),
        format!(
            "**rep43** · 2 of 2 open · 20,000.00{USD} (100% of weighted) · missing-data 1 (0.00{USD}), moved-back 1 (20,000.00{USD}) (was 0)\n\
             **rep42** · 1 of 2 open · 10,000.00{USD} (75% of weighted) · overdue 1 (10,000.00{USD}), stale 1 (10,000.00{USD}) (was 2)\n\
             **rep44** · 1 of 1 open · 3,000.00{USD} (100% of weighted) · missing-data 1 (3,000.00{USD}) (was 0)"
        )
    );
    // One team: its deals only, and no team or rep trend from the guild's figures.
    let bravo = g.run(BOSS, NOW, "/hygiene show team:Bravo").await;
    let text = message_text(&bravo);
    assert!(text.contains("**2** of 2 open deals break a rule"), "{text}");
    assert!(text.contains("Since Fri 20 Nov: 0 → 2 deals"), "{text}");
    // Reps may not see it.
    let refused = message_text(&g.run(ANN, NOW, "/hygiene show").await);
    assert!(refused.contains("this command is for managers"), "{refused}");
}

#[tokio::test]
async fn the_forecast_shows_the_weighted_pipeline_on_overdue_or_stale_deals() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    crowd(&g).await;
    let report =
        t.app.forecast(Snowflake::new(1).unwrap(), None, &rally::domain::period::PeriodSpec::ThisMonth, at(NOW));
    let f = report.await.unwrap().forecast;
    // Counted this month: Acme 6,000.00 (overdue and stale), Beta 2,000.00, Gamma 0.
    assert_eq!((f.weighted_open, f.weighted_overdue_or_stale, f.deals_overdue_or_stale), (800_000, 600_000, 1));
    let m = g.run(BOSS, NOW, "/forecast").await;
    assert_eq!(field(&m, "On overdue or stale deals"), format!("6,000.00{USD} (75% · 1 deal)"));
    // Once Acme's date is pushed and it is worked on, nothing rests on such deals.
    g.ok(ANN, NOW, "/log kind:call deal:Acme").await;
    let custom_id = format!("hyg:week:1:{}:2026-11-20", deal_id(&g, "Acme").await);
    assert!(g.press(ANN, NOW, &custom_id).await.contains("now closes Fri 4 Dec 2026"));
    let m = g.run(BOSS, NOW, "/forecast").await;
    assert_eq!(field(&m, "On overdue or stale deals"), format!("0.00{USD} (0% · 0 deals)"));
}

#[tokio::test]
async fn a_manager_changes_the_rules_and_bad_input_changes_nothing() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    let shown = g.ok(BOSS, NOW, "/hygiene rules").await;
    assert!(shown.contains("✅ **stale** — no stage change and no activity for more than 14 days"), "{shown}");
    let changed = g.ok(BOSS, NOW, "/hygiene rules rule:missing-data on:false").await;
    assert!(changed.contains("⏸️ **missing-data**"), "{changed}");
    let changed = g.ok(BOSS, NOW, "/hygiene rules stale-days:5 stage:Demo").await;
    assert!(changed.contains("more than 14 days (demo: 5)"), "{changed}");
    for (line, error) in [
        ("/hygiene rules stale-days:5 stage:pitch", "there is no stage `pitch`"),
        ("/hygiene rules stale-days:5 stage:won", "`won` closes deals; only open stages can go stale"),
        ("/hygiene rules rule:stale", "add on:true or on:false"),
        ("/hygiene rules stage:demo", "give stale-days to set `demo`'s limit"),
        ("/hygiene rules stage:lead reset:true", "`lead` has no stale limit of its own"),
        ("/hygiene rules rule:stale on:false stale-days:3", "one change at a time"),
    ] {
        let reply = message_text(&g.run(BOSS, NOW, line).await);
        assert!(reply.starts_with("⚠️") && reply.contains(error), "{line}: {reply}");
    }
    let after = g.ok(BOSS, NOW, "/hygiene rules").await;
    assert!(after.contains("more than 14 days (demo: 5)") && after.contains("⏸️ **missing-data**"), "{after}");
    let reset = g.ok(BOSS, NOW, "/hygiene rules stage:demo reset:true").await;
    assert!(reset.contains("for more than 14 days") && !reset.contains("demo: 5"), "{reset}");
    let refused = message_text(&g.run(ANN, NOW, "/hygiene rules rule:stale on:false").await);
    assert!(refused.contains("this command is for managers"), "{refused}");
}

fn http(url: &str) -> Arc<serenity::http::Http> {
    Arc::new(rally::discord::http_client("test-token", Some(url)))
}

/// Every custom_id and label of a DM's buttons, row by row.
fn button_rows(dm: &Value) -> Vec<Vec<(String, String)>> {
    dm["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            row["components"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    (
                        b["custom_id"].as_str().or(b["url"].as_str()).unwrap_or_default().to_string(),
                        b["label"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

fn shown(dm: &Value) -> String {
    let mut s = dm["content"].as_str().unwrap_or_default().to_string();
    for e in dm["embeds"].as_array().into_iter().flatten() {
        for key in ["title", "description"] {
            s.push_str(&format!("\n{}", e[key].as_str().unwrap_or_default()));
        }
    }
    s
}

#[tokio::test]
async fn the_hygiene_schedule_dms_each_owner_their_deals_once_per_deal_state_with_buttons() {
    let lb = Loopback::start(openapi_for_tests().as_deref()).await.unwrap();
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    crowd(&g).await;
    g.ok(BOSS, NOW, "/schedule add what:hygiene channel:<#555> at:\"weekdays 16:00\"").await;
    g.ok(BOB, NOW, "/nudges off").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-27T16:00:00Z")).await.unwrap();

    let ann = lb.dm_messages(ANN);
    assert_eq!(ann.len(), 1, "{ann:#?}");
    let text = shown(&ann[0]);
    assert!(text.contains("nothing logged for today (Fri 27 Nov)"), "Ann logged nothing on Friday: {text}");
    assert!(text.contains("🧹 rep42, 1 deal to tidy up"), "{text}");
    assert!(
        text.contains(&format!(
            "**1. Acme** · proposal · 10,000.00{USD} · closes Fri 20 Nov\n⏰ close date passed 7 days ago · \
             💤 no stage change or activity for 25 days (limit 14)"
        )),
        "{text}"
    );
    assert!(!text.contains("Beta"), "a healthy deal is not listed");
    let acme = deal_id(&g, "Acme").await;
    let labels: Vec<Vec<String>> =
        button_rows(&ann[0]).into_iter().map(|r| r.into_iter().map(|(_, l)| l).collect()).collect();
    assert_eq!(labels, vec![vec!["1 · +1 week", "1 · End of month", "1 · Lost", "1 · Next step"]]);
    assert_eq!(button_rows(&ann[0])[0][0].0, format!("hyg:week:1:{acme}:2026-11-20"));
    assert!(lb.dm_messages(BOB).is_empty(), "Bob turned nudges off");
    let cy = lb.dm_messages(CY);
    assert_eq!(cy.len(), 1, "Cy is on no team but owns a deal breaking a rule");
    let text = shown(&cy[0]);
    assert!(text.contains("**1. Echo** · qualified · 3,000.00") && text.contains("❓ no close date"), "{text}");
    assert!(!text.contains("nothing logged"), "reminders of an empty day are for team members: {text}");

    // Monday: nothing changed on the deals, so no rule fires again; Ann still gets her reminder.
    s.tick(at("2026-11-30T16:00:00Z")).await.unwrap();
    let ann = lb.dm_messages(ANN);
    assert_eq!(ann.len(), 2);
    assert!(ann[1]["embeds"].as_array().is_none_or(|e| e.is_empty()), "{:#?}", ann[1]);
    assert_eq!(lb.dm_messages(CY).len(), 1, "nothing new for Cy");

    // Pushing Acme's date makes a new state: overdue again a week later, and told again.
    g.press(ANN, "2026-11-30T17:00:00Z", &format!("hyg:week:1:{acme}:2026-11-20")).await;
    s.tick(at("2026-12-01T16:00:00Z")).await.unwrap();
    assert_eq!(lb.dm_messages(ANN).len(), 3);
    assert!(!shown(&lb.dm_messages(ANN)[2]).contains("Acme"), "due 7 Dec: not overdue, and stale was told");
    s.tick(at("2026-12-08T16:00:00Z")).await.unwrap();
    let last = shown(lb.dm_messages(ANN).last().unwrap());
    assert!(last.contains("⏰ close date passed 1 day ago") && !last.contains("💤"), "{last}");
    // Each run kept the day's figures: a week on, the trend compares with Tuesday's.
    let view = message_text(&g.run(BOSS, "2026-12-08T17:00:00Z", "/hygiene show").await);
    assert!(view.contains("Since Tue 1 Dec:"), "{view}");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn the_dm_buttons_push_the_close_date_once_mark_the_deal_lost_and_only_for_its_owner() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    crowd(&g).await;
    let acme = deal_id(&g, "Acme").await;
    let week = format!("hyg:week:1:{acme}:2026-11-20");
    assert_eq!(g.press(ANN, NOW, &week).await, "📅 `Acme` now closes Fri 4 Dec 2026.");
    assert_eq!(
        g.press(ANN, NOW, &week).await,
        "`Acme` already had its close date changed: it closes Fri 4 Dec 2026.",
        "a second press pushes nothing"
    );
    let beta = deal_id(&g, "Beta").await;
    assert_eq!(
        g.press(ANN, NOW, &format!("hyg:eom:1:{beta}:2026-11-30")).await,
        "📅 `Beta` now closes Thu 31 Dec 2026.",
        "due on the month's last day: the next month's end"
    );
    let echo = deal_id(&g, "Echo").await;
    let stolen = g.press(ANN, NOW, &format!("hyg:lost:1:{echo}")).await;
    assert!(stolen.contains("not one of yours"), "{stolen}");
    assert!(g.checks(NOW).await.iter().any(|c| c.deal.name == "Echo"), "still open");
    let lost = g.press(CY, NOW, &format!("hyg:lost:1:{echo}")).await;
    assert!(lost.starts_with("❌ `Echo` is marked lost"), "{lost}");
    assert!(!g.checks(NOW).await.iter().any(|c| c.deal.name == "Echo"));
    let again = g.press(CY, NOW, &format!("hyg:lost:1:{echo}")).await;
    assert!(again.contains("already lost"), "{again}");
    for forged in ["hyg:week:2:1:2026-11-20", "hyg:week:1:x:-", "hyg:nope:1:1", "hyg:week:1:999999:-"] {
        let reply = g.press(ANN, NOW, forged).await;
        assert!(reply.starts_with("⚠️"), "{forged}: {reply}");
    }
}

/// A next-step form submitted by `user` as interaction `id`.
async fn submit(g: &Guild, user: u64, id: u64, deal: i64, what: &str, due: &str) -> String {
    let action = Action::ModalSubmit {
        custom_id: format!("hyg:step:1:{deal}"),
        fields: vec![("what".into(), what.into()), ("due".into(), due.into())],
    };
    let inv = Invocation { id, ..g.invocation(user, action) };
    let response = dispatch(&g.app, &inv, at(NOW)).await;
    assert_eq!(rally::handlers::limits::check(&response), Ok(()));
    match response {
        Response::Message(m) => message_text(&m),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_next_step_button_opens_a_form_whose_submission_records_the_step_once_for_the_owner() {
    let t = spawn_app();
    let g = Guild::new(t.app.clone(), 1);
    crowd(&g).await;
    g.ok(BOSS, NOW, "/settings timezone timezone:Pacific/Auckland").await;
    let acme = deal_id(&g, "Acme").await;
    assert_eq!(rules(&g.facts("Acme", NOW).await), vec![Rule::Overdue, Rule::Stale]);

    // The button opens a form (type 9): what (required) and when it is due (optional).
    let press = g.invocation(ANN, Action::Button { custom_id: format!("hyg:next:1:{acme}") });
    let response = dispatch(&g.app, &press, at(NOW)).await;
    assert_eq!(rally::handlers::limits::check(&response), Ok(()));
    let body = rally::discord::render::interaction_json(&response);
    assert_eq!(body["type"], 9, "{body}");
    assert_eq!(body["data"]["custom_id"], format!("hyg:step:1:{acme}"));
    assert_eq!(body["data"]["title"], "Next step · Acme");
    let inputs: Vec<&Value> =
        body["data"]["components"].as_array().unwrap().iter().map(|row| &row["components"][0]).collect();
    assert_eq!(inputs.len(), 2, "{body}");
    assert_eq!((inputs[0]["custom_id"].as_str(), inputs[0]["required"].as_bool()), (Some("what"), Some(true)));
    assert_eq!(inputs[0]["max_length"], 200);
    assert_eq!((inputs[1]["custom_id"].as_str(), inputs[1]["required"].as_bool()), (Some("due"), Some(false)));
    assert_eq!(
        rally::discord::render::text(&response),
        "(a form) Next step · Acme: [What's next?*] [Due (today, tomorrow or 2026-12-15)]\n"
    );
    // Someone else gets no form.
    let stolen = g.press(BOB, NOW, &format!("hyg:next:1:{acme}")).await;
    assert!(stolen.contains("not one of yours"), "{stolen}");

    // A bad date, an empty step or someone else's submission change nothing.
    for (user, what, due, says) in [
        (ANN, "demo with their CTO", "next friday", "is not a date"),
        (ANN, "demo with their CTO", "2026-11-27", "has passed"),
        (ANN, "  ", "", "say what the next step is"),
        (BOB, "demo with their CTO", "", "not one of yours"),
    ] {
        let reply = submit(&g, user, 7_000, acme, what, due).await;
        assert!(reply.starts_with("⚠️") && reply.contains(says), "{what} {due}: {reply}");
    }
    assert_eq!(rules(&g.facts("Acme", NOW).await), vec![Rule::Overdue, Rule::Stale]);

    // Ann's step is recorded (the due date in Auckland, where it is already Saturday the 28th), and
    // the deal counts as worked on: no longer stale, still overdue.
    let done = submit(&g, ANN, 7_000, acme, " demo with their CTO ", "tomorrow").await;
    assert_eq!(
        done,
        "📝 Next step on `Acme`: `demo with their CTO`, due Sun 29 Nov 2026. The deal counts as worked on today."
    );
    assert_eq!(rules(&g.facts("Acme", NOW).await), vec![Rule::Overdue]);
    // The same submission again (a redelivery) records nothing and tells the first step.
    let again = submit(&g, ANN, 7_000, acme, "something else", "").await;
    assert_eq!(
        again,
        "That form was already sent: the next step on `Acme` is `demo with their CTO`, due Sun 29 Nov 2026."
    );
    // Forged forms are refused.
    for forged in ["hyg:step:2:1", "hyg:step:1:x", "nope:1", "hyg:step:1:999999"] {
        let action = Action::ModalSubmit { custom_id: forged.into(), fields: Vec::new() };
        let reply = message_text(&g.message(ANN, NOW, action).await);
        assert!(reply.starts_with("⚠️"), "{forged}: {reply}");
    }
}

async fn deal_id(g: &Guild, name: &str) -> i64 {
    g.checks(NOW).await.into_iter().find(|c| c.deal.name == name).unwrap().deal.id
}

#[tokio::test]
async fn a_hygiene_button_pressed_in_a_dm_is_answered_through_serenity() {
    use crate::e2e::{GUILD, WAIT, rally_run};
    let lb = crate::e2e::loopback().await;
    let db = TestDb::new();
    let g = Guild::new(db.app(), GUILD);
    g.ok(BOSS, "2026-11-02T10:00:00Z", "/team create name:Alpha").await;
    g.ok(BOSS, "2026-11-02T10:00:00Z", &format!("/team add team:Alpha user:<@{ANN}>")).await;
    g.ok(ANN, "2026-11-02T10:00:00Z", "/deal open name:Acme value:10000 stage:proposal close:2026-11-20").await;
    g.ok(BOSS, "2026-11-27T14:00:00Z", "/schedule add what:hygiene channel:<#555> at:\"weekdays 15:00\"").await;
    Scheduler::new(g.app.clone(), http(&lb.url())).tick(at(NOW)).await.unwrap();
    let dm = lb.dm_messages(ANN).pop().expect("Ann's hygiene DM");
    let (custom_id, label) = button_rows(&dm)[0][0].clone();
    assert_eq!(label, "1 · +1 week");
    let channel = lb.dm_channel(ANN).expect("the DM channel");
    drop(g);

    let _bot = rally_run(&lb, &db).await;
    let answer = lb.interact(payload::dm_button(5_001, channel, ANN, "rep42", &custom_id), WAIT).await.unwrap();
    assert_eq!(answer.body["data"]["content"], "📅 `Acme` now closes Fri 4 Dec 2026.", "{}", answer.body);
    let deal = db.app().hygiene_checks(Snowflake::new(GUILD).unwrap(), at(NOW)).await.unwrap();
    assert_eq!(deal[0].deal.expected_close, Some("2026-12-04".parse().unwrap()));
    // Someone else pressing it (a forwarded message) changes nothing.
    let other = lb.interact(payload::dm_button(5_003, channel, BOB, "rep43", &custom_id), WAIT).await.unwrap();
    assert!(answer_text(&other.body).contains("not one of yours"), "{}", other.body);
    // Next step: the button opens a form (checked against Discord's description by the loopback),
    // and its submission records the step.
    let (next_id, label) = button_rows(&dm)[0][3].clone();
    assert_eq!(label, "1 · Next step");
    let form = lb.interact(payload::dm_button(5_005, channel, ANN, "rep42", &next_id), WAIT).await.unwrap();
    assert_eq!(form.body["type"], 9, "{}", form.body);
    let form_id = form.body["data"]["custom_id"].as_str().expect("the form's custom_id").to_string();
    let fields = [("what", "call their CFO"), ("due", "2026-12-01")];
    let sent = payload::dm_modal_submit(5_007, channel, ANN, "rep42", &form_id, &fields);
    let answer = lb.interact(sent.clone(), WAIT).await.unwrap();
    assert_eq!(
        answer_text(&answer.body),
        "📝 Next step on `Acme`: `call their CFO`, due Tue 1 Dec 2026. The deal counts as worked on today.",
        "{}",
        answer.body
    );
    let again = lb.interact(sent, WAIT).await.unwrap();
    assert!(answer_text(&again.body).starts_with("That form was already sent"), "{}", again.body);
    // The same through the HTTP interactions endpoint (`rally serve`): the form in the HTTP body.
    let served = crate::e2e::serve(&db, &lb.url()).await;
    let form = served.signed(&payload::dm_button(5_009, channel, ANN, "rep42", &next_id)).await;
    assert_eq!(
        (form["type"].as_u64(), form["data"]["custom_id"].as_str()),
        (Some(9), Some(form_id.as_str())),
        "{form}"
    );
    let fields = [("what", "send the contract"), ("due", "")];
    let step = served.signed(&payload::dm_modal_submit(5_011, channel, ANN, "rep42", &form_id, &fields)).await;
    assert_eq!(
        answer_text(&step),
        "📝 Next step on `Acme`: `send the contract`. The deal counts as worked on today.",
        "{step}"
    );
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

fn answer_text(body: &Value) -> String {
    body["data"]["content"].as_str().unwrap_or_default().to_string()
}
