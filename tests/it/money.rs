//! A guild's currency and number format: chosen with `/settings`, taken from the server's locale
//! until then, and never changed under money already recorded without the user saying so.

use rally::domain::activity::Snowflake;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};

use crate::helpers::*;

const NOW: &str = "2026-11-27T15:00:00Z";
const GUILD: u64 = 77;

fn invocation(id: u64, user: u64, permissions: u64, locale: Option<&str>, line: &str) -> Invocation {
    Invocation {
        id,
        guild: Snowflake::new(GUILD).unwrap(),
        channel: Some(7),
        user: Snowflake::new(user).unwrap(),
        user_name: format!("rep{user}"),
        roles: Vec::new(),
        permissions,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: locale.map(str::to_string),
        action: Action::Command(cmdline::parse(line).unwrap()),
    }
}

async fn say(t: &TestApp, id: u64, locale: Option<&str>, line: &str) -> String {
    match dispatch(&t.app, &invocation(id, 42, MANAGE_GUILD, locale, line), at(NOW)).await {
        Response::Message(m) => message_text(&m),
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn revenue(t: &TestApp) -> i64 {
    let report =
        t.app.report(Snowflake::new(GUILD).unwrap(), &rally::domain::period::PeriodSpec::ThisWeek, None, at(NOW)).await;
    report.unwrap().totals.revenue
}

#[tokio::test]
async fn a_german_server_reads_and_shows_money_as_germans_write_it_from_its_first_interaction() {
    let t = spawn_app();
    let reply = say(&t, 1, Some("de"), "/log kind:won amount:1250,50").await;
    assert!(reply.contains("1.250,50\u{a0}EUR"), "{reply}");
    assert_eq!(revenue(&t).await, 125_050);
    // Fixed from then on, even if the server's language changes.
    let reply = say(&t, 2, Some("en-US"), "/log kind:won amount:0,99").await;
    assert!(reply.contains("0,99\u{a0}EUR"), "{reply}");
    let s = t.app.settings(Snowflake::new(GUILD).unwrap()).await.unwrap();
    assert_eq!(s.money().currency.code(), "EUR");
    assert_eq!(s.money().format.pattern(), "1.234,56");
}

#[tokio::test]
async fn an_amount_only_another_format_could_mean_is_refused_with_its_readings_and_nothing_is_stored() {
    let t = spawn_app();
    say(&t, 1, Some("en-US"), "/log kind:call").await;
    let before = t.app.store.audit_count(GUILD as i64).await.unwrap();
    for (line, want) in [
        ("/log kind:won amount:1250,50", "in the 1.234,56 format it would mean 1,250.50\u{a0}USD"),
        ("/log kind:won amount:0,99", "in the 1.234,56 format it would mean 0.99\u{a0}USD"),
        ("/log kind:won amount:12,5", "in the 1.234,56 format it would mean 12.50\u{a0}USD"),
        ("/log kind:won amount:1.2.3", "more than one decimal mark"),
        ("/log kind:won amount:\"100 EUR\"", "is in EUR, but this server counts money in USD"),
    ] {
        let reply = say(&t, 2, Some("en-US"), line).await;
        assert!(reply.starts_with("⚠️") && reply.contains(want), "{line}: {reply}");
    }
    assert_eq!(revenue(&t).await, 0);
    assert_eq!(t.app.store.audit_count(GUILD as i64).await.unwrap(), before, "refusals write nothing");
}

#[tokio::test]
async fn a_refused_first_command_does_not_fix_the_money_settings() {
    let t = spawn_app();
    let reply = say(&t, 1, Some("fr"), "/log kind:dance").await;
    assert!(reply.starts_with("⚠️"), "{reply}");
    let s = t.app.settings(Snowflake::new(GUILD).unwrap()).await.unwrap();
    assert_eq!((s.currency, s.number_format), (None, None));
    let reply = say(&t, 2, Some("fr"), "/log kind:won amount:\"1 250,5\"").await;
    assert!(reply.contains("1\u{a0}250,50\u{a0}EUR"), "{reply}");
}

#[tokio::test]
async fn managers_choose_the_currency_and_number_format_and_a_change_under_recorded_money_must_be_confirmed() {
    let t = spawn_app();
    let reply = say(&t, 1, None, "/settings number-format format:\"1'234.56\"").await;
    assert!(reply.contains("Number format: 1'234.56"), "{reply}");
    let reply = say(&t, 2, None, "/settings currency code:chf").await;
    assert!(reply.contains("Currency: CHF (Swiss franc)"), "{reply}");
    say(&t, 3, None, "/log kind:won amount:\"CHF 1'250.50\"").await;
    assert_eq!(revenue(&t).await, 125_050);

    // Money is recorded now: a switch relabels it, so it needs confirm:true.
    let reply = say(&t, 4, None, "/settings currency code:EUR").await;
    assert!(
        reply.contains("relabels them as EUR without converting (1'000.00\u{a0}CHF becomes 1'000.00\u{a0}EUR)"),
        "{reply}"
    );
    // A currency with another minor unit would change every stored amount's value.
    let reply = say(&t, 5, None, "/settings currency code:JPY confirm:true").await;
    assert!(reply.contains("JPY has 0, so every stored amount would change its value"), "{reply}");
    let reply = say(&t, 6, None, "/settings currency code:XYZ").await;
    assert!(reply.contains("`XYZ` is not an ISO 4217 currency code"), "{reply}");
    let s = t.app.settings(Snowflake::new(GUILD).unwrap()).await.unwrap();
    assert_eq!(s.money().currency.code(), "CHF", "refused changes leave the currency alone");

    let reply = say(&t, 7, None, "/settings currency code:EUR confirm:true").await;
    assert!(reply.contains("Currency: EUR"), "{reply}");
    assert_eq!(revenue(&t).await, 125_050, "relabelled, not converted");
    let reply = say(&t, 8, None, "/me").await;
    assert!(reply.contains("1'250.50\u{a0}EUR"), "{reply}");
}

#[tokio::test]
async fn currency_autocomplete_finds_codes_by_code_or_name() {
    let t = spawn_app();
    let call = cmdline::parse("/settings currency code:fra").unwrap();
    let mut inv = invocation(1, 42, MANAGE_GUILD, None, "/settings show");
    inv.action = Action::Autocomplete { call, focused: "code".into() };
    let Response::Choices(choices) = dispatch(&t.app, &inv, at(NOW)).await else { panic!("no choices") };
    assert!(choices.iter().any(|c| c.value == "CHF" && c.name.contains("Swiss franc")), "{choices:?}");
}
