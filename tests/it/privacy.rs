//! Money privacy (`/settings privacy money:everyone|managers`) through the shared pipeline: what a
//! rep sees, what a manager sees in a reply only they read, what `public:true` shows and what the
//! posts nobody asked for show (team summaries, competition standings and winners, milestones,
//! nudges), under both settings. Amounts are looked for as the guild formats them.
//!
//! Team Alpha: reps 42 and 43, manager 9. November 2026 (21 working days); at Wednesday the 25th,
//! 12:00 UTC, 17.4 of them are gone. Rep 42 won 12,500.00 against a goal of 20,000.00 (62 %); rep 43
//! won the deal Acme at 7,250.00; the team's 19,750.00 is 65 % of its 30,000.00.

use rally::handlers::{GROUP_MONEY_PRIVATE, MANAGE_GUILD, MONEY_PRIVATE, Message, Outgoing, Recipient, Response};
use rally::handlers::{dispatch, milestone_posts, scheduled_posts};

use crate::helpers::*;
use crate::slash::invocation;

const NOW: &str = "2026-11-25T12:00:00Z";
const MANAGER: u64 = 9;
const TEAM_CHANNEL: u64 = 777;
const SUMMARY_CHANNEL: u64 = 555;
const STANDINGS_CHANNEL: u64 = 556;
const NUDGE_CHANNEL: u64 = 557;

/// Rep 42's revenue and goal, rep 43's won deal, the team's revenue and goal.
const MINE: &str = "12,500.00";
const MY_GOAL: &str = "20,000.00";
const THEIRS: &str = "7,250.00";
const TEAM: &str = "19,750.00";
const TEAM_GOAL: &str = "30,000.00";

async fn run(t: &TestApp, id: u64, user: u64, line: &str) -> Message {
    let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
    match dispatch(&t.app, &invocation(id, user, permissions, line), at(NOW)).await {
        Response::Message(m) => {
            assert!(!m.content.as_deref().unwrap_or("").starts_with("⚠️"), "{line}: {:?}", m.content);
            m
        }
        other => panic!("{line}: expected a message, got {other:?}"),
    }
}

/// The guild above, with `money` privacy, a competition on revenue between the reps, and
/// schedules for a team summary, the standings and the team's nudges.
async fn alpha(money: &str) -> TestApp {
    let t = spawn_app();
    let setup = [
        (MANAGER, format!("/settings privacy money:{money}")),
        (MANAGER, "/team create name:Alpha".to_string()),
        (MANAGER, format!("/team channel team:Alpha channel:<#{TEAM_CHANNEL}>")),
        (MANAGER, "/team add team:Alpha user:<@42>".into()),
        (MANAGER, "/team add team:Alpha user:<@43>".into()),
        (MANAGER, "/comp plan team:Alpha rate:10".into()),
        (MANAGER, "/goal set scope:team team:Alpha metric:revenue target:30000 period:month".into()),
        (MANAGER, "/goal set scope:rep user:<@42> metric:revenue target:20000 period:month".into()),
        (
            MANAGER,
            "/compete create name:Dash metric:revenue between:reps scoring:total start:2026-11-01 end:2026-11-30"
                .into(),
        ),
        (
            MANAGER,
            format!(
                "/schedule add what:team-summary channel:<#{SUMMARY_CHANNEL}> at:\"weekdays 09:00\" team:Alpha \
                 period:this-month"
            ),
        ),
        (
            MANAGER,
            format!(
                "/schedule add what:competition channel:<#{STANDINGS_CHANNEL}> at:\"weekdays 17:00\" competition:Dash"
            ),
        ),
        (MANAGER, format!("/schedule add what:nudges channel:<#{NUDGE_CHANNEL}> at:\"weekdays 12:00\"")),
        (
            MANAGER,
            format!("/schedule add what:nudges channel:<#{NUDGE_CHANNEL}> at:\"weekdays 12:00\" to:team-channel"),
        ),
        (43, "/deal open name:Acme value:7250 stage:proposal".into()),
        (43, "/deal won deal:Acme".into()),
        // Last, so that it records the milestones: half of 42's goal and half of the team's.
        (42, "/log kind:won amount:12500".into()),
    ];
    for (i, (user, line)) in setup.iter().enumerate() {
        run(&t, 1 + i as u64, *user, line).await;
    }
    t
}

