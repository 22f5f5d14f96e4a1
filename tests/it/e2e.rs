//! End to end: the real `rally` binary — serenity's gateway client (`rally run`) and the HTTP
//! interactions endpoint (`rally serve`) — against the loopback Discord on 127.0.0.1, which
//! validates every request against Discord's OpenAPI description.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use rally::domain::period::PeriodSpec;
use rally::handlers::MANAGE_GUILD;
use rally::loopback::{Loopback, openapi_for_tests, payload};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const GUILD: u64 = 700_000_000_000_000_001;
pub(crate) const CHANNEL: u64 = 700_000_000_000_000_002;
pub(crate) const WAIT: Duration = Duration::from_secs(10);
pub(crate) const NOW: &str = "2026-11-27T15:00:00Z";

/// Kills the child when the test ends, however it ends.
pub(crate) struct Bot(Child);

impl Bot {
    pub(crate) fn new(child: Child) -> Bot {
        Bot(child)
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

pub(crate) fn rep(id: u64) -> payload::Member {
    payload::Member { user_id: id, username: format!("rep{id}"), roles: vec![], permissions: 0 }
}

pub(crate) fn manager(id: u64) -> payload::Member {
    payload::Member { user_id: id, username: format!("boss{id}"), roles: vec![], permissions: MANAGE_GUILD }
}

pub(crate) fn command(id: u64, who: &payload::Member, line: &str) -> Value {
    command_in(GUILD, id, who, line)
}

/// [`command`] in another guild.
pub(crate) fn command_in(guild: u64, id: u64, who: &payload::Member, line: &str) -> Value {
    let call = rally::handlers::cmdline::parse(line).expect("a valid test command");
    payload::command(id, guild, CHANNEL, who, &call.name, rally::handlers::cmdline::discord_options(&call))
}

pub(crate) fn content(answer: &Value) -> String {
    answer["data"]["content"].as_str().unwrap_or_default().to_string()
}

pub(crate) async fn points(db: &TestDb, user: u64) -> i64 {
    let app = db.app();
    let r = app.report(id(GUILD), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
    r.members.iter().find(|m| m.user_id == user.to_string()).map_or(0, |m| m.points)
}

/// Starts the real `rally run` against the loopback and waits until it has identified.
pub(crate) async fn rally_run(lb: &Loopback, db: &TestDb) -> Bot {
    let bot = Bot(Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["--db", &db.arg(), "--now", NOW, "run", "--dev-guild", &GUILD.to_string()])
        .env("DISCORD_TOKEN", "test-token")
        .env("RALLY_DISCORD_API", lb.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rally run"));
    lb.wait_ready(WAIT).await.expect("the bot identifies on the gateway");
    bot
}

#[tokio::test]
async fn rally_run_registers_and_answers_every_kind_of_interaction_through_serenity() {
    let lb = loopback().await;
    let db = TestDb::new();
    let _bot = rally_run(&lb, &db).await;
    lb.wait_for(|r| r.method == "PUT" && r.path.ends_with(&format!("/guilds/{GUILD}/commands")), WAIT)
        .await
        .expect("commands registered");
    let registered = lb.registered_commands(Some(GUILD)).expect("a guild registration");
    let names: Vec<&str> = registered.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    // Every manifest in commands/, in the order they are embedded (alphabetical).
    let manifests: Vec<&str> = rally::handlers::manifests::MANIFESTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, manifests);

    // /log, answered privately with an Undo button; then the button.
    let answer = lb.interact(command(1, &rep(42), "/log kind:call count:3"), WAIT).await.unwrap();
    assert!(answer.elapsed < Duration::from_secs(3), "answered in {:?}", answer.elapsed);
    assert_eq!(answer.body["type"], 4);
    assert_eq!(answer.body["data"]["flags"], 64, "ephemeral");
    assert!(content(&answer.body).starts_with("✅ Logged **3 × call** (+3 pts)"), "{}", answer.body);
    let button = answer.body["data"]["components"][0]["components"][0].clone();
    assert_eq!(button["label"], "Undo");
    let undo = lb
        .interact(payload::button(2, GUILD, CHANNEL, &rep(42), button["custom_id"].as_str().unwrap()), WAIT)
        .await
        .unwrap();
    assert!(content(&undo.body).starts_with("↩️ Undone: **3 × call**"), "{}", undo.body);

    // A redelivered interaction is answered again but counted once.
    for _ in 0..2 {
        let again = lb.interact(command(3, &rep(42), "/log kind:demo"), WAIT).await.unwrap();
        assert!(content(&again.body).contains("**1 × demo**"), "{}", again.body);
    }
    // /me
    let me = lb.interact(command(4, &rep(42), "/me"), WAIT).await.unwrap();
    assert_eq!(me.body["data"]["embeds"][0]["fields"][0]["value"], "**5** · +5 (new) vs previous");
    // A manager command refused to a rep, then run by a manager.
    let refused = lb.interact(command(5, &rep(42), "/kpi team"), WAIT).await.unwrap();
    assert!(content(&refused.body).starts_with("⚠️ this command is for managers"), "{}", refused.body);
    let table = lb.interact(command(6, &manager(9), "/kpi team public:true"), WAIT).await.unwrap();
    assert_eq!(table.body["data"]["flags"].as_u64().unwrap_or(0) & 64, 0, "public:true is not ephemeral");
    assert!(table.body["data"]["embeds"][0]["description"].as_str().unwrap().contains("rep42"));
    // Autocomplete.
    let mut auto = command(7, &rep(42), "/log kind:x");
    auto["data"]["options"] = json!([{"name": "kind", "type": 3, "value": "de", "focused": true}]);
    auto["type"] = json!(4);
    let choices = lb.interact(auto, WAIT).await.unwrap();
    assert_eq!(choices.body["type"], 8);
    assert_eq!(choices.body["data"]["choices"], json!([{"name": "demo (5 pts)", "value": "demo"}]));
    // /export: a CSV attachment travels as a multipart file.
    let export = lb.interact(command(8, &manager(9), "/export period:this-week"), WAIT).await.unwrap();
    assert_eq!(export.files.len(), 1, "{}", export.body);
    let csv = String::from_utf8(export.files[0].1.clone()).unwrap();
    assert!(csv.contains(",42,rep42,,demo,1,,,interaction:3,"), "{csv}");

    assert_eq!(points(&db, 42).await, 5, "the redelivered demo counted once, the undone calls not at all");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

#[tokio::test]
async fn goals_deals_forecast_and_commission_work_through_serenity() {
    let lb = loopback().await;
    let db = TestDb::new();
    let _bot = rally_run(&lb, &db).await;
    let boss = manager(9);
    let mut id = 100;
    let mut say = async |who: &payload::Member, line: &str| {
        id += 1;
        let answer = lb.interact(command(id, who, line), WAIT).await.unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(!content(&answer.body).starts_with("⚠️"), "{line}: {}", answer.body);
        answer
    };
    say(&boss, "/team create name:Alpha").await;
    say(&boss, "/team add team:Alpha user:<@42>").await;
    say(&boss, "/comp plan team:Alpha rate:10").await;
    let goal = say(&rep(42), "/goal set scope:me metric:revenue target:5000 period:month").await;
    assert!(goal.body.to_string().contains("5,000.00"), "{}", goal.body);
    say(&rep(42), "/deal open name:Acme value:4000 close:2026-11-30").await;
    say(&rep(42), "/deal move deal:Acme stage:proposal").await;
    let won = say(&rep(42), "/deal won deal:Acme").await;
    assert!(won.body.to_string().contains("4,000.00"), "{}", won.body);
    say(&rep(42), "/deal open name:Globex value:2000 stage:negotiation close:2026-11-28").await;

    let forecast = say(&boss, "/forecast period:this-month").await;
    assert_eq!(forecast.files.len(), 1, "the chart travels as a file: {}", forecast.body);
    assert_eq!(forecast.files[0].0, "forecast.png");
    assert!(forecast.files[0].1.starts_with(b"\x89PNG"));
    assert_eq!(forecast.body["data"]["embeds"][0]["image"]["url"], "attachment://forecast.png");
    let fields = forecast.body["data"]["embeds"][0]["fields"].to_string();
    // 4,000.00 won + 80 % of 2,000.00 in negotiation.
    assert!(fields.contains("**5,600.00\u{a0}USD**"), "{fields}");

    let comp = say(&rep(42), "/comp me").await;
    let text = comp.body.to_string();
    assert!(text.contains("Estimated commission") && text.contains("not payroll"), "{text}");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

/// A test key pair: Discord signs, rally verifies with the public half.
fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub(crate) struct Served {
    _bot: Bot,
    base: String,
    client: reqwest::Client,
}

impl Served {
    async fn post(&self, body: &Value, sign_with: Option<&SigningKey>, timestamp: i64) -> reqwest::Response {
        let body = body.to_string();
        let mut req =
            self.client.post(format!("{}/interactions", self.base)).header("content-type", "application/json");
        if let Some(k) = sign_with {
            let ts = timestamp.to_string();
            let sig = k.sign(format!("{ts}{body}").as_bytes());
            req = req.header("x-signature-ed25519", hex(&sig.to_bytes())).header("x-signature-timestamp", ts);
        }
        req.body(body).send().await.expect("request reaches rally serve")
    }

    pub(crate) async fn signed(&self, body: &Value) -> Value {
        let res = self.post(body, Some(&key()), now_secs()).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

pub(crate) async fn serve(db: &TestDb, api: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["--db", &db.arg(), "--now", NOW, "serve", "--listen", "127.0.0.1:0"])
        .args(["--public-key", &hex(key().verifying_key().as_bytes())])
        .env("RALLY_DISCORD_API", api)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rally serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect(&line).to_string();
    Served { _bot: Bot(child), base, client: reqwest::Client::new() }
}

#[tokio::test]
async fn rally_serve_verifies_signatures_and_answers_in_the_http_body() {
    let lb = loopback().await;
    let db = TestDb::new();
    let s = serve(&db, &lb.url()).await;

    assert_eq!(s.client.get(format!("{}/healthz", s.base)).send().await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(s.signed(&payload::ping(1)).await, json!({"type": 1}));

    // Rejected: no signature, a wrong key, a tampered body, a replay older than 5 minutes.
    let log = command(2, &rep(42), "/log kind:call count:2");
    assert_eq!(s.post(&log, None, now_secs()).await.status(), 401);
    let stranger = SigningKey::from_bytes(&[8u8; 32]);
    assert_eq!(s.post(&log, Some(&stranger), now_secs()).await.status(), 401);
    assert_eq!(s.post(&log, Some(&key()), now_secs() - 301).await.status(), 401);
    let ts = now_secs().to_string();
    let sig = key().sign(format!("{ts}{log}").as_bytes());
    let tampered = s
        .client
        .post(format!("{}/interactions", s.base))
        .header("x-signature-ed25519", hex(&sig.to_bytes()))
        .header("x-signature-timestamp", ts)
        .body(command(2, &manager(42), "/log kind:call count:2").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401, "a body changed after signing (forged permissions) is refused");
    assert_eq!(points(&db, 42).await, 0, "nothing rejected was stored");

    // Accepted, and a redelivery is answered again but counted once.
    for _ in 0..2 {
        let body = s.signed(&log).await;
        assert_eq!(body["type"], 4);
        assert!(body["data"]["content"].as_str().unwrap().starts_with("✅"), "{body}");
    }
    assert_eq!(points(&db, 42).await, 2);
    let refused = s.signed(&command(3, &rep(42), "/team list")).await;
    assert!(refused["data"]["content"].as_str().unwrap().starts_with("⚠️ this command is for managers"));

    // Files cannot ride in the JSON body: the reply is deferred and the file follows through REST.
    let export = command(4, &manager(9), "/export period:this-week");
    let deferred = s.signed(&export).await;
    assert_eq!(deferred, json!({"type": 5, "data": {"flags": 64}}));
    let edit = lb
        .wait_for(
            |r| {
                r.method == "PATCH"
                    && r.path.ends_with(&format!(
                        "/webhooks/{}/{}/messages/@original",
                        rally::loopback::APPLICATION_ID,
                        payload::token(4)
                    ))
            },
            WAIT,
        )
        .await
        .expect("the deferred reply is completed");
    assert_eq!(edit.files.len(), 1);
    assert!(String::from_utf8_lossy(&edit.files[0].1).contains(",42,rep42,,call,2,,,interaction:2,"));
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

#[test]
fn rally_demo_plays_a_week_whose_posts_come_when_they_happen_and_whose_numbers_add_up() {
    let test_db = TestDb::new();
    let db_arg = test_db.arg();
    let db = db_arg.as_str();
    let out = Command::new(env!("CARGO_BIN_EXE_rally")).args(["--db", db, "demo"]).output().expect("rally demo runs");
    let transcript = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{transcript}\n{stderr}");
    // The demo's clock passes through every slot: nothing is missed, so nothing is warned about.
    assert!(!stderr.contains("WARN") && !stderr.contains("ERROR"), "{stderr}");
    assert!(!transcript.contains("WARN"), "{transcript}");

    let post = transcript.find("Thu 09:00  rally → #sales:").expect("the 09:00 leaderboard is posted");
    assert!(transcript[post..].contains("📎 leaderboard.png"), "the post carries its chart:\n{transcript}");
    assert!(transcript.contains("Fri 09:00  rally → #sales:"), "Friday's slot is posted too:\n{transcript}");
    let dm = transcript.find("rally → a DM to Cara:").expect("Cara, behind on her call goal, is nudged");
    assert!(transcript[dm..].contains("pace says") && transcript[dm..].contains("/day"), "{transcript}");
    assert!(transcript.contains("Congratulations to **Beta**"), "the competition is announced:\n{transcript}");
    assert_eq!(transcript.matches("Congratulations to").count(), 1, "announced once");
    assert!(transcript.contains(" 0 requests Discord would have rejected"), "{transcript}");
    // The reward role: Bob's mistaken 30 calls earn it, his undo takes it back, each once.
    let given = transcript.find("Tue 15:10  rally → Discord: gives Bob the @40 Club role").expect("the role is given");
    let taken = transcript.find("Tue 15:10  rally → Discord: takes the @40 Club role from Bob").expect("and taken");
    assert!(given < transcript.find("Bob: [presses Undo]").unwrap_or(0) && taken > given, "{transcript}");
    assert_eq!(transcript.matches("the @40 Club role").count(), 2, "{transcript}");

    // Each milestone is posted right after the /log that reached it, with the numbers of that
    // moment: the team board read at the same minute agrees, and so do the reps' weeks so far.
    let milestones = milestone_checks(&transcript);
    assert_eq!(milestones, 2, "the halfway and the goal-reached posts:\n{transcript}");
    let reached = transcript.find("🏆 Goal reached!").expect("the goal is reached");
    assert!(!transcript[..reached].contains("── Friday"), "reached on Thursday, posted on Thursday:\n{transcript}");

    // A deal worked from open to won; the forecast's chart saved where the transcript says; the
    // commission estimate.
    assert!(transcript.contains("✅ Opened **Acme renewal** · 12,500.00\u{a0}USD · **qualified**"), "{transcript}");
    assert!(transcript.contains("moved from **qualified** to **proposal**"), "{transcript}");
    assert!(transcript.contains("🏆 Won **Acme renewal** at 12,500.00\u{a0}USD"), "{transcript}");
    assert!(transcript.contains("Weighted pipeline: 5,400.00\u{a0}USD (1 deal closing)"), "{transcript}");
    let saved = transcript.split("(forecast.png saved as ").nth(1).expect("the chart's file is named");
    let chart = &saved[..saved.find(": open it").expect("the file's name ends")];
    let png = std::fs::read(chart).expect("the forecast chart is saved");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{chart} is a PNG");
    assert!(transcript.contains("Estimated commission: **1,250.00\u{a0}USD**"), "{transcript}");

    // Thursday 16:00: the hygiene DM about the deal Dev moved back, its button pressed in the DM;
    // Friday: the manager's hygiene view.
    let dm = transcript.find("Thu 16:00  rally → a DM to Dev:").expect("Dev's hygiene DM");
    let dm = &transcript[dm..];
    assert!(dm.contains("**1. Hooli pilot** · qualified · 4,000.00\u{a0}USD · closes Fri 18 Dec"), "{transcript}");
    assert!(dm.contains("↩️ moved back from proposal to qualified"), "{transcript}");
    assert!(dm.contains("[1 · +1 week] [1 · End of month] [1 · Lost] [1 · Next step]"), "{transcript}");
    assert!(dm.contains("📅 `Hooli pilot` now closes Fri 25 Dec 2026."), "{transcript}");
    let view = transcript.find("Morgan: /hygiene show").expect("the manager's hygiene view");
    assert!(transcript[view..].contains("Moved back: 1 deal · 4,000.00\u{a0}USD"), "{transcript}");

    // Friday 17:30: the earlier weeks imported, Morgan's drill-down into Cara tells a pattern from
    // a bad week, and its chart is saved.
    assert!(transcript.contains("50 rows: 50 imported, 0 already imported (skipped), 0 rejected"), "{transcript}");
    let drill = transcript.find("Morgan: /kpi rep user:").expect("the drill-down");
    assert!(
        transcript[drill..]
            .contains("Points: **below the team's median in 5 of the last 6 weeks: a pattern, not a bad week**"),
        "{transcript}"
    );
    let saved = transcript.split("(history.png saved as ").nth(1).expect("the history chart's file is named");
    let chart = &saved[..saved.find(": open it").expect("the file's name ends")];
    assert!(std::fs::read(chart).expect("the history chart is saved").starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        transcript
            .contains("Moved down most, against their own history: • **Bob**: 66 in w/c 23 Nov, usually 70 (-6%)")
    );

    // Monday: Morgan rings the bell for deals of 10,000 or more; Acme's win is celebrated, once.
    assert!(transcript.contains("Morgan: /celebrate add when:big-win"), "{transcript}");
    let bell = "🔔 **Alice** just won a big one (Acme renewal): **12,500.00\u{a0}USD**";
    assert_eq!(transcript.matches(bell).count(), 1, "Acme is celebrated once:\n{transcript}");

    // Friday: Pipedrive connected through the real client's /crm link, and a deal won there by
    // webhook reaches the revenue leaderboard.
    assert!(transcript.contains("**Alice Andersen** in Pipedrive is <@"), "{transcript}");
    assert!(transcript.contains("Time left: 7 h (ends Sat 28 Nov 00:00)"), "a time left, then its end: {transcript}");
    assert!(transcript.contains("its webhook brings the win in at once"), "{transcript}");
    let board = transcript.find("/leaderboard metric:revenue").expect("the revenue board");
    assert!(
        transcript[board..].contains("Dev — **6,000.00\u{a0}USD**"),
        "Dev's Pipedrive win on the board:\n{transcript}"
    );

    // The README's Quick start quotes the transcript: word for word.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("the README");
    let quick = &readme[readme.find("`rally demo` starts").expect("the demo's description")..];
    let quoted = quick.split("```text\n").nth(1).and_then(|b| b.split("```").next()).expect("a quoted excerpt");
    assert!(transcript.contains(quoted), "the README quotes\n{quoted}\nbut the demo printed\n{transcript}");

    // The ending names the server and commands that read its data back, and they do.
    let guild = rally::demo::GUILD.to_string();
    assert!(transcript.contains(&format!("The demo's server is guild {guild}")), "{transcript}");
    assert!(transcript.contains(&format!("report --guild {guild} --period 2026-W48")), "{transcript}");
    let report = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["--db", db, "report", "--guild", &guild, "--period", "2026-W48"])
        .output()
        .expect("rally report runs");
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(String::from_utf8_lossy(&report.stdout).contains("Alice"), "{}", String::from_utf8_lossy(&report.stdout));
}

/// Checks every milestone post of the demo's transcript against what it showed before and the
/// team board read right after it; returns how many it checked.
fn milestone_checks(transcript: &str) -> usize {
    let alpha = ["Alice", "Bob", "Cara"];
    // Each rep's week so far, as the last /log reply (in full or in a digest) said it.
    let mut week: std::collections::HashMap<String, i64> = Default::default();
    let mut speaker: Option<String> = None;
    let lines: Vec<&str> = transcript.lines().collect();
    let mut checked = 0;
    let number = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>().parse::<i64>().ok();
    for (i, line) in lines.iter().enumerate() {
        // `Tue 15:10  Bob: /log kind:call count:3`: a reply in full follows.
        if !line.starts_with(' ') {
            speaker = line.get(11..).and_then(|l| l.split_once(": /log")).map(|(who, _)| who.to_string());
        }
        let trimmed = line.trim_start();
        if let (Some(who), true, Some(rest)) =
            (&speaker, trimmed.starts_with("Today:"), line.split("This week: **").nth(1))
        {
            week.insert(who.clone(), number(rest.split("**").next().unwrap_or("")).expect("a week's points"));
        }
        if let Some((who, rest)) = trimmed.split_once(": ")
            && let Some(total) = rest.split("· This week: ").nth(1)
        {
            week.insert(who.to_string(), number(total).expect("a digest's week"));
        }
        if line.contains("Team **Alpha** is halfway") || line.contains("Team **Alpha** hit") {
            let said = number(line.split("**").nth(3).expect("the milestone's number")).expect("a number");
            let sum: i64 = alpha.iter().map(|r| week.get(*r).copied().unwrap_or(0)).sum();
            assert_eq!(said, sum, "the milestone adds up from the reps' weeks shown before it: {week:?}\n{line}");
            let stamp = &lines[i - 2][..9];
            let board = lines[i..].iter().position(|l| l.contains("/leaderboard scope:teams")).expect("a board");
            assert_eq!(&lines[i + board][..9], stamp, "the board is read at the milestone's minute");
            let alpha_line = lines[i + board..].iter().find(|l| l.contains("Alpha — **")).expect("Alpha's row");
            assert!(alpha_line.contains(&format!("Alpha — **{said}**")), "board {alpha_line} vs milestone {line}");
            checked += 1;
        }
    }
    checked
}

#[tokio::test]
async fn work_that_outlasts_the_defer_deadline_is_deferred_then_completed_by_editing_the_reply() {
    use rally::discord::Clock;
    use rally::discord::gateway::{self, GatewayConfig};
    let lb = loopback().await;
    let t = spawn_app();
    // A zero deadline: every reply takes the path a slow one would, through the real client.
    let config = GatewayConfig {
        token: "test-token".into(),
        api_url: Some(lb.url()),
        dev_guild: Some(GUILD),
        clock: Clock::starting_at(at(NOW)),
        scheduler: false,
        defer_after: Duration::ZERO,
        shards: rally::discord::shards::Shards::Recommended,
    };
    let mut bot = gateway::start(t.app.clone(), config).await.expect("the client starts");
    lb.wait_ready(WAIT).await.expect("the bot identifies");
    bot.registered(WAIT).await.expect("commands registered");

    let private = command(11, &rep(42), "/log kind:call count:2");
    let token = private["token"].as_str().unwrap().to_string();
    let answer = lb.interact(private, WAIT).await.expect("answered");
    assert_eq!(answer.body["type"], 5, "deferred: {}", answer.body);
    assert_eq!(answer.body["data"]["flags"], 64, "a /log reply stays private when deferred");
    let edited = wait_for_original(&lb, &token).await;
    assert!(edited["content"].as_str().unwrap_or_default().contains("Logged **2 × call**"), "{edited}");

    let public = command(12, &rep(42), "/leaderboard");
    let token = public["token"].as_str().unwrap().to_string();
    let answer = lb.interact(public, WAIT).await.expect("answered");
    assert_eq!(answer.body["type"], 5);
    assert_eq!(answer.body["data"]["flags"].as_u64().unwrap_or(0) & 64, 0, "a leaderboard is deferred in public");
    let edited = wait_for_original(&lb, &token).await;
    assert!(edited["embeds"][0]["title"].as_str().unwrap_or_default().contains("Reps by points"), "{edited}");
    assert!(lb.violations().is_empty(), "{:#?}", lb.violations());
    bot.shutdown().await;
}

/// The deferred reply's content once the bot has edited it.
async fn wait_for_original(lb: &Loopback, token: &str) -> Value {
    for _ in 0..200 {
        if let Some(m) = lb
            .original_response(token)
            .filter(|m| m["content"].as_str().is_some_and(|c| !c.is_empty()) || m["embeds"][0].is_object())
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the deferred reply was never completed");
}
