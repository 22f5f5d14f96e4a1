//! `rally demo`: the whole bot — the real serenity gateway client, the pipeline, the store, the
//! scheduler — against a loopback Discord on 127.0.0.1, with a scripted sales floor playing a
//! simulated week. Prints the conversation as a transcript. Needs no token and no network.
//!
//! The week runs on a simulated clock that only moves forward. The real [`Scheduler`] steps as
//! [`Scheduler::run`] does: at each instant its sleep would end (the clock passes through them, so
//! no slot is ever missed) and whenever the app wakes it (a `/log` that reaches a milestone, a new
//! schedule or competition), so every post appears when the real bot would send it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Days, NaiveDate, TimeZone, Utc};
use futures_util::FutureExt as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::app::App;
use crate::discord::gateway::{self, GatewayConfig};
use crate::discord::{Clock, render};
use crate::handlers::{MANAGE_GUILD, cmdline};
use crate::loopback::{self, Answer, Loopback, payload};
use crate::scheduler::{self, Scheduler};

/// The demo's server: its data is under this guild id (`rally report --guild ...` after `--db`).
pub const GUILD: u64 = 1_100_000_000_000_000_001;
/// Morgan, the demo's sales manager: the `--user` for a manager's commands on the demo's data.
pub const MANAGER_ID: u64 = 1_200_000_000_000_000_001;
/// The demo's week (Monday 23 – Sunday 29 November 2026), as a period `rally report` reads.
pub const WEEK: &str = "2026-W48";
/// The file the forecast chart Morgan is sent is saved as, in the directory given to [`run`].
pub const FORECAST_CHART: &str = "rally-demo-forecast.png";
/// The file the history chart of Morgan's drill-down into Cara is saved as, beside the forecast's.
pub const HISTORY_CHART: &str = "rally-demo-history.png";
const CHANNEL: u64 = 1_100_000_000_000_000_002;
const MANAGER: (u64, &str) = (MANAGER_ID, "Morgan");
const ALPHA: [(u64, &str); 3] =
    [(1_300_000_000_000_000_001, "Alice"), (1_300_000_000_000_000_002, "Bob"), (1_300_000_000_000_000_003, "Cara")];
const BETA: [(u64, &str); 2] = [(1_300_000_000_000_000_004, "Dev"), (1_300_000_000_000_000_005, "Eve")];
const ALPHA_CHANNEL: u64 = 1_100_000_000_000_000_003;
/// The bot's own role and the reward role Morgan makes of 40 calls in a week (below the bot's).
const BOT_ROLE: u64 = 1_100_000_000_000_000_010;
const CALLER_ROLE: u64 = 1_100_000_000_000_000_011;
const TIMEOUT: Duration = Duration::from_secs(10);
/// More scheduler steps than a week of hourly wake-ups and slots: a bound against a script bug.
const MAX_STEPS: usize = 10_000;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The loopback Discord or Pipedrive failed, or saw a request the real one would refuse.
    #[error("the loopback Discord failed: {0}")]
    Loopback(String),
    /// The bot failed: a command, the scheduler or a CRM call.
    #[error("the bot failed: {0}")]
    Bot(String),
    /// The script itself is wrong (its clock went back, a file could not be written).
    #[error("the demo's script failed: {0}")]
    Script(String),
}

/// A `/log` answered but not printed yet: the transcript shows it in short, in the next digest.
struct Quiet {
    at: DateTime<Utc>,
    who: String,
    kind: String,
    count: u64,
    reply: String,
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
    printed: HashMap<(bool, u64), usize>,
    /// How many of the loopback's requests were looked at for role changes to print.
    roles_seen: usize,
    scheduler: Scheduler,
    /// The app's wake-up for the scheduler, as `rally run` hands it to `Scheduler::run`.
    wake: Arc<Notify>,
    /// When the scheduler's sleep ends: it steps then unless woken before.
    wakes_at: DateTime<Utc>,
    quiet: Vec<Quiet>,
    /// Whether a digest was printed yet (the first one says how to read them).
    digested: bool,
    /// Where the forecast chart is saved.
    files: PathBuf,
}

