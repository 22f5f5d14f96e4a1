//! A strict Discord on 127.0.0.1 (REST under `/api/v10` and the gateway websocket) that the real serenity client
//! connects to; used by `rally demo` and the end-to-end tests, never by production code paths.
//!
//! Every REST request is recorded. JSON bodies are validated against Discord's OpenAPI description (read at runtime
//! from [`openapi_path`]) plus the limits Discord enforces beyond it; a body Discord would reject, an unknown route
//! or a malformed body is answered as Discord would (400/404) *and* recorded as a violation, so a test can fail on
//! anything the real Discord would not have accepted. Interactions are timed from dispatch to callback.
//!
//! The gateway shards as Discord's does: `GET /gateway/bot` recommends [`Loopback::set_recommended_shards`]
//! shards, IDENTIFY may carry `shard: [id, num_shards]`, and each event goes only to a session whose
//! shard owns its guild (`shard_id = (guild_id >> 22) % num_shards`; events without a guild to shard 0).
//!
//! Imports serenity only to check that what it sends and answers fits serenity's own models.
//!
//! ```ignore
//! let lb = Loopback::start(Some(&openapi_path())).await?;
//! let http = HttpBuilder::new("test-token").proxy(lb.url()).ratelimiter_disabled(true).build();
//! // start a serenity Client with `ClientBuilder::new_with_http(http, intents)`, then:
//! lb.wait_ready(Duration::from_secs(2)).await?;
//! let member = payload::Member::new(42, "alice");
//! let answer = lb.interact(payload::command(1, GUILD, CHANNEL, &member, "kpi", json!([])), TIMEOUT).await?;
//! assert_eq!(answer.body["type"], 4);
//! assert!(lb.violations().is_empty());
//! ```

mod gateway;
mod limits;
mod multipart;
mod objects;
pub mod payload;
pub mod pipedrive;
mod rest;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub const APPLICATION_ID: u64 = 900_000_000_000_000_001;
pub const BOT_USER_ID: u64 = 900_000_000_000_000_002;
pub const BOT_USERNAME: &str = "rally";

/// Discord's first response deadline for an interaction; a later callback is refused with "Unknown interaction".
pub const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);

/// `$RALLY_DISCORD_OPENAPI` if set, else the copy in the steering repo's `shared/discord/` beside this crate.
pub fn openapi_path() -> PathBuf {
    match std::env::var_os("RALLY_DISCORD_OPENAPI") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/discord/openapi.json")),
    }
}

/// The OpenAPI description for tests: its path when it is there. Without it (a clone without the
/// `shared/` folder beside it) the loopback runs without body validation and says so on stderr,
/// unless `RALLY_REQUIRE_OPENAPI` is set — as CI does — which makes its absence a failure.
pub fn openapi_for_tests() -> Option<PathBuf> {
    let path = openapi_path();
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("RALLY_REQUIRE_OPENAPI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "Discord's OpenAPI description is required (RALLY_REQUIRE_OPENAPI) but missing at {}; \
             set RALLY_DISCORD_OPENAPI to its path",
            path.display()
        );
    }
    eprintln!(
        "note: {} is missing, so request bodies are not validated against Discord's OpenAPI description \
         (set RALLY_DISCORD_OPENAPI to its path)",
        path.display()
    );
    None
}

/// One REST request as it arrived, with the status it was answered with.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Without the query, e.g. `/api/v10/channels/5/messages`.
    pub path: String,
    pub query: Option<String>,
    /// The JSON body, or the `payload_json` part of a multipart body.
    pub body: Option<Value>,
    /// `(filename, bytes)` of each file part of a multipart body.
    pub files: Vec<(String, Vec<u8>)>,
    pub status: u16,
    pub at: Instant,
}

/// The bot's first response to an interaction.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The interaction response, e.g. `{"type":4,"data":{...}}`.
    pub body: Value,
    pub files: Vec<(String, Vec<u8>)>,
    /// From sending INTERACTION_CREATE to the callback's arrival.
    pub elapsed: Duration,
    /// The `[shard_id, num_shards]` of the session the interaction was sent over; `None` for one that
    /// did not come through the gateway (an HTTP interaction, or a callback for one built by hand).
    pub shard: Option<[u32; 2]>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("no gateway session")]
    NoSession,
    /// Sessions are live, but none on the shard that owns the event's guild: Discord would hold the event.
    #[error("no live gateway session on the shard of {0}")]
    NoShard(String),
    /// serenity would drop this event silently (its `Event::Unknown`), so it is refused before sending.
    #[error("payload rejected before dispatch: {0}")]
    BadPayload(String),
    #[error("the loopback shut down")]
    Closed,
}

