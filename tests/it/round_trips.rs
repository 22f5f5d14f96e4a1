//! Statements per reply: on PostgreSQL each statement is one round trip (~45 µs on one machine),
//! so the replies `rally bench` measures keep to a few; and the figures those few statements
//! read are the same as the replies showed before, across period edges, on both backends.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::domain::goals::GoalSubject;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};
use rally::store::{MemberReportRead, ReportRead, TotalsScope};

use super::helpers::{HEADER, at, import, invocation, message_text, on_postgres, spawn_app};

const GUILD: u64 = 4_200_000_000_000_001;
const MANAGER: u64 = 9;

async fn reply(app: &App, user: u64, line: &str, n: u64, now: DateTime<Utc>) -> String {
    let action = match line.strip_prefix("press ") {
        Some(command) => {
            let call = cmdline::parse(command).unwrap();
            Action::Button { custom_id: rally::handlers::paging::custom_id(&call, 1000, 0).unwrap() }
        }
        None => Action::Command(cmdline::parse(line).unwrap()),
    };
    let inv = Invocation { channel: None, ..invocation(GUILD, user, 4_920_000_000_000_000 + n, MANAGE_GUILD, action) };
    match dispatch(app, &inv, now).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

/// A team of three reps with goals of every subject, and activities in this and last week, month
/// and year.
async fn org(app: &App, now: DateTime<Utc>) {
    let setup = [
        "/team create name:Alpha",
        "/team add team:Alpha user:<@5>",
        "/team add team:Alpha user:<@6>",
        "/team add team:Alpha user:<@7>",
        "/goal set scope:rep user:<@5> metric:points target:60 period:week",
        "/goal set scope:rep user:<@5> metric:revenue target:20000 period:month",
        "/goal set scope:rep user:<@5> metric:call target:200 period:year",
        "/goal set scope:team team:Alpha metric:points target:300 period:week",
        "/goal set scope:guild metric:points target:2000 period:month",
    ];
    for (i, line) in setup.iter().enumerate() {
        let text = reply(app, MANAGER, line, i as u64, now).await;
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
    }
    let mut csv = HEADER.to_string();
    let rows = [
        ("2026-01-05T10:00:00Z", 5, "call", 4, ""),
        ("2025-12-30T10:00:00Z", 5, "demo", 1, ""),
        ("2026-10-30T10:00:00Z", 5, "won", 1, "900"),
        ("2026-11-02T10:00:00Z", 5, "call", 3, ""),
        ("2026-11-20T10:00:00Z", 5, "meeting", 2, ""),
        ("2026-11-23T09:00:00Z", 5, "won", 1, "1500"),
        ("2026-11-24T09:00:00Z", 5, "lost", 1, ""),
        ("2026-11-25T09:00:00Z", 5, "call", 5, ""),
        ("2026-11-26T09:00:00Z", 6, "demo", 2, ""),
        ("2026-11-26T11:00:00Z", 7, "call", 9, ""),
        ("2026-11-01T23:30:00Z", 7, "email", 2, ""),
    ];
    for (i, (when, user, kind, quantity, amount)) in rows.iter().enumerate() {
        csv.push_str(&format!("{when},{user},rep{user},Alpha,{kind},{quantity},{amount},,x{i}\n"));
    }
    assert_eq!(import(app, GUILD, &csv, "2026-11-27T12:00:00Z").await.imported, rows.len());
}

#[tokio::test]
async fn the_benched_replies_each_run_a_few_statements() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org(&t.app, now).await;
    let lines = [
        "/me",
        "/kpi team team:Alpha",
        "/leaderboard",
        "press /leaderboard",
        "/leaderboard metric:goal",
        "/leaderboard metric:improvement",
        "/leaderboard scope:teams",
    ];
    let mut n = 100;
    let mut counts = Vec::new();
    for line in lines {
        for period in ["this-week", "this-month", "this-year"] {
            let line = format!("{line} period:{period}");
            n += 1;
            // A few times to warm the pooled connections (their prepared statements, kind names and
            // directories), then counted three times. A reply that reads on two connections at
            // once may still meet one that has not read the kinds yet on a busy machine (one
            // statement more): the fewest counted is the reply's, and none may be over by more.
            for _ in 0..4 {
                reply(&t.app, 5, &line, n, now).await;
            }
            let mut counted = Vec::new();
            for _ in 0..3 {
                let before = t.app.store.read_statements();
                let text = reply(&t.app, 5, &line, n, now).await;
                counted.push(t.app.store.read_statements() - before);
                assert!(!text.starts_with("⚠️"), "{line}: {text}");
            }
            let (fewest, most) =
                (counted.iter().min().copied().unwrap_or(0), counted.iter().max().copied().unwrap_or(0));
            assert!(most <= fewest + 1, "{line}: {counted:?}");
            counts.push((line, fewest));
        }
    }
    // Before issue 13's fourth step: /me 7, /kpi team 6/5/5 (week/month/year), boards 2,
    // goal boards 3, improvement boards 3.
    let expected = |line: &str| match line.split(" period:").next().unwrap_or_default() {
        "/me" => 1,
        // On SQLite a team's table reads its rows and its goals' as before, apart (statements
        // cost no round trip there and the one statement measured slower), and who the table
        // shows, to read only their goals.
        "/kpi team team:Alpha" if on_postgres() => 3,
        "/kpi team team:Alpha" if line.ends_with("this-week") => 7,
        "/kpi team team:Alpha" => 6,
        // The targets beside a report of points (two connections at once); when the goals
        // measure a kind (the year's: calls), a report of every kind after them.
        "/leaderboard metric:goal" if line.ends_with("this-year") => 3,
        "/leaderboard metric:goal" => 2,
        _ => 1,
    };
    for (line, n) in &counts {
        assert_eq!(*n, expected(line), "statements of {line}: {counts:?}");
    }
}

