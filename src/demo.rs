//! `rally demo`: the whole bot — the real serenity gateway client, the pipeline, the store — against
//! a loopback Discord on 127.0.0.1, with a scripted sales floor playing a simulated week. Prints the
//! conversation as a transcript. Needs no token and no network.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Duration as Days, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use crate::app::App;
use crate::discord::gateway::{self, GatewayConfig};
use crate::discord::{Clock, render};
use crate::handlers::{MANAGE_GUILD, cmdline};
use crate::loopback::{self, Loopback, payload};
use crate::scheduler::Scheduler;

/// The demo's server: its data is under this guild id (`rally report --guild ...` after `--db`).
pub const GUILD: u64 = 1_100_000_000_000_000_001;
const CHANNEL: u64 = 1_100_000_000_000_000_002;
const MANAGER: (u64, &str) = (1_200_000_000_000_000_001, "Morgan");
const ALPHA: [(u64, &str); 3] =
    [(1_300_000_000_000_000_001, "Alice"), (1_300_000_000_000_000_002, "Bob"), (1_300_000_000_000_000_003, "Cara")];
const BETA: [(u64, &str); 2] = [(1_300_000_000_000_000_004, "Dev"), (1_300_000_000_000_000_005, "Eve")];
const ALPHA_CHANNEL: u64 = 1_100_000_000_000_000_003;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the loopback Discord failed: {0}")]
    Loopback(String),
    #[error("the bot failed: {0}")]
    Bot(String),
}

struct Floor {
    lb: Loopback,
    clock: Clock,
    tz: chrono_tz::Tz,
    next_id: u64,
    out: String,
    answered: usize,
    slowest: Duration,
    /// Messages the bot sent on its own already printed: per channel, and per DM'd user.
    printed: std::collections::HashMap<(bool, u64), usize>,
}

impl Floor {
    fn at(&mut self, day: NaiveDate, hour: u32, minute: u32) {
        let local = day.and_hms_opt(hour, minute, 0).unwrap_or_default();
        let t = self.tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        self.clock.set(t);
    }

    fn stamp(&self) -> String {
        self.clock.now().with_timezone(&self.tz).format("%a %H:%M").to_string()
    }

    fn member(&self, who: (u64, &str)) -> payload::Member {
        let permissions = if who.0 == MANAGER.0 { MANAGE_GUILD } else { 0 };
        payload::Member { user_id: who.0, username: who.1.to_string(), roles: Vec::new(), permissions }
    }

