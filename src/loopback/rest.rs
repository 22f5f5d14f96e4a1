//! The REST half of the loopback: routing, body parsing and validation, recording, and the handful of routes the
//! bot uses, answered the way Discord answers them (including its errors).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::objects::{self, Origin};
use super::schema::{self, Issue};
use super::{
    APPLICATION_ID, Answer, Failure, INTERACTION_DEADLINE, Pending, Recorded, Shared, State as Record, limits,
};
use super::{gateway, multipart, payload};

const PREFIX: &str = "/api/v10";

/// Discord takes up to 25 MiB of attachments per message for most bots; leave room for the form around them.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", any(gateway::upgrade))
        .fallback(handle)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetGateway,
    GetBotGateway,
    GetMe,
    PutCommands,
    PutGuildCommands,
    Callback,
    FollowUp,
    GetOriginal,
    EditOriginal,
    DeleteOriginal,
    GetFollowUp,
    EditFollowUp,
    DeleteFollowUp,
    CreateMessage,
    OpenDm,
    AddRole,
    RemoveRole,
    GuildRoles,
    GetMember,
}

/// Templates are spelled exactly as the OpenAPI `paths` keys so validation can look them up. Literal segments
/// (`@original`) come before the parameter they would otherwise match.
const ROUTES: &[(&str, &str, Op)] = &[
    ("GET", "/gateway", Op::GetGateway),
    // Only `Client::start_autosharded` asks for this one.
    ("GET", "/gateway/bot", Op::GetBotGateway),
    ("GET", "/users/@me", Op::GetMe),
    ("PUT", "/applications/{application_id}/commands", Op::PutCommands),
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", Op::PutGuildCommands),
    ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", Op::Callback),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}", Op::FollowUp),
    ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", Op::GetOriginal),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", Op::EditOriginal),
    ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", Op::DeleteOriginal),
    ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", Op::GetFollowUp),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", Op::EditFollowUp),
    ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", Op::DeleteFollowUp),
    ("POST", "/channels/{channel_id}/messages", Op::CreateMessage),
    ("POST", "/users/@me/channels", Op::OpenDm),
    ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", Op::AddRole),
    ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", Op::RemoveRole),
    ("GET", "/guilds/{guild_id}/roles", Op::GuildRoles),
    ("GET", "/guilds/{guild_id}/members/{user_id}", Op::GetMember),
];

impl Op {
    fn needs_body(self) -> bool {
        matches!(
            self,
            Op::PutCommands
                | Op::PutGuildCommands
                | Op::Callback
                | Op::FollowUp
                | Op::EditOriginal
                | Op::EditFollowUp
                | Op::CreateMessage
                | Op::OpenDm
        )
    }
}

type Params = HashMap<&'static str, String>;