/// A running loopback Discord. Dropping it stops the server too; [`Loopback::shutdown`] also waits for it.
pub struct Loopback {
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

pub(crate) struct Shared {
    pub base_url: String,
    pub ws_url: String,
    pub spec: Option<Arc<schema::Spec>>,
    pub shutdown: watch::Sender<bool>,
    state: Mutex<State>,
}

impl Shared {
    /// A poisoned lock only means a test thread panicked while holding it; the record is still worth reading.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Pending {
    pub token: String,
    /// Where replies to this interaction appear; follow-up messages report it as their channel.
    pub channel_id: u64,
    pub dispatched_at: Instant,
    pub answered: bool,
    pub waiter: Option<oneshot::Sender<Answer>>,
    /// The session's `[shard_id, num_shards]` it was sent over, when it came through the gateway.
    pub shard: Option<[u32; 2]>,
}

pub(crate) struct Failure {
    pub path_contains: String,
    pub status: u16,
    pub remaining: usize,
}

pub(crate) struct Conn {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<String>,
}

pub(crate) struct Session {
    pub seq: u64,
    pub conn: Option<Conn>,
    /// `[shard_id, num_shards]` from its IDENTIFY (`[0, 1]` when it sent none).
    pub shard: [u32; 2],
    /// When it last identified or resumed, in the order of [`State::next_live`]: when two live sessions own
    /// a guild, the newer one gets its events (a restarted bot, before its old connection is noticed gone).
    pub live_since: u64,
}

/// What `GET /gateway/bot` recommends and what IDENTIFY must respect.
pub(crate) struct ShardRules {
    /// `shards` in `GET /gateway/bot`.
    pub recommended: u32,
    /// The fewest `num_shards` an IDENTIFY may give before it is closed with 4011 "Sharding required"
    /// (Discord's answer when a session would hold too many guilds, over 2,500 each).
    pub required: u32,
}

impl Default for ShardRules {
    fn default() -> ShardRules {
        ShardRules { recommended: 1, required: 1 }
    }
}

/// Discord's sharding formula: the shard of `num_shards` that receives a guild's events
/// (<https://discord.com/developers/docs/events/gateway#sharding>). Events without a guild (DMs) go to
/// shard 0 only.
pub fn shard_of(guild: Option<u64>, num_shards: u32) -> u32 {
    match guild {
        // The remainder is below `num_shards`, a u32.
        Some(guild) => u32::try_from((guild >> 22) % u64::from(num_shards.max(1))).unwrap_or(0),
        None => 0,
    }
}

/// The guild an event belongs to, which decides its shard: `guild_id`, or `id` for the guild's own events.
fn guild_of(event: &str, d: &Value) -> Option<u64> {
    let field = if matches!(event, "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE") { "id" } else { "guild_id" };
    objects::snowflake_of(d.get(field))
}

/// One role of a modelled guild: its place in the hierarchy (higher is above; @everyone, whose id is
/// the guild's, is 0), whether an integration manages it, and whether it grants Manage Roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildRole {
    pub id: u64,
    pub name: String,
    pub position: u16,
    pub managed: bool,
    pub manage_roles: bool,
}

#[derive(Default)]
pub(crate) struct State {
    pub requests: Vec<Recorded>,
    pub violations: Vec<String>,
    pub commands: HashMap<Option<u64>, Value>,
    pub channel_messages: HashMap<u64, Vec<Value>>,
    /// `(channel, nonce)` -> the message returned for it, for `enforce_nonce`.
    /// Messages posted with `enforce_nonce`, and when: Discord honours a nonce for a few minutes
    /// only, and so does the loopback (`NONCE_WINDOW`).
    pub nonces: HashMap<(u64, String), (std::time::Instant, Value)>,
    pub dm_by_user: HashMap<u64, u64>,
    pub member_roles: HashMap<(u64, u64), BTreeSet<u64>>,
    /// Each guild's role list as a test set it ([`Loopback::set_guild_roles`]): `GET
    /// /guilds/{id}/roles` answers with it, and a role change the bot's own roles do not allow
    /// (Manage Roles, hierarchy) is refused with 403 as Discord refuses it. A guild without a list
    /// allows every change, as before roles were modelled.
    pub guild_roles: HashMap<u64, Vec<GuildRole>>,
    /// Each guild's members as a test set them ([`Loopback::set_guild_members`]): a role change for
    /// anyone else is answered 404 Unknown Member. A guild without a list takes every user.
    pub guild_members: HashMap<u64, BTreeSet<u64>>,
    pub interactions: HashMap<u64, Pending>,
    /// Interaction webhook token -> its original response message, once the interaction was answered.
    pub originals: HashMap<String, Value>,
    pub followups: HashMap<String, Vec<Value>>,
    pub failures: Vec<Failure>,
    pub sessions: HashMap<String, Session>,
    pub identifies: Vec<Value>,
    pub shard_rules: ShardRules,
    /// Close codes the gateway ended connections with (4010, 4011), in order.
    pub close_codes: Vec<u16>,
    /// `None` means Discord's own [`INTERACTION_DEADLINE`].
    pub deadline: Option<Duration>,
    next_id: u64,
    next_conn: u64,
    next_session: u64,
    next_live: u64,
}

