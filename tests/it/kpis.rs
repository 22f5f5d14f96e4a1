use rally::domain::period::PeriodSpec;

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z"; // a Friday

/// A small sales floor whose KPIs are computed by hand in the assertions below.
const FLOOR: &str = "\
2026-10-15T10:00:00Z,104,Dan,Beta,call,5,,,o1
2026-10-20T10:00:00Z,101,Alice,Alpha,call,30,,,o2
2026-11-02T09:00:00Z,101,Alice,Alpha,call,12,,,n1
2026-11-02T10:00:00Z,101,Alice,Alpha,won,1,1250.00,,n2
2026-11-10T10:00:00Z,101,Alice,Alpha,won,2,3000.00,,n3
2026-11-11T10:00:00Z,101,Alice,Alpha,lost,1,,,n4
2026-11-03T10:00:00Z,102,Bob,Alpha,demo,2,,,n5
2026-11-20T10:00:00Z,102,Bob,Alpha,proposal,1,,,n6
2026-11-03T11:00:00Z,103,Cara,Beta,meeting,3,,,n7
2026-11-25T11:00:00Z,103,Cara,Beta,call,3,,,n8
2026-11-26T11:00:00Z,103,Cara,Beta,call,3,,,n9
2026-11-27T11:00:00Z,103,Cara,Beta,call,3,,,n10
";

#[tokio::test]
async fn kpis_match_a_hand_computed_month() {
    let t = spawn_app();
    let s = import(&t.app, 1, &format!("{HEADER}{FLOOR}"), NOW).await;
    assert_eq!((s.imported, s.rejected.len()), (12, 0), "{s:?}");

    let r = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(r.period.start, at("2026-11-01T00:00:00Z"));
    assert_eq!(r.period.end, at("2026-12-01T00:00:00Z"));
    assert_eq!(r.previous_period.start, at("2026-10-01T00:00:00Z"));

    let rows: Vec<(&str, i64, u32, i64, u32)> =
        r.members.iter().map(|m| (m.user_name.as_str(), m.points, m.rank, m.previous_points, m.streak)).collect();
    assert_eq!(
        rows,
        vec![
            // 12 calls + 3 wins x 20
            ("Alice", 72, 1, 30, 0),
            // 2 demos x 5 + 1 proposal x 8; ties with Cara, ordered by user id
            ("Bob", 18, 2, 0, 0),
            // 3 meetings x 3 + 9 calls; active Wed, Thu, Fri
            ("Cara", 18, 2, 0, 3),
            ("Dan", 0, 4, 5, 0),
        ]
    );
    let alice = &r.members[0];
    assert_eq!(alice.revenue_cents, 425_000);
    assert_eq!(alice.deals_won, 3);
    assert_eq!(alice.deals_lost, 1);
    assert_eq!(alice.average_deal_cents, Some(141_667));
    assert_eq!(alice.win_rate, Some(0.75));
    assert_eq!(alice.counts.get("call"), Some(&12));
    assert_eq!(r.members[2].counts.get("call"), Some(&9));
    assert_eq!(r.members[2].team.as_deref(), Some("Beta"));

    let teams: Vec<(&str, i64, usize, f64, u32, i64)> = r
        .teams
        .iter()
        .map(|t| (t.name.as_str(), t.points, t.members, t.points_per_member, t.rank, t.previous_points))
        .collect();
    assert_eq!(teams, vec![("Alpha", 90, 2, 45.0, 1, 30), ("Beta", 18, 2, 9.0, 2, 5)]);
    assert_eq!(r.totals.points, 108);
    assert_eq!(r.totals.revenue, 425_000);
}