#[tokio::test]
async fn a_history_reads_its_six_periods_in_a_statement_per_figure_not_one_per_period() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org(&t.app, now).await;
    let mut counts = Vec::new();
    for (i, line) in ["/kpi rep user:<@5> history:6", "/kpi team team:Alpha history:6"].into_iter().enumerate() {
        let line = format!("{line} period:this-month");
        reply(&t.app, 5, &line, 200 + i as u64, now).await;
        let before = t.app.store.read_statements();
        let text = reply(&t.app, 5, &line, 210 + i as u64, now).await;
        counts.push((line.clone(), t.app.store.read_statements() - before));
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
    }
    // Before: 35 and 22 (a statement per period and figure, and one per kind's id). The rep's
    // history is six of its eleven, the rest its report of the month.
    assert_eq!(counts.iter().map(|c| c.1).collect::<Vec<_>>(), [11, 5], "{counts:?}");
}

fn d(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Ranges across a year's end, month edges, a lone day, a whole year and nothing.
fn edge_ranges() -> Vec<(chrono::NaiveDate, chrono::NaiveDate)> {
    [
        ("2025-12-15", "2026-02-10"),
        ("2026-01-01", "2027-01-01"),
        ("2025-12-31", "2026-01-01"),
        ("2026-10-31", "2026-11-02"),
        ("2026-11-23", "2026-11-30"),
        ("2026-11-01", "2026-12-01"),
        ("2026-03-01", "2026-03-01"),
    ]
    .iter()
    .map(|(a, b)| (d(a), d(b)))
    .collect()
}

/// [`org`], and a second team, Beta: rep 5 also logged for it and rep 8 only for it; and two reps
/// without a team.
async fn org_with_beta(app: &App, now: DateTime<Utc>) {
    org(app, now).await;
    reply(app, MANAGER, "/team create name:Beta", 50, now).await;
    let mut csv = HEADER.to_string();
    for (i, (when, user, team, kind, quantity)) in [
        ("2025-12-31T22:00:00Z", 5, "Beta", "call", 2),
        ("2026-01-31T10:00:00Z", 5, "Beta", "demo", 1),
        ("2026-11-01T00:30:00Z", 8, "Beta", "meeting", 3),
        ("2026-11-24T10:00:00Z", 8, "Beta", "call", 6),
        // Two reps without a team: not each other's mates.
        ("2026-11-24T11:00:00Z", 20, "", "call", 1),
        ("2026-11-25T11:00:00Z", 21, "", "demo", 1),
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("{when},{user},rep{user},{team},{kind},{quantity},,,b{i}\n"));
    }
    assert_eq!(import(app, GUILD, &csv, "2026-11-27T12:00:00Z").await.imported, 6);
}