/// What a command shows, as one string.
async fn shows(t: &TestApp, id: u64, user: u64, line: &str) -> String {
    message_text(&run(t, id, user, line).await)
}

/// Every message the guild's schedules send at `slot`, with where they go.
async fn posts(t: &TestApp, what: &str) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for s in t.app.store.schedules(Some(1)).await.unwrap().iter().filter(|s| s.what == what) {
        out.extend(scheduled_posts(&t.app, s, at(NOW)).await.unwrap());
    }
    out
}

fn has(text: &str, amounts: &[&str]) {
    for a in amounts {
        assert!(text.contains(a), "{a} should show: {text}");
    }
}

fn lacks(text: &str, amounts: &[&str]) {
    for a in amounts {
        assert!(!text.contains(a), "{a} should not show: {text}");
    }
}

/// Where a message that leaves amounts out says so: once.
fn says_private_once(text: &str, note: &str) {
    assert_eq!(text.matches(note).count(), 1, "{text}");
}

#[tokio::test]
async fn under_money_everyone_reps_public_replies_and_posts_show_every_amount() {
    let t = alpha("everyone").await;
    let goals = shows(&t, 100, 42, "/goal list").await;
    has(&goals, &[MINE, MY_GOAL, TEAM, TEAM_GOAL]);
    has(&shows(&t, 101, 42, "/comp me").await, &[MINE, TEAM_GOAL]);
    let public = shows(&t, 102, MANAGER, "/kpi team team:Alpha period:this-month public:true").await;
    has(&public, &[MINE, THEIRS, TEAM, TEAM_GOAL]);
    has(&shows(&t, 103, 42, "/forecast team:Alpha").await, &[TEAM, TEAM_GOAL]);

    let summary = posts(&t, "team-summary").await;
    assert_eq!(summary.len(), 1);
    has(&message_text(&summary[0].message), &[MINE, THEIRS, TEAM, TEAM_GOAL]);
    let standings = posts(&t, "competition").await;
    has(&message_text(&standings[0].message), &[MINE, THEIRS]);
    assert_eq!(standings[0].message.attachments.len(), 1, "the chart of amounts is there");
    for m in [&summary[0].message, &standings[0].message] {
        lacks(&message_text(m), &[MONEY_PRIVATE]);
    }
    let team_nudge = posts(&t, "nudges").await.into_iter().find(|o| o.to == Recipient::Channel(TEAM_CHANNEL));
    has(&message_text(&team_nudge.expect("the team is behind pace").message), &[TEAM, TEAM_GOAL]);
}

#[tokio::test]
async fn under_money_managers_a_rep_sees_their_own_money_and_their_teams_only_in_percent() {
    let t = alpha("managers").await;
    let goals = shows(&t, 100, 42, "/goal list").await;
    has(&goals, &[MINE, MY_GOAL, "Alpha** · revenue a month: 65% of the goal · need 9.5%/day"]);
    lacks(&goals, &[TEAM, TEAM_GOAL]);
    says_private_once(&goals, GROUP_MONEY_PRIVATE);

    let me = shows(&t, 101, 42, "/me period:this-month").await;
    has(&me, &[MINE, MY_GOAL]);

    let comp = run(&t, 102, 42, "/comp me").await;
    let text = message_text(&comp);
    // Their revenue, goal and estimate in full; the team's goal as attainment only.
    has(&text, &[MINE, MY_GOAL, "Estimated commission", "Team goal: 65%"]);
    lacks(&text, &[TEAM_GOAL, TEAM, THEIRS]);
    says_private_once(&text, GROUP_MONEY_PRIVATE);
    assert!(comp.ephemeral);

    // The deal list and a won deal are the rep's own, in replies only they read.
    let deals = run(&t, 103, 43, "/deal list stage:won").await;
    assert!(deals.ephemeral);
    has(&message_text(&deals), &[THEIRS]);
    let refused = dispatch(&t.app, &invocation(104, 42, 0, "/deal list user:<@43>"), at(NOW)).await;
    let Response::Message(refused) = refused else { panic!() };
    assert!(refused.content.unwrap().starts_with("⚠️ only managers"));
}

