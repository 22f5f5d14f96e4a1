//! Slash commands through the shared pipeline (`handlers::dispatch`), as every transport runs them.

use rally::handlers::{Action, CommandCall, Invocation, MANAGE_GUILD, OptionValue, Response, cmdline, dispatch};

use crate::helpers::*;

const NOW: &str = "2026-11-27T15:00:00Z"; // a Friday

pub fn invocation(id: u64, user: u64, permissions: u64, line: &str) -> Invocation {
    Invocation {
        id,
        guild: rally::domain::activity::Snowflake::new(1).unwrap(),
        channel: Some(7),
        user: rally::domain::activity::Snowflake::new(user).unwrap(),
        user_name: format!("rep{user}"),
        roles: Vec::new(),
        permissions,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(cmdline::parse(line).unwrap()),
    }
}

async fn run(t: &TestApp, id: u64, user: u64, permissions: u64, line: &str) -> rally::handlers::Message {
    match dispatch(&t.app, &invocation(id, user, permissions, line), at(NOW)).await {
        Response::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn text(m: &rally::handlers::Message) -> String {
    message_text(m)
}

#[tokio::test]
async fn log_replies_privately_with_totals_and_an_undo_button_and_counts_a_redelivery_once() {
    let t = spawn_app();
    let m = run(&t, 1001, 42, 0, "/log kind:call count:3").await;
    assert!(m.ephemeral);
    let content = m.content.clone().unwrap();
    assert!(content.starts_with("✅ Logged **3 × call** (+3 pts) · Fri 27 Nov 15:00"), "{content}");
    assert!(content.contains("Today: **3 × call**, **3 pts** from everything · This week: **3 pts**"), "{content}");
    assert_eq!(m.buttons.len(), 1);
    assert!(m.buttons[0].custom_id.starts_with("undo:"));

    let again = run(&t, 1001, 42, 0, "/log kind:call count:3").await;
    assert!(again.content.unwrap().starts_with("✅ Already Logged **3 × call**"));
    let m = run(&t, 1002, 42, 0, "/log kind:demo when:-2h note:\"intro with Acme\"").await;
    assert!(m.content.clone().unwrap().contains("**8 pts** from everything"), "{:?}", m.content);
}

#[tokio::test]
async fn bad_log_options_get_a_clear_private_error_and_change_nothing() {
    let t = spawn_app();
    run(&t, 1, 42, 0, "/log kind:call").await;
    let before = t.app.store.audit_count(1).await.unwrap();
    let cases = [
        ("/log kind:call amount:100", "⚠️ `call` does not carry an amount; only kinds like `won` do"),
        ("/log kind:won amount:-5", "⚠️ an amount cannot be negative"),
        (
            "/log kind:won amount:12.345",
            "⚠️ `12.345` has 3 decimals, but USD has 2; in the 1.234,56 format it would mean 12,345.00\u{a0}USD. Write amounts like 1,250.50 or 1250.50",
        ),
        (
            "/log kind:call when:tomorrow",
            "⚠️ `tomorrow` is not a time I understand; try `today 14:30`, `yesterday`, `2026-10-14 09:00` or `-2h`",
        ),
        ("/log kind:call when:\"2026-11-28 09:00\"", "⚠️ an activity cannot be logged in the future"),
        ("/log kind:call when:-30d", "⚠️ activities can be back-dated at most 7 days"),
        (
            "/log kind:juggling",
            "⚠️ `juggling` is not an activity kind here; try one of: call, email, meeting, demo, proposal, won, lost",
        ),
        ("/log kind:\"drop table\"", "⚠️ `drop table` is not a valid kind name (1-32 letters, digits, - or _)"),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let m = run(&t, 100 + i as u64, 42, 0, line).await;
        assert!(m.ephemeral, "{line}");
        assert_eq!(m.content.as_deref(), Some(*want), "{line}");
    }
    // Values the command line cannot produce but a forged payload could.
    let mut forged = invocation(200, 42, 0, "/log kind:call");
    if let Action::Command(call) = &mut forged.action {
        call.options.push(("count".into(), OptionValue::Integer(5000)));
        call.options.push(("note".into(), OptionValue::String("x".repeat(501))));
    }
    let Response::Message(m) = dispatch(&t.app, &forged, at(NOW)).await else { panic!() };
    assert_eq!(m.content.as_deref(), Some("⚠️ quantity must be between 1 and 1000, not 5000"));
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), before, "nothing was written");
}

