//! `/forecast` and `/comp` against hand-computed values, and undoing a deal's win.

use rally::handlers::{MANAGE_GUILD, Message, Response, dispatch};

use crate::helpers::*;
use crate::slash::invocation;

const NOW: &str = "2026-11-16T12:00:00Z"; // Monday noon, UTC guild

async fn run(t: &TestApp, id: u64, user: u64, permissions: u64, line: &str) -> Message {
    match dispatch(&t.app, &invocation(id, user, permissions, line), at(NOW)).await {
        Response::Message(m) => {
            assert!(!m.content.as_deref().unwrap_or("").starts_with("⚠️"), "{line}: {:?}", m.content);
            m
        }
        other => panic!("expected a message, got {other:?}"),
    }
}

fn field<'a>(m: &'a Message, name: &str) -> &'a str {
    m.embeds[0]
        .fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("no field {name}: {m:?}"))
}

#[tokio::test]
async fn the_forecast_adds_weighted_deals_closing_in_the_period_to_what_was_won() {
    let t = spawn_app();
    import(
        &t.app,
        1,
        &format!("{HEADER}2026-11-03T10:00:00Z,42,Ann,,won,1,1000,,w1\n2026-11-10T10:00:00Z,42,Ann,,won,1,2000,,w2\n"),
        NOW,
    )
    .await;
    // 10,000.00 at proposal (60 %) closing this month; 5,000.00 closing next month; one undated.
    run(&t, 1, 42, 0, "/deal open name:Acme value:10000 stage:proposal close:2026-11-25").await;
    run(&t, 2, 42, 0, "/deal open name:Globex value:5000 close:2026-12-10").await;
    run(&t, 3, 42, 0, "/deal open name:Initech value:2000 stage:qualified").await;
    run(&t, 4, 9, MANAGE_GUILD, "/goal set scope:guild metric:revenue target:10000 period:month").await;

    let m = run(&t, 5, 9, 0, "/forecast").await;
    assert_eq!(field(&m, "Won so far"), "3,000.00\u{a0}USD");
    assert_eq!(field(&m, "Weighted pipeline"), "6,000.00\u{a0}USD (1 deal closing)");
    assert_eq!(field(&m, "Forecast"), "**9,000.00\u{a0}USD**");
    // 21 working days in November; at Monday noon on the 16th 10 are over and 4 of the 16th's 10
    // working hours (08:00-18:00): 3,000.00 / 10.4 × 21 = 6,057.69.
    assert_eq!(field(&m, "Run rate"), "6,057.69\u{a0}USD");
    assert_eq!(field(&m, "Goal"), "10,000.00\u{a0}USD · forecast at 90%");
    assert!(m.embeds[0].description.as_deref().unwrap_or("").contains("1 open deal without a close date left out"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "forecast.png");
    assert!(m.attachments[0].data.starts_with(b"\x89PNG"));
    assert_eq!(m.embeds[0].image.as_deref(), Some("forecast.png"));
}

#[tokio::test]
async fn commission_pays_half_on_own_and_half_on_team_attainment_with_accelerator_and_bonus() {
    let t = spawn_app();
    run(&t, 1, 9, MANAGE_GUILD, "/team create name:Alpha").await;
    run(&t, 2, 9, MANAGE_GUILD, "/team add team:Alpha user:<@42>").await;
    run(&t, 3, 9, MANAGE_GUILD, "/team add team:Alpha user:<@43>").await;
    run(&t, 4, 9, MANAGE_GUILD, "/comp plan team:Alpha rate:10 accelerator:1.5 team_bonus:250").await;
    run(&t, 5, 9, MANAGE_GUILD, "/goal set scope:rep user:<@42> metric:revenue target:2500 period:month").await;
    run(&t, 6, 9, MANAGE_GUILD, "/goal set scope:team team:Alpha metric:revenue target:3000 period:month").await;
    run(&t, 7, 42, 0, "/log kind:won amount:3000").await;
    run(&t, 8, 43, 0, "/log kind:call count:5").await;

    // Base 10 % of 3,000.00 = 300.00. Own attainment 120 %: 150.00 × 1.2 = 180.00 plus the excess
    // 150.00 × 0.2 × 0.5 = 15.00. Team at 100 %: 150.00, and the 250.00 bonus. Total 595.00.
    let m = run(&t, 9, 42, 0, "/comp me").await;
    assert_eq!(field(&m, "Individual part"), "180.00\u{a0}USD");
    assert_eq!(field(&m, "Team part"), "150.00\u{a0}USD");
    assert_eq!(field(&m, "Accelerator"), "15.00\u{a0}USD");
    assert_eq!(field(&m, "Team bonus"), "250.00\u{a0}USD");
    assert_eq!(field(&m, "Estimated commission"), "**595.00\u{a0}USD**");
    assert_eq!(m.embeds[0].footer.as_deref(), Some("An estimate from logged revenue and goals — not payroll."));

    let table = run(&t, 10, 9, MANAGE_GUILD, "/comp team team:Alpha").await;
    let body = table.embeds[0].description.clone().unwrap();
    assert!(body.contains("rep42") && body.contains("595.00"), "{body}");
    // rep43: no revenue, no own goal (counted as 100 %), team met: only the bonus.
    assert!(body.lines().any(|l| l.starts_with("rep43") && l.ends_with("250.00")), "{body}");
    assert_eq!(field(&table, "Total estimated"), "845.00\u{a0}USD");

    let refused = dispatch(&t.app, &invocation(11, 42, 0, "/comp team team:Alpha"), at(NOW)).await;
    let Response::Message(refused) = refused else { panic!() };
    assert!(refused.content.unwrap().starts_with("⚠️ this command is for managers"));
}

#[tokio::test]
async fn undoing_the_win_of_a_deal_reopens_the_deal() {
    let t = spawn_app();
    run(&t, 1, 42, 0, "/deal open name:Acme value:1000 stage:demo").await;
    run(&t, 2, 42, 0, "/deal won deal:Acme").await;
    let undo = run(&t, 3, 42, 0, "/undo").await;
    assert!(undo.content.clone().unwrap().contains("The deal **Acme** is open again."), "{:?}", undo.content);
    let list = run(&t, 4, 42, 0, "/deal list").await;
    let text = format!("{:?}", list);
    assert!(text.contains("Acme") && text.contains("demo"), "{text}");
    let r = t.app.report(id(1), &rally::domain::period::PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(r.totals.revenue, 0);
    // It can be won again.
    run(&t, 5, 42, 0, "/deal won deal:Acme").await;
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}
