//! The live TV wallboard over real HTTP (no browser): `/wallboard link|revoke` through the shared
//! pipeline, a wrong or revoked token gets 404 and opens nothing else, the page shows only the
//! money the guild's privacy allows and fetches nothing from outside, and server-sent events carry
//! a log to every open screen, rendered once. The browser tests (`wallboard_browser.rs`) reuse the
//! sales floor set up here.
//!
//! The floor: teams Alpha (Ana Alvarez 42, Ben Brooks 43) and Bravo (Cleo Chen 44, Dev Desai 45),
//! manager 9; a team goal each, a competition on points between the teams and one on revenue
//! between the reps; a few calls, demos and wins
//! logged on Wednesday 25 November 2026 (UTC).

use std::time::{Duration, Instant};

use rally::discord::Clock;
use rally::handlers::{Action, Invocation, MANAGE_GUILD, Response, cmdline, dispatch};

use crate::helpers::*;

pub const NOW: &str = "2026-11-25T15:00:00Z";
pub const MANAGER: u64 = 9;
const GUILD: u64 = 1;

/// A rep's display name by user id.
pub fn name_of(user: u64) -> String {
    match user {
        42 => "Ana Alvarez".into(),
        43 => "Ben Brooks".into(),
        44 => "Cleo Chen".into(),
        45 => "Dev Desai".into(),
        46 => "Eve Evans".into(),
        47 => "<img src=x onerror=alert(1)> Mal".into(),
        MANAGER => "Morgan Manager".into(),
        other => format!("rep{other}"),
    }
}

/// A rally router on a scratch database, serving on 127.0.0.1, with the floor above.
pub struct Floor {
    pub t: TestApp,
    pub clock: Clock,
    /// `http://127.0.0.1:PORT`, also the app's public URL.
    pub base: String,
    pub http: reqwest::Client,
    next_id: std::sync::atomic::AtomicU64,
}

impl Floor {
    /// Runs `line` as `user` (managers hold Manage Server) at the clock's now; the reply's text.
    pub async fn run(&self, user: u64, line: &str) -> String {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inv = Invocation {
            id,
            guild: id_of(GUILD),
            channel: Some(7),
            user: id_of(user),
            user_name: name_of(user),
            roles: Vec::new(),
            permissions: if user == MANAGER { MANAGE_GUILD } else { 0 },
            app_permissions: None,
            resolved_users: [42, 43, 44, 45, 46].iter().map(|u| (*u, name_of(*u))).collect(),
            locale: None,
            action: Action::Command(cmdline::parse(line).unwrap()),
        };
        match dispatch(&self.t.app, &inv, self.clock.now()).await {
            Response::Message(m) => message_text(&m),
            other => panic!("{line}: expected a message, got {other:?}"),
        }
    }

    /// Like [`Floor::run`], failing the test on an error reply.
    pub async fn ok(&self, user: u64, line: &str) -> String {
        let text = self.run(user, line).await;
        assert!(!text.starts_with("⚠️"), "{line}: {text}");
        text
    }

    /// A new wallboard link, made by the manager: the URL from the reply.
    pub async fn link(&self) -> String {
        let reply = self.ok(MANAGER, "/wallboard link").await;
        url_in(&reply).unwrap_or_else(|| panic!("no URL in {reply}"))
    }