impl State {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        910_000_000_000_000_000 + self.next_id
    }

    pub fn next_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    pub fn next_session(&mut self) -> String {
        self.next_session += 1;
        format!("loopback-session-{}", self.next_session)
    }

    pub fn next_live(&mut self) -> u64 {
        self.next_live += 1;
        self.next_live
    }

    fn live_sessions(&self) -> impl Iterator<Item = (&String, &Session)> {
        self.sessions.iter().filter(|(_, s)| s.conn.as_ref().is_some_and(|c| !c.tx.is_closed()))
    }

    /// The `[shard_id, num_shards]` of every live session, sorted.
    fn live_shards(&self) -> Vec<[u32; 2]> {
        let mut shards: Vec<[u32; 2]> = self.live_sessions().map(|(_, s)| s.shard).collect();
        shards.sort_unstable();
        shards
    }

    /// Sends a dispatch on the newest live session whose shard owns the event's guild, numbering it with that
    /// session's sequence; returns the sequence and the session's shard. (Discord would send it on every
    /// session of that shard; one per event keeps "answered once" checkable.)
    pub fn dispatch(&mut self, event: &str, d: Value) -> Result<(u64, [u32; 2]), LoopbackError> {
        let guild = guild_of(event, &d);
        let target = self
            .live_sessions()
            .filter(|(_, s)| shard_of(guild, s.shard[1]) == s.shard[0])
            .max_by_key(|(_, s)| s.live_since)
            .map(|(id, _)| id.clone());
        let Some(target) = target else {
            if self.live_sessions().next().is_none() {
                return Err(LoopbackError::NoSession);
            }
            let of = guild.map_or("an event without a guild (shard 0)".to_string(), |g| format!("guild {g}"));
            return Err(LoopbackError::NoShard(format!("{of}; live shards: {:?}", self.live_shards())));
        };
        let session = self.sessions.get_mut(&target).ok_or(LoopbackError::NoSession)?;
        let conn = session.conn.as_ref().ok_or(LoopbackError::NoSession)?;
        let seq = session.seq + 1;
        let frame = json!({"op": 0, "s": seq, "t": event, "d": d}).to_string();
        if conn.tx.send(frame).is_err() {
            session.conn = None;
            return Err(LoopbackError::NoSession);
        }
        session.seq = seq;
        Ok((seq, session.shard))
    }
}

const POLL: Duration = Duration::from_millis(5);