#[tokio::test]
async fn a_history_s_reads_of_many_ranges_in_one_statement_give_what_each_range_gives_alone() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org_with_beta(&t.app, now).await;
    let store = &t.app.store;
    let g = GUILD as i64;
    let teams = store.teams(g).await.unwrap();
    let (alpha, beta) = (teams[0].id, teams[1].id);
    let scopes = [
        TotalsScope::Guild,
        TotalsScope::Team(alpha),
        TotalsScope::Team(beta),
        TotalsScope::Member(5),
        TotalsScope::Member(8),
        TotalsScope::CurrentTeam(alpha),
        TotalsScope::Member(99),
    ];
    // Every range in each scope in turn, so that ranges of one read differ in scope too.
    for shift in 0..scopes.len() {
        let ranges: Vec<_> = edge_ranges()
            .into_iter()
            .enumerate()
            .map(|(i, (first, end))| (first, end, scopes[(i + shift) % scopes.len()]))
            .collect();
        let kinds = store.kind_totals_many(g, ranges.clone()).await.unwrap();
        let points = store.points_totals_many(g, ranges.clone()).await.unwrap();
        let wanted = vec!["call".to_string(), "demo".to_string(), "nothing such".to_string()];
        let sums = store.member_sums_many(g, wanted.clone(), ranges.clone()).await.unwrap();
        let team_ranges: Vec<_> = ranges
            .iter()
            .map(|&(first, end, scope)| (first, end, matches!(scope, TotalsScope::Team(_)).then_some(alpha)))
            .collect();
        let team_kinds = store.team_kind_totals_many(g, team_ranges.clone()).await.unwrap();
        assert_eq!((kinds.len(), points.len(), sums.len(), team_kinds.len()), (7, 7, 7, 7));
        for (i, &(first, end, scope)) in ranges.iter().enumerate() {
            let what = format!("{first}..{end} in {scope:?}");
            let alone = |r: (chrono::NaiveDate, chrono::NaiveDate, TotalsScope)| vec![r];
            assert_eq!(kinds[i], store.scoped_totals(g, first, end, scope).await.unwrap(), "{what}");
            assert_eq!(points[i], store.points_totals(g, first, end, scope).await.unwrap(), "{what}");
            let sums_alone = store.member_sums_many(g, wanted.clone(), alone((first, end, scope))).await.unwrap();
            assert_eq!(vec![sums[i].clone()], sums_alone, "{what}");
            let (f, e, team) = team_ranges[i];
            assert_eq!(team_kinds[i], store.team_kind_totals(g, f, e, team).await.unwrap(), "{what}");
        }
        // Not a read that finds nothing: the year and the Alpha team's week have rows.
        assert!(kinds.iter().any(|k| !k.is_empty()) && sums.iter().any(|s| s.iter().any(|m| m.points > 0)));
    }
    // Goals in force for several periods, of several kinds interleaved, in a statement per kind.
    use rally::domain::goals::GoalPeriod::{Month, Week, Year};
    let periods = vec![
        (Week, d("2026-11-23")),
        (Month, d("2026-11-01")),
        (Week, d("2026-01-05")),
        (Year, d("2026-01-01")),
        (Week, d("2026-11-16")),
        (Month, d("2025-12-01")),
    ];
    let together = store.goals_in_force_many(g, periods.clone()).await.unwrap();
    for (&(kind, first), versions) in periods.iter().zip(&together) {
        assert_eq!(versions, &store.goals_in_force(g, kind, first).await.unwrap(), "{kind:?} from {first}");
    }
    assert!(!together[0].is_empty(), "this week's goals are in force");
}