    pub async fn get(&self, url: &str) -> (u16, String) {
        let r = self.http.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn id_of(n: u64) -> rally::domain::activity::Snowflake {
    rally::domain::activity::Snowflake::new(n).unwrap()
}

/// The first `http://...` URL in a text.
pub fn url_in(text: &str) -> Option<String> {
    let start = text.find("http://")?;
    Some(text[start..].split(|c: char| c.is_whitespace()).next()?.to_string())
}

/// Serves `router` on 127.0.0.1 (port 0: any free one); the base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// The floor, with money shown to `money` (`everyone` or `managers`).
pub async fn floor(money: &str) -> Floor {
    let t = spawn_app();
    let clock = Clock::starting_at(at(NOW));
    let base = serve(rally::web::router(t.app.clone(), clock.clone())).await;
    t.app.set_public_url(&base).unwrap();
    let floor = Floor { t, clock, base, http: reqwest::Client::new(), next_id: 1_000.into() };
    for line in [
        format!("/settings privacy money:{money}"),
        "/team create name:Alpha".into(),
        "/team create name:Bravo".into(),
        "/team add team:Alpha user:<@42>".into(),
        "/team add team:Alpha user:<@43>".into(),
        "/team add team:Bravo user:<@44>".into(),
        "/team add team:Bravo user:<@45>".into(),
        "/goal set scope:team team:Alpha metric:revenue target:60000 period:month".into(),
        "/goal set scope:team team:Bravo metric:points target:120 period:week".into(),
        "/compete create name:Dash metric:points between:teams scoring:total start:2026-11-23 end:2026-11-29".into(),
        "/compete create name:Cash metric:revenue between:reps scoring:total start:2026-11-01 end:2026-11-30".into(),
    ] {
        floor.ok(MANAGER, &line).await;
    }
    for (user, line) in [
        (42, "/log kind:call count:12"),
        (42, "/log kind:demo count:2"),
        (42, "/log kind:won amount:18500"),
        (43, "/log kind:call count:20"),
        (43, "/log kind:meeting count:3"),
        (44, "/log kind:call count:9"),
        (44, "/log kind:proposal count:2"),
        (44, "/log kind:won amount:9250"),
        (45, "/log kind:email count:15"),
        (45, "/log kind:demo"),
    ] {
        floor.ok(user, line).await;
    }
    floor
}

/// Server-sent events as they arrive: (event name, data).
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub async fn open(http: &reqwest::Client, url: &str) -> Events {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Events { response, buffer: String::new() }
    }

    /// The next event other than a keep-alive comment, within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if !data.is_empty() {
                    return Some((name, data.join("\n")));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn a_wrong_or_revoked_wallboard_link_is_not_found_and_opens_nothing_else() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let token = url.rsplit('/').next().unwrap().to_string();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(floor.get(&url).await.0, 200);

    let mut wrong = token.clone();
    wrong.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    for bad in [wrong.as_str(), "x", "../healthz", &"A".repeat(43)] {
        assert_eq!(floor.get(&format!("{}/wall/{bad}", floor.base)).await.0, 404, "{bad}");
        assert_eq!(floor.get(&format!("{}/wall/{bad}/events", floor.base)).await.0, 404, "{bad}");
    }
    // The token is no key to anything else: the intake API refuses it.
    let api = floor
        .http
        .post(format!("{}/api/v1/activities", floor.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"external_id": "x", "user_id": "42", "kind": "call"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 401);
    // Kept hashed: neither the database's audit trail nor its links table holds it.
    let trail = floor.t.app.store.audit_trail(GUILD as i64).await.unwrap();
    assert!(trail.iter().any(|(_, action, _)| action == "wallboard.link"));
    assert!(!format!("{trail:?}").contains(&token));
    let live = floor.t.app.wallboard_live(GUILD as i64).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0], token);

    // An open screen learns it was revoked, and the link opens nothing afterwards.
    let mut events = Events::open(&floor.http, &format!("{url}/events")).await;
    assert_eq!(events.next(Duration::from_secs(5)).await.unwrap().0, "frame");
    let reply = floor.ok(MANAGER, "/wallboard revoke").await;
    assert!(reply.contains("revoked"), "{reply}");
    let (name, _) = events.next(Duration::from_secs(5)).await.expect("an event after the revoke");
    assert_eq!(name, "revoked");
    assert!(events.next(Duration::from_secs(2)).await.is_none(), "the stream ends");
    assert_eq!(floor.get(&url).await.0, 404);
    assert_eq!(floor.get(&format!("{url}/events")).await.0, 404);
    assert!(floor.ok(MANAGER, "/wallboard revoke").await.contains("no wallboard link"));
}

#[tokio::test]
async fn a_new_link_replaces_the_old_one_and_reps_cannot_make_one() {
    let floor = floor("everyone").await;
    let first = floor.link().await;
    let reply = floor.ok(MANAGER, "/wallboard link").await;
    assert!(reply.contains("previous link no longer works"), "{reply}");
    let second = url_in(&reply).unwrap();
    assert_ne!(first, second);
    assert_eq!(floor.get(&first).await.0, 404);
    assert_eq!(floor.get(&second).await.0, 200);

    let rep = floor.run(42, "/wallboard link").await;
    assert!(rep.contains("for managers") && !rep.contains("http://"), "{rep}");
    assert_eq!(floor.get(&second).await.0, 200, "a rep's try changed nothing");
}

