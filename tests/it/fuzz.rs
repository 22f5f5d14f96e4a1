//! No input panics: random and mutated interaction payloads through serenity's parser and our
//! pipeline, and random text through every parser of user input.

use std::sync::OnceLock;

use proptest::prelude::*;
use rally::discord::convert;
use rally::domain::period::PeriodSpec;
use rally::handlers::{MANAGE_GUILD, dispatch};
use rally::loopback::payload;
use serde_json::{Value, json};

use crate::helpers::*;

/// Valid payloads of every shape rally handles, to mutate.
fn seeds() -> Vec<Value> {
    let rep = payload::Member { user_id: 42, username: "rep".into(), roles: vec![], permissions: 0 };
    let boss = payload::Member { user_id: 9, username: "boss".into(), roles: vec![5], permissions: MANAGE_GUILD };
    let cmd = |who: &payload::Member, line: &str| {
        let call = rally::handlers::cmdline::parse(line).unwrap();
        payload::command(11, 1, 2, who, &call.name, rally::handlers::cmdline::discord_options(&call))
    };
    vec![
        cmd(&rep, "/log kind:won count:2 amount:100.50 note:hi deal:D-1 when:-1h"),
        cmd(&rep, "/me period:last-month"),
        cmd(&boss, "/kpi team team:Alpha period:2026-W44 public:true"),
        cmd(&boss, "/kpi rep user:<@42>"),
        cmd(&boss, "/team add team:Alpha user:<@42>"),
        cmd(&boss, "/settings kind name:referral points:3 amount:false"),
        cmd(&rep, "/leaderboard metric:call scope:teams"),
        payload::button(12, 1, 2, &rep, "undo:1"),
        payload::autocomplete(
            13,
            1,
            2,
            &rep,
            "log",
            json!([{"name": "kind", "type": 3, "value": "ca", "focused": true}]),
        ),
    ]
}

fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from("9".repeat(30))),
        Just(Value::from("x".repeat(5000))),
        Just(Value::from("'; DROP TABLE activities; --")),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Replaces the value at the `pick`-th position of a depth-first walk.
fn mutate(v: &mut Value, pick: &mut usize, with: &Value) -> bool {
    if *pick == 0 {
        *v = with.clone();
        return true;
    }
    *pick -= 1;
    match v {
        Value::Object(map) => map.values_mut().any(|child| mutate(child, pick, with)),
        Value::Array(items) => items.iter_mut().any(|child| mutate(child, pick, with)),
        _ => false,
    }
}

fn app() -> &'static (TestApp, tokio::runtime::Runtime) {
    static APP: OnceLock<(TestApp, tokio::runtime::Runtime)> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        (spawn_app(), rt)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_interaction_payloads_never_panic(seed in 0..9usize, picks in proptest::collection::vec((0..80usize, hostile_value()), 1..4)) {
        let mut body = seeds()[seed].clone();
        for (pick, with) in &picks {
            let mut p = *pick;
            mutate(&mut body, &mut p, with);
        }
        let Ok(interaction) = convert::parse(body.to_string().as_bytes()) else { return Ok(()) };
        let Ok(inv) = convert::invocation(&interaction) else { return Ok(()) };
        let (t, rt) = app();
        let response = rt.block_on(dispatch(&t.app, &inv, at("2026-11-27T12:00:00Z")));
        let text = rally::discord::render::text(&response);
        prop_assert!(text.chars().count() < 7000);
    }

    #[test]
    fn random_csv_never_panics_and_leaves_consistent_data(rows in proptest::collection::vec("[^\\n\\r]{0,80}", 0..6)) {
        let (t, rt) = app();
        let csv = format!("{HEADER}{}\n", rows.join("\n"));
        let summary = rt.block_on(t.app.import_csv(id(99), csv.as_bytes(), "fuzz".into(), at("2026-11-27T12:00:00Z"))).unwrap();
        prop_assert!(summary.rows() <= rows.len());
        prop_assert!(rt.block_on(t.app.store.verify_rollups(Some(99))).unwrap().is_empty());
    }

    #[test]
    fn any_file_in_any_dialect_is_read_or_refused_without_a_panic(
        head in "[a-z_ ;,|\t\"]{0,40}",
        body in proptest::collection::vec(proptest::sample::select(vec![
            "\r", "\n", "\r\n", ";", ",", "\t", "|", "\"", "2026-11-02 09:00", "1.250,50", "won", "101", "\u{feff}", "x",
        ]), 0..40),
        bom in any::<bool>(),
    ) {
        let (t, rt) = app();
        let mut bytes = if bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
        bytes.extend(format!("{HEADER_SEMI}{head}\n{}", body.concat()).into_bytes());
        let result = rt.block_on(t.app.import_csv(id(99), bytes.as_slice(), "fuzz".into(), at("2026-11-27T12:00:00Z")));
        if let Ok(summary) = result {
            let physical = bytes.iter().filter(|b| **b == b'\n' || **b == b'\r').count() as u64 + 1;
            prop_assert!(summary.rejected.iter().all(|r| r.line >= 2 && r.line <= physical));
        }
        prop_assert!(rt.block_on(t.app.store.verify_rollups(Some(99))).unwrap().is_empty());
    }
}

const HEADER_SEMI: &str = "occurred_at;user_id;user_name;kind;quantity;amount;";

proptest! {
    // Suggestions compare the text with every known name (600 timezones), which a million debug-build
    // cases make the slowest part of CI by far; they get a run of their own.
    #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn name_suggestions_never_panic(text in "\\PC{0,60}") {
        let _ = rally::domain::settings::parse_timezone(&text);
        let _ = rally::domain::activity::unknown_kind(&text, &rally::domain::activity::default_kinds());
        let _ = rally::domain::activity::unknown_metric(&text, &["points"], &rally::domain::activity::default_kinds());
    }
}

/// Cases for the text-parser run: a quick default, and a million in CI (`RALLY_FUZZ_CASES`).
fn text_cases() -> u32 {
    std::env::var("RALLY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: text_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn text_parsers_never_panic(text in "\\PC{0,60}") {
        let _ = PeriodSpec::parse(&text);
        let _ = rally::domain::when::parse_when(&text, at("2026-11-27T12:00:00Z"), chrono_tz::Tz::Europe__Berlin);
        // Each number format once, with currencies of 2, 0 and 3 decimals between them.
        for (format, code) in rally::domain::money::NumberFormat::ALL.into_iter().zip(["USD", "JPY", "BHD", "CHF"]) {
            let currency = rally::domain::money::Currency::parse(code).unwrap();
            let _ = rally::domain::money::Money::new(currency, format).parse(&text);
        }
        let _ = rally::domain::money::NumberFormat::parse(&text);
        let _ = rally::domain::money::Currency::parse(&text);
        let _ = rally::domain::activity::Quantity::parse(&text);
        let _ = rally::domain::when::parse_timestamp(&text, chrono_tz::Tz::America__New_York);
        let _ = rally::app::csv_dialect::ColumnMap::parse(&text, &rally::app::import::COLUMNS);
        let _ = rally::domain::activity::Snowflake::parse(&text);
        let _ = rally::domain::settings::WorkingDays::parse(&text);
        let _ = rally::handlers::cmdline::exec_role(&text);
        let _ = rally::handlers::cmdline::parse(&text);
        let _ = rally::handlers::cmdline::parse(&format!("/log kind:{text}"));
    }
}
