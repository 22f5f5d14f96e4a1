//! `rally run`: the serenity gateway client, on Discord's recommended number of shards or on a range
//! of them ([`Shards`]). Registers the manifests with one bulk overwrite after the process's first
//! READY, and answers every interaction through the shared pipeline within Discord's 3 seconds,
//! deferring first when the work takes longer. An interaction serenity's model cannot read is
//! read the way `rally serve` reads one instead of being dropped.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    Context, Event, EventHandler, GatewayIntents, GuildId, Interaction, InteractionId, RawEventHandler, Ready,
    ShardManager,
};
use serenity::builder::{Builder, CreateInteractionResponse, CreateInteractionResponseMessage};
use serenity::http::Http;
use tokio::sync::watch;

use super::convert::Incoming;
use super::shards::{MAX_TOTAL_SHARDS, Shards};
use super::{Clock, convert, render};
use crate::app::App;
use crate::handlers::{self, Action, Invocation, Response};

/// Answer directly if the work is done by then; otherwise defer and edit the reply when it is.
/// Leaves a second of Discord's three for the network.
pub const DEFER_AFTER: Duration = Duration::from_millis(2000);

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub token: String,
    /// A loopback Discord's base URL instead of discord.com (tests and the demo).
    pub api_url: Option<String>,
    /// Register commands to this guild only (they update instantly) instead of globally.
    pub dev_guild: Option<u64>,
    pub clock: Clock,
    /// Run the scheduler beside the client (off in the demo, which steps its own through a week).
    pub scheduler: bool,
    /// How long to wait for the work before deferring ([`DEFER_AFTER`]; zero defers every reply).
    pub defer_after: Duration,
    /// Which shards this process connects: Discord's recommended count (the default), or a range of
    /// a total shared with other processes.
    pub shards: Shards,
}

struct Handler {
    app: App,
    clock: Clock,
    defer_after: Duration,
    dev_guild: Option<u64>,
    registered: watch::Sender<Option<Result<usize, String>>>,
    /// Held while registering, so two shards' READYs cannot both register.
    registering: tokio::sync::Mutex<()>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let shard = ready.shard.map(|s| format!("{}/{}", s.id, s.total));
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), shard, "connected to Discord");
        // Every shard gets a READY (and again after a reconnect that cannot resume); the commands
        // belong to the application, so one successful overwrite per process is enough.
        let _registering = self.registering.lock().await;
        if matches!(*self.registered.borrow(), Some(Ok(_))) {
            return;
        }
        let commands = handlers::manifests::all();
        let result = match self.dev_guild {
            Some(g) => ctx.http.create_guild_commands(GuildId::new(g), &commands).await,
            None => ctx.http.create_global_commands(&commands).await,
        };
        let outcome = match result {
            Ok(registered) => {
                tracing::info!(count = registered.len(), guild = ?self.dev_guild, "registered slash commands");
                Ok(registered.len())
            }
            Err(e) => {
                tracing::error!(error = %e, "could not register slash commands");
                Err(e.to_string())
            }
        };
        self.registered.send_replace(Some(outcome));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        answer(&self.app, &ctx.http, &interaction, self.clock.now(), self.defer_after).await;
    }
}

/// serenity turns an INTERACTION_CREATE its model cannot read (one shaped like Discord's abridged
/// examples, say) into `Event::Unknown` and calls no handler, so the user would see "The application
/// did not respond". This handler reads such events the way `rally serve` reads a body.
struct Unread {
    app: App,
    clock: Clock,
    defer_after: Duration,
}

#[serenity::async_trait]
impl RawEventHandler for Unread {
    async fn raw_event(&self, ctx: Context, event: Event) {
        match read_unknown(&event) {
            Some(Ok(interaction)) => {
                answer(&self.app, &ctx.http, &interaction, self.clock.now(), self.defer_after).await;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "unreadable interaction from the gateway"),
            None => {}
        }
    }
}