#[tokio::test]
async fn without_a_public_url_the_link_command_says_how_to_set_it_and_creates_nothing() {
    let t = spawn_app();
    let floor = Floor {
        t,
        clock: Clock::starting_at(at(NOW)),
        base: String::new(),
        http: reqwest::Client::new(),
        next_id: 1.into(),
    };
    let reply = floor.run(MANAGER, "/wallboard link").await;
    assert!(reply.contains("--public-url") && reply.contains("RALLY_PUBLIC_URL"), "{reply}");
    assert!(reply.contains("Nothing was created"), "{reply}");
    assert!(floor.t.app.wallboard_live(GUILD as i64).await.unwrap().is_empty());
    assert!(floor.t.app.set_public_url("rally.example.com").is_err(), "a URL without its scheme is refused");
    // A query or fragment would swallow the link's path; a password would go to every TV.
    for bad in ["https://x.example?a=b", "https://x.example/#top", "http://user:pw@x.example"] {
        let e = floor.t.app.set_public_url(bad).unwrap_err().to_string();
        assert!(!e.contains("pw@"), "{e}");
        assert!(floor.t.app.public_url().is_none(), "{bad} was kept");
    }
    floor.t.app.set_public_url("https://rally.example.com/").unwrap();
    let reply = floor.ok(MANAGER, "/wallboard link").await;
    assert!(reply.contains("https://rally.example.com/wall/"), "{reply}");
}

#[tokio::test]
async fn the_page_shows_the_floor_and_amounts_only_when_the_guild_shows_money_to_everyone() {
    let open = floor("everyone").await;
    let (status, page) = open.get(&open.link().await).await;
    assert_eq!(status, 200);
    for shown in
        ["Ana Alvarez", "Cleo Chen", "Alpha", "Bravo", "Dash", "Cash", "Team goals", "Today's wins", "18,500.00"]
    {
        assert!(page.contains(shown), "{shown} missing from the page");
    }
    // Display names only: no user id or Discord mention.
    assert!(!page.contains("<@42>") && !page.contains(">42<"));

    let private = floor("managers").await;
    let (status, page) = private.get(&private.link().await).await;
    assert_eq!(status, 200);
    assert!(page.contains("Ana Alvarez") && page.contains("Cleo Chen"), "names still shown");
    for amount in ["18,500.00", "9,250.00", "60,000.00", "18,500", "9,250"] {
        assert!(!page.contains(amount), "{amount} shown under money:managers");
    }
    assert!(page.contains("Amounts are private on this server"));
    // The competition on revenue still ranks the reps, without their amounts.
    assert!(page.contains("Cash"));
    // The revenue goal still shows how far along it is, as a percent.
    assert!(page.contains("30%"), "Alpha's 18,500.00 of 60,000.00 as a percent");
}

#[tokio::test]
async fn a_display_name_is_shown_as_text_never_as_markup() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let mut events = Events::open(&floor.http, &format!("{url}/events")).await;
    events.next(Duration::from_secs(5)).await.expect("the current frame");
    floor.ok(47, "/log kind:won amount:100").await;
    let frame = loop {
        let (_, data) = events.next(Duration::from_secs(2)).await.expect("a frame after the log");
        if data.contains("Mal") {
            break data;
        }
    };
    let (_, page) = floor.get(&url).await;
    for shown in [frame, page] {
        let at = shown.find("Mal").unwrap();
        assert!(
            shown[..at].ends_with("&#60;img src=x onerror=alert(1)&#62; "),
            "escaped: {}",
            &shown[at.saturating_sub(60)..at + 3]
        );
        assert!(!shown.contains("<img"), "no markup from a name");
    }
}