#[tokio::test]
async fn the_undo_button_undoes_that_activity_for_its_owner_only() {
    let t = spawn_app();
    let m = run(&t, 1, 42, 0, "/log kind:proposal").await;
    let custom_id = m.buttons[0].custom_id.clone();
    let press = |user: u64, id: u64| Invocation {
        action: Action::Button { custom_id: custom_id.clone() },
        ..invocation(id, user, 0, "/undo")
    };
    let Response::Message(other) = dispatch(&t.app, &press(43, 2), at(NOW)).await else { panic!() };
    assert_eq!(other.content.as_deref(), Some("⚠️ there is no activity of yours to undo"));
    let Response::Message(mine) = dispatch(&t.app, &press(42, 3), at(NOW)).await else { panic!() };
    assert!(mine.content.unwrap().starts_with("↩️ Undone: **1 × proposal** (−8 pts)"));
    let Response::Message(twice) = dispatch(&t.app, &press(42, 4), at(NOW)).await else { panic!() };
    assert_eq!(twice.content.as_deref(), Some("⚠️ that activity was already undone"));
    let m = run(&t, 5, 42, 0, "/undo").await;
    assert_eq!(
        m.content.as_deref(),
        Some(
            "⚠️ nothing you logged in chat in the last 24 hours to undo; \
             imported rows are removed with `rally import --remove --guild 1 FILE`"
        )
    );
}

#[tokio::test]
async fn me_shows_my_numbers_rank_in_team_and_streak() {
    let t = spawn_app();
    run(&t, 1, 9, MANAGE_GUILD, "/team create name:Alpha").await;
    for (i, user) in [42u64, 43].iter().enumerate() {
        run(&t, 10 + i as u64, 9, MANAGE_GUILD, &format!("/team add team:Alpha user:<@{user}>")).await;
    }
    run(&t, 20, 42, 0, "/log kind:call count:2 when:yesterday").await;
    run(&t, 21, 42, 0, "/log kind:won amount:1200").await;
    run(&t, 22, 43, 0, "/log kind:proposal count:5").await;
    let m = run(&t, 30, 42, 0, "/me").await;
    assert!(m.ephemeral);
    let s = text(&m);
    assert!(s.contains("Points: **22**"), "{s}");
    assert!(s.contains("Rank in team: #2 of 2 in Alpha"), "{s}");
    assert!(s.contains("Streak: 🔥 2 working days"), "{s}");
    assert!(s.contains("Revenue: 1,200.00\u{a0}USD"), "{s}");
    let m = run(&t, 31, 44, 0, "/me period:last-month").await;
    assert!(text(&m).starts_with("You have not logged anything yet."), "{}", text(&m));
}

#[tokio::test]
async fn manager_commands_are_refused_to_reps_and_allowed_to_the_manager_role() {
    let t = spawn_app();
    for (i, line) in
        ["/kpi team", "/kpi rep user:<@43>", "/team create name:X", "/settings show", "/export"].iter().enumerate()
    {
        let m = run(&t, 1 + i as u64, 42, 0, line).await;
        assert!(m.content.as_deref().unwrap_or("").starts_with("⚠️ this command is for managers"), "{line}: {m:?}");
    }
    run(&t, 10, 1, MANAGE_GUILD, "/settings manager-role role:555").await;
    let mut inv = invocation(11, 42, 0, "/kpi team");
    inv.roles = vec![555];
    let Response::Message(m) = dispatch(&t.app, &inv, at(NOW)).await else { panic!() };
    assert!(m.embeds[0].title.as_deref().unwrap_or("").starts_with("All reps"), "{m:?}");
}