/// An INTERACTION_CREATE that serenity could not read, read through [`convert::read_value`];
/// `None` for any other event.
pub fn read_unknown(event: &Event) -> Option<Result<Interaction, convert::Unreadable>> {
    let Event::Unknown(unknown) = event else { return None };
    if unknown.kind != "INTERACTION_CREATE" {
        return None;
    }
    Some(convert::read_value(unknown.value.clone()).and_then(|incoming| match incoming {
        Incoming::Interaction(interaction) => Ok(*interaction),
        // Discord pings only the HTTP endpoint.
        Incoming::Ping => Err(convert::Unreadable::new("a PING over the gateway")),
    }))
}

/// The id and token to answer an interaction with.
fn target(interaction: &Interaction) -> Option<(InteractionId, &str)> {
    match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some((c.id, c.token.as_str())),
        Interaction::Component(c) => Some((c.id, c.token.as_str())),
        Interaction::Modal(m) => Some((m.id, m.token.as_str())),
        _ => None,
    }
}

/// Whether a command's reply is public; a deferred reply must choose before the work is done.
pub(super) fn public(inv: &Invocation) -> bool {
    match &inv.action {
        Action::Command(call) => {
            call.name == "leaderboard"
                || (call.name == "kpi" && call.boolean("public") == Some(true))
                || (call.name == "compete" && matches!(call.sub.as_deref(), Some("create" | "show")))
        }
        _ => false,
    }
}

/// Whether the answer replaces the message a pressed button is on (a page turned by its owner): a
/// slow one is then deferred as an update (type 6), which shows no "thinking…" message.
pub(super) fn updates(inv: &Invocation) -> bool {
    match &inv.action {
        Action::Button { custom_id } => crate::handlers::paging::updates_in_place(custom_id, inv.user.get()),
        _ => false,
    }
}

/// Runs one interaction through the pipeline and answers it on Discord.
pub async fn answer(
    app: &App,
    http: &Http,
    interaction: &Interaction,
    now: chrono::DateTime<chrono::Utc>,
    defer_after: Duration,
) {
    let Some((id, token)) = target(interaction) else { return };
    let inv = match convert::invocation(interaction) {
        Ok(inv) => inv,
        Err(e) => {
            let reply = handlers::private(e.to_string());
            send(http, id, token, &reply).await;
            return;
        }
    };
    let work = handlers::dispatch(app, &inv, now);
    tokio::pin!(work);
    if matches!(inv.action, Action::Autocomplete { .. }) {
        // Autocomplete cannot be deferred; suggestions are cheap.
        let response = work.await;
        send(http, id, token, &response).await;
        return;
    }
    // A zero deadline defers every reply (what tests use to take the slow path on purpose).
    let early = if defer_after.is_zero() {
        None
    } else {
        tokio::select! {
            response = &mut work => Some(response),
            _ = tokio::time::sleep(defer_after) => None,
        }
    };
    if let Some(response) = early {
        send(http, id, token, &response).await;
        return;
    }
    let defer = if updates(&inv) {
        CreateInteractionResponse::Acknowledge
    } else {
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(!public(&inv)))
    };
    if let Err(e) = defer.execute(http, (id, token)).await {
        tracing::error!(interaction = inv.id, error = %e, "could not defer");
    }
    let response = work.await;
    if let Some(m) = render::late(&response)
        && let Err(e) = render::edit(&m).execute(http, token).await
    {
        tracing::error!(interaction = inv.id, error = %e, "could not complete a deferred reply");
    }
}

async fn send(http: &Http, id: InteractionId, token: &str, response: &Response) {
    if let Err(e) = render::interaction_response(response).execute(http, (id, token)).await {
        tracing::error!(interaction = %id, error = %e, "could not answer an interaction");
    }
}

/// A running gateway client.
pub struct GatewayHandle {
    shards: Arc<ShardManager>,
    scheduler_stop: Arc<tokio::sync::Notify>,
    scheduler_task: tokio::task::JoinHandle<()>,
    task: tokio::task::JoinHandle<Result<(), serenity::Error>>,
    registered: watch::Receiver<Option<Result<usize, String>>>,
    http: Arc<serenity::http::Http>,
}