#[tokio::test]
async fn todays_wins_are_the_newest_twelve_of_the_day_up_to_now_without_yesterdays_or_undone_ones() {
    let floor = floor("everyone").await;
    // The floor's wins: Ana's 18,500 and Cleo's 9,250, both at 15:00 (the clock runs on from it).
    for (user, line) in [
        (43, "/log kind:won amount:1 when:yesterday"),
        (43, "/log kind:won amount:2 when:\"today 09:30\""),
        (45, "/log kind:won amount:3 when:\"today 14:00\""),
        (46, "/log kind:won amount:4 when:\"today 14:30\""),
    ] {
        floor.ok(user, line).await;
    }
    floor.ok(46, "/undo").await;
    let wins = |data: rally::app::wallboard::WallData| {
        data.wins.into_iter().map(|w| (w.rep, w.amount, w.local_time)).collect::<Vec<_>>()
    };
    let app = &floor.t.app;
    let shown = wins(app.wallboard(GUILD as i64, floor.clock.now()).await.unwrap());
    let expected = [
        ("Cleo Chen", 925_000, "15:00"),
        ("Ana Alvarez", 1_850_000, "15:00"),
        ("Dev Desai", 300, "14:00"),
        ("Ben Brooks", 200, "09:30"),
    ];
    let expected: Vec<_> = expected.iter().map(|(r, a, t)| (r.to_string(), Some(*a), t.to_string())).collect();
    assert_eq!(shown, expected, "newest first, logged last first at the same minute");
    // Earlier in the day only what had happened by then.
    let shown = wins(app.wallboard(GUILD as i64, at("2026-11-25T14:45:00Z")).await.unwrap());
    assert_eq!(shown, expected[2..], "nothing from after 14:45");
    // A busy afternoon: the twelve newest.
    for minute in 10..25 {
        floor.ok(42, &format!("/log kind:won amount:{minute} when:\"today 14:{minute}\"")).await;
    }
    let data = app.wallboard(GUILD as i64, floor.clock.now()).await.unwrap();
    // 19 today (the 4 above and 15 more): the feed says the 7 it leaves out.
    assert_eq!(data.more_wins, 7);
    let html = rally::web::wall::frame_html(&data).unwrap();
    assert!(html.contains("Newest 12 shown · +7 more today"), "{html}");
    let shown = wins(data);
    let times: Vec<&str> = shown.iter().map(|w| w.2.as_str()).collect();
    assert_eq!(
        times,
        ["15:00", "15:00", "14:24", "14:23", "14:22", "14:21", "14:20", "14:19", "14:18", "14:17", "14:16", "14:15"]
    );
    // An undone win leaves the count as it leaves the feed.
    floor.ok(42, "/undo").await;
    let data = app.wallboard(GUILD as i64, floor.clock.now()).await.unwrap();
    assert_eq!((data.wins.len(), data.more_wins), (12, 6));
    // Earlier: the 16 wins by 14:45 leave 4 out; by 14:05 the feed holds both, and says nothing more.
    assert_eq!(app.wallboard(GUILD as i64, at("2026-11-25T14:45:00Z")).await.unwrap().more_wins, 4);
    let data = app.wallboard(GUILD as i64, at("2026-11-25T14:05:00Z")).await.unwrap();
    assert_eq!((data.wins.len(), data.more_wins), (2, 0));
    assert!(!rally::web::wall::frame_html(&data).unwrap().contains("more today"));
}

#[tokio::test]
async fn a_server_without_teams_gets_no_teams_slide() {
    let floor = floor("everyone").await;
    let link = floor.link().await;
    assert!(floor.get(&link).await.1.contains("Teams · this week"));
    floor.ok(MANAGER, "/team delete team:Alpha").await;
    assert!(floor.get(&link).await.1.contains("Teams · this week"), "one team left");
    floor.ok(MANAGER, "/team delete team:Bravo").await;
    let (status, page) = floor.get(&link).await;
    assert_eq!(status, 200);
    assert!(!page.contains("Teams · this week") && page.contains("Reps · this week"), "{page}");
}

#[tokio::test]
async fn with_leaderboards_off_the_wallboard_leaves_the_rankings_out() {
    let floor = floor("everyone").await;
    floor.ok(MANAGER, "/settings leaderboards on:false").await;
    let (status, page) = floor.get(&floor.link().await).await;
    assert_eq!(status, 200);
    assert!(!page.contains("Reps · this week") && !page.contains("Teams · this week"));
    assert!(
        page.contains("Team goals") && page.contains("Dash") && page.contains("Ana Alvarez"),
        "goals, competitions and wins stay"
    );
}

#[tokio::test]
async fn the_page_fetches_nothing_from_outside() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let response = floor.http.get(&url).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let page = response.text().await.unwrap();
    for external in ["http://", "https://", "//cdn", "@import", "url(", "@font-face"] {
        assert!(!page.contains(external), "the page mentions {external}");
    }
    // No attribute loads anything: the page is one document with its styles, script and SVG inline.
    for attribute in [" src=", " href=", " srcset=", " xlink:href="] {
        assert!(!page.contains(attribute), "the page has a{attribute} attribute");
    }
    assert!(page.contains("<svg"), "charts are inline SVG");
}

