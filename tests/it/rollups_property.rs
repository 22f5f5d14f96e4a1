//! Rollups (day and month) must equal a recomputation from raw activities after any sequence of
//! logs, undos and timezone changes; and report totals must equal a model kept by the test, over
//! periods read from day rollups, month rollups and both.

use std::collections::HashMap;

use proptest::prelude::*;
use rally::app::report::ReportNeeds;
use rally::app::settings::SettingsChange;
use rally::domain::period::PeriodSpec;

use crate::helpers::*;

#[derive(Clone, Debug)]
enum Op {
    Log { user: u64, kind: usize, quantity: i64, amount: u32, hours_ago: i64, retry_of: Option<usize> },
    Undo { user: u64 },
    Timezone(usize),
}

const KINDS: [(&str, i64); 7] =
    [("call", 1), ("email", 1), ("meeting", 3), ("demo", 5), ("proposal", 8), ("won", 20), ("lost", 0)];
const ZONES: [&str; 4] = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..5u64, 0..7usize, 1..=1000i64, 0..100_000u32, 0..160i64, proptest::option::weighted(0.1, 0..20usize))
            .prop_map(|(user, kind, quantity, amount, hours_ago, retry_of)| Op::Log { user, kind, quantity, amount, hours_ago, retry_of }),
        2 => (1..5u64).prop_map(|user| Op::Undo { user }),
        1 => (0..4usize).prop_map(Op::Timezone),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_a_recomputation_after_any_logs_and_undos(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = spawn_app();
            let now = at("2026-11-27T12:00:00Z");
            // The model: live activities' points per user, newest last, and every key seen.
            let mut live: HashMap<u64, Vec<(String, i64)>> = HashMap::new();
            let mut keys: Vec<(u64, String, i64)> = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                match op {
                    Op::Log { user, kind, quantity, amount, hours_ago, retry_of } => {
                        let (name, points) = KINDS[*kind];
                        let (user, key, pts) = match retry_of.and_then(|r| keys.get(r).cloned()) {
                            Some(seen) => seen,
                            None => (*user, format!("k{i}"), points * quantity),
                        };
                        let mut req = log_req(1, user, name, *quantity, &key);
                        if let Some(previous) = retry_of.and_then(|r| keys.get(r)) {
                            // A retry repeats the earlier request; only the key matters.
                            req = log_req(1, previous.0, "call", 1, &previous.1);
                        } else if name == "won" {
                            req = with_amount(req, &amount.to_string());
                        }
                        req.when = Some(now - chrono::Duration::hours(*hours_ago));
                        let logged = t.app.log(req, now).await.unwrap();
                        if !logged.duplicate {
                            keys.push((user, key.clone(), pts));
                            live.entry(user).or_default().push((key, pts));
                        }
                    }
                    Op::Undo { user } => {
                        let result = t.app.undo(id(1), id(*user), None, now).await;
                        match live.get_mut(user).and_then(|v| v.pop()) {
                            Some((key, _)) => prop_assert_eq!(result.unwrap().record.idem_key, key),
                            None => prop_assert!(result.is_err()),
                        }
                    }
                    Op::Timezone(z) => {
                        let change = SettingsChange { timezone: Some(ZONES[*z].parse().unwrap()), ..Default::default() };
                        t.app.change_settings(id(1), change, "test".into(), now).await.unwrap();
                    }
                }
            }
            // Day and month rollups, and the kind-less day_points and month_points, against a
            // recomputation from live activities.
            let mismatches = t.app.store.verify_rollups(None).await.unwrap();
            prop_assert!(mismatches.is_empty(), "{:?}", mismatches);
            // A range of days (day rollups), the whole month and the year (month rollups) and a
            // range across a month's edge (both) all hold every activity of the last 160 hours.
            let day = |s: &str| at(s).date_naive();
            let specs = [
                PeriodSpec::Range { first: day("2026-11-19T00:00:00Z"), last: day("2026-11-28T00:00:00Z") },
                PeriodSpec::parse("2026-11").unwrap(),
                PeriodSpec::parse("2026").unwrap(),
                PeriodSpec::Range { first: day("2026-10-20T00:00:00Z"), last: day("2026-12-03T00:00:00Z") },
            ];
            for spec in &specs {
                let report = t.app.report(id(1), spec, None, now).await.unwrap();
                // A leaderboard by points reads the kind-less rollups: the same points and revenue.
                let board = t.app.report_with(id(1), spec, None, ReportNeeds::POINTS, now).await.unwrap();
                let points = |ms: &[rally::app::report::MemberKpis]| -> Vec<(String, i64, i64, u32)> {
                    ms.iter().map(|m| (m.user_id.clone(), m.points, m.revenue_cents, m.rank)).collect()
                };
                prop_assert_eq!(points(&board.members), points(&report.members), "leaderboard in {}", spec);
                let teams = |ts: &[rally::app::report::TeamKpis]| -> Vec<(String, i64, i64)> {
                    ts.iter().map(|t| (t.name.clone(), t.points, t.revenue_cents)).collect()
                };
                prop_assert_eq!(teams(&board.teams), teams(&report.teams), "team leaderboard in {}", spec);
                for m in &report.members {
                    let want: i64 = live.get(&m.user_id.parse().unwrap()).map(|v| v.iter().map(|(_, p)| p).sum()).unwrap_or(0);
                    prop_assert_eq!(m.points, want, "user {} in {}", m.user_id, spec);
                    let mine = t.app.member_report(id(1), id(m.user_id.parse().unwrap()), spec, now).await.unwrap();
                    prop_assert_eq!(mine.member.map(|x| x.points), Some(want), "/me of {} in {}", m.user_id, spec);
                }
            }
            Ok(())
        })?;
    }
}