impl GatewayHandle {
    /// The client's REST client, for a scheduler driven from outside (the demo).
    pub fn http(&self) -> Arc<serenity::http::Http> {
        self.http.clone()
    }

    /// Waits until the commands were registered after READY (or registration failed).
    pub async fn registered(&mut self, timeout: Duration) -> Result<usize, String> {
        let wait = self.registered.wait_for(Option::is_some);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(v)) => v.clone().unwrap_or_else(|| Err("not registered".into())),
            Ok(Err(_)) => Err("the client stopped before READY".into()),
            Err(_) => Err("timed out waiting for READY".into()),
        }
    }

    pub async fn shutdown(self) {
        // notify_one keeps the permit if the scheduler is mid-step, so it stops at its next wait.
        self.scheduler_stop.notify_one();
        let _ = self.scheduler_task.await;
        self.shards.shutdown_all().await;
        let _ = self.task.await;
    }

    /// Runs until the client stops (an error, or a shutdown).
    pub async fn wait(self) -> Result<(), serenity::Error> {
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Connects to the gateway on the configured shards and starts answering interactions, and starts the
/// scheduler (when asked) once for the whole process, whatever the number of shards.
///
/// Errors: the gateway URL (`GET /gateway`) or, for [`Shards::Recommended`], the recommended count
/// (`GET /gateway/bot`, which needs a valid token) could not be read.
pub async fn start(app: App, config: GatewayConfig) -> Result<GatewayHandle, serenity::Error> {
    let http = super::http_client(&config.token, config.api_url.as_deref());
    let (tx, rx) = watch::channel(None);
    let scheduler_app = app.clone();
    let unread = Unread { app: app.clone(), clock: config.clock.clone(), defer_after: config.defer_after };
    let handler = Handler {
        app,
        clock: config.clock.clone(),
        defer_after: config.defer_after,
        dev_guild: config.dev_guild,
        registered: tx,
        registering: tokio::sync::Mutex::new(()),
    };
    let mut client = serenity::client::ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .event_handler(handler)
        .raw_event_handler(unread)
        .await?;
    let manager = client.shard_manager.clone();
    let (first, last, total) = match config.shards {
        Shards::Range(range) => (range.first(), range.last(), range.total()),
        // What serenity's `start_autosharded` does (0 to `shards - 1` of `shards`), asked here so a
        // refused token fails `start` itself, and so a count of 0 cannot underflow its `shards - 1`.
        Shards::Recommended => {
            let recommended = client.http.get_bot_gateway().await?.shards;
            let total = recommended.clamp(1, MAX_TOTAL_SHARDS);
            if total != recommended {
                tracing::warn!(recommended, using = total, "Discord recommended an unusable shard count");
            }
            (0, total - 1, total)
        }
    };
    tracing::info!(first, last, total, "starting gateway shards");
    // Once per process, never per shard: the scheduler claims each slot in the database, and the
    // shards' handlers only answer interactions. Scheduled posts go through the same REST client as
    // the replies.
    let stop = Arc::new(tokio::sync::Notify::new());
    scheduler_app.set_role_directory(Arc::new(super::roles::RestRoles::new(client.http.clone())));
    let scheduler = crate::scheduler::Scheduler::new(scheduler_app.clone(), client.http.clone());
    let scheduler_task = if config.scheduler {
        tokio::spawn(scheduler.run(config.clock.clone(), scheduler_app.scheduler_wake(), stop.clone()))
    } else {
        tokio::spawn(async {})
    };
    let http = client.http.clone();
    // serenity 0.12.5 `Client::start_shard_range(range: Range<u32>, total_shards)` calls
    // `start_connection(range.start, range.end, total_shards)`, whose second argument is the shard "to
    // initialize up to and including" (it boots `end - start + 1` shards; its own example, `4..7` of
    // 10, starts shards 4, 5, 6 and 7). So despite the `Range` type its end is inclusive: shards
    // `first..=last` are `first..last` there.
    let task = tokio::spawn(async move { client.start_shard_range(first..last, total).await });
    Ok(GatewayHandle { shards: manager, task, registered: rx, scheduler_stop: stop, scheduler_task, http })
}