#[tokio::test]
async fn one_statement_reads_give_the_same_figures_as_each_range_read_on_its_own_across_period_edges() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org_with_beta(&t.app, now).await;
    let store = &t.app.store;
    let g = GUILD as i64;
    let ranges = edge_ranges();
    for user in [5i64, 6, 7, 8, 20, 21, 99] {
        // A member's totals over every range in one statement, against each range on its own.
        let together = store.member_kind_totals_many(g, user, ranges.clone()).await.unwrap();
        for (range, rows) in ranges.iter().zip(&together) {
            let alone = store.scoped_totals(g, range.0, range.1, TotalsScope::Member(user)).await.unwrap();
            let mut by_kind: std::collections::BTreeMap<String, (i64, i64, i64)> = Default::default();
            for r in alone {
                let e = by_kind.entry(r.kind).or_default();
                (e.0, e.1, e.2) = (e.0 + r.quantity, e.1 + r.points, e.2 + r.amount);
            }
            let alone: Vec<(String, i64, i64, i64)> = by_kind.into_iter().map(|(k, (q, p, a))| (k, q, p, a)).collect();
            assert_eq!(rows, &alone, "rep {user} over {range:?}");
        }
        // `/me`'s read: its totals, its mates' points and its active days, the same.
        for (&range, mates_only) in ranges.iter().flat_map(|r| [(r, false), (r, true)]) {
            let read = MemberReportRead {
                user,
                ranges: vec![range, (d("2026-11-16"), d("2026-11-23"))],
                rank: Some(range),
                active: (d("2026-10-01"), d("2026-11-28")),
                goals: Vec::new(),
                mates_only,
            };
            let (rows, _) = store.member_report_rows(g, read.clone()).await.unwrap();
            let Some(rows) = rows else {
                assert_eq!(user, 99, "every rep who logged is a member");
                continue;
            };
            // The members: the guild's, or the member and those on their team now.
            let everyone = store.member_report_rows(g, MemberReportRead { mates_only: false, ..read }).await.unwrap();
            let everyone = everyone.0.unwrap().members;
            let team = rows.member.team_id;
            let expected: Vec<_> = everyone
                .iter()
                .filter(|m| !mates_only || m.user_id == rows.member.user_id || (team != 0 && m.team_id == team))
                .cloned()
                .collect();
            assert_eq!(rows.members, expected, "rep {user}, mates only: {mates_only}");
            assert!(everyone.len() > expected.len() || !mates_only || team == 0, "rep {user}: {everyone:?}");
            assert_eq!(rows.totals[0], together[ranges.iter().position(|r| *r == range).unwrap()]);
            let mates = if rows.member.team_id == 0 {
                Vec::new()
            } else {
                store.points_totals(g, range.0, range.1, TotalsScope::CurrentTeam(rows.member.team_id)).await.unwrap()
            };
            assert_eq!(rows.mates, mates, "rep {user}'s mates over {range:?}");
            if user >= 20 {
                assert_eq!(rows.member.team_id, 0);
            }
            let days = store.member_active_days(g, user, d("2026-10-01"), d("2026-11-28")).await.unwrap();
            assert_eq!(rows.active_days, days);
        }
    }
    // Goal subjects' rows, teams' and members' in one statement, against a read of each.
    let teams = store.teams(g).await.unwrap();
    let sid = |n: u64| rally::domain::activity::Snowflake::new(n).unwrap();
    let subjects: std::collections::BTreeSet<GoalSubject> =
        [GoalSubject::Guild, GoalSubject::Team(teams[0].id), GoalSubject::Member(sid(5)), GoalSubject::Member(sid(8))]
            .into();
    for &(first, end) in &ranges {
        let mut together = store.subject_rows(g, subjects.clone(), first, end).await.unwrap();
        assert_eq!(together.teams, store.team_kind_totals(g, first, end, None).await.unwrap(), "{first}..{end}");
        let mut apart = store.members_kind_totals(g, first, end, [5i64, 8].into()).await.unwrap();
        for rows in together.members.values_mut().chain(apart.values_mut()) {
            rows.sort_unstable();
        }
        assert_eq!(together.members, apart, "{first}..{end}");
    }
    // A guild's or a team's report rows in one statement, against the reads of one statement each.
    let id_of = |name: &str| teams.iter().find(|t| t.name == name).map(|t| t.id);
    for (team, id) in
        [(None, None), (Some(" alpha "), id_of("Alpha")), (Some("BETA"), id_of("Beta")), (Some("Gamma"), None)]
    {
        let scope = id.map_or(TotalsScope::Guild, TotalsScope::Team);
        let found = team.is_none() || id.is_some();
        for &current in &ranges {
            for previous in [None, Some((d("2025-12-15"), d("2026-02-10"))), Some((d("2026-11-16"), d("2026-11-23")))] {
                for kinds in [true, false] {
                    let read = ReportRead { team: team.map(str::to_string), current, kinds, previous };
                    let rows = store.report_rows(g, read).await.unwrap();
                    assert_eq!(rows.team, id, "{team:?}");
                    let (first, end) = current;
                    if kinds && found {
                        assert_eq!(rows.current, store.scoped_totals(g, first, end, scope).await.unwrap());
                    } else if found {
                        assert_eq!(rows.points_only, store.points_revenue_totals(g, first, end, id).await.unwrap());
                    } else {
                        assert!(rows.current.is_empty() && rows.points_only.is_empty());
                    }
                    let before = match previous {
                        Some((first, end)) if found => store.points_totals(g, first, end, scope).await.unwrap(),
                        _ => Vec::new(),
                    };
                    assert_eq!(rows.before, before, "{team:?} {current:?} after {previous:?}");
                    assert_eq!(rows.members.len(), 6);
                    assert_eq!(rows.teams.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Alpha", "Beta"]);
                }
            }
        }
    }
}