    /// Sends a slash command as `who`; prints it and the reply when `show` is set.
    async fn say(&mut self, who: (u64, &str), line: &str, show: bool) -> Result<Value, DemoError> {
        let call = cmdline::parse(line).map_err(|e| DemoError::Bot(format!("{line}: {e}")))?;
        self.next_id += 1;
        let mut interaction = payload::command(
            self.next_id,
            GUILD,
            CHANNEL,
            &self.member(who),
            &call.name,
            cmdline::discord_options(&call),
        );
        // Discord resolves mentioned users for the bot; so does the demo.
        let mut users = serde_json::Map::new();
        for (id, name) in ALPHA.iter().chain(BETA.iter()).chain([MANAGER].iter()) {
            if line.contains(&format!("<@{id}>")) {
                users.insert(id.to_string(), json!({"id": id.to_string(), "username": name, "global_name": name, "discriminator": "0", "avatar": null}));
            }
        }
        if !users.is_empty() {
            interaction["data"]["resolved"] = json!({"users": users});
        }
        let answer = self.lb.interact(interaction, TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
        self.answered += 1;
        self.slowest = self.slowest.max(answer.elapsed);
        if show {
            self.print(who.1, line, &answer.body);
        }
        Ok(answer.body)
    }

    async fn press(&mut self, who: (u64, &str), custom_id: &str, label: &str) -> Result<(), DemoError> {
        self.next_id += 1;
        let interaction = payload::button(self.next_id, GUILD, CHANNEL, &self.member(who), custom_id);
        let answer = self.lb.interact(interaction, TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
        self.answered += 1;
        self.print(who.1, &format!("[presses {label}]"), &answer.body);
        Ok(())
    }

    fn print(&mut self, who: &str, line: &str, reply: &Value) {
        let stamp = self.stamp();
        let _ = writeln!(self.out, "{stamp}  {who}: {line}");
        for l in render::text_from_json(reply).lines() {
            let _ = writeln!(self.out, "           {l}");
        }
        let _ = writeln!(self.out);
    }

    /// Steps the scheduler to now (as its sleep would end) and prints what it posted and DM'd.
    async fn scheduler_step(&mut self, scheduler: &Scheduler) -> Result<(), DemoError> {
        scheduler.tick(self.clock.now()).await.map_err(|e| DemoError::Bot(e.to_string()))?;
        let stamp = self.stamp();
        let mut outlets: Vec<(bool, u64, String)> =
            vec![(false, CHANNEL, "#sales".into()), (false, ALPHA_CHANNEL, "#team-alpha".into())];
        outlets.extend(ALPHA.iter().chain(BETA.iter()).map(|(id, name)| (true, *id, format!("a DM to {name}"))));
        for (dm, id, label) in outlets {
            let messages = if dm { self.lb.dm_messages(id) } else { self.lb.channel_messages(id) };
            let seen = self.printed.get(&(dm, id)).copied().unwrap_or(0);
            for body in messages.iter().skip(seen) {
                let _ = writeln!(self.out, "{stamp}  rally → {label}:");
                for l in render::text_from_json(&json!({"type": 4, "data": body})).lines() {
                    let _ = writeln!(self.out, "           {l}");
                }
                let _ = writeln!(self.out);
            }
            self.printed.insert((dm, id), messages.len());
        }
        Ok(())
    }

    /// An operator's command line and what it printed.
    fn shell(&mut self, line: &str, output: &str) {
        let stamp = self.stamp();
        let _ = writeln!(self.out, "{stamp}  Morgan: $ {line}");
        for l in output.lines() {
            let _ = writeln!(self.out, "           {l}");
        }
        let _ = writeln!(self.out);
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "── {text}\n");
    }
}

fn mention(who: (u64, &str)) -> String {
    format!("<@{}>", who.0)
}

/// A small deterministic generator, so every run of the demo tells the same story.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Friday: the team's Pipedrive is connected, its users linked, a backfill read, and a deal won in
/// Pipedrive reaches the server through a webhook (rally's own web routes on 127.0.0.1).
async fn pipedrive(f: &mut Floor, app: &App, friday: NaiveDate) -> Result<(), DemoError> {
    use crate::app::crm::ConnectRequest;
    use crate::crm::pipedrive::Pipedrive;
    use crate::domain::crm::{Provider, Secret};
    use crate::loopback::pipedrive::{PdActivity, PdDeal, PdOptions, PipedriveLoopback};

    let pd_error = |e: &dyn std::fmt::Display| DemoError::Loopback(format!("Pipedrive: {e}"));
    f.at(friday, 14, 0);
    f.note("Friday 14:00: Morgan connects the team's Pipedrive, where deals and calls are kept anyway");
    let dir = crate::loopback::pipedrive::openapi_dir();
    let specs = (dir.join("v1.yaml").exists() && dir.join("v2.yaml").exists()).then_some(dir);
    let pd = PipedriveLoopback::start_with(PdOptions::default(), specs.as_deref()).await.map_err(|e| pd_error(&e))?;
    pd.set_clock(Some(f.clock.now() - Days::hours(3)));
    pd.add_user(1, "Alice Andersen", "alice@example.com");
    pd.add_user(2, "Dev Dhawan", "dev@example.com");
    for (key, name) in [("call", "Call"), ("email", "Email"), ("meeting", "Meeting"), ("lunch", "Lunch")] {
        pd.add_activity_type(key, name);
    }
    pd.add_pipeline(1, "Sales");
    for (id, name, order, probability) in
        [(1, "Qualified", 1, 20), (2, "Demo Scheduled", 2, 40), (3, "Proposal Made", 3, 60), (4, "Negotiation", 4, 80)]
    {
        pd.add_stage(id, 1, name, order, probability);
    }
    let deal = |owner: i64, title: &str, value: f64, stage: i64| PdDeal {
        title: title.into(),
        owner_id: owner,
        value,
        currency: "USD".into(),
        stage_id: stage,
        pipeline_id: 1,
        status: "open".into(),
        ..PdDeal::default()
    };
    pd.put_deal(deal(1, "Initech expansion", 9_000.0, 3));
    let umbrella = pd.put_deal(deal(2, "Umbrella pilot", 6_000.0, 4));
    for (owner, hour) in [(2, 10), (2, 11), (1, 12)] {
        let done = f.clock.now() - Days::hours(14 - hour);
        pd.put_activity(PdActivity {
            subject: "Call".into(),
            r#type: "call".into(),
            owner_id: owner,
            done: true,
            marked_as_done_time: Some(done),
            ..PdActivity::default()
        });
    }
    // rally's web routes (what `rally serve` mounts), so Pipedrive's webhooks reach it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| pd_error(&e))?;
    let web = format!("http://{}", listener.local_addr().map_err(|e| pd_error(&e))?);
    let router = crate::web::router(app.clone(), f.clock.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    pd.set_clock(Some(f.clock.now()));
    let client = Pipedrive::new(&pd.url(), Secret::new(PdOptions::default().token));
    let request = ConnectRequest {
        guild: GUILD as i64,
        provider: Provider::Pipedrive,
        api_url: pd.url(),
        token: Secret::new(PdOptions::default().token),
        pipeline: None,
        webhook_base: Some(web.clone()),
    };
    let connected =
        app.crm_connect(&client, request, f.clock.now()).await.map_err(|e| DemoError::Bot(e.to_string()))?;
    f.shell(
        &format!("PIPEDRIVE_API_TOKEN=… rally crm connect --guild {GUILD} --provider pipedrive --webhook-url {web}"),
        &connected.summary(GUILD as i64),
    );
    let users = app.crm_users(GUILD as i64).await.map_err(|e| DemoError::Bot(e.to_string()))?;
    f.shell(&format!("rally crm users --guild {GUILD}"), &crate::app::crm::users_table(&users));
    f.say(MANAGER, &format!("/crm link user:{} crm-user:1", mention(ALPHA[0])), true).await?;
    f.say(MANAGER, &format!("/crm link user:{} crm-user:2", mention(BETA[0])), true).await?;
    let report = app
        .crm_sync(&client, GUILD as i64, None, false, f.clock.now(), &mut |_| {})
        .await
        .map_err(|e| DemoError::Bot(e.to_string()))?;
    f.shell(&format!("rally crm sync --guild {GUILD}"), &report.summary());
    f.say(ALPHA[0], "/log kind:call", true).await?;

    f.at(friday, 16, 30);
    pd.set_clock(Some(f.clock.now()));
    let before = pd.deliveries().len();
    pd.put_deal(PdDeal {
        id: umbrella,
        status: "won".into(),
        won_time: Some(f.clock.now()),
        ..deal(2, "Umbrella pilot", 6_000.0, 4)
    });
    let delivered = pd.wait_deliveries(before + 1, TIMEOUT).await;
    let ok = delivered.iter().skip(before).any(|d| d.status == Some(200));
    f.note(&format!(
        "16:30: Dev marks Umbrella won in Pipedrive; its webhook {}",
        if ok { "brings the win in at once" } else { "did not arrive; the next sync brings it" }
    ));
    f.say(BETA[0], "/me", true).await?;
    f.say(MANAGER, "/crm status", true).await?;
    server.abort();
    // The demo's Pipedrive lives only as long as the demo: a later `rally serve` on the demo's
    // database would poll a server that is gone. What it synced stays.
    app.crm_disconnect(Some(&client), GUILD as i64, f.clock.now()).await.map_err(|e| DemoError::Bot(e.to_string()))?;
    f.note(
        "(The demo's Pipedrive lives only as long as the demo, so the demo disconnects it here: \
         `rally crm disconnect`. What it synced stays, and /log takes every kind again.)",
    );
    let violations = pd.violations();
    if !violations.is_empty() {
        return Err(DemoError::Loopback(format!("requests Pipedrive would refuse: {}", violations.join("; "))));
    }
    Ok(())
}

/// Runs the demo on `app` and returns the transcript.
pub async fn run(app: App) -> Result<String, DemoError> {
    let openapi = loopback::openapi_path();
    let lb = Loopback::start(openapi.exists().then_some(openapi.as_path()))
        .await
        .map_err(|e| DemoError::Loopback(e.to_string()))?;
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::Tz::UTC);
    let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    let clock = Clock::manual(DateTime::<Utc>::UNIX_EPOCH);
    let config = GatewayConfig {
        token: "demo-token".into(),
        api_url: Some(lb.url()),
        dev_guild: Some(GUILD),
        clock: clock.clone(),
        scheduler: false,
        defer_after: gateway::DEFER_AFTER,
    };
    let scheduler_app = app.clone();
    let crm_app = app.clone();
    let mut bot = gateway::start(app, config).await.map_err(|e| DemoError::Bot(e.to_string()))?;
    lb.wait_ready(TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
    let registered = bot.registered(TIMEOUT).await.map_err(DemoError::Bot)?;
    // The real scheduler on the client's own REST client, stepped through the simulated week.
    let scheduler = Scheduler::new(scheduler_app, bot.http());

    let mut f = Floor {
        lb,
        clock,
        tz,
        next_id: 1_400_000_000_000_000_000,
        out: String::new(),
        answered: 0,
        slowest: Duration::ZERO,
        printed: Default::default(),
    };
    let _ = writeln!(
        f.out,
        "rally demo: the real bot on a Discord at {} ({registered} slash commands registered)\n",
        f.lb.url()
    );
    f.at(monday, 8, 0);
    f.note("Monday: Morgan, the sales manager, sets up the server");
    f.say(MANAGER, "/settings timezone timezone:Europe/Berlin", false).await?;
    f.say(MANAGER, "/team create name:Alpha", true).await?;
    f.say(MANAGER, "/team create name:Beta", false).await?;
    for rep in ALPHA {
        f.say(MANAGER, &format!("/team add team:Alpha user:{}", mention(rep)), false).await?;
    }
    for rep in BETA {
        f.say(MANAGER, &format!("/team add team:Beta user:{}", mention(rep)), false).await?;
    }
    f.say(MANAGER, &format!("/team channel team:Alpha channel:<#{ALPHA_CHANNEL}>"), false).await?;
    f.say(MANAGER, "/team list", true).await?;
    f.say(MANAGER, &format!("/goal set scope:rep user:{} metric:call target:60 period:week", mention(ALPHA[2])), true)
        .await?;
    f.say(MANAGER, &format!("/goal set scope:rep user:{} metric:call target:40 period:week", mention(BETA[0])), false)
        .await?;
    f.say(MANAGER, "/goal set scope:team team:Alpha metric:points target:150 period:week", false).await?;
    f.say(
        MANAGER,
        "/compete create name:\"Week Sprint\" metric:points between:teams scoring:per-capita start:this-week end:2026-11-27",
        true,
    )
    .await?;

    f.note("The week: reps log what they do, in seconds");
    let mut rng = Lcg(42);
    let kinds = ["call", "call", "call", "email", "meeting", "demo", "proposal"];
    let mut quiet = 0;
    for day in 0..5 {
        let date = monday + Days::days(day);
        if day == 3 {
            f.note("Thursday morning: the scheduler wakes for its first slots");
            f.at(date, 8, 30);
            f.scheduler_step(&scheduler).await?;
            f.at(date, 9, 0);
            f.scheduler_step(&scheduler).await?;
        }
        for (i, rep) in ALPHA.iter().chain(BETA.iter()).enumerate() {
            for slot in 0..(1 + rng.next(3)) {
                f.at(date, 9 + slot as u32 * 2 + rng.next(2) as u32, (rng.next(4) * 15) as u32);
                let kind = kinds[rng.next(kinds.len() as u64) as usize];
                let count = if kind == "call" || kind == "email" { 1 + rng.next(8) } else { 1 };
                let show = day == 0 && i < 2 && slot == 0;
                f.say(*rep, &format!("/log kind:{kind} count:{count}"), show).await?;
                quiet += usize::from(!show);
            }
        }
        if day == 1 {
            f.at(date, 15, 10);
            let reply = f.say(ALPHA[1], "/log kind:call count:30", true).await?;
            let undo =
                reply["data"]["components"][0]["components"][0]["custom_id"].as_str().unwrap_or_default().to_string();
            f.press(ALPHA[1], &undo, "Undo").await?;
            f.say(ALPHA[1], "/log kind:call count:3 note:\"follow-ups after the webinar\"", true).await?;
        }
        if day == 2 {
            f.at(date, 16, 45);
            f.say(ALPHA[0], "/log kind:won amount:12500 deal:ACME-42 note:\"Acme renewal, 2 years\"", true).await?;
            f.say(BETA[1], "/log kind:won amount:8400 deal:GLOBEX-7", true).await?;
            f.say(BETA[0], "/log kind:lost deal:INITECH-3", false).await?;
        }
        if day == 2 {
            f.at(date, 18, 0);
            f.note("Wednesday evening: Morgan lets the bot do the chasing");
            f.say(
                MANAGER,
                &format!("/schedule add what:leaderboard channel:<#{CHANNEL}> at:\"weekdays 09:00\" period:this-week"),
                true,
            )
            .await?;
            f.say(MANAGER, &format!("/schedule add what:nudges channel:<#{CHANNEL}> at:\"weekdays 08:30\""), true)
                .await?;
        }
        if day == 3 {
            f.at(date, 17, 30);
            f.say(ALPHA[2], "/me", true).await?;
        }
    }
    f.note(&format!("… {quiet} more activities logged during the week"));

    pipedrive(&mut f, &crm_app, monday + Days::days(4)).await?;

    f.at(monday + Days::days(4), 17, 0);
    f.note("Friday afternoon: Morgan reviews the week");
    f.scheduler_step(&scheduler).await?;
    f.say(MANAGER, "/kpi team team:Alpha", true).await?;
    f.say(MANAGER, "/leaderboard scope:teams", true).await?;
    f.say(MANAGER, "/leaderboard metric:revenue", true).await?;
    f.say(ALPHA[1], "/kpi team", true).await?;
    f.say(ALPHA[1], "/compete show", true).await?;

    f.at(monday + Days::days(5), 0, 0);
    f.note("Midnight: the week's competition closes, announced once");
    f.scheduler_step(&scheduler).await?;

    let violations = f.lb.violations();
    let _ = writeln!(
        f.out,
        "── {} interactions answered, slowest in {} ms; {} request{} Discord would have rejected{}",
        f.answered,
        f.slowest.as_millis(),
        violations.len(),
        if violations.len() == 1 { "" } else { "s" },
        if violations.is_empty() { String::new() } else { format!(":\n   {}", violations.join("\n   ")) }
    );
    bot.shutdown().await;
    let Floor { lb, out, .. } = f;
    lb.shutdown().await;
    Ok(out)
}