impl Loopback {
    /// Binds 127.0.0.1:0 and serves REST under /api/v10 and the gateway websocket at `/`. `openapi`: `Some(path)`
    /// loads the description (a missing or unreadable file is an error); `None` disables body validation, for a
    /// demo on a machine without the description.
    pub async fn start(openapi: Option<&Path>) -> std::io::Result<Loopback> {
        let spec = match openapi {
            Some(path) => {
                let path = path.to_path_buf();
                let spec = tokio::task::spawn_blocking(move || schema::Spec::load(&path))
                    .await
                    .map_err(std::io::Error::other)??;
                Some(spec)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            base_url: format!("http://127.0.0.1:{port}"),
            ws_url: format!("ws://127.0.0.1:{port}"),
            spec,
            shutdown,
            state: Mutex::new(State::default()),
        });
        let app = rest::router(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // An error means the sender is gone, which is a shutdown too.
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("loopback discord server ended: {e}");
            }
        });
        Ok(Loopback { shared, server: Some(server) })
    }

    /// `http://127.0.0.1:PORT`, what `HttpBuilder::proxy` gets.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `ws://127.0.0.1:PORT`, what `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        self.shared.ws_url.clone()
    }

    /// Waits until a gateway session has identified and received READY (or resumed) and is still connected.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), LoopbackError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().live_sessions().next().is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LoopbackError::Timeout("a gateway session to identify and receive READY".into()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a live session has identified (or resumed) on each of `shards` (`[shard_id, num_shards]`).
    pub async fn wait_shards(&self, shards: &[[u32; 2]], timeout: Duration) -> Result<(), LoopbackError> {
        let deadline = Instant::now() + timeout;
        loop {
            let live = self.shared.lock().live_shards();
            if shards.iter().all(|s| live.contains(s)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LoopbackError::Timeout(format!("sessions on shards {shards:?} (live: {live:?})")));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `[shard_id, num_shards]` of every live gateway session, sorted.
    pub fn live_shards(&self) -> Vec<[u32; 2]> {
        self.shared.lock().live_shards()
    }

    /// Sends INTERACTION_CREATE with `interaction` as `d` on the session whose shard owns its guild and waits for the bot's
    /// `POST /interactions/{id}/{token}/callback`; returns its body. The payload is first checked against serenity's
    /// `Interaction` model, because serenity drops an event it cannot parse without a word.
    pub async fn interact(&self, interaction: Value, timeout: Duration) -> Result<Answer, LoopbackError> {
        let id = objects::snowflake_of(interaction.get("id"))
            .ok_or_else(|| LoopbackError::BadPayload("the interaction has no snowflake `id`".into()))?;
        let token = interaction
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| LoopbackError::BadPayload("the interaction has no `token`".into()))?
            .to_string();
        serde_json::from_value::<serenity::model::application::Interaction>(interaction.clone())
            .map_err(|e| LoopbackError::BadPayload(format!("serenity cannot parse this interaction: {e}")))?;
        // serenity's ChannelId is non-zero, so a message reported in channel 0 would not deserialize.
        let channel_id = objects::snowflake_of(interaction.get("channel_id")).filter(|c| *c > 0).unwrap_or(1);
        let (tx, rx) = oneshot::channel();
        let violations_before = {
            let mut state = self.shared.lock();
            let before = state.violations.len();
            state.interactions.insert(
                id,
                Pending {
                    token,
                    channel_id,
                    dispatched_at: Instant::now(),
                    answered: false,
                    waiter: Some(tx),
                    shard: None,
                },
            );
            match state.dispatch("INTERACTION_CREATE", interaction) {
                Ok((_, shard)) => {
                    if let Some(p) = state.interactions.get_mut(&id) {
                        p.shard = Some(shard);
                    }
                }
                Err(e) => {
                    state.interactions.remove(&id);
                    return Err(e);
                }
            }
            before
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(LoopbackError::Closed),
            Err(_) => {
                let mut state = self.shared.lock();
                if let Some(p) = state.interactions.get_mut(&id) {
                    p.waiter = None;
                }
                let meanwhile = state.violations[violations_before.min(state.violations.len())..].join("; ");
                let note =
                    if meanwhile.is_empty() { String::new() } else { format!(" (violations meanwhile: {meanwhile})") };
                Err(LoopbackError::Timeout(format!("the callback of interaction {id}{note}")))
            }
        }
    }

    /// Sends any gateway dispatch (`t` = `event`, `d` = `d`) on the session whose shard owns its guild (`d.guild_id`,
    /// or `d.id` for GUILD_CREATE/UPDATE/DELETE; shard 0 without one); returns its sequence number.
    /// Refused when serenity would not recognise the event.
    pub fn dispatch(&self, event: &str, d: Value) -> Result<u64, LoopbackError> {
        let frame = json!({"op": 0, "s": 1, "t": event, "d": d.clone()});
        match serde_json::from_value::<serenity::model::event::GatewayEvent>(frame) {
            Ok(serenity::model::event::GatewayEvent::Dispatch(_, ev))
                if !matches!(ev, serenity::model::event::Event::Unknown(_)) => {}
            Ok(_) => {
                return Err(LoopbackError::BadPayload(format!(
                    "serenity does not recognise a {event} with this payload"
                )));
            }
            Err(e) => return Err(LoopbackError::BadPayload(format!("serenity cannot parse this {event}: {e}"))),
        }
        self.shared.lock().dispatch(event, d).map(|(seq, _)| seq)
    }

    /// Waits until a recorded request matches `pred` (earlier requests included) and returns the first such one.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Recorded) -> bool,
        timeout: Duration,
    ) -> Result<Recorded, LoopbackError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.shared.lock().requests.iter().find(|r| pred(r)) {
                return Ok(found.clone());
            }
            if Instant::now() >= deadline {
                return Err(LoopbackError::Timeout("a recorded request matching the predicate".into()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every REST request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        let mut list = self.shared.lock().requests.clone();
        list.sort_by_key(|r| r.at);
        list
    }

    /// Schema violations, Discord-limit breaches, unknown routes, malformed bodies and protocol misuse.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// The last accepted bulk-overwrite body: global when `guild` is `None`.
    pub fn registered_commands(&self, guild: Option<u64>) -> Option<Value> {
        self.shared.lock().commands.get(&guild).cloned()
    }

    /// Accepted bodies POSTed to `/channels/{id}/messages` (the `payload_json` part for multipart), in order.
    pub fn channel_messages(&self, channel_id: u64) -> Vec<Value> {
        self.shared.lock().channel_messages.get(&channel_id).cloned().unwrap_or_default()
    }

    /// Messages posted to the DM channel opened for `user_id`.
    pub fn dm_messages(&self, user_id: u64) -> Vec<Value> {
        let state = self.shared.lock();
        let Some(channel) = state.dm_by_user.get(&user_id) else {
            return Vec::new();
        };
        state.channel_messages.get(channel).cloned().unwrap_or_default()
    }

    /// The DM channel id opened for `user_id`, if the bot opened one.
    pub fn dm_channel(&self, user_id: u64) -> Option<u64> {
        self.shared.lock().dm_by_user.get(&user_id).copied()
    }

    /// Roles the bot added to (and did not remove from) a guild member.
    pub fn member_roles(&self, guild: u64, user: u64) -> Vec<u64> {
        self.shared.lock().member_roles.get(&(guild, user)).map(|r| r.iter().copied().collect()).unwrap_or_default()
    }

    /// Models `guild`'s roles (@everyone is added at position 0) and gives the bot `bot_roles`:
    /// `GET /guilds/{guild}/roles` and the bot's `GET /guilds/{guild}/members/{id}` answer with them, and
    /// the bot may then add or remove only roles below its highest, and only with Manage Roles.
    pub fn set_guild_roles(&self, guild: u64, roles: &[GuildRole], bot_roles: &[u64]) {
        let mut state = self.shared.lock();
        let mut list =
            vec![GuildRole { id: guild, name: "@everyone".into(), position: 0, managed: false, manage_roles: false }];
        list.extend(roles.iter().cloned());
        state.guild_roles.insert(guild, list);
        state.member_roles.insert((guild, BOT_USER_ID), bot_roles.iter().copied().collect());
    }

    /// Models `guild`'s members: the bot then changes roles of these users only (others have left).
    pub fn set_guild_members(&self, guild: u64, users: &[u64]) {
        self.shared.lock().guild_members.insert(guild, users.iter().copied().collect());
    }

    /// The bot's current original response for an interaction token (after callback and any edits).
    pub fn original_response(&self, token: &str) -> Option<Value> {
        self.shared.lock().originals.get(token).cloned()
    }

    /// Follow-up messages created with an interaction token, as returned to the bot.
    pub fn followups(&self, token: &str) -> Vec<Value> {
        self.shared.lock().followups.get(token).cloned().unwrap_or_default()
    }

    /// IDENTIFY payloads received, with the token replaced by `"<redacted>"`.
    pub fn identifies(&self) -> Vec<Value> {
        self.shared.lock().identifies.clone()
    }

    /// Sets the `shards` that `GET /gateway/bot` recommends (at least 1; Discord's answer is never 0).
    pub fn set_recommended_shards(&self, shards: u32) {
        self.shared.lock().shard_rules.recommended = shards.max(1);
    }

    /// Makes an IDENTIFY with fewer than `shards` shards (`num_shards`, 1 without a `shard` field) close with
    /// 4011 "Sharding required", as Discord does when a session would hold too many guilds. Default 1: never.
    pub fn set_required_shards(&self, shards: u32) {
        self.shared.lock().shard_rules.required = shards.max(1);
    }

    /// The close codes the gateway ended connections with (4010 Invalid shard, 4011 Sharding required), in order.
    pub fn close_codes(&self) -> Vec<u16> {
        self.shared.lock().close_codes.clone()
    }

    /// Shortens (or lengthens) the first-response deadline, so a test can check a slow reply without waiting 3 s.
    pub fn set_interaction_deadline(&self, deadline: Duration) {
        self.shared.lock().deadline = Some(deadline);
    }

    /// Makes the next `n` requests whose path contains `path_contains` fail with `status`: 429 carries Discord's
    /// JSON body (`retry_after` 0.05 s, not global) and a `Retry-After` header; other statuses a generic error.
    pub fn fail_next(&self, path_contains: &str, status: u16, n: usize) {
        self.shared.lock().failures.push(Failure { path_contains: path_contains.to_string(), status, remaining: n });
    }

    /// Stops the server and closes gateway connections, then waits for the server task.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut server).await.is_err()
        {
            server.abort();
        }
    }
}

impl Drop for Loopback {
    /// Signals only: the server task then shuts down gracefully on its own, closing idle keep-alive connections.
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