#[tokio::test]
async fn kpi_team_for_two_hundred_reps_fits_discord_limits_in_pages() {
    let t = spawn_app();
    let mut csv = HEADER.to_string();
    for i in 0..200u64 {
        csv.push_str(&format!(
            "2026-11-24T10:00:00Z,{},Representative Number {i},Alpha,call,{},,,r{i}\n",
            1000 + i,
            i + 1
        ));
    }
    import(&t.app, 1, &csv, NOW).await;
    let m = run(&t, 1, 9, MANAGE_GUILD, "/kpi team team:Alpha public:true").await;
    assert!(!m.ephemeral, "public:true posts for everyone");
    let e = &m.embeds[0];
    let description = e.description.clone().unwrap();
    assert!(description.chars().count() <= 4096);
    assert!(e.footer.as_deref().unwrap_or("").starts_with("Page 1 of 10"), "{e:?}");
    assert_eq!(description.lines().filter(|l| l.contains("Representative")).count(), 20, "{description}");
    assert!(description.contains("Representative …"), "names are clipped to keep rows narrow");
    let total: usize = e.title.as_deref().map_or(0, |t| t.chars().count())
        + description.chars().count()
        + e.fields.iter().map(|f| f.name.chars().count() + f.value.chars().count()).sum::<usize>()
        + e.footer.as_deref().map_or(0, |f| f.chars().count());
    assert!(total <= 6000, "{total}");
    // The top of the table is the best rep; the last page ends with the 200th.
    assert!(description.lines().nth(2).unwrap().contains("200"), "{description}");
    let last = run(&t, 1, 9, MANAGE_GUILD, "/kpi team team:Alpha page:10").await;
    let last = last.embeds[0].description.clone().unwrap();
    assert!(last.lines().any(|l| l.starts_with("200 ")), "{last}");
}

#[tokio::test]
async fn kpi_rep_compares_this_period_with_the_previous_one() {
    let t = spawn_app();
    let csv = format!(
        "{HEADER}2026-11-17T10:00:00Z,43,Bea,Alpha,call,4,,,a\n2026-11-24T10:00:00Z,43,Bea,Alpha,call,10,,,b\n2026-11-24T11:00:00Z,43,Bea,Alpha,won,1,500,,c\n"
    );
    import(&t.app, 1, &csv, NOW).await;
    let m = run(&t, 1, 9, MANAGE_GUILD, "/kpi rep user:<@43>").await;
    let s = text(&m);
    assert!(s.contains("Points: **30** · prev 4 · +26 (+650%)"), "{s}");
    assert!(s.contains("call: **10** · prev 4 · +6 (+150%)"), "{s}");
    assert!(s.contains("Revenue: **500.00\u{a0}USD** · prev 0.00\u{a0}USD · +500.00\u{a0}USD (new)"), "{s}");
}

/// Four reps on two teams this week: Cy 20 points, Ann and Di 9 each (a tie), Ben 5.
const FOUR_REPS: &str = "\
2026-11-24T10:00:00Z,41,Ann,Alpha,call,9,,,a
2026-11-24T10:00:00Z,42,Ben,Alpha,demo,1,,,b
2026-11-24T10:00:00Z,43,Cy,Beta,won,1,900,,c
2026-11-24T10:00:00Z,44,Di,Beta,call,9,,,d
";