#[tokio::test]
async fn a_team_report_shows_only_that_team() {
    let t = spawn_app();
    import(&t.app, 1, &format!("{HEADER}{FLOOR}"), NOW).await;
    let r = t.app.report(id(1), &PeriodSpec::ThisMonth, Some("alpha"), at(NOW)).await.unwrap();
    let names: Vec<&str> = r.members.iter().map(|m| m.user_name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob"]);
    assert_eq!(r.teams.len(), 1);
    assert_eq!(r.teams[0].points, 90);
    let err = t.app.report(id(1), &PeriodSpec::ThisMonth, Some("Gamma"), at(NOW)).await.unwrap_err();
    assert_eq!(err.to_string(), "there is no team named `Gamma`; the teams are: Alpha, Beta");
}

#[tokio::test]
async fn an_activity_at_2330_local_on_the_last_day_of_a_month_counts_in_that_month() {
    let t = spawn_app();
    t.app
        .change_settings(
            id(1),
            rally::app::settings::SettingsChange {
                timezone: Some("America/New_York".parse().unwrap()),
                ..Default::default()
            },
            "test".into(),
            at(NOW),
        )
        .await
        .unwrap();
    // 23:30 in New York on 31 October is already 1 November in UTC.
    let csv = format!("{HEADER}2026-10-31T23:30:00-04:00,101,Alice,Alpha,call,7,,,x1\n");
    assert_eq!(import(&t.app, 1, &csv, NOW).await.imported, 1);
    let october = t.app.report(id(1), &PeriodSpec::Month { year: 2026, month: 10 }, None, at(NOW)).await.unwrap();
    let november = t.app.report(id(1), &PeriodSpec::Month { year: 2026, month: 11 }, None, at(NOW)).await.unwrap();
    assert_eq!(october.members[0].points, 7);
    assert_eq!(november.members[0].points, 0);
}

#[tokio::test]
async fn a_live_log_at_2330_in_berlin_counts_in_the_local_month() {
    let t = spawn_app();
    let berlin =
        rally::app::settings::SettingsChange { timezone: Some("Europe/Berlin".parse().unwrap()), ..Default::default() };
    t.app.change_settings(id(1), berlin, "test".into(), at("2026-09-30T21:00:00Z")).await.unwrap();
    let req = when(log_req(1, 101, "demo", 1, "i1"), "2026-09-30T23:30:00+02:00");
    t.app.log(req, at("2026-10-01T08:00:00+02:00")).await.unwrap();
    let now = at("2026-10-01T08:00:00+02:00");
    let sept = t.app.report(id(1), &PeriodSpec::LastMonth, None, now).await.unwrap();
    let oct = t.app.report(id(1), &PeriodSpec::ThisMonth, None, now).await.unwrap();
    assert_eq!(sept.members[0].points, 5);
    assert_eq!(oct.members[0].points, 0);
    assert_eq!(oct.members[0].previous_points, 5);
}

#[tokio::test]
async fn changing_the_timezone_moves_activities_to_their_new_local_day() {
    let t = spawn_app();
    // 23:30 UTC on 31 October: October in UTC, November in Berlin.
    let csv = format!("{HEADER}2026-10-31T23:30:00Z,101,Alice,Alpha,call,4,,,x1\n");
    import(&t.app, 1, &csv, NOW).await;
    let oct = PeriodSpec::Month { year: 2026, month: 10 };
    assert_eq!(t.app.report(id(1), &oct, None, at(NOW)).await.unwrap().members[0].points, 4);
    let berlin =
        rally::app::settings::SettingsChange { timezone: Some("Europe/Berlin".parse().unwrap()), ..Default::default() };
    t.app.change_settings(id(1), berlin, "test".into(), at(NOW)).await.unwrap();
    assert_eq!(t.app.report(id(1), &oct, None, at(NOW)).await.unwrap().members[0].points, 0);
    let nov = PeriodSpec::Month { year: 2026, month: 11 };
    assert_eq!(t.app.report(id(1), &nov, None, at(NOW)).await.unwrap().members[0].points, 4);
    assert!(t.app.store.verify_rollups(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn two_guilds_never_see_each_others_data() {
    let t = spawn_app();
    // Same user ids, team names and external ids in both guilds.
    import(&t.app, 1, &format!("{HEADER}2026-11-02T09:00:00Z,101,Alice,Alpha,call,3,,,k1\n"), NOW).await;
    let s = import(&t.app, 2, &format!("{HEADER}2026-11-02T09:00:00Z,101,Alicia,Alpha,won,1,500.00,,k1\n"), NOW).await;
    assert_eq!(s.imported, 1, "the same external id in another guild is a different row");

    let r1 = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    let r2 = t.app.report(id(2), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!((r1.members.len(), r1.members[0].user_name.as_str(), r1.members[0].points), (1, "Alice", 3));
    assert_eq!((r2.members.len(), r2.members[0].user_name.as_str(), r2.members[0].points), (1, "Alicia", 20));
    assert_eq!(r1.totals.revenue, 0);
    assert_eq!(r2.teams[0].points, 20);

    let mut out = Vec::new();
    t.app.export_csv(id(1), &PeriodSpec::ThisMonth, at(NOW), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Alice") && !text.contains("Alicia"), "{text}");

    // Undo in guild 2 touches guild 2 only.
    t.app.log(log_req(2, 101, "call", 1, "g2"), at(NOW)).await.unwrap();
    t.app.undo(id(2), id(101), None, at(NOW)).await.unwrap();
    let r1_after = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(r1_after.members[0].points, 3);
    // A guild's settings are its own.
    let berlin =
        rally::app::settings::SettingsChange { timezone: Some("Europe/Berlin".parse().unwrap()), ..Default::default() };
    t.app.change_settings(id(2), berlin, "test".into(), at(NOW)).await.unwrap();
    assert_eq!(t.app.settings(id(1)).await.unwrap().timezone, chrono_tz::Tz::UTC);
}

#[tokio::test]
async fn a_fiscal_year_starting_in_april_reports_april_to_march() {
    let t = spawn_app();
    let april = rally::app::settings::SettingsChange {
        fiscal_year_start: Some(rally::domain::settings::FiscalStart::new(4).unwrap()),
        ..Default::default()
    };
    t.app.change_settings(id(1), april, "test".into(), at(NOW)).await.unwrap();
    let csv = format!(
        "{HEADER}2026-03-31T12:00:00Z,101,Alice,Alpha,call,1,,,a\n2026-04-01T12:00:00Z,101,Alice,Alpha,call,10,,,b\n"
    );
    import(&t.app, 1, &csv, NOW).await;
    let this_year = t.app.report(id(1), &PeriodSpec::ThisYear, None, at(NOW)).await.unwrap();
    assert_eq!(this_year.period.start, at("2026-04-01T00:00:00Z"));
    assert_eq!(this_year.members[0].points, 10);
    assert_eq!(this_year.members[0].previous_points, 1);
}

/// `/kpi team` reads a team's rows through its current members' index when they account for all of
/// the team's activities, and falls back to the guild's range when a former member logged for it:
/// either way its totals equal the guild report's, for every period and team.
#[tokio::test]
async fn a_team_report_counts_former_members_rows_and_equals_the_guild_report() {
    let t = spawn_app();
    let s = import(&t.app, 1, &format!("{HEADER}{FLOOR}"), NOW).await;
    assert_eq!(s.imported, 12);
    // Bob moves from Alpha to Beta: his newest row is for Beta. His 18 points of November stay
    // Alpha's, the 3 of this row are Beta's.
    let moved = import(&t.app, 1, &format!("{HEADER}2026-11-26T10:00:00Z,102,Bob,Beta,call,3,,,m1\n"), NOW).await;
    assert_eq!(moved.imported, 1);
    let month = PeriodSpec::ThisMonth;
    let alpha = t.app.report(id(1), &month, Some("Alpha"), at(NOW)).await.unwrap();
    let rows: Vec<(&str, i64)> = alpha.members.iter().map(|m| (m.user_name.as_str(), m.points)).collect();
    assert_eq!(rows, vec![("Alice", 72), ("Bob", 18)], "Bob's Alpha rows stay Alpha's after he moved");
    assert_eq!((alpha.teams[0].name.as_str(), alpha.teams[0].points), ("Alpha", 90));
    let beta = t.app.report(id(1), &month, Some("Beta"), at(NOW)).await.unwrap();
    assert_eq!(beta.teams[0].points, 18 + 3);
    for spec in [PeriodSpec::ThisWeek, PeriodSpec::ThisMonth, PeriodSpec::ThisYear, PeriodSpec::LastMonth] {
        let all = t.app.report(id(1), &spec, None, at(NOW)).await.unwrap();
        for team in &all.teams {
            let one = t.app.report(id(1), &spec, Some(&team.name), at(NOW)).await.unwrap();
            let got = &one.teams[0];
            assert_eq!(
                (got.points, got.revenue_cents, got.previous_points, &got.counts),
                (team.points, team.revenue_cents, team.previous_points, &team.counts),
                "{} in {spec}",
                team.name
            );
        }
    }
}

#[tokio::test]
async fn a_kind_another_instance_adds_is_named_in_the_next_report_here() {
    // Read connections remember kind names between reads; a kind added by another process on
    // the same database is an id they have not seen, and is read then, never shown as unknown.
    let t = spawn_app();
    import(&t.app, 1, &format!("{HEADER}{FLOOR}"), NOW).await;
    let before = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(before.totals.counts.get("webinar"), None);
    let other = rally::app::App::open_at(&t.location()).expect("a second instance");
    let webinar = rally::domain::activity::ActivityKind {
        name: rally::domain::activity::KindName::parse("webinar").unwrap(),
        points: 4,
        has_amount: false,
    };
    other.upsert_kind(id(1), webinar, "test".into(), at(NOW)).await.unwrap();
    other.log(log_req(1, 101, "webinar", 2, "w1"), at(NOW)).await.unwrap();
    drop(other);
    let after = t.app.report(id(1), &PeriodSpec::ThisMonth, None, at(NOW)).await.unwrap();
    assert_eq!(after.totals.counts.get("webinar"), Some(&2));
    let alice = after.members.iter().find(|m| m.user_id == "101").unwrap();
    assert_eq!((alice.counts.get("webinar"), alice.points), (Some(&2), 72 + 8));
    let me = t.app.member_report(id(1), id(101), &PeriodSpec::ThisMonth, at(NOW)).await.unwrap();
    assert_eq!(me.member.unwrap().counts.get("webinar"), Some(&2));
}

#[tokio::test]
async fn teams_are_listed_alike_on_both_backends_by_name_without_ascii_case() {
    let t = spawn_app();
    for name in ["beta", "Zeta-2", "_ops", "Alpha", "zeta 1", "Émile"] {
        t.app.create_team(id(1), name, "test".into(), at(NOW)).await.unwrap();
    }
    let names: Vec<String> = t.app.teams(id(1)).await.unwrap().into_iter().map(|t| t.name).collect();
    // SQLite's NOCASE: bytes, with only ASCII letters folded; so `_` before letters, a space
    // before `-`, and the accented letter after every ASCII one.
    assert_eq!(names, ["_ops", "Alpha", "beta", "zeta 1", "Zeta-2", "Émile"]);
}