fn route(method: &str, path: &str) -> Option<(&'static str, Op, Params)> {
    let rest = path.strip_prefix(PREFIX)?;
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    'routes: for &(m, template, op) in ROUTES {
        if m != method {
            continue;
        }
        let pattern: Vec<&'static str> = template.split('/').skip(1).collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Params::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !s.is_empty() => {
                    params.insert(name, (*s).to_string());
                }
                _ if p == s => {}
                _ => continue 'routes,
            }
        }
        return Some((template, op, params));
    }
    None
}

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: Some(body), headers: Vec::new() }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    fn no_content() -> Reply {
        Reply { status: 204, body: None, headers: Vec::new() }
    }

    fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "code": code}))
    }

    fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }

    fn invalid_form_body(issues: &[Issue]) -> Reply {
        Reply::json(400, json!({"message": "Invalid Form Body", "code": 50035, "errors": schema::errors_tree(issues)}))
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match self.body {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        };
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[derive(Default)]
struct Parsed {
    json: Option<Value>,
    files: Vec<(String, Vec<u8>)>,
    error: Option<String>,
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Parsed {
    if body.is_empty() {
        return Parsed::default();
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(boundary) = multipart::boundary(content_type) {
        return parse_form(body, &boundary);
    }
    let mut parsed = Parsed::default();
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => parsed.json = Some(v),
        Err(e) => parsed.error = Some(format!("invalid JSON: {e}")),
    }
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if parsed.error.is_none() && !essence.eq_ignore_ascii_case("application/json") {
        parsed.error = Some(format!("JSON sent with content type `{content_type}`"));
    }
    parsed
}

fn parse_form(body: &[u8], boundary: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let parts = match multipart::parse(body, boundary) {
        Ok(parts) => parts,
        Err(e) => {
            parsed.error = Some(e);
            return parsed;
        }
    };
    for part in parts {
        if part.name == "payload_json" {
            match serde_json::from_slice::<Value>(&part.data) {
                Ok(v) => parsed.json = Some(v),
                Err(e) => parsed.error = Some(format!("payload_json is not JSON: {e}")),
            }
        } else if let Some(filename) = part.filename {
            if !(part.name.starts_with("files[") || part.name == "file") {
                parsed.error = Some(format!("file part named `{}` (Discord expects files[n])", part.name));
            }
            parsed.files.push((filename, part.data));
        } else {
            parsed.error = Some(format!("unexpected form field `{}` (only payload_json and files[n])", part.name));
        }
    }
    parsed
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(shared, method, uri, headers, body).await
}

/// Answers one REST request and records it, with any violations, under one lock so a test that sees the effect
/// (e.g. a resolved `interact`) also sees the record.
pub(super) async fn respond(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let method = method.as_str().to_string();
    let path = uri.path().to_string();
    let parsed = parse_body(&headers, &body);
    let request = Recorded {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_string),
        body: parsed.json.clone(),
        files: parsed.files.clone(),
        status: 0,
        at,
    };

    if let Some(status) = take_failure(&shared, &path) {
        return finish(&shared, request, injected(status), Vec::new());
    }
    let Some((template, op, params)) = route(&method, &path) else {
        return finish(&shared, request, Reply::not_found(), vec![format!("unknown route {method} {path}")]);
    };
    let label = format!("{method} {template} ({path})");
    if let Some(error) = &parsed.error {
        let reply = Reply::error(400, 50109, "The request body contains invalid JSON.");
        return finish(&shared, request, reply, vec![format!("malformed body on {label}: {error}")]);
    }
    if let Some(issue) = bad_snowflake(&params) {
        let reply = Reply::invalid_form_body(std::slice::from_ref(&issue));
        return finish(&shared, request, reply, vec![format!("{label}: {}", issue.message)]);
    }
    let json = match (&parsed.json, op.needs_body()) {
        (Some(json), _) => Some(json.clone()),
        (None, true) => {
            let issue = Issue::new(vec![], "BASE_TYPE_REQUIRED", "This request needs a JSON body.");
            let reply = Reply::invalid_form_body(std::slice::from_ref(&issue));
            return finish(&shared, request, reply, vec![format!("{label}: no body")]);
        }
        (None, false) => None,
    };
    if let Some(json) = &json {
        let mut issues = Vec::new();
        if let Some(spec) = shared.spec.clone() {
            let (m, t, body) = (method.clone(), template, json.clone());
            match tokio::task::spawn_blocking(move || spec.validate(t, &m, &body)).await {
                Ok(Ok(found)) => issues.extend(found),
                Ok(Err(e)) => {
                    let reply = Reply::error(500, 0, "loopback could not validate this body");
                    return finish(&shared, request, reply, vec![format!("{label}: schema unavailable: {e}")]);
                }
                Err(e) => {
                    let reply = Reply::error(500, 0, "loopback could not validate this body");
                    return finish(&shared, request, reply, vec![format!("{label}: validation task failed: {e}")]);
                }
            }
        }
        issues.extend(discord_limits(op, json));
        if !issues.is_empty() {
            let summary: Vec<String> =
                issues.iter().take(5).map(|i| format!("{} {}: {}", i.pointer(), i.code, i.message)).collect();
            let more = if issues.len() > 5 { format!(" (+{} more)", issues.len() - 5) } else { String::new() };
            let violation = format!("invalid body on {label}: {}{more}", summary.join("; "));
            return finish(&shared, request, Reply::invalid_form_body(&issues), vec![violation]);
        }
        if is_empty_create(op, json, parsed.files.len()) {
            let reply = Reply::error(400, 50006, "Cannot send an empty message");
            return finish(&shared, request, reply, vec![format!("{label}: empty message")]);
        }
    }

    let ctx = Ctx { shared: &shared, params: &params, body: json.as_ref(), files: &parsed.files, at, label: &label };
    let (reply, violations, resolved) = {
        let mut state = shared.lock();
        let mut violations = Vec::new();
        let mut resolved = None;
        let reply = run(op, &ctx, &mut state, &mut violations, &mut resolved);
        let mut request = request;
        request.status = reply.status;
        state.requests.push(request);
        state.violations.extend(violations.iter().cloned());
        (reply, violations, resolved)
    };
    for v in &violations {
        tracing::warn!("loopback discord violation: {v}");
    }
    if let Some((waiter, answer)) = resolved {
        // The waiter is gone when `interact` already timed out; the record above still holds the callback.
        let _ = waiter.send(answer);
    }
    reply.into_response()
}

fn finish(shared: &Shared, mut request: Recorded, reply: Reply, violations: Vec<String>) -> Response {
    request.status = reply.status;
    for v in &violations {
        tracing::warn!("loopback discord violation: {v}");
    }
    {
        let mut state = shared.lock();
        state.requests.push(request);
        state.violations.extend(violations);
    }
    reply.into_response()
}

fn take_failure(shared: &Shared, path: &str) -> Option<u16> {
    let mut state = shared.lock();
    let failure: &mut Failure =
        state.failures.iter_mut().find(|f| f.remaining > 0 && path.contains(f.path_contains.as_str()))?;
    failure.remaining -= 1;
    let status = failure.status;
    state.failures.retain(|f| f.remaining > 0);
    Some(status)
}

fn injected(status: u16) -> Reply {
    match status {
        429 => Reply {
            status,
            body: Some(json!({"message": "You are being rate limited.", "retry_after": 0.05, "global": false})),
            headers: vec![
                ("retry-after", "0.05".into()),
                ("x-ratelimit-limit", "5".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset-after", "0.05".into()),
                ("x-ratelimit-bucket", "loopback".into()),
                ("x-ratelimit-scope", "user".into()),
            ],
        },
        500 => Reply::error(500, 0, "500: Internal Server Error"),
        other => Reply::error(other, 0, &format!("{other}: injected failure")),
    }
}

fn bad_snowflake(params: &Params) -> Option<Issue> {
    params.iter().filter(|(name, _)| !name.ends_with("_token")).find_map(|(name, value)| {
        let ok = value.parse::<u64>().is_ok_and(|v| v > 0);
        (!ok).then(|| {
            Issue::new(vec![name.to_string()], "NUMBER_TYPE_COERCE", format!("Value \"{value}\" is not snowflake."))
        })
    })
}

fn discord_limits(op: Op, body: &Value) -> Vec<Issue> {
    match op {
        Op::CreateMessage | Op::FollowUp | Op::EditOriginal | Op::EditFollowUp => limits::message(body, &[]),
        Op::Callback => match body.get("type").and_then(Value::as_u64) {
            Some(4 | 7) => body.get("data").map(|d| limits::message(d, &["data"])).unwrap_or_default(),
            _ => Vec::new(),
        },
        Op::PutCommands | Op::PutGuildCommands => limits::commands(body),
        _ => Vec::new(),
    }
}

fn is_empty_create(op: Op, body: &Value, files: usize) -> bool {
    match op {
        Op::CreateMessage | Op::FollowUp => limits::is_empty_message(body, files),
        Op::Callback if body.get("type").and_then(Value::as_u64) == Some(4) => {
            limits::is_empty_message(body.get("data").unwrap_or(&Value::Null), files)
        }
        _ => false,
    }
}

struct Ctx<'a> {
    shared: &'a Shared,
    params: &'a Params,
    body: Option<&'a Value>,
    files: &'a [(String, Vec<u8>)],
    at: Instant,
    label: &'a str,
}

impl Ctx<'_> {
    fn id(&self, name: &str) -> u64 {
        self.params.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn text(&self, name: &str) -> String {
        self.params.get(name).cloned().unwrap_or_default()
    }

    fn body(&self) -> &Value {
        self.body.unwrap_or(&Value::Null)
    }
}

type Resolved = Option<(tokio::sync::oneshot::Sender<Answer>, Answer)>;

fn run(op: Op, ctx: &Ctx<'_>, state: &mut Record, violations: &mut Vec<String>, resolved: &mut Resolved) -> Reply {
    match op {
        Op::GetGateway => Reply::ok(json!({"url": ctx.shared.ws_url})),
        Op::GetBotGateway => Reply::ok(json!({
            "url": ctx.shared.ws_url,
            "shards": state.shard_rules.recommended,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
        })),
        Op::GetMe => Reply::ok(objects::bot_user()),
        Op::PutCommands | Op::PutGuildCommands => {
            let app = ctx.id("application_id");
            if app != APPLICATION_ID {
                violations.push(format!("{}: application {app} is not the bot's ({APPLICATION_ID})", ctx.label));
                return Reply::error(403, 50001, "Missing Access");
            }
            let guild = (op == Op::PutGuildCommands).then(|| ctx.id("guild_id"));
            let list = ctx.body().as_array().cloned().unwrap_or_default();
            state.commands.insert(guild, Value::Array(list.clone()));
            let reply: Vec<Value> = list
                .iter()
                .map(|c| {
                    objects::command(objects::command_id(c.get("name").and_then(Value::as_str).unwrap_or("")), guild, c)
                })
                .collect();
            Reply::ok(Value::Array(reply))
        }
        Op::Callback => callback(ctx, state, violations, resolved),
        Op::FollowUp => {
            let token = ctx.text("webhook_token");
            if let Some(reply) = check_webhook(ctx, state, &token, violations) {
                return reply;
            }
            let channel = channel_of_token(state, &token);
            let id = state.next_id();
            let first_attachment = state.next_id();
            let msg = objects::message(
                id,
                channel,
                Origin::Interaction,
                ctx.body(),
                ctx.files,
                first_attachment,
                &ctx.shared.base_url,
            );
            state.followups.entry(token).or_default().push(msg.clone());
            Reply::ok(msg)
        }
        Op::GetOriginal | Op::EditOriginal | Op::DeleteOriginal => original(op, ctx, state, violations),
        Op::GetFollowUp | Op::EditFollowUp | Op::DeleteFollowUp => followup(op, ctx, state, violations),
        Op::CreateMessage => create_message(ctx, state),
        Op::OpenDm => {
            let Some(user) = objects::snowflake_of(ctx.body().get("recipient_id")).filter(|u| *u > 0) else {
                violations.push(format!("{}: no recipient_id", ctx.label));
                let issue = Issue::new(vec!["recipient_id".into()], "BASE_TYPE_REQUIRED", "This field is required");
                return Reply::invalid_form_body(&[issue]);
            };
            let channel = match state.dm_by_user.get(&user) {
                Some(c) => *c,
                None => {
                    let c = state.next_id();
                    state.dm_by_user.insert(user, c);
                    c
                }
            };
            Reply::ok(objects::dm_channel(channel, user))
        }
        Op::AddRole => {
            if let Some(refused) = member_unknown(state, ctx.id("guild_id"), ctx.id("user_id"))
                .or_else(|| role_change_refused(state, ctx.id("guild_id"), ctx.id("role_id")))
            {
                return refused;
            }
            state.member_roles.entry((ctx.id("guild_id"), ctx.id("user_id"))).or_default().insert(ctx.id("role_id"));
            Reply::no_content()
        }
        Op::RemoveRole => {
            if let Some(refused) = member_unknown(state, ctx.id("guild_id"), ctx.id("user_id"))
                .or_else(|| role_change_refused(state, ctx.id("guild_id"), ctx.id("role_id")))
            {
                return refused;
            }
            if let Some(roles) = state.member_roles.get_mut(&(ctx.id("guild_id"), ctx.id("user_id"))) {
                roles.remove(&ctx.id("role_id"));
            }
            Reply::no_content()
        }
        Op::GuildRoles => match state.guild_roles.get(&ctx.id("guild_id")) {
            Some(roles) => Reply::ok(Value::Array(roles.iter().map(objects::role).collect())),
            None => Reply::error(404, 10004, "Unknown Guild"),
        },
        Op::GetMember => {
            let (guild, user) = (ctx.id("guild_id"), ctx.id("user_id"));
            if !state.guild_roles.contains_key(&guild) {
                return Reply::error(404, 10004, "Unknown Guild");
            }
            let roles: Vec<u64> =
                state.member_roles.get(&(guild, user)).map(|r| r.iter().copied().collect()).unwrap_or_default();
            Reply::ok(objects::member(user, &roles))
        }
    }
}

/// Discord's answer to a role change for a user who is not a member of a guild whose members are
/// modelled (they left): 404 Unknown Member.
fn member_unknown(state: &Record, guild: u64, user: u64) -> Option<Reply> {
    let members = state.guild_members.get(&guild)?;
    (!members.contains(&user)).then(|| Reply::error(404, 10007, "Unknown Member"))
}

/// Discord's answer to the bot changing `role` in a modelled guild it may not change it in: without
/// Manage Roles among its roles, or with the role at or above its highest role (50013 Missing
/// Permissions). `None`: allowed, or the guild is not modelled.
fn role_change_refused(state: &Record, guild: u64, role: u64) -> Option<Reply> {
    let roles = state.guild_roles.get(&guild)?;
    let bot: Vec<&super::GuildRole> = roles
        .iter()
        .filter(|r| state.member_roles.get(&(guild, super::BOT_USER_ID)).is_some_and(|held| held.contains(&r.id)))
        .collect();
    let top = bot.iter().map(|r| r.position).max().unwrap_or(0);
    let target = roles.iter().find(|r| r.id == role);
    let allowed =
        bot.iter().any(|r| r.manage_roles) && target.is_some_and(|t| t.position < top && !t.managed && t.id != guild);
    match target {
        None => Some(Reply::error(404, 10011, "Unknown Role")),
        Some(_) if !allowed => Some(Reply::error(403, 50013, "Missing Permissions")),
        Some(_) => None,
    }
}

/// How long a nonce is remembered: "a few minutes" in Discord's documentation; the short end.
const NONCE_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

fn create_message(ctx: &Ctx<'_>, state: &mut Record) -> Reply {
    let channel = ctx.id("channel_id");
    let body = ctx.body();
    let nonce_key = match (body.get("enforce_nonce").and_then(Value::as_bool), body.get("nonce")) {
        (Some(true), Some(Value::String(s))) => Some(s.clone()),
        (Some(true), Some(Value::Number(n))) => Some(n.to_string()),
        _ => None,
    };
    if let Some(key) = &nonce_key
        && let Some((_, earlier)) =
            state.nonces.get(&(channel, key.clone())).filter(|(t, _)| t.elapsed() < NONCE_WINDOW)
    {
        return Reply::ok(earlier.clone());
    }
    let id = state.next_id();
    let first_attachment = state.next_id();
    let msg = objects::message(id, channel, Origin::Channel, body, ctx.files, first_attachment, &ctx.shared.base_url);
    state.channel_messages.entry(channel).or_default().push(body.clone());
    if let Some(key) = nonce_key {
        state.nonces.insert((channel, key), (std::time::Instant::now(), msg.clone()));
    }
    Reply::ok(msg)
}

fn callback(ctx: &Ctx<'_>, state: &mut Record, violations: &mut Vec<String>, resolved: &mut Resolved) -> Reply {
    let id = ctx.id("interaction_id");
    let token = ctx.text("interaction_token");
    let body = ctx.body().clone();
    let pending = match state.interactions.get_mut(&id) {
        Some(p) => p,
        // Interactions delivered over HTTP (or built by hand) never passed through `interact`; accept the token
        // our payload builders give them.
        None if token == payload::token(id) => state.interactions.entry(id).or_insert(Pending {
            token: token.clone(),
            channel_id: 1,
            dispatched_at: ctx.at,
            answered: false,
            waiter: None,
            shard: None,
        }),
        None => {
            violations.push(format!("{}: unknown interaction {id}", ctx.label));
            return Reply::error(404, 10062, "Unknown interaction");
        }
    };
    if pending.token != token {
        violations.push(format!("{}: wrong token for interaction {id}", ctx.label));
        return Reply::error(401, 50027, "Invalid Webhook Token");
    }
    if pending.answered {
        violations.push(format!("{}: interaction {id} was already acknowledged", ctx.label));
        return Reply::error(400, 40060, "Interaction has already been acknowledged.");
    }
    pending.answered = true;
    let elapsed = ctx.at.saturating_duration_since(pending.dispatched_at);
    let channel = pending.channel_id;
    if let Some(waiter) = pending.waiter.take() {
        let shard = pending.shard;
        *resolved = Some((waiter, Answer { body: body.clone(), files: ctx.files.to_vec(), elapsed, shard }));
    }
    let deadline = state.deadline.unwrap_or(INTERACTION_DEADLINE);
    if elapsed > deadline {
        violations.push(format!(
            "{}: interaction {id} answered after {} ms; Discord allows {} ms",
            ctx.label,
            elapsed.as_millis(),
            deadline.as_millis()
        ));
        return Reply::error(404, 10062, "Unknown interaction");
    }
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(0);
    let data = body.get("data").cloned().filter(|d| d.is_object()).unwrap_or_else(|| json!({}));
    let message_body = match kind {
        4 | 7 => Some(data),
        // A deferred reply shows "thinking…" (flag 128, LOADING) until the bot edits @original.
        5 => Some(json!({"content": "", "flags": 128 | data.get("flags").and_then(Value::as_u64).unwrap_or(0)})),
        6 => Some(json!({"content": ""})),
        _ => None,
    };
    if let Some(message_body) = message_body {
        let msg_id = state.next_id();
        let first_attachment = state.next_id();
        let msg = objects::message(
            msg_id,
            channel,
            Origin::Interaction,
            &message_body,
            ctx.files,
            first_attachment,
            &ctx.shared.base_url,
        );
        state.originals.insert(token, msg);
    }
    Reply::no_content()
}

/// The interaction a webhook token belongs to, when it was dispatched through `interact`.
fn interaction_of_token<'a>(state: &'a Record, token: &str) -> Option<(&'a u64, &'a Pending)> {
    state.interactions.iter().find(|(_, p)| p.token == token)
}