#[tokio::test]
async fn kpi_rep_ranks_the_rep_among_every_member_of_the_server_with_ties_sharing_a_place() {
    let t = spawn_app();
    // Cy 20 points, Ann and Di 9 each (a tie), Ben 5, on two teams; Eve logged only last month.
    let csv = format!("{HEADER}{FOUR_REPS}2026-10-20T10:00:00Z,45,Eve,Beta,call,50,,,e\n");
    import(&t.app, 1, &csv, NOW).await;
    let rank = |m: &rally::handlers::Message| {
        m.embeds[0].fields.iter().find(|f| f.name == "Rank").map(|f| f.value.clone()).unwrap_or_default()
    };
    let expected = [(43, "#1 of 5"), (41, "#2 of 5"), (44, "#2 of 5"), (42, "#4 of 5"), (45, "#5 of 5")];
    for (n, (user, place)) in expected.into_iter().enumerate() {
        let m = run(&t, 1 + n as u64, 9, MANAGE_GUILD, &format!("/kpi rep user:<@{user}> period:this-month")).await;
        assert_eq!(rank(&m), place, "{}", text(&m));
    }
    // Last month Eve led, by points on any team.
    let m = run(&t, 9, 9, MANAGE_GUILD, "/kpi rep user:<@45> period:last-month").await;
    assert_eq!(rank(&m), "#1 of 5", "{}", text(&m));
}

#[tokio::test]
async fn the_leaderboard_ranks_reps_or_teams_by_any_metric() {
    let t = spawn_app();
    let csv = format!("{HEADER}{FOUR_REPS}");
    import(&t.app, 1, &csv, NOW).await;
    let m = run(&t, 1, 42, 0, "/leaderboard").await;
    assert!(!m.ephemeral);
    let d = m.embeds[0].description.clone().unwrap();
    let lines: Vec<&str> = d.lines().collect();
    assert_eq!(lines[0], "🥇 `#1  ` Cy — **20**");
    assert_eq!(lines[1], "🥈 `#2  ` Ann — **9**");
    assert_eq!(lines[2], "🥈 `#2  ` Di — **9**");
    assert_eq!(lines[3], "▫️ `#4  ` **Ben** (you) — **5**");
    let m = run(&t, 2, 42, 0, "/leaderboard metric:call scope:teams").await;
    let d = m.embeds[0].description.clone().unwrap();
    assert_eq!(d.lines().collect::<Vec<_>>(), ["🥇 `#1  ` Alpha — **9**", "🥇 `#1  ` Beta — **9**"]);
    let m = run(&t, 3, 42, 0, "/leaderboard metric:revenue").await;
    assert!(m.embeds[0].description.clone().unwrap().starts_with("🥇 `#1  ` Cy — **900.00\u{a0}USD**"));
    let m = run(&t, 4, 42, 0, "/leaderboard metric:vibes").await;
    assert!(m.content.unwrap().starts_with("⚠️ `vibes` is not a metric"));
}

