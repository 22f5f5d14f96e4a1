//! Role rewards through the loopback Discord and serenity's real REST client: a member reaching the
//! threshold gets the role once, an undo or a new period takes it back, excluded members never get
//! it, `/reward add` refuses what Discord would refuse (saying how to fix it), a role change Discord
//! refuses stops the reward instead of retrying forever, a removed reward takes back only what rally
//! gave, and a restart between recording a holder and delivering the change applies it exactly once.

use std::sync::Arc;

use rally::app::App;
use rally::discord::roles::RestRoles;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, MANAGE_ROLES, Response, cmdline, dispatch};
use rally::loopback::{GuildRole, Loopback, openapi_for_tests};
use rally::scheduler::Scheduler;

use crate::helpers::*;

const GUILD: u64 = 5_100_000_000_000_001;
const CHANNEL: u64 = 950;
const MANAGER: u64 = 9;
/// The bot's own role, with Manage Roles, at position 5.
const BOT_ROLE: u64 = 60;
/// The reward role, below the bot's.
const CLOSER: u64 = 70;
/// A role above the bot's.
const ADMINS: u64 = 80;
/// A role an integration manages.
const BOOSTER: u64 = 90;
const TESTER: u64 = 777;
/// Monday 23 November 2026, 09:00 UTC (the guild keeps UTC).
const MONDAY: &str = "2026-11-23T09:00:00Z";
/// The first instant of the next week.
const NEXT_WEEK: &str = "2026-11-30T00:00:00Z";
/// The bot's permissions in the channel: Manage Roles and Send Messages.
const BOT_PERMISSIONS: u64 = MANAGE_ROLES | (1 << 11);

async fn loopback() -> Loopback {
    let lb = Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts");
    model_roles(&lb, 5);
    lb
}

/// The guild's roles with the bot's own role at `bot_position`.
fn model_roles(lb: &Loopback, bot_position: u16) {
    let role = |id: u64, name: &str, position: u16, managed: bool, manage_roles: bool| GuildRole {
        id,
        name: name.into(),
        position,
        managed,
        manage_roles,
    };
    lb.set_guild_roles(
        GUILD,
        &[
            role(BOT_ROLE, "rally", bot_position, true, true),
            role(CLOSER, "Closer", 3, false, false),
            role(ADMINS, "Admins", 8, false, true),
            role(BOOSTER, "Server Booster", 2, true, false),
            role(TESTER, "Tester", 1, false, false),
        ],
        &[BOT_ROLE],
    );
}

fn http(url: &str) -> Arc<serenity::http::Http> {
    Arc::new(rally::discord::http_client("test-token", Some(url)))
}

/// A rally whose `/reward add` reads roles from the loopback, as `rally run` installs it.
fn rally(lb: &Loopback) -> TestApp {
    let t = spawn_app();
    t.app.set_role_directory(Arc::new(RestRoles::new(http(&lb.url()))));
    t
}

fn inv(n: u64, user: u64, roles: &[u64], app_permissions: u64, line: &str) -> Invocation {
    let permissions = if user == MANAGER { MANAGE_GUILD } else { 0 };
    Invocation {
        channel: Some(CHANNEL),
        roles: roles.to_vec(),
        app_permissions: Some(app_permissions),
        ..invocation(
            GUILD,
            user,
            5_200_000_000_000_000 + n,
            permissions,
            Action::Command(cmdline::parse(line).unwrap()),
        )
    }
}

async fn run_as(app: &App, n: u64, user: u64, roles: &[u64], line: &str, now: &str) -> String {
    match dispatch(app, &inv(n, user, roles, BOT_PERMISSIONS, line), at(now)).await {
        Response::Message(m) => message_text(&m),
        other => panic!("{line}: {other:?}"),
    }
}

async fn run(app: &App, n: u64, user: u64, line: &str, now: &str) -> String {
    run_as(app, n, user, &[], line, now).await
}

/// A manager's command that must succeed.
async fn manager(app: &App, n: u64, line: &str, now: &str) -> String {
    let text = run(app, n, MANAGER, line, now).await;
    assert!(!text.starts_with("⚠️"), "{line}: {text}");
    text
}

/// The role requests the loopback saw for `user`: (method, status).
fn role_requests(lb: &Loopback, user: u64) -> Vec<(String, u16)> {
    let path = format!("/guilds/{GUILD}/members/{user}/roles/{CLOSER}");
    lb.requests().into_iter().filter(|r| r.path.ends_with(&path)).map(|r| (r.method, r.status)).collect()
}

