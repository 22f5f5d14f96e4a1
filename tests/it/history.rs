//! A rep's history against the team (`/kpi rep`), a team's history (`/kpi team history:N`):
//! hand-computed half-years, a team change, a DST month and a fiscal quarter.

use rally::app::history::HistoryMetric;
use rally::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject};
use rally::domain::history::{Spread, Standing, Verdict};
use rally::domain::period::PeriodSpec;
use rally::handlers::{Action, MANAGE_GUILD, Message, Response, cmdline, dispatch, limits};

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z"; // a Friday
const MANAGER: u64 = 9;

/// Calls (1 point each) on the 10th of June to November: Alice has one bad month (November),
/// Bob is below the median in all but August, Cara and Dan are steady.
fn half_year() -> String {
    let months = ["06", "07", "08", "09", "10", "11"];
    let reps: [(u64, &str, [i64; 6]); 4] = [
        (101, "Alice", [30, 30, 30, 30, 30, 5]),
        (102, "Bob", [10, 10, 25, 10, 10, 10]),
        (103, "Cara", [20, 20, 20, 20, 20, 20]),
        (104, "Dan", [25, 25, 25, 25, 25, 25]),
    ];
    let mut csv = HEADER.to_string();
    for (user, name, calls) in reps {
        for (m, n) in months.iter().zip(calls) {
            csv.push_str(&format!("2026-{m}-10T10:00:00Z,{user},{name},Alpha,call,{n},,,{user}-{m}\n"));
        }
    }
    csv
}

fn spread(q1: f64, median: f64, q3: f64) -> Option<Spread> {
    Some(Spread { q1, median, q3, reps: 4 })
}

async fn ask(t: &TestApp, n: u64, line: &str) -> Message {
    let action = Action::Command(cmdline::parse(line).unwrap());
    let response = dispatch(&t.app, &invocation(1, MANAGER, 5_000 + n, MANAGE_GUILD, action), at(NOW)).await;
    limits::check(&response).unwrap_or_else(|e| panic!("{line}: {e}"));
    match response {
        Response::Message(m) => m,
        other => panic!("{line}: {other:?}"),
    }
}