#[tokio::test]
async fn under_money_managers_a_manager_sees_every_amount_in_a_reply_only_they_read() {
    let t = alpha("managers").await;
    let table = run(&t, 100, MANAGER, "/kpi team team:Alpha period:this-month").await;
    assert!(table.ephemeral);
    let text = message_text(&table);
    has(&text, &[MINE, THEIRS, TEAM, TEAM_GOAL]);
    lacks(&text, &[MONEY_PRIVATE]);
    has(&shows(&t, 101, MANAGER, "/kpi rep user:<@43> period:this-month").await, &[THEIRS]);
    has(&shows(&t, 102, MANAGER, "/goal list").await, &[MINE, MY_GOAL, TEAM, TEAM_GOAL]);
    has(&shows(&t, 103, MANAGER, "/comp team team:Alpha").await, &[MINE, THEIRS, TEAM, TEAM_GOAL]);
    let forecast = run(&t, 104, MANAGER, "/forecast team:Alpha").await;
    has(&message_text(&forecast), &[TEAM, TEAM_GOAL]);
    assert_eq!(forecast.attachments.len(), 1, "the manager's forecast keeps its chart");
}

#[tokio::test]
async fn under_money_managers_a_public_team_table_and_the_scheduled_summary_show_no_amounts() {
    let t = alpha("managers").await;
    let public = run(&t, 100, MANAGER, "/kpi team team:Alpha period:this-month public:true").await;
    assert!(!public.ephemeral);
    let summary = posts(&t, "team-summary").await;
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].to, Recipient::Channel(SUMMARY_CHANNEL));
    for m in [&public, &summary[0].message] {
        let text = message_text(m);
        // Reps, points, deals won and the team goal's attainment and pace stay.
        has(&text, &["rep42", "rep43", "Won: 2", "revenue: **65%** of the goal · expected by now 82%"]);
        lacks(&text, &[MINE, THEIRS, TEAM, TEAM_GOAL, "Revenue USD"]);
        says_private_once(&text, MONEY_PRIVATE);
    }
}

#[tokio::test]
async fn a_competition_on_revenue_under_money_managers_shows_ranks_without_amounts_or_a_chart() {
    let t = alpha("managers").await;
    let shown = run(&t, 100, 42, "/compete show name:Dash").await;
    let manager = run(&t, 101, MANAGER, "/compete show name:Dash").await;
    let posted = posts(&t, "competition").await.remove(0).message;
    let comp = t.app.competition(id(1), Some("Dash"), at(NOW)).await.unwrap();
    let board = t.app.current_board(&comp, at(NOW)).await.unwrap();
    let settings = t.app.settings(id(1)).await.unwrap();
    let winners = rally::handlers::compete::announcement(&comp, &board, &settings);
    for m in [&shown, &manager, &posted, &winners] {
        let text = message_text(m);
        // Ranks and names in order, as everyone may see them; a public reply shows no amounts,
        // not even to the manager or the rep whose own they are.
        let (first, second) = (text.find("`#1  ` rep42").unwrap(), text.find("`#2  ` rep43").unwrap());
        assert!(first < second, "{text}");
        lacks(&text, &[MINE, THEIRS]);
        says_private_once(&text, MONEY_PRIVATE);
        // Bars of money would give the amounts away on their axis.
        assert!(m.attachments.is_empty() && m.embeds[0].image.is_none(), "{m:?}");
    }
    assert!(message_text(&winners).contains("Congratulations to <@42>"));
}