#[tokio::test]
async fn a_log_reaches_every_open_screen_within_a_second_rendered_once() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let mut screens = Vec::new();
    for _ in 0..20 {
        let mut events = Events::open(&floor.http, &format!("{url}/events")).await;
        let (name, data) = events.next(Duration::from_secs(5)).await.expect("the current frame first");
        assert_eq!(name, "frame");
        assert!(data.contains("Ana Alvarez") && !data.contains("Eve Evans"));
        screens.push(events);
    }
    let started = Instant::now();
    floor.ok(46, "/log kind:won amount:4321").await;
    let mut frames = Vec::new();
    for screen in &mut screens {
        loop {
            let (name, data) = screen.next(Duration::from_secs(2)).await.expect("a frame after the log");
            assert_eq!(name, "frame");
            if data.contains("Eve Evans") {
                frames.push(data);
                break;
            }
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "every screen updated within a second: {took:?}");
    assert!(frames[0].contains("4,321.00"));
    assert!(frames.iter().all(|f| f == &frames[0]), "one render, the same frame for every screen");
}

#[tokio::test]
async fn a_write_by_another_process_on_the_same_database_shows_within_a_second() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let mut events = Events::open(&floor.http, &format!("{url}/events")).await;
    events.next(Duration::from_secs(5)).await.expect("the current frame");
    // Another rally on the same database: its App signals nothing this server hears.
    let other = rally::app::App::open_at(&floor.t.location()).unwrap();
    let inv = Invocation {
        id: 77,
        guild: id_of(GUILD),
        channel: None,
        user: id_of(46),
        user_name: name_of(46),
        roles: Vec::new(),
        permissions: 0,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(cmdline::parse("/log kind:won amount:777").unwrap()),
    };
    let started = Instant::now();
    dispatch(&other, &inv, floor.clock.now()).await;
    loop {
        let (_, data) = events.next(Duration::from_secs(2)).await.expect("a frame after the other process's log");
        if data.contains("Eve Evans") {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_screen_that_reconnects_gets_the_current_state_first() {
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let events = Events::open(&floor.http, &format!("{url}/events")).await;
    drop(events);
    // Logged while no screen was connected.
    floor.ok(46, "/log kind:won amount:1234").await;
    let started = Instant::now();
    let mut events = Events::open(&floor.http, &format!("{url}/events")).await;
    // The current state comes first, at once; a render of the log still in flight follows it.
    loop {
        let (name, data) = events.next(Duration::from_secs(1)).await.expect("caught up within a second");
        assert_eq!(name, "frame");
        if data.contains("Eve Evans") && data.contains("1,234.00") {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn rally_run_with_web_serves_the_wallboard_at_the_public_url_it_was_given() {
    use crate::e2e::{Bot, GUILD, NOW, WAIT, command, content, loopback, manager, rep};
    let lb = loopback().await;
    let db = TestDb::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let public = format!("http://127.0.0.1:{port}");
    let _bot = Bot::new(
        std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
            .args(["--db", &db.arg(), "--now", NOW, "run", "--dev-guild", &GUILD.to_string()])
            .args(["--web", &format!("127.0.0.1:{port}"), "--public-url", &public])
            .env("DISCORD_TOKEN", "test-token")
            .env("RALLY_DISCORD_API", lb.url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start rally run"),
    );
    lb.wait_ready(WAIT).await.expect("the bot identifies on the gateway");
    let logged = lb.interact(command(1, &rep(42), "/log kind:won amount:500"), WAIT).await.unwrap();
    assert!(content(&logged.body).contains("Logged"), "{}", logged.body);
    let linked = lb.interact(command(2, &manager(9), "/wallboard link"), WAIT).await.unwrap();
    assert_eq!(linked.body["data"]["flags"], 64, "the link is shown to the manager only");
    let url = url_in(&content(&linked.body)).expect("a URL in the reply");
    assert!(url.starts_with(&format!("{public}/wall/")), "{url}");
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Today's wins"));
    assert_eq!(reqwest::get(format!("{public}/wall/nope")).await.unwrap().status().as_u16(), 404);
    lb.shutdown().await;
}