#[tokio::test]
async fn me_reads_its_report_and_goals_together_as_they_were_read_apart() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org(&t.app, now).await;
    // A rep with goals who never logged, so is no member yet.
    for (i, line) in [
        "/goal set scope:rep user:<@12> metric:points target:10 period:week",
        "/goal set scope:rep user:<@12> metric:deals-won target:2 period:month",
        "/goal set scope:rep user:<@6> metric:points target:5 period:quarter",
        // A goal cleared, one raised from next week on (not in force yet), one more metric.
        "/goal clear scope:rep user:<@5> metric:call period:year",
        "/goal set scope:rep user:<@5> metric:points target:90 period:week from:next",
        "/goal set scope:rep user:<@7> metric:meeting target:4 period:month",
    ]
    .iter()
    .enumerate()
    {
        assert!(!reply(&t.app, MANAGER, line, 60 + i as u64, now).await.starts_with("⚠️"), "{line}");
    }
    let guild = rally::domain::activity::Snowflake::new(GUILD).unwrap();
    let settings = rally::domain::settings::GuildSettings::default();
    for user in [5u64, 6, 7, 12] {
        let who = rally::domain::activity::Snowflake::new(user).unwrap();
        for period in
            ["this-week", "this-month", "this-quarter", "this-year", "today", "last-month", "2026-10-01..2026-11-15"]
        {
            let spec = rally::domain::period::PeriodSpec::parse(period).unwrap();
            let (report, goals) = t.app.member_report_and_goals(guild, who, &spec, now).await.unwrap();
            let alone = t.app.member_report(guild, who, &spec, now).await.unwrap();
            assert_eq!(format!("{report:?}"), format!("{alone:?}"), "rep {user}, {period}");
            let p = rally::domain::period::Period::resolve(&spec, &settings, now).unwrap();
            let subject = rally::domain::goals::GoalSubject::Member(who);
            let mine: rally::app::goals::GoalFilter = std::sync::Arc::new(move |k| k.subject == subject);
            let apart = t.app.goals_for_report(guild, &p, &mine, None, now).await.unwrap();
            assert_eq!(goals, apart, "rep {user}'s goals, {period}");
            if user == 12 && period == "this-week" {
                assert!(report.member.is_none() && goals.len() == 1, "{report:?} {goals:?}");
            }
            if user == 5 && period == "this-week" {
                assert!(goals.iter().any(|g| g.actual > 0), "{goals:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_team_table_reads_only_the_goals_it_shows_with_the_progress_every_goal_read_gives_them() {
    let t = spawn_app();
    let now = at("2026-11-27T15:00:00Z");
    org_with_beta(&t.app, now).await;
    // Rep 6 logged for Alpha this week (org), then moved to Beta and logged for it; rep 8 is on
    // Beta; rep 20 is on no team. Goals of every subject, a rep's on each team and on none.
    for (i, line) in [
        "/team add team:Beta user:<@6>",
        "/goal set scope:rep user:<@6> metric:points target:40 period:week",
        "/goal set scope:rep user:<@6> metric:demo target:3 period:month",
        "/goal set scope:rep user:<@8> metric:points target:30 period:week",
        "/goal set scope:rep user:<@20> metric:points target:10 period:week",
        "/goal set scope:team team:Beta metric:points target:100 period:month",
    ]
    .iter()
    .enumerate()
    {
        let text = reply(&t.app, MANAGER, line, 70 + i as u64, now).await;
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
    }
    let csv = format!("{HEADER}2026-11-26T15:00:00Z,6,rep6,Beta,demo,1,,,m1\n");
    assert_eq!(import(&t.app, GUILD, &csv, "2026-11-27T12:00:00Z").await.imported, 1);
    let guild = rally::domain::activity::Snowflake::new(GUILD).unwrap();
    let settings = t.app.settings(guild).await.unwrap();
    let every: rally::app::goals::GoalFilter = std::sync::Arc::new(|_| true);
    let needs = rally::app::report::ReportNeeds { previous: true, streaks: false, kinds: true, everyone: false };
    for period in ["this-week", "this-month", "this-year", "today", "last-month", "2026-10-01..2026-11-15"] {
        let spec = rally::domain::period::PeriodSpec::parse(period).unwrap();
        let p = rally::domain::period::Period::resolve(&spec, &settings, now).unwrap();
        let all = t.app.goals_for_report(guild, &p, &every, None, now).await.unwrap();
        for team in ["Alpha", "beta", "Gamma"] {
            let within = t.app.goals_for_report(guild, &p, &every, Some(team), now).await.unwrap();
            // What the table shows: its team and its reps, as its report finds them.
            let Ok(report) = t.app.report_with(guild, &spec, Some(team), needs, now).await else {
                assert!(within.is_empty(), "no team {team}: {within:?}");
                continue;
            };
            let group = GoalSubject::Team(report.teams[0].id);
            let reps: Vec<GoalSubject> = report
                .members
                .iter()
                .map(|m| {
                    GoalSubject::Member(rally::domain::activity::Snowflake::new(m.user_id.parse().unwrap()).unwrap())
                })
                .collect();
            let shows = |g: &&rally::app::goals::GoalProgress| g.key.subject == group || reps.contains(&g.key.subject);
            // Every goal the table shows, as the read of every goal gives it; the read may hold a few
            // more (a goal period longer than the table's, with reps credited to the team earlier in
            // it), each as every goal's read gives it too, and the table leaves those out.
            let shown: Vec<_> = all.iter().filter(shows).collect();
            assert_eq!(within.iter().filter(shows).collect::<Vec<_>>(), shown, "{team}'s table, {period}");
            assert!(within.iter().all(|g| all.contains(g)), "{team}'s table, {period}: {within:?}");
        }
        if period == "this-week" {
            // The mover's goal is on both tables, counting what they logged for either team.
            let six = GoalSubject::Member(rally::domain::activity::Snowflake::new(6).unwrap());
            let theirs = |g: &&rally::app::goals::GoalProgress| g.key.subject == six;
            let alpha = t.app.goals_for_report(guild, &p, &every, Some("Alpha"), now).await.unwrap();
            let beta = t.app.goals_for_report(guild, &p, &every, Some("Beta"), now).await.unwrap();
            let (a, b) = (alpha.iter().find(theirs).unwrap(), beta.iter().find(theirs).unwrap());
            // Two demos for Alpha (5 points each) and one for Beta.
            assert_eq!((a.actual, b.actual), (15, 15), "{a:?} {b:?}");
            // Nobody else's: not rep 20's (no team), not the guild's.
            assert!(!alpha.iter().chain(&beta).any(|g| matches!(g.key.subject, GoalSubject::Guild)));
            let twenty = GoalSubject::Member(rally::domain::activity::Snowflake::new(20).unwrap());
            assert!(
                !alpha.iter().chain(&beta).any(|g| g.key.subject == twenty)
                    && all.iter().any(|g| g.key.subject == twenty)
            );
        }
    }
}