fn channel_of_token(state: &Record, token: &str) -> u64 {
    interaction_of_token(state, token).map_or(1, |(_, p)| p.channel_id)
}

/// Interaction webhooks belong to the application, and only exist once the interaction was acknowledged.
fn check_webhook(ctx: &Ctx<'_>, state: &Record, token: &str, violations: &mut Vec<String>) -> Option<Reply> {
    let app = ctx.id("webhook_id");
    if app != APPLICATION_ID {
        violations.push(format!("{}: webhook {app} is not the application ({APPLICATION_ID})", ctx.label));
        return Some(Reply::error(404, 10015, "Unknown Webhook"));
    }
    if let Some((id, pending)) = interaction_of_token(state, token)
        && !pending.answered
    {
        violations.push(format!("{}: interaction {id} used before it was acknowledged", ctx.label));
        return Some(Reply::error(404, 10015, "Unknown Webhook"));
    }
    None
}

fn original(op: Op, ctx: &Ctx<'_>, state: &mut Record, violations: &mut Vec<String>) -> Reply {
    let token = ctx.text("webhook_token");
    if let Some(reply) = check_webhook(ctx, state, &token, violations) {
        return reply;
    }
    let known = interaction_of_token(state, &token).is_some();
    match (op, state.originals.get(&token).cloned()) {
        (Op::GetOriginal, Some(msg)) => Reply::ok(msg),
        (Op::DeleteOriginal, Some(_)) => {
            state.originals.remove(&token);
            Reply::no_content()
        }
        (Op::EditOriginal, Some(stored)) => {
            let first_attachment = state.next_id();
            let msg = objects::edit_message(&stored, ctx.body(), ctx.files, first_attachment, &ctx.shared.base_url);
            state.originals.insert(token, msg.clone());
            Reply::ok(msg)
        }
        // An interaction answered over HTTP left no trace here, so its first edit creates the original.
        (Op::EditOriginal, None) if !known => {
            let id = state.next_id();
            let first_attachment = state.next_id();
            let msg = objects::message(
                id,
                1,
                Origin::Interaction,
                ctx.body(),
                ctx.files,
                first_attachment,
                &ctx.shared.base_url,
            );
            state.originals.insert(token, msg.clone());
            Reply::ok(msg)
        }
        _ => {
            violations.push(format!("{}: there is no original response for this token", ctx.label));
            Reply::error(404, 10008, "Unknown Message")
        }
    }
}