#[tokio::test]
async fn under_money_managers_channel_milestones_and_team_nudges_show_percent_and_a_dm_keeps_the_reps_own_amounts() {
    let t = alpha("managers").await;
    let milestones: Vec<String> = milestone_posts(&t.app, 10)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, post)| post)
        .inspect(|o| assert_eq!(o.to, Recipient::Channel(TEAM_CHANNEL)))
        .map(|o| message_text(&o.message))
        .collect();
    assert_eq!(milestones.len(), 2, "{milestones:#?}");
    assert!(milestones.iter().any(|m| m.contains("<@42> is halfway to their monthly revenue goal: **62%**.")));
    assert!(milestones.iter().any(|m| m.contains("Team **Alpha** is halfway to its monthly revenue goal: **65%**.")));
    for m in &milestones {
        lacks(m, &[MINE, MY_GOAL, TEAM, TEAM_GOAL]);
        says_private_once(m, MONEY_PRIVATE);
    }

    let nudges = posts(&t, "nudges").await;
    let dm = nudges.iter().find(|o| o.to == Recipient::Dm(42)).expect("42 is behind pace");
    let dm = message_text(&dm.message);
    has(&dm, &[MINE, MY_GOAL]);
    lacks(&dm, &[MONEY_PRIVATE]);
    let team = nudges.iter().find(|o| o.to == Recipient::Channel(TEAM_CHANNEL)).expect("the team is behind pace");
    let team = message_text(&team.message);
    assert!(
        team.contains("The team is at **65%** of the goal — pace says 82% by now. **9.5% of the goal a day** over the 3.6 working days left gets the team there."),
        "{team}"
    );
    lacks(&team, &[TEAM, TEAM_GOAL]);
    says_private_once(&team, MONEY_PRIVATE);
}

#[tokio::test]
async fn under_money_managers_a_rep_running_forecast_or_funnel_sees_no_team_money() {
    let t = alpha("managers").await;
    let forecast = run(&t, 100, 42, "/forecast team:Alpha").await;
    let text = message_text(&forecast);
    has(&text, &["Won so far: 65% of goal"]);
    lacks(&text, &[TEAM, TEAM_GOAL, MINE, THEIRS]);
    says_private_once(&text, MONEY_PRIVATE);
    assert!(forecast.attachments.is_empty(), "the chart's axis is money");

    // Rep 43's own funnel keeps their deal size; the team's next to it does not show.
    let funnel = run(&t, 101, 43, "/funnel").await;
    let size = funnel.embeds[0].fields.iter().find(|f| f.name == "Average deal size").unwrap();
    assert!(size.value.starts_with(THEIRS) && size.value.ends_with("private"), "{}", size.value);
    says_private_once(&message_text(&funnel), GROUP_MONEY_PRIVATE);
}

#[tokio::test]
async fn through_serenity_a_rep_under_money_managers_reads_their_own_commission_and_goals_but_not_the_teams_amounts() {
    use crate::e2e::{WAIT, command, content, loopback, manager, rally_run, rep};
    let lb = loopback().await;
    let db = crate::helpers::TestDb::new();
    let _bot = rally_run(&lb, &db).await;
    let boss = manager(MANAGER);
    let mut id = 100;
    let mut say = async |who: &rally::loopback::payload::Member, line: &str| {
        id += 1;
        let answer = lb.interact(command(id, who, line), WAIT).await.unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(!content(&answer.body).starts_with("⚠️"), "{line}: {}", answer.body);
        answer.body
    };
    say(&boss, "/settings privacy money:managers").await;
    say(&boss, "/team create name:Alpha").await;
    say(&boss, "/team add team:Alpha user:<@42>").await;
    say(&boss, "/team add team:Alpha user:<@43>").await;
    say(&boss, "/comp plan team:Alpha rate:10").await;
    say(&boss, "/goal set scope:team team:Alpha metric:revenue target:30000 period:month").await;
    say(&boss, "/goal set scope:rep user:<@42> metric:revenue target:20000 period:month").await;
    say(&rep(43), "/log kind:won amount:7250").await;
    say(&rep(42), "/log kind:won amount:12500").await;

    let comp = say(&rep(42), "/comp me").await;
    assert_eq!(comp["data"]["flags"], 64, "only the rep reads it");
    let text = comp.to_string();
    has(&text, &[MINE, MY_GOAL, "Estimated commission", GROUP_MONEY_PRIVATE]);
    lacks(&text, &[TEAM_GOAL, TEAM, THEIRS]);
    let goals = say(&rep(42), "/goal list").await.to_string();
    has(&goals, &[MINE, MY_GOAL, "revenue a month: 65% of the goal · need "]);
    lacks(&goals, &[TEAM_GOAL, TEAM]);
    let boss_goals = say(&boss, "/goal list").await.to_string();
    has(&boss_goals, &[TEAM, TEAM_GOAL]);
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