#[tokio::test]
async fn teams_are_created_renamed_staffed_and_deleted_without_moving_history() {
    let t = spawn_app();
    let mgr = |id: u64, line: &'static str| (id, line);
    for (id, line) in [
        mgr(1, "/team create name:Alpha"),
        mgr(2, "/team add team:alpha user:<@42>"),
        mgr(3, "/team channel team:Alpha channel:<#77>"),
    ] {
        let m = run(&t, id, 9, MANAGE_GUILD, line).await;
        assert!(!m.content.clone().unwrap_or_default().starts_with("⚠️"), "{line}: {m:?}");
    }
    let dup = run(&t, 4, 9, MANAGE_GUILD, "/team create name:ALPHA").await;
    assert_eq!(dup.content.as_deref(), Some("⚠️ a team named `ALPHA` already exists"));
    run(&t, 5, 42, 0, "/log kind:call count:4").await;
    run(&t, 6, 9, MANAGE_GUILD, "/team rename team:Alpha name:Hunters").await;
    let list = run(&t, 7, 9, MANAGE_GUILD, "/team list").await;
    assert!(text(&list).contains("Hunters (1) · <#77>: rep42"), "{}", text(&list));
    let m = run(&t, 8, 9, MANAGE_GUILD, "/team delete team:Hunters").await;
    assert!(m.content.unwrap().contains("1 member was left without a team"));
    let r = t.app.report(id(1), &rally::domain::period::PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
    assert_eq!((r.members[0].points, r.members[0].team.clone()), (4, None));
    let m = run(&t, 9, 9, MANAGE_GUILD, "/team remove user:<@42>").await;
    assert_eq!(m.content.as_deref(), Some("⚠️ <@42> is not on a team"));
}

#[tokio::test]
async fn settings_change_the_calendar_and_the_kinds() {
    let t = spawn_app();
    let m = run(&t, 1, 9, MANAGE_GUILD, "/settings timezone timezone:America/New_York").await;
    assert!(text(&m).contains("Timezone: America/New_York"), "{}", text(&m));
    let m = run(&t, 2, 9, MANAGE_GUILD, "/settings timezone timezone:Mars/Olympus").await;
    assert!(m.content.unwrap().starts_with("⚠️ `Mars/Olympus` is not an IANA timezone"));
    run(&t, 3, 9, MANAGE_GUILD, "/settings kind name:referral points:4").await;
    let m = run(&t, 4, 42, 0, "/log kind:referral count:2").await;
    assert!(m.content.unwrap().contains("(+8 pts)"));
    let m = run(&t, 5, 9, MANAGE_GUILD, "/settings kind-remove name:won").await;
    assert!(m.content.unwrap().contains("cannot be removed"));
    let m = run(&t, 6, 9, MANAGE_GUILD, "/settings week-start day:sunday").await;
    assert!(text(&m).contains("Week starts: sunday"));
}

#[tokio::test]
async fn export_attaches_the_period_as_csv_in_the_import_format() {
    let t = spawn_app();
    run(&t, 1, 42, 0, "/log kind:won amount:1250 note:\"Acme, renewal\"").await;
    let m = run(&t, 2, 9, MANAGE_GUILD, "/export period:this-month").await;
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "rally-this-month.csv");
    let csv = String::from_utf8(m.attachments[0].data.clone()).unwrap();
    assert!(
        csv.starts_with("occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id,deal,currency\n")
    );
    assert!(
        csv.contains("2026-11-27T15:00:00Z,42,rep42,,won,1,\"1,250.00\",\"Acme, renewal\",interaction:1,,USD"),
        "{csv}"
    );
}

#[tokio::test]
async fn autocomplete_suggests_the_guilds_kinds_periods_and_teams() {
    let t = spawn_app();
    run(&t, 1, 9, MANAGE_GUILD, "/team create name:Alpha").await;
    let complete = |line: &str, focused: &str, typed: &str| {
        let mut words = line.trim_start_matches('/').split(' ');
        let mut call = CommandCall {
            name: words.next().unwrap().to_string(),
            sub: words.next().map(String::from),
            ..Default::default()
        };
        call.options.push((focused.to_string(), OptionValue::String(typed.to_string())));
        Invocation {
            action: Action::Autocomplete { call, focused: focused.to_string() },
            ..invocation(50, 42, 0, "/help")
        }
    };
    let Response::Choices(c) = dispatch(&t.app, &complete("/log", "kind", "d"), at(NOW)).await else { panic!() };
    assert_eq!(c.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(), ["demo"]);
    assert_eq!(c[0].name, "demo (5 pts)");
    let Response::Choices(c) = dispatch(&t.app, &complete("/me", "period", "last"), at(NOW)).await else { panic!() };
    assert_eq!(c.len(), 4);
    let Response::Choices(c) = dispatch(&t.app, &complete("/leaderboard", "team", ""), at(NOW)).await else { panic!() };
    assert_eq!(c.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(), ["Alpha"]);
    let Response::Choices(c) = dispatch(&t.app, &complete("/settings timezone", "timezone", "berl"), at(NOW)).await
    else {
        panic!()
    };
    assert!(c.iter().any(|c| c.value == "Europe/Berlin"));
}