fn followup(op: Op, ctx: &Ctx<'_>, state: &mut Record, violations: &mut Vec<String>) -> Reply {
    let token = ctx.text("webhook_token");
    if let Some(reply) = check_webhook(ctx, state, &token, violations) {
        return reply;
    }
    let id = ctx.id("message_id").to_string();
    let first_attachment = state.next_id();
    let list = state.followups.entry(token).or_default();
    let Some(pos) = list.iter().position(|m| m.get("id").and_then(Value::as_str) == Some(id.as_str())) else {
        violations.push(format!("{}: no follow-up message {id} for this token", ctx.label));
        return Reply::error(404, 10008, "Unknown Message");
    };
    match op {
        Op::EditFollowUp => {
            let msg = objects::edit_message(&list[pos], ctx.body(), ctx.files, first_attachment, &ctx.shared.base_url);
            list[pos] = msg.clone();
            Reply::ok(msg)
        }
        Op::DeleteFollowUp => {
            list.remove(pos);
            Reply::no_content()
        }
        _ => Reply::ok(list[pos].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_over_parameters() {
        let (template, op, _) = route("PATCH", "/api/v10/webhooks/1/tok/messages/@original").expect("a known route");
        assert_eq!(template, "/webhooks/{webhook_id}/{webhook_token}/messages/@original");
        assert_eq!(op, Op::EditOriginal);
        let (_, op, params) = route("PATCH", "/api/v10/webhooks/1/tok/messages/77").expect("a known route");
        assert_eq!(op, Op::EditFollowUp);
        assert_eq!(params.get("message_id").map(String::as_str), Some("77"));
    }

    #[test]
    fn paths_outside_the_api_prefix_or_with_other_methods_do_not_route() {
        assert!(route("GET", "/gateway").is_none());
        assert!(route("GET", "/api/v10/channels/5/messages").is_none());
        assert!(route("POST", "/api/v10/channels/5/messages/").is_none());
    }
}