fn put(n: usize) -> Vec<(String, u16)> {
    vec![("PUT".to_string(), 204); n]
}

#[tokio::test]
async fn a_member_reaching_the_threshold_gets_the_role_once_and_an_undo_below_it_takes_it_back() {
    let lb = loopback().await;
    let t = rally(&lb);
    let added =
        manager(&t.app, 1, &format!("/reward add role:<@&{CLOSER}> metric:won period:week at-least:2"), MONDAY).await;
    assert!(added.contains("Reward #1") && added.contains("2 deals won in a week"), "{added}");
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    run(&t.app, 2, 11, "/log kind:won amount:1000", "2026-11-24T10:00:00Z").await;
    run(&t.app, 3, 12, "/log kind:won amount:500", "2026-11-24T10:05:00Z").await;
    s.tick(at("2026-11-24T10:06:00Z")).await.unwrap();
    assert!(role_requests(&lb, 11).is_empty(), "one win is below the threshold");

    run(&t.app, 4, 11, "/log kind:won amount:2000", "2026-11-24T11:00:00Z").await;
    // However often the scheduler wakes, the role is given once.
    for minute in ["01", "02", "03"] {
        s.tick(at(&format!("2026-11-24T11:{minute}:00Z"))).await.unwrap();
    }
    assert_eq!(role_requests(&lb, 11), put(1), "exactly one PUT for the member who reached it");
    assert_eq!(lb.member_roles(GUILD, 11), vec![CLOSER]);
    assert!(role_requests(&lb, 12).is_empty(), "the rep below the threshold gets nothing");
    let list = run(&t.app, 5, 12, "/reward list", "2026-11-24T11:05:00Z").await;
    assert!(list.contains(&format!("<@&{CLOSER}>")) && list.contains("1 member holds it now"), "{list}");

    // The undo takes them back below 2: the role goes.
    let undone = run(&t.app, 6, 11, "/undo", "2026-11-24T11:10:00Z").await;
    assert!(!undone.starts_with("⚠️"), "{undone}");
    s.tick(at("2026-11-24T11:10:01Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), vec![("PUT".to_string(), 204), ("DELETE".to_string(), 204)]);
    assert!(lb.member_roles(GUILD, 11).is_empty());
    let list = run(&t.app, 7, 12, "/reward list", "2026-11-24T11:15:00Z").await;
    assert!(list.contains("0 members hold it now"), "{list}");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_new_period_takes_the_role_from_those_below_and_leaves_it_with_those_already_above() {
    let lb = loopback().await;
    let t = rally(&lb);
    // The scheduler was running before the reward existed: adding it brings its boundary in.
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    assert_eq!(s.tick(at("2026-11-25T09:58:00Z")).await.unwrap(), None, "nothing to wake for yet");
    let line = format!("/reward add role:<@&{CLOSER}> metric:call period:week at-least:10");
    manager(&t.app, 1, &line, "2026-11-25T09:59:00Z").await;
    run(&t.app, 2, 11, "/log kind:call count:12", "2026-11-25T10:00:00Z").await;
    run(&t.app, 3, 12, "/log kind:call count:10", "2026-11-25T10:01:00Z").await;
    let next = s.tick(at("2026-11-25T10:02:00Z")).await.unwrap();
    assert_eq!(next, Some(at(NEXT_WEEK)), "the scheduler wakes at the week's end to take roles back");
    assert_eq!((role_requests(&lb, 11), role_requests(&lb, 12)), (put(1), put(1)));

    // The bot was down across the boundary; rep 12 made 10 calls early on Monday (imported), rep 11
    // made none yet this week. At its first step after the boundary, 11 loses the role and 12 keeps it.
    let mut csv = HEADER.to_string();
    csv.push_str("2026-11-30T07:00:00Z,12,rep12,,call,10,,,early12\n");
    import(&t.app, GUILD, &csv, "2026-11-30T07:30:00Z").await;
    Scheduler::new(t.app.clone(), http(&lb.url())).tick(at("2026-11-30T08:00:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), vec![("PUT".to_string(), 204), ("DELETE".to_string(), 204)]);
    assert_eq!(role_requests(&lb, 12), put(1), "already above in the new week: no change for 12");
    assert_eq!(lb.member_roles(GUILD, 12), vec![CLOSER]);
    assert!(lb.member_roles(GUILD, 11).is_empty());
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn members_left_off_the_boards_never_get_the_reward_role() {
    let lb = loopback().await;
    let t = rally(&lb);
    manager(&t.app, 1, &format!("/settings leaderboard-exclude role:<@&{TESTER}>"), MONDAY).await;
    manager(&t.app, 2, &format!("/reward add role:<@&{CLOSER}> metric:points period:month at-least:20"), MONDAY).await;
    // The tester logs (their interaction shows the tester role) and outscores everyone.
    run_as(&t.app, 3, 13, &[TESTER], "/log kind:demo count:10", "2026-11-24T10:00:00Z").await;
    run_as(&t.app, 4, 13, &[TESTER], "/me", "2026-11-24T10:01:00Z").await;
    run(&t.app, 5, 11, "/log kind:demo count:4", "2026-11-24T10:02:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-24T10:03:00Z")).await.unwrap();
    s.tick(at("2026-11-24T12:00:00Z")).await.unwrap();
    assert!(role_requests(&lb, 13).is_empty(), "the excluded tester never gets it");
    assert_eq!(role_requests(&lb, 11), put(1));
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn reward_add_refuses_what_discord_would_refuse_says_how_to_fix_it_and_changes_nothing() {
    let lb = loopback().await;
    let t = rally(&lb);
    let ask = |n: u64, user: u64, perms: u64, line: String| {
        let app = t.app.clone();
        async move {
            match dispatch(&app, &inv(n, user, &[], perms, &line), at(MONDAY)).await {
                Response::Message(m) => message_text(&m),
                other => panic!("{other:?}"),
            }
        }
    };
    let add = |role: u64| format!("/reward add role:<@&{role}> metric:won period:month at-least:5");

    let rep = ask(1, 11, BOT_PERMISSIONS, add(CLOSER)).await;
    assert!(rep.starts_with("⚠️") && rep.contains("for managers"), "{rep}");
    let no_manage = ask(2, MANAGER, 1 << 11, add(CLOSER)).await;
    assert!(
        no_manage.starts_with("⚠️")
            && no_manage.contains("Manage Roles")
            && no_manage.contains("Server Settings → Roles"),
        "{no_manage}"
    );
    let above = ask(3, MANAGER, BOT_PERMISSIONS, add(ADMINS)).await;
    assert!(
        above.starts_with("⚠️") && above.contains(&format!("drag **rally** above <@&{ADMINS}>")),
        "the fix names the bot's role and the reward role: {above}"
    );
    let everyone = ask(4, MANAGER, BOT_PERMISSIONS, add(GUILD)).await;
    assert!(everyone.starts_with("⚠️") && everyone.contains("@everyone"), "{everyone}");
    let managed = ask(5, MANAGER, BOT_PERMISSIONS, add(BOOSTER)).await;
    assert!(managed.starts_with("⚠️") && managed.contains("managed by an integration"), "{managed}");
    let bad =
        ask(6, MANAGER, BOT_PERMISSIONS, format!("/reward add role:<@&{CLOSER}> metric:won period:month at-least:0"))
            .await;
    assert!(bad.starts_with("⚠️") && bad.contains("threshold must be more than 0"), "{bad}");
    assert!(t.app.rewards(id(GUILD)).await.unwrap().is_empty(), "nothing was added");
    assert!(
        lb.requests().iter().any(|r| r.method == "GET" && r.path.ends_with(&format!("/guilds/{GUILD}/roles"))),
        "the hierarchy was read from Discord"
    );

    // Once rally's role is dragged above the reward role, the same request goes through.
    model_roles(&lb, 9);
    let ok = ask(7, MANAGER, BOT_PERMISSIONS, add(ADMINS)).await;
    assert!(ok.contains("Reward #1") && !ok.contains("could not check"), "{ok}");
    let twice = ask(8, MANAGER, BOT_PERMISSIONS, add(ADMINS)).await;
    assert!(twice.starts_with("⚠️") && twice.contains("already reward #1"), "{twice}");
    // Discord failing to list the roles does not block a manager; the reply says what went unchecked.
    lb.fail_next(&format!("/guilds/{GUILD}/roles"), 500, 1);
    let unlisted = ask(9, MANAGER, BOT_PERMISSIONS, add(CLOSER)).await;
    assert!(unlisted.contains("Reward #2") && unlisted.contains("could not check"), "{unlisted}");

    // Off Discord there is no bot to ask: the reward is added, saying the hierarchy went unchecked.
    let offline = spawn_app();
    let line = cmdline::parse(&add(CLOSER)).unwrap();
    let Response::Message(m) =
        dispatch(&offline.app, &invocation(GUILD, MANAGER, 1, MANAGE_GUILD, Action::Command(line)), at(MONDAY)).await
    else {
        panic!()
    };
    let text = message_text(&m);
    assert!(text.contains("Reward #1") && text.contains("could not check"), "{text}");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_role_change_discord_refuses_stops_the_reward_and_the_list_says_why_until_it_is_added_again() {
    let lb = loopback().await;
    let t = rally(&lb);
    manager(&t.app, 1, &format!("/reward add role:<@&{CLOSER}> metric:won period:month at-least:1"), MONDAY).await;
    // Someone drags rally's role below the reward role after the reward was added.
    model_roles(&lb, 2);
    run(&t.app, 2, 11, "/log kind:won amount:100", "2026-11-24T10:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-24T10:01:00Z")).await.unwrap();
    s.tick(at("2026-11-24T10:02:00Z")).await.unwrap();
    run(&t.app, 3, 12, "/log kind:won amount:100", "2026-11-24T10:03:00Z").await;
    s.tick(at("2026-11-24T10:04:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), vec![("PUT".to_string(), 403)], "a 403 is not retried");
    assert!(role_requests(&lb, 12).is_empty(), "a stopped reward asks Discord for nothing more");
    let list = run(&t.app, 4, 11, "/reward list", "2026-11-24T10:05:00Z").await;
    assert!(list.contains("stopped") && list.contains("403") && list.contains("0 members hold it now"), "{list}");
    let warning = lb.channel_messages(CHANNEL);
    assert_eq!(warning.len(), 1, "the manager's channel hears of it once: {warning:#?}");
    assert!(warning[0]["content"].as_str().unwrap_or("").contains("Manage Roles"), "{}", warning[0]);

    // Fixed in Server Settings, the manager adds it again: it is back on, and both reps get it.
    model_roles(&lb, 5);
    let back =
        manager(&t.app, 5, &format!("/reward add role:<@&{CLOSER}> metric:won period:month at-least:1"), MONDAY).await;
    assert!(back.contains("is back on"), "{back}");
    s.tick(at("2026-11-24T10:10:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), vec![("PUT".to_string(), 403), ("PUT".to_string(), 204)]);
    assert_eq!(role_requests(&lb, 12), put(1));
}

#[tokio::test]
async fn a_restart_between_recording_a_holder_and_delivering_the_role_applies_it_exactly_once() {
    let lb = loopback().await;
    let t = rally(&lb);
    manager(&t.app, 1, &format!("/reward add role:<@&{CLOSER}> metric:won period:month at-least:1"), MONDAY).await;
    run(&t.app, 2, 11, "/log kind:won amount:100", "2026-11-24T10:00:00Z").await;
    // The pass records the holder and queues the change in one transaction; the process dies
    // before anything is delivered.
    let pass = t.app.evaluate_rewards(true, at("2026-11-24T10:00:01Z")).await.unwrap();
    assert_eq!(pass.given, 1);
    assert!(role_requests(&lb, 11).is_empty());

    let restarted = App::open_at(&t.location()).unwrap();
    let s = Scheduler::new(restarted.clone(), http(&lb.url()));
    s.tick(at("2026-11-24T10:05:00Z")).await.unwrap();
    s.tick(at("2026-11-24T11:30:00Z")).await.unwrap();
    Scheduler::new(restarted.clone(), http(&lb.url())).tick(at("2026-11-24T12:00:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), put(1), "given once across the restart and later passes");
    let role_posts = restarted.store.posts(GUILD as i64).await.unwrap();
    assert_eq!(role_posts.len(), 1, "{role_posts:#?}");
    assert!(role_posts[0].delivered);
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_removed_reward_takes_back_only_the_roles_rally_gave_and_a_role_from_elsewhere_stays() {
    let lb = loopback().await;
    let t = rally(&lb);
    manager(&t.app, 1, &format!("/reward add role:<@&{CLOSER}> metric:won period:month at-least:1"), MONDAY).await;
    // Rep 12 was given @Closer by hand (their interactions show it); rep 11 was not.
    run_as(&t.app, 2, 12, &[CLOSER], "/log kind:won amount:300", "2026-11-24T10:00:00Z").await;
    run(&t.app, 3, 11, "/log kind:won amount:300", "2026-11-24T10:01:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-24T10:02:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), put(1));
    assert!(role_requests(&lb, 12).is_empty(), "rally gives nothing to a member who holds the role already");

    let refused = run(&t.app, 4, 11, "/reward remove id:1", "2026-11-24T11:00:00Z").await;
    assert!(refused.starts_with("⚠️") && refused.contains("for managers"), "{refused}");
    let removed = manager(&t.app, 5, "/reward remove id:1", "2026-11-24T11:00:00Z").await;
    assert!(removed.contains("back from the 1 member I gave it to"), "{removed}");
    s.tick(at("2026-11-24T11:00:01Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 11), vec![("PUT".to_string(), 204), ("DELETE".to_string(), 204)]);
    assert!(role_requests(&lb, 12).is_empty(), "the hand-given role stays where it is");
    let again = run(&t.app, 6, MANAGER, "/reward remove id:1", "2026-11-24T11:05:00Z").await;
    assert!(again.starts_with("⚠️") && again.contains("no reward #1"), "{again}");
    let list = run(&t.app, 7, 11, "/reward list", "2026-11-24T11:05:00Z").await;
    assert!(list.contains("No reward roles yet"), "{list}");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
}

#[tokio::test]
async fn a_member_who_left_the_server_is_skipped_without_stopping_the_reward_or_asking_again() {
    let lb = loopback().await;
    lb.set_guild_members(GUILD, &[11, 12]);
    let t = rally(&lb);
    manager(&t.app, 1, &format!("/reward add role:<@&{CLOSER}> metric:call period:month at-least:5"), MONDAY).await;
    // Rep 13's calls come from the old spreadsheet; they have left the server since.
    let mut csv = HEADER.to_string();
    csv.push_str("2026-11-23T10:00:00Z,13,rep13,,call,9,,,gone13\n");
    import(&t.app, GUILD, &csv, "2026-11-23T11:00:00Z").await;
    let s = Scheduler::new(t.app.clone(), http(&lb.url()));
    s.tick(at("2026-11-23T11:01:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 13), vec![("PUT".to_string(), 404)]);
    run(&t.app, 2, 11, "/log kind:call count:5", "2026-11-23T12:00:00Z").await;
    s.tick(at("2026-11-23T12:01:00Z")).await.unwrap();
    s.tick(at("2026-11-23T14:00:00Z")).await.unwrap();
    assert_eq!(role_requests(&lb, 13).len(), 1, "not asked again");
    assert_eq!(role_requests(&lb, 11), put(1), "the reward keeps working for the others");
    assert!(lb.channel_messages(CHANNEL).is_empty(), "nothing for a manager to fix");
    let list = run(&t.app, 3, 11, "/reward list", "2026-11-23T14:00:00Z").await;
    assert!(!list.contains("stopped"), "{list}");
}

#[tokio::test]
async fn a_role_is_a_rewards_or_a_running_competitions_never_both() {
    let lb = loopback().await;
    let t = rally(&lb);
    let compete = |name: &str, role: u64| {
        format!(
            "/compete create name:{name} metric:points between:reps scoring:total start:2026-11-23 end:2026-11-29 \
             repeat:weekly channel:<#{CHANNEL}> reward-role:<@&{role}>"
        )
    };
    manager(&t.app, 1, &compete("Dash", CLOSER), MONDAY).await;

    // The competition's role as a reward: refused, saying which competition, and nothing saved.
    let reward = format!("/reward add role:<@&{CLOSER}> metric:won period:week at-least:2");
    let refused = run(&t.app, 2, MANAGER, &reward, MONDAY).await;
    assert!(
        refused.starts_with("⚠️")
            && refused.contains("reward role of the competition **Dash**")
            && refused.contains("/compete end name:Dash"),
        "{refused}"
    );
    assert!(t.app.rewards(id(GUILD)).await.unwrap().is_empty());
    // Another competition giving the same role: refused too.
    let refused = run(&t.app, 3, MANAGER, &compete("Sprint", CLOSER), MONDAY).await;
    assert!(refused.contains("already the reward role of the competition **Dash**"), "{refused}");

    // Once Dash has ended, the role is free for a reward, and then no competition may give it.
    manager(&t.app, 4, "/compete end name:Dash", MONDAY).await;
    manager(&t.app, 5, &reward, MONDAY).await;
    let refused = run(&t.app, 6, MANAGER, &compete("Sprint", CLOSER), MONDAY).await;
    assert!(refused.starts_with("⚠️") && refused.contains("already given by `/reward` (reward 1)"), "{refused}");
    // Another role is fine.
    let created = manager(&t.app, 7, &compete("Sprint", TESTER), MONDAY).await;
    assert!(created.contains(&format!("<@&{TESTER}>")), "{created}");
}