#[tokio::test]
async fn a_rep_with_one_bad_month_is_told_from_a_rep_below_the_median_for_half_a_year() {
    let t = spawn_app();
    let s = import(&t.app, 1, &half_year(), NOW).await;
    assert_eq!((s.imported, s.rejected.len()), (24, 0), "{s:?}");
    // Monthly points goals set back in June: Alice 25, Bob and Cara 20, Dan none.
    let june = at("2026-06-01T09:00:00Z");
    let money = t.app.settings(id(1)).await.unwrap().money();
    for (user, target) in [(101, "25"), (102, "20"), (103, "20")] {
        let key =
            GoalKey { subject: GoalSubject::Member(id(user)), metric: GoalMetric::Points, period: GoalPeriod::Month };
        t.app.set_goal(id(1), key, target, money, "", "test".into(), june).await.unwrap();
    }

    let alice = t.app.rep_history(id(1), id(101), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    let labels: Vec<&str> = alice.periods.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["Jun 2026", "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026"]);
    assert!(alice.latest_is_current);
    assert_eq!(alice.teams, vec![Some("Alpha".to_string()); 6]);
    let names: Vec<String> = alice.metrics.iter().map(|m| m.metric.name()).collect();
    // Revenue is left out: nobody won anything all half-year.
    assert_eq!(names, ["Points", "call", "Attainment (points goal)"]);
    let points = &alice.metrics[0];
    assert_eq!(points.rep, [30.0, 30.0, 30.0, 30.0, 30.0, 5.0].map(Some));
    // Sorted 10 20 25 30: q1 = 10 + 0.75 x 10, median (20 + 25) / 2, q3 = 25 + 0.25 x 5.
    let usual = spread(17.5, 22.5, 26.25);
    // August: 20 25 25 30. November: 5 10 20 25.
    let august = spread(23.75, 25.0, 26.25);
    let november = spread(8.75, 15.0, 21.25);
    assert_eq!(points.team, [usual, usual, august, usual, usual, november]);
    assert_eq!(points.judgement.verdict, Verdict::BadPeriod);
    assert_eq!(
        points.judgement.describe(alice.unit, &alice.latest_words()),
        "below only this month; at or above in the 5 months before: a bad month"
    );
    assert_eq!(alice.ranks, [(1, 4), (1, 4), (1, 4), (1, 4), (1, 4), (4, 4)].map(Some));
    // Attainment over the reps with a goal: Alice 30/25, Bob 10/20, Cara 20/20; Nov 5/25.
    let attainment = &alice.metrics[2];
    assert_eq!(attainment.rep, [1.2, 1.2, 1.2, 1.2, 1.2, 0.2].map(Some));
    assert_eq!(attainment.team[0].map(|s| (s.median, s.reps)), Some((1.0, 3)));
    assert_eq!(attainment.team[5].map(|s| s.median), Some(0.5));
    assert_eq!(attainment.judgement.verdict, Verdict::BadPeriod);

    let bob = t.app.rep_history(id(1), id(102), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    let points = &bob.metrics[0];
    assert_eq!(points.judgement.verdict, Verdict::Pattern);
    assert_eq!((points.judgement.below, points.judgement.judged), (5, 6));
    assert_eq!(
        points.judgement.describe(bob.unit, &bob.latest_words()),
        "below the team's median in 5 of the last 6 months: a pattern, not a bad month"
    );
    // August: Alice 30, Dan 25 and Bob 25 share second.
    assert_eq!(bob.ranks[2], Some((2, 4)));
    // Attainment: August 25/20 is above the median (1.2 of 1.2, 1.25, 1.0), November 10/20 is the
    // median itself (0.2, 0.5, 1.0): below in 4 of the 5 months before, at it now.
    let attainment = &bob.metrics[2];
    let standings: Vec<Standing> =
        attainment.rep.iter().zip(&attainment.team).map(|(v, s)| Standing::of(*v, s.as_ref())).collect();
    assert_eq!(
        standings,
        [Standing::Below, Standing::Below, Standing::AtOrAbove, Standing::Below, Standing::Below, Standing::AtOrAbove]
    );
    assert_eq!(attainment.judgement.verdict, Verdict::Recovering);

    // Dan has no goal: no attainment line, and last month is named, not "this month".
    let dan = t.app.rep_history(id(1), id(104), &PeriodSpec::LastMonth, 3, at(NOW)).await.unwrap();
    assert_eq!(
        dan.metrics.iter().map(|m| m.metric.clone()).collect::<Vec<_>>(),
        [HistoryMetric::Points, HistoryMetric::Kind("call".into())]
    );
    assert_eq!(dan.latest_words(), "in Oct 2026");
    assert_eq!(
        dan.metrics[0].judgement.describe(dan.unit, &dan.latest_words()),
        "at or above the median in Oct 2026; below in 0 of the 2 months before"
    );

    // The reply: the usual drill-down, then the history with its verdicts and the chart.
    let m = ask(&t, 1, "/kpi rep user:<@102> period:this-month").await;
    assert_eq!(m.embeds.len(), 2);
    let h = &m.embeds[1];
    assert_eq!(h.title.as_deref(), Some("History · last 6 months"));
    let table = h.description.as_deref().unwrap();
    assert!(table.contains("Points per month against Team Alpha."), "{table}");
    let expected = [
        "          Jun    Jul    Aug    Sep    Oct   Nov",
        "Bob        10     10     25     10     10    10",
        "median   22.5   22.5     25   22.5   22.5    15",
        "q1–q3   18–26  18–26  24–26  18–26  18–26  9–21",
        "rank      4/4    4/4    2/4    4/4    4/4   3/4",
    ];
    assert!(table.contains(&format!("```\n{}\n```", expected.join("\n"))), "{table}");
    assert_eq!(h.fields[0].name, "Points");
    assert_eq!(h.fields[0].value, "**below the team's median in 5 of the last 6 months: a pattern, not a bad month**");
    assert!(h.fields[2].value.contains("50% · 50% · 125% · 50% · 50% · 50%"), "{:?}", h.fields[2]);
    assert!(h.footer.as_deref().unwrap().contains("Pattern: below in at least 2/3 of the months judged"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!((m.attachments[0].filename.as_str(), h.image.as_deref()), ("history.png", Some("history.png")));
    assert!(m.attachments[0].data.starts_with(b"\x89PNG"));

    // A year of months still fits Discord's limits (checked in `ask`); the months before June
    // are before anyone's first log and are not judged.
    let year = ask(&t, 3, "/kpi rep user:<@101> period:this-month history:12").await;
    assert_eq!(year.embeds[1].title.as_deref(), Some("History · last 12 months"));
    assert!(year.embeds[1].description.as_deref().unwrap().contains("Dec  Jan  Feb"), "{year:?}");
    assert_eq!(
        year.embeds[1].fields[0].value,
        "**below only this month; at or above in the 5 months before: a bad month**"
    );
    // Out of range, refused as Discord would refuse it, before anything runs.
    let refused = cmdline::parse("/kpi rep user:<@102> history:13").unwrap_err();
    assert_eq!(refused.to_string(), "`history` must be at most 12");
}

#[tokio::test]
async fn a_rep_who_changed_teams_is_compared_with_the_team_they_were_on_each_month() {
    let t = spawn_app();
    let mut csv = HEADER.to_string();
    for (i, m) in ["06", "07", "08", "09", "10", "11"].iter().enumerate() {
        let eves_team = if i < 3 { "Beta" } else { "Alpha" };
        csv.push_str(&format!("2026-{m}-10T10:00:00Z,105,Eve,{eves_team},call,10,,,e{m}\n"));
        csv.push_str(&format!("2026-{m}-10T11:00:00Z,106,Finn,Beta,call,20,,,f{m}\n"));
        csv.push_str(&format!("2026-{m}-10T12:00:00Z,107,Gus,Alpha,call,5,,,g{m}\n"));
    }
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 18);
    let eve = t.app.rep_history(id(1), id(105), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    let beta = Some("Beta".to_string());
    let alpha = Some("Alpha".to_string());
    assert_eq!(eve.teams, [beta.clone(), beta.clone(), beta, alpha.clone(), alpha.clone(), alpha]);
    // Her own numbers follow her across the move.
    assert_eq!(eve.metrics[0].rep, [Some(10.0); 6]);
    // Beta: Eve 10 and Finn 20 (median 15); Alpha: Eve 10 and Gus 5 (median 7.5).
    let medians: Vec<f64> = eve.metrics[0].team.iter().map(|s| s.unwrap().median).collect();
    assert_eq!(medians, [15.0, 15.0, 15.0, 7.5, 7.5, 7.5]);
    assert_eq!(eve.ranks, [(2, 2), (2, 2), (2, 2), (1, 2), (1, 2), (1, 2)].map(Some));
    assert_eq!(eve.metrics[0].judgement.verdict, Verdict::OnTrack);
    assert_eq!(
        eve.metrics[0].judgement.describe(eve.unit, &eve.latest_words()),
        "at or above the median this month; below in 3 of the 5 months before"
    );
    let m = ask(&t, 1, "/kpi rep user:<@105> period:this-month").await;
    let text = m.embeds[1].description.clone().unwrap();
    assert!(
        text.contains(
            "against the team of the time: Team Beta (Jun 2026 – Aug 2026), Team Alpha (Sep 2026 – Nov 2026)"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_month_with_a_dst_change_is_read_in_the_guilds_timezone() {
    let t = spawn_app();
    let ny = rally::app::settings::SettingsChange {
        timezone: Some("America/New_York".parse().unwrap()),
        ..Default::default()
    };
    t.app.change_settings(id(1), ny, "test".into(), at(NOW)).await.unwrap();
    // New York leaves summer time on 1 November 2026 at 02:00: October ends at 04:00 UTC,
    // November at 05:00 UTC.
    let csv = format!(
        "{HEADER}\
         2026-11-01T03:30:00Z,101,Alice,Alpha,call,4,,,a\n\
         2026-11-01T04:30:00Z,101,Alice,Alpha,call,6,,,b\n\
         2026-12-01T04:30:00Z,101,Alice,Alpha,call,1,,,c\n"
    );
    assert_eq!(import(&t.app, 1, &csv, "2026-12-01T12:00:00Z").await.imported, 3);
    let now = at("2026-12-01T12:00:00Z");
    let h = t.app.rep_history(id(1), id(101), &PeriodSpec::ThisMonth, 3, now).await.unwrap();
    let bounds: Vec<(String, String)> = h.periods.iter().map(|p| (p.start.to_rfc3339(), p.end.to_rfc3339())).collect();
    assert_eq!(
        bounds,
        [
            ("2026-10-01T04:00:00+00:00".to_string(), "2026-11-01T04:00:00+00:00".to_string()),
            ("2026-11-01T04:00:00+00:00".to_string(), "2026-12-01T05:00:00+00:00".to_string()),
            ("2026-12-01T05:00:00+00:00".to_string(), "2027-01-01T05:00:00+00:00".to_string()),
        ]
    );
    // 23:30 on 31 October is October's; 00:30 on 1 November November's; 23:30 on 30 November too.
    assert_eq!(h.metrics[0].rep, [Some(4.0), Some(7.0), Some(0.0)]);
}

#[tokio::test]
async fn a_quarterly_history_follows_the_fiscal_year() {
    let t = spawn_app();
    let feb = rally::app::settings::SettingsChange {
        fiscal_year_start: Some(rally::domain::settings::FiscalStart::new(2).unwrap()),
        ..Default::default()
    };
    t.app.change_settings(id(1), feb, "test".into(), at(NOW)).await.unwrap();
    let csv = format!(
        "{HEADER}\
         2026-07-31T10:00:00Z,101,Alice,Alpha,call,3,,,a\n\
         2026-08-01T10:00:00Z,101,Alice,Alpha,call,5,,,b\n\
         2026-10-31T10:00:00Z,101,Alice,Alpha,call,7,,,c\n\
         2026-11-02T10:00:00Z,101,Alice,Alpha,call,11,,,d\n"
    );
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 4);
    let h = t.app.rep_history(id(1), id(101), &PeriodSpec::ThisQuarter, 3, at(NOW)).await.unwrap();
    let labels: Vec<&str> = h.periods.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["May–Jul 2026", "Aug–Oct 2026", "Nov–Jan 2027"]);
    assert_eq!(h.metrics[0].rep, [Some(3.0), Some(12.0), Some(11.0)]);
}

#[tokio::test]
async fn a_teams_history_shows_totals_attainment_and_who_moved_against_their_own_past() {
    let t = spawn_app();
    let mut csv = half_year();
    // Revenue in November: Cara wins 1,000.00, so the revenue column has something to hide.
    csv.push_str("2026-11-12T10:00:00Z,103,Cara,Alpha,won,1,1000.00,,cw\n");
    import(&t.app, 1, &csv, NOW).await;
    let alpha = t.app.team(id(1), "Alpha").await.unwrap().id;
    let money = t.app.settings(id(1)).await.unwrap().money();
    let key = GoalKey { subject: GoalSubject::Team(alpha), metric: GoalMetric::Points, period: GoalPeriod::Month };
    t.app.set_goal(id(1), key, "100", money, "", "test".into(), at("2026-06-01T09:00:00Z")).await.unwrap();

    let h = t.app.team_history(id(1), Some("alpha"), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    assert_eq!(h.team.as_deref(), Some("Alpha"));
    let points: Vec<i64> = h.rows.iter().map(|r| r.points).collect();
    // Nov: 5 + 10 + 40 (20 calls and a win) + 25.
    assert_eq!(points, [85, 85, 100, 85, 85, 80]);
    let attainment: Vec<Option<f64>> = h.rows.iter().map(|r| r.attainment).collect();
    assert_eq!(attainment, [0.85, 0.85, 1.0, 0.85, 0.85, 0.8].map(Some));
    assert_eq!(h.rows[5].revenue, 100_000);
    assert_eq!(h.rows[5].spread.map(|s| s.median), Some(17.5));
    // Alice: 5 against her usual 30, (5 - 30) / 30. Cara: 40 against 20, (40 - 20) / 20.
    let up: Vec<(&str, i64, f64, f64)> =
        h.up.iter().map(|m| (m.user_name.as_str(), m.latest, m.own_median, m.change)).collect();
    assert_eq!(up, [("Cara", 40, 20.0, 1.0)]);
    assert_eq!(h.down.len(), 1);
    assert_eq!((h.down[0].user_name.as_str(), h.down[0].own_median), ("Alice", 30.0));
    assert!((h.down[0].change + 25.0 / 30.0).abs() < 1e-9);

    let m = ask(&t, 1, "/kpi team team:Alpha history:6 period:this-month").await;
    let e = &m.embeds[0];
    assert_eq!(e.title.as_deref(), Some("Team Alpha · last 6 months"));
    let table = e.description.as_deref().unwrap();
    // November: 5 10 25 40, q1 = 5 + 0.75 x 5, q3 = 25 + 0.25 x 15 (8.75 and 28.75, shown whole).
    assert!(table.contains("Nov 2026   80    1     1,000.00     4    17.5   9–29   80%"), "{table}");
    assert_eq!(e.fields[0].value, "• **Cara**: 40 in Nov 2026, usually 20 (+100%)");
    assert_eq!(e.fields[1].value, "• **Alice**: 5 in Nov 2026, usually 30 (-84%)");
    let paged = message_text(&ask(&t, 3, "/kpi team team:Alpha history:6 page:2").await);
    assert!(paged.contains("`page` turns the team table's pages; a `history` has none"), "{paged}");
    // Posted for everyone, the revenue column goes under money privacy.
    t.app
        .change_settings(
            id(1),
            rally::app::settings::SettingsChange {
                money_privacy: Some(rally::domain::settings::MoneyPrivacy::Managers),
                ..Default::default()
            },
            "test".into(),
            at(NOW),
        )
        .await
        .unwrap();
    let public = message_text(&ask(&t, 2, "/kpi team team:Alpha history:6 period:this-month public:true").await);
    assert!(!public.contains("Revenue") && !public.contains("1,000.00"), "{public}");
    assert!(public.contains("Amounts are private on this server"), "{public}");
}

#[tokio::test]
async fn reps_left_off_the_boards_count_in_no_median_rank_or_team_total() {
    let t = spawn_app();
    import(&t.app, 1, &half_year(), NOW).await;
    const TESTER: u64 = 777;
    let run = |user: u64, roles: Vec<u64>, line: &'static str, n: u64| {
        let app = t.app.clone();
        async move {
            let action = Action::Command(cmdline::parse(line).unwrap());
            let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
            let inv = rally::handlers::Invocation {
                roles,
                app_permissions: Some(0x4_0000_0800),
                ..invocation(1, user, 6_000 + n, permissions, action)
            };
            dispatch(&app, &inv, at(NOW)).await
        }
    };
    run(MANAGER, vec![], "/settings leaderboard-exclude role:<@&777>", 1).await;
    // Dan runs a command with the role: rally notes it, and leaves him off.
    run(104, vec![TESTER], "/me", 2).await;
    let alice = t.app.rep_history(id(1), id(101), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    // Without Dan: 10 20 30 (median 20), and in November 5 10 20 (median 10).
    let medians: Vec<f64> = alice.metrics[0].team.iter().map(|s| s.unwrap().median).collect();
    assert_eq!(medians, [20.0, 20.0, 25.0, 20.0, 20.0, 10.0]);
    assert_eq!(alice.ranks[5], Some((3, 3)));
    let dan = t.app.rep_history(id(1), id(104), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    assert!(dan.left_off);
    assert_eq!(dan.ranks, [None; 6]);
    assert_eq!(dan.metrics[0].rep, [Some(25.0); 6]);
    let team = t.app.team_history(id(1), None, &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    assert_eq!(team.rows.iter().map(|r| r.points).collect::<Vec<_>>(), [60, 60, 75, 60, 60, 35]);
    assert_eq!(team.rows[0].reps, 3);
    // Dan's demos for Alpha (50 points, more than anyone's calls that month) choose none of the
    // kinds Alice is compared on, and add nothing to the team's total.
    import(&t.app, 1, &format!("{HEADER}2026-11-11T10:00:00Z,104,Dan,Alpha,demo,10,,,104-demo\n"), NOW).await;
    let alice = t.app.rep_history(id(1), id(101), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    assert_eq!(alice.metrics.iter().map(|m| m.metric.name()).collect::<Vec<_>>(), ["Points", "call"]);
    let team = t.app.team_history(id(1), Some("Alpha"), &PeriodSpec::ThisMonth, 6, at(NOW)).await.unwrap();
    assert_eq!(team.rows.iter().map(|r| r.points).collect::<Vec<_>>(), [60, 60, 75, 60, 60, 35]);
}