impl Floor {
    fn local(&self, day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
        let local = day.and_hms_opt(hour, minute, 0).unwrap_or_default();
        self.tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    /// Moves the clock to `day hour:minute` (local), stepping the scheduler at every instant on
    /// the way where its sleep would end, as the real one wakes while time passes.
    async fn at(&mut self, day: NaiveDate, hour: u32, minute: u32) -> Result<(), DemoError> {
        let to = self.local(day, hour, minute);
        if to < self.clock.now() {
            return Err(DemoError::Script(format!("the clock cannot go back from {} to {to}", self.clock.now())));
        }
        for _ in 0..MAX_STEPS {
            if self.wakes_at > to {
                self.clock.set(to);
                return Ok(());
            }
            self.clock.set(self.wakes_at);
            self.step().await?;
        }
        Err(DemoError::Script(format!("the scheduler stepped {MAX_STEPS} times before {to}")))
    }

    /// One scheduler step now, then what it posted and DM'd.
    async fn step(&mut self) -> Result<(), DemoError> {
        let now = self.clock.now();
        let next = self.scheduler.tick(now).await.map_err(|e| DemoError::Bot(e.to_string()))?;
        self.wakes_at = scheduler::next_step(now, next);
        self.print_posts();
        Ok(())
    }

    /// Steps the scheduler if the last command woke it (a milestone reached, a schedule added),
    /// as `Scheduler::run` does when the app notifies it.
    async fn woken(&mut self) -> Result<(), DemoError> {
        if self.wake.notified().now_or_never().is_some() {
            self.step().await?;
        }
        Ok(())
    }

    fn stamp(&self) -> String {
        self.clock.now().with_timezone(&self.tz).format("%a %H:%M").to_string()
    }

    fn member(&self, who: (u64, &str)) -> payload::Member {
        let permissions = if who.0 == MANAGER.0 { MANAGE_GUILD } else { 0 };
        payload::Member { user_id: who.0, username: who.1.to_string(), roles: Vec::new(), permissions }
    }

    /// Sends a slash command as `who`; prints it and the reply when `show` is set, else keeps a
    /// `/log` for the next digest (other commands unshown are set-up the transcript sums up).
    async fn say(&mut self, who: (u64, &str), line: &str, show: bool) -> Result<Answer, DemoError> {
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
        let kind = call.string("kind").unwrap_or_default().to_string();
        if show {
            self.print(who.1, line, &answer.body);
        } else if call.name == "log" {
            self.quiet.push(Quiet {
                at: self.clock.now(),
                who: who.1.to_string(),
                kind,
                count: call.integer("count").map_or(1, |c| c.max(0) as u64),
                reply: render::text_from_json(&answer.body),
            });
        }
        self.woken().await?;
        Ok(answer)
    }

    async fn press(&mut self, who: (u64, &str), custom_id: &str, label: &str) -> Result<(), DemoError> {
        self.next_id += 1;
        let interaction = payload::button(self.next_id, GUILD, CHANNEL, &self.member(who), custom_id);
        let answer = self.lb.interact(interaction, TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
        self.answered += 1;
        self.print(who.1, &format!("[presses {label}]"), &answer.body);
        self.woken().await
    }

    /// Presses a button on a message the bot sent `who` by DM (a hygiene DM's).
    async fn press_dm(&mut self, who: (u64, &str), custom_id: &str, label: &str) -> Result<(), DemoError> {
        self.next_id += 1;
        let channel =
            self.lb.dm_channel(who.0).ok_or_else(|| DemoError::Script(format!("the bot never DM'd {}", who.1)))?;
        let interaction = payload::dm_button(self.next_id, channel, who.0, who.1, custom_id);
        let answer = self.lb.interact(interaction, TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
        self.answered += 1;
        self.print(who.1, &format!("[presses {label} in the DM]"), &answer.body);
        self.woken().await
    }

    fn print(&mut self, who: &str, line: &str, reply: &Value) {
        self.digest();
        let stamp = self.stamp();
        let _ = writeln!(self.out, "{stamp}  {who}: {line}");
        for l in render::text_from_json(reply).lines() {
            let _ = writeln!(self.out, "           {l}");
        }
        let _ = writeln!(self.out);
    }

    /// Prints the `/log` replies not shown yet, in short: per rep, what they logged, the points it
    /// made and their week so far (both as the replies said), so every total shown later adds up.
    fn digest(&mut self) {
        let quiet = std::mem::take(&mut self.quiet);
        let (Some(first), Some(last)) = (quiet.first(), quiet.last()) else { return };
        let time = |t: DateTime<Utc>| t.with_timezone(&self.tz).format("%H:%M").to_string();
        let span = if first.at == last.at { time(first.at) } else { format!("{}–{}", time(first.at), time(last.at)) };
        let day = first.at.with_timezone(&self.tz).format("%a");
        let n = quiet.len();
        // The first digest says how to read it; the later ones only what they hold.
        let how = if self.digested { "" } else { ": per rep, what they logged · its points · their week so far" };
        self.digested = true;
        let _ = writeln!(
            self.out,
            "{day} {span}  {n} more /log command{}, replies in short{how}",
            if n == 1 { "" } else { "s" }
        );
        let mut reps: Vec<&str> = Vec::new();
        for q in &quiet {
            if !reps.contains(&q.who.as_str()) {
                reps.push(&q.who);
            }
        }
        for rep in reps {
            let theirs: Vec<&Quiet> = quiet.iter().filter(|q| q.who == rep).collect();
            let mut kinds: Vec<(&str, u64)> = Vec::new();
            for q in &theirs {
                match kinds.iter_mut().find(|(k, _)| *k == q.kind) {
                    Some((_, c)) => *c += q.count,
                    None => kinds.push((&q.kind, q.count)),
                }
            }
            let logged = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect::<Vec<_>>().join(", ");
            let points: Option<i64> = theirs.iter().map(|q| points_of(&q.reply)).sum();
            let week = theirs.last().and_then(|q| week_of(&q.reply));
            let line = match (points, week) {
                (Some(p), Some(w)) => {
                    format!("{rep}: {logged} · +{} · This week: {w}", pts(p))
                }
                // A reply in another shape than expected is shown whole rather than guessed at.
                _ => format!(
                    "{rep}: {logged} · replied: {}",
                    theirs.iter().map(|q| q.reply.replace('\n', " ")).collect::<Vec<_>>().join(" | ")
                ),
            };
            let _ = writeln!(self.out, "           {line}");
        }
        let _ = writeln!(self.out);
    }

    /// Prints what the bot posted and DM'd on its own since the last look.
    fn print_posts(&mut self) {
        let stamp = self.stamp();
        let mut outlets: Vec<(bool, u64, String)> =
            vec![(false, CHANNEL, "#sales".into()), (false, ALPHA_CHANNEL, "#team-alpha".into())];
        outlets.extend(ALPHA.iter().chain(BETA.iter()).map(|(id, name)| (true, *id, format!("a DM to {name}"))));
        for (dm, id, label) in outlets {
            let messages = if dm { self.lb.dm_messages(id) } else { self.lb.channel_messages(id) };
            let seen = self.printed.get(&(dm, id)).copied().unwrap_or(0);
            for body in messages.iter().skip(seen) {
                self.digest();
                let _ = writeln!(self.out, "{stamp}  rally → {label}:");
                for l in render::text_from_json(&json!({"type": 4, "data": body})).lines() {
                    let _ = writeln!(self.out, "           {l}");
                }
                let _ = writeln!(self.out);
            }
            self.printed.insert((dm, id), messages.len());
        }
        self.print_role_changes();
    }

    /// Prints the roles the bot gave or took since the last look (the REST requests Discord took).
    fn print_role_changes(&mut self) {
        let stamp = self.stamp();
        let requests = self.lb.requests();
        for r in requests.iter().skip(self.roles_seen) {
            let given = match r.method.as_str() {
                "PUT" => true,
                "DELETE" => false,
                _ => continue,
            };
            let parts: Vec<&str> = r.path.split('/').collect();
            let (Some(user), Some(&"roles"), Some(role)) =
                (parts.iter().rev().nth(2), parts.iter().rev().nth(1), parts.last())
            else {
                continue;
            };
            if !(200..300).contains(&r.status) {
                continue;
            }
            let who = ALPHA.iter().chain(BETA.iter()).find(|(id, _)| id.to_string() == *user).map_or(*user, |(_, n)| n);
            let name = if role.parse() == Ok(CALLER_ROLE) { "@40 Club" } else { role };
            self.digest();
            let change = if given {
                format!("gives {who} the {name} role")
            } else {
                format!("takes the {name} role from {who}")
            };
            let _ = writeln!(self.out, "{stamp}  rally → Discord: {change}\n");
        }
        self.roles_seen = requests.len();
    }

    /// Saves the attachment `name` of `answer` as `file` in the demo's directory and says where.
    fn save(&mut self, answer: &Answer, name: &str, file: &str) -> Result<PathBuf, DemoError> {
        let (_, data) = answer
            .files
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| DemoError::Bot(format!("the reply carries no {name}")))?;
        let path = self.files.join(file);
        std::fs::write(&path, data).map_err(|e| DemoError::Script(format!("cannot write {}: {e}", path.display())))?;
        // Said inside the reply's block, before the blank line that ends it.
        if self.out.ends_with("\n\n") {
            self.out.pop();
        }
        let _ = writeln!(self.out, "           ({name} saved as {}: open it to see the chart)\n", path.display());
        Ok(path)
    }

    /// An operator's command line and what it printed.
    fn shell(&mut self, line: &str, output: &str) {
        self.digest();
        let stamp = self.stamp();
        let _ = writeln!(self.out, "{stamp}  Morgan: $ {line}");
        for l in output.lines() {
            let _ = writeln!(self.out, "           {l}");
        }
        let _ = writeln!(self.out);
    }

    fn note(&mut self, text: &str) {
        self.digest();
        let _ = writeln!(self.out, "── {text}\n");
    }
}

/// Monday: Morgan makes @40 Club a role reps hold while they have made 40 calls this week. Rally
/// checks over Discord's API that it may hand the role out; the transcript then shows it given and
/// taken (Tuesday, Bob's mistaken 30 calls earn it and his undo takes it back).
async fn reward_role(f: &mut Floor) -> Result<(), DemoError> {
    let role = |id: u64, name: &str, position: u16, managed: bool, manage_roles: bool| loopback::GuildRole {
        id,
        name: name.into(),
        position,
        managed,
        manage_roles,
    };
    f.lb.set_guild_roles(
        GUILD,
        &[role(BOT_ROLE, "rally", 2, true, true), role(CALLER_ROLE, "40 Club", 1, false, false)],
        &[BOT_ROLE],
    );
    f.say(MANAGER, &format!("/reward add role:<@&{CALLER_ROLE}> metric:call period:week at-least:40"), true).await?;
    Ok(())
}

/// `1 pt`, `7 pts`, as the replies write points.
fn pts(n: i64) -> String {
    if n.abs() == 1 { format!("{n} pt") } else { format!("{n} pts") }
}

/// The points a `/log` reply says it added: `(+7 pts)`.
fn points_of(reply: &str) -> Option<i64> {
    let rest = &reply[reply.find("(+")? + 2..];
    rest[..rest.find(" pt")?].parse().ok()
}

/// The rep's week so far as a `/log` reply says it: `This week: **37 pts**`.
fn week_of(reply: &str) -> Option<String> {
    let rest = &reply[reply.find("This week: **")? + "This week: **".len()..];
    Some(rest[..rest.find("**")?].to_string())
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
/// Monday: Morgan has the bot ring the bell for every deal of 10,000 or more; the scheduler then
/// posts one by itself when a deal that big is won (Acme, on Wednesday).
async fn ring_the_bell(f: &mut Floor) -> Result<(), DemoError> {
    f.say(MANAGER, &format!("/celebrate add when:big-win channel:<#{CHANNEL}> amount:10000"), true).await?;
    Ok(())
}

async fn pipedrive(f: &mut Floor, app: &App, friday: NaiveDate) -> Result<(), DemoError> {
    use crate::app::crm::ConnectRequest;
    use crate::crm::pipedrive::Pipedrive;
    use crate::domain::crm::{Provider, Secret};
    use crate::loopback::pipedrive::{PdActivity, PdDeal, PdOptions, PipedriveLoopback};

    let pd_error = |e: &dyn std::fmt::Display| DemoError::Loopback(format!("Pipedrive: {e}"));
    f.at(friday, 15, 0).await?;
    f.note(
        "Friday 15:00: Morgan connects the team's Pipedrive, where deals and calls are kept anyway. It holds two \
         open deals, Alice's Initech expansion (9,000.00 USD, Proposal Made at 60 %, closing 30 Nov) and Dev's \
         Umbrella pilot (6,000.00 USD, Negotiation at 80 %), and three calls done today: Dev's at 10:00 and \
         11:00, Alice's at 12:00",
    );
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
    pd.put_deal(PdDeal {
        expected_close_date: NaiveDate::from_ymd_opt(2026, 11, 30),
        ..deal(1, "Initech expansion", 9_000.0, 3)
    });
    let umbrella = pd.put_deal(deal(2, "Umbrella pilot", 6_000.0, 4));
    for (owner, hour) in [(2, 10), (2, 11), (1, 12)] {
        let done = f.local(friday, hour, 0);
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

    f.at(friday, 16, 30).await?;
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
    // The office TV: the wallboard, on the same web routes (`rally serve --public-url ...`).
    app.set_public_url(&web).map_err(|e| DemoError::Bot(e.to_string()))?;
    let linked = f.say(MANAGER, "/wallboard link", true).await?;
    let text = render::text_from_json(&linked.body);
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with(&web))
        .map(str::to_string)
        .ok_or_else(|| DemoError::Bot(format!("/wallboard link gave no URL: {text}")))?;
    let page = match reqwest::get(&url).await {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => return Err(DemoError::Bot(format!("the wallboard answered {}", r.status()))),
        Err(e) => return Err(DemoError::Bot(format!("the wallboard did not answer: {e}"))),
    };
    if !page.contains(BETA[0].1) {
        return Err(DemoError::Bot("the wallboard does not show Dev's win".into()));
    }
    f.note(&format!(
        "The office TV opens {url}: this week's reps and teams, the running competition, team goals with \
         their pace and today's wins (Dev's Umbrella pilot among them), updated live as the floor logs"
    ));
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

/// One `/log` of the scripted floor.
struct Log {
    hour: u32,
    minute: u32,
    rep: (u64, &'static str),
    line: String,
    show: bool,
}

/// A day's `/log` commands, drawn in a fixed order so every run tells the same story, then put in
/// the order of their times: the clock only moves forward.
fn draw_day(rng: &mut Lcg, day: i64) -> Vec<Log> {
    let kinds = ["call", "call", "call", "email", "meeting", "demo", "proposal"];
    let mut logs = Vec::new();
    for (i, rep) in ALPHA.iter().chain(BETA.iter()).enumerate() {
        for slot in 0..(1 + rng.next(3)) {
            let hour = 9 + slot as u32 * 2 + rng.next(2) as u32;
            let minute = (rng.next(4) * 15) as u32;
            let kind = kinds[rng.next(kinds.len() as u64) as usize];
            let count = if kind == "call" || kind == "email" { 1 + rng.next(8) } else { 1 };
            // Monday's first logs of Alice and Bob show a reply in full; the rest are digested.
            let show = day == 0 && i < 2 && slot == 0;
            logs.push(Log { hour, minute, rep: *rep, line: format!("/log kind:{kind} count:{count}"), show });
        }
    }
    logs.sort_by_key(|l| (l.hour, l.minute));
    logs
}

/// The five weeks before the demo's, as the old spreadsheet had them (calls and emails, one row
/// per rep and week, on the Wednesday): Alice and Bob steady, Cara below them every week but the
/// one of 2 November, Dev and Eve on Beta.
fn earlier_weeks(monday: NaiveDate) -> String {
    let weeks: [[i64; 5]; 5] = [
        // Alice, Bob, Cara, Dev, Eve
        [80, 70, 30, 60, 50],
        [85, 65, 35, 55, 45],
        [75, 70, 80, 60, 40],
        [90, 60, 25, 65, 50],
        [80, 75, 30, 60, 55],
    ];
    let mut csv = String::from("occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n");
    for (w, points) in weeks.iter().enumerate() {
        let wednesday = monday - Days::days(7 * (5 - w as i64) - 2);
        for (i, ((id, name), n)) in ALPHA.iter().chain(BETA.iter()).zip(points).enumerate() {
            let team = if i < ALPHA.len() { "Alpha" } else { "Beta" };
            let (calls, emails) = (n * 3 / 5, n - n * 3 / 5);
            for (kind, count) in [("call", calls), ("email", emails)] {
                csv.push_str(&format!(
                    "{wednesday}T11:00:00+01:00,{id},{name},{team},{kind},{count},,,sheet-{w}-{id}-{kind}\n"
                ));
            }
        }
    }
    csv
}

/// Runs the demo on `app` and returns the transcript; the forecast chart is saved in `files`.
pub async fn run(app: App, files: &Path) -> Result<String, DemoError> {
    let openapi = loopback::openapi_path();
    let lb = Loopback::start(openapi.exists().then_some(openapi.as_path()))
        .await
        .map_err(|e| DemoError::Loopback(e.to_string()))?;
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::Tz::UTC);
    let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    let start = tz
        .from_local_datetime(&monday.and_hms_opt(8, 0, 0).unwrap_or_default())
        .earliest()
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc));
    let clock = Clock::manual(start);
    let config = GatewayConfig {
        token: "demo-token".into(),
        api_url: Some(lb.url()),
        dev_guild: Some(GUILD),
        clock: clock.clone(),
        // The demo steps the scheduler itself, on the simulated clock (see `Floor::at`).
        scheduler: false,
        defer_after: gateway::DEFER_AFTER,
        shards: crate::discord::shards::Shards::Recommended,
    };
    let scheduler_app = app.clone();
    let crm_app = app.clone();
    let wake = app.scheduler_wake();
    let mut bot = gateway::start(app, config).await.map_err(|e| DemoError::Bot(e.to_string()))?;
    lb.wait_ready(TIMEOUT).await.map_err(|e| DemoError::Loopback(e.to_string()))?;
    let registered = bot.registered(TIMEOUT).await.map_err(DemoError::Bot)?;
    // The real scheduler on the client's own REST client.
    let scheduler = Scheduler::new(scheduler_app, bot.http());

    let mut f = Floor {
        lb,
        clock,
        tz,
        next_id: 1_400_000_000_000_000_000,
        out: String::new(),
        answered: 0,
        slowest: Duration::ZERO,
        printed: HashMap::new(),
        roles_seen: 0,
        scheduler,
        wake,
        // Like `Scheduler::run`, it steps once when it starts.
        wakes_at: start,
        quiet: Vec::new(),
        digested: false,
        files: files.to_path_buf(),
    };
    let _ = writeln!(
        f.out,
        "rally demo: the real bot on a Discord at {} ({registered} slash commands registered)\n",
        f.lb.url()
    );
    f.at(monday, 8, 0).await?;
    f.note("Monday: Morgan, the sales manager, sets up the server");
    // Shown: its list of kinds gives the points every later total is made of.
    f.say(MANAGER, "/settings timezone timezone:Europe/Berlin", true).await?;
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
    f.say(MANAGER, &format!("/goal set scope:rep user:{} metric:call target:40 period:week", mention(BETA[0])), true)
        .await?;
    f.say(MANAGER, "/goal set scope:team team:Alpha metric:points target:150 period:week", true).await?;
    f.say(MANAGER, "/comp plan team:Alpha rate:10", true).await?;
    reward_role(&mut f).await?;
    f.say(
        MANAGER,
        "/compete create name:\"Week Sprint\" metric:points between:teams scoring:per-capita start:this-week end:2026-11-27",
        true,
    )
    .await?;

    ring_the_bell(&mut f).await?;

    f.note("The week: reps log what they do, in seconds, and work their deals");
    let mut rng = Lcg(42);
    let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
    for (day, name) in days.iter().enumerate() {
        let date = monday + Days::days(day as i64);
        let logs = draw_day(&mut rng, day as i64);
        match day {
            0 => {
                f.at(date, 8, 45).await?;
                f.say(ALPHA[0], "/deal open name:\"Acme renewal\" value:12500 stage:qualified close:2026-11-27", true)
                    .await?;
                f.say(BETA[0], "/deal open name:\"Hooli pilot\" value:4000 stage:proposal close:2026-12-18", true)
                    .await?;
            }
            1 => {
                f.note(name);
                f.at(date, 8, 45).await?;
                f.say(ALPHA[0], "/deal move deal:\"Acme renewal\" stage:proposal", true).await?;
                // Hooli's buyer went quiet: Dev steps the deal back, which hygiene will flag.
                f.say(BETA[0], "/deal move deal:\"Hooli pilot\" stage:qualified", true).await?;
            }
            3 => f.note("Thursday: the first morning with schedules; the scheduler posts on its own"),
            _ => f.note(name),
        }
        for log in logs {
            f.at(date, log.hour, log.minute).await?;
            let before = f.lb.channel_messages(ALPHA_CHANNEL).len();
            f.say(log.rep, &log.line, log.show).await?;
            // A milestone was posted right after this /log: the rep looks at the race.
            if f.lb.channel_messages(ALPHA_CHANNEL).len() > before {
                f.say(log.rep, "/leaderboard scope:teams", true).await?;
            }
        }
        if day == 1 {
            f.at(date, 15, 10).await?;
            let reply = f.say(ALPHA[1], "/log kind:call count:30", true).await?;
            let undo = reply.body["data"]["components"][0]["components"][0]["custom_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            f.press(ALPHA[1], &undo, "Undo").await?;
            f.say(ALPHA[1], "/log kind:call count:3 note:\"follow-ups after the webinar\"", true).await?;
        }
        if day == 2 {
            f.at(date, 16, 45).await?;
            f.say(ALPHA[0], "/deal won deal:\"Acme renewal\"", true).await?;
            f.say(BETA[1], "/log kind:won amount:8400 deal:GLOBEX-7", true).await?;
            f.say(BETA[0], "/log kind:lost deal:INITECH-3", true).await?;
            f.at(date, 18, 0).await?;
            f.note("Wednesday evening: Morgan lets the bot do the chasing");
            f.say(
                MANAGER,
                &format!("/schedule add what:leaderboard channel:<#{CHANNEL}> at:\"weekdays 09:00\" period:this-week"),
                true,
            )
            .await?;
            f.say(MANAGER, &format!("/schedule add what:nudges channel:<#{CHANNEL}> at:\"weekdays 08:30\""), true)
                .await?;
            f.say(MANAGER, &format!("/schedule add what:hygiene channel:<#{CHANNEL}> at:\"weekdays 16:00\""), true)
                .await?;
        }
        if day == 3 {
            // 16:00: the hygiene DMs went out; Dev pushes Hooli's close date from his.
            f.at(date, 16, 5).await?;
            let dm = f.lb.dm_messages(BETA[0].0).last().cloned().unwrap_or_default();
            let button = &dm["components"][0]["components"][0];
            let (custom_id, label) =
                (button["custom_id"].as_str().unwrap_or_default(), button["label"].as_str().unwrap_or_default());
            if custom_id.is_empty() {
                return Err(DemoError::Script("Dev's hygiene DM has no button".into()));
            }
            f.press_dm(BETA[0], custom_id, label).await?;
            f.at(date, 17, 30).await?;
            f.say(ALPHA[2], "/me", true).await?;
        }
        f.digest();
    }

    pipedrive(&mut f, &crm_app, monday + Days::days(4)).await?;

    f.at(monday + Days::days(4), 17, 0).await?;
    f.note("Friday 17:00: Morgan reviews the week");
    f.say(MANAGER, "/kpi team team:Alpha", true).await?;
    f.say(MANAGER, "/leaderboard scope:teams", true).await?;
    f.say(MANAGER, "/leaderboard metric:revenue", true).await?;
    f.say(ALPHA[1], "/kpi team", true).await?;
    f.say(ALPHA[1], "/compete show", true).await?;
    let forecast = f.say(MANAGER, "/forecast", true).await?;
    f.save(&forecast, "forecast.png", FORECAST_CHART)?;
    f.note(
        "Won so far is the month's revenue board: 12,500.00 + 8,400.00 + 6,000.00. The weighted pipeline is \
         Initech expansion, 9,000.00 at 60 %; Dev's Umbrella pilot was won. The run rate stretches the \
         26,900.00 won in the 19.9 of November's 21 working days gone (08:00-18:00) over all 21",
    );
    f.say(MANAGER, "/hygiene show", true).await?;
    f.note(
        "Pipeline hygiene: Hooli pilot moved back (Tuesday) and the deals Pipedrive brought in are checked \
         by the same rules; the daily hygiene schedule keeps a figure each day, so next Friday shows the week's trend",
    );
    f.say(ALPHA[0], "/comp me", true).await?;

    f.at(monday + Days::days(4), 17, 30).await?;
    f.note(
        "Friday 17:30: Morgan brings in the five weeks before from the old spreadsheet, and asks whether \
         Cara's week is a bad week or a pattern",
    );
    let csv = earlier_weeks(monday);
    let guild = crate::domain::activity::Snowflake::new(GUILD).map_err(|e| DemoError::Script(e.to_string()))?;
    let imported = crm_app
        .import_csv(guild, csv.as_bytes(), "Morgan".into(), f.clock.now())
        .await
        .map_err(|e| DemoError::Script(format!("the earlier weeks' import failed: {e}")))?;
    f.shell(
        &format!("rally import --guild {GUILD} earlier-weeks.csv"),
        // The first line `rally import` prints.
        &format!(
            "{} rows: {} imported, {} already imported (skipped), {} rejected",
            imported.rows(),
            imported.imported,
            imported.duplicates,
            imported.rejected.len()
        ),
    );
    let drill = f.say(MANAGER, &format!("/kpi rep user:{} period:this-week", mention(ALPHA[2])), true).await?;
    f.save(&drill, "history.png", HISTORY_CHART)?;
    f.say(MANAGER, "/kpi team team:Alpha history:6 period:this-week", true).await?;

    f.note("Midnight: the week's competition closes, announced once");
    f.at(monday + Days::days(5), 0, 0).await?;

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

/// What the demo prints after its transcript: where to go next, the demo's server id, and the
/// commands that read its data back from `db` (the database `--db` kept; `None` when the demo
/// used a temporary file, which it has removed).
/// `db`: the `--db` the demo ran on, as shown to the user (a path, or a URL without its password).
pub fn epilogue(db: Option<&str>) -> String {
    let cargo = "cargo run --release --";
    let db_arg = db.unwrap_or("demo.db");
    let kept = match db {
        Some(p) => format!("Its data is in {p}; read it back:"),
        None => format!(
            "Its data was in a temporary file, now removed: `{cargo} demo --db demo.db` keeps it, then read it back:"
        ),
    };
    let rally = format!("{cargo} --db {db_arg}");
    let (alice, _) = ALPHA[0];
    format!(
        "Where to go next:\n  \
         • Put rally on your server: DISCORD_TOKEN=... {cargo} run   (README: Running it on Discord)\n  \
         • Run any command offline:  {cargo} exec --guild SERVER_ID --user USER_ID '/log kind:call count:3'\n\
         \n\
         The demo's server is guild {GUILD}. {kept}\n  \
         • Every rep and team:  {rally} report --guild {GUILD} --period {WEEK}\n  \
         • A manager's view:    {rally} exec --guild {GUILD} --user {MANAGER_ID} --roles manager '/kpi team team:Alpha period:{WEEK}'\n  \
         • A rep's view:        {rally} exec --guild {GUILD} --user {alice} '/me period:{WEEK}'\n  \
         • The forecast:        {rally} exec --guild {GUILD} --user {MANAGER_ID} --roles manager '/forecast period:2026-11'\n  \
         • Every activity, CSV: {rally} export --guild {GUILD} --period {WEEK} --out demo-week.csv"
    )
}
