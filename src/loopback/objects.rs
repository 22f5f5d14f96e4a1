//! Discord objects the loopback answers with (users, messages, commands, channels), shaped so serenity 0.12.5
//! deserializes them; the unit tests in `tests.rs` hold each one to that.

use serde_json::{Map, Value, json};

use super::{APPLICATION_ID, BOT_USER_ID, BOT_USERNAME};

pub(crate) fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn bot_user() -> Value {
    json!({
        "id": BOT_USER_ID.to_string(),
        "username": BOT_USERNAME,
        "discriminator": "0000",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "system": false,
        "mfa_enabled": false,
        "verified": true,
        "email": null,
        "flags": 0,
        "public_flags": 0,
    })
}

pub(crate) fn user(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "username": format!("user{id}"),
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "public_flags": 0,
    })
}

/// A role as `GET /guilds/{id}/roles` returns it.
pub(crate) fn role(r: &super::GuildRole) -> Value {
    let permissions: u64 = if r.manage_roles { 1 << 28 } else { 0 };
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "permissions": permissions.to_string(),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "managed": r.managed,
        "mentionable": false,
        "icon": null,
        "unicode_emoji": null,
        "flags": 0,
    })
}

/// A guild member as `GET /guilds/{id}/members/{user}` returns it; the bot's own member carries the bot user.
pub(crate) fn member(user: u64, roles: &[u64]) -> Value {
    json!({
        "user": if user == BOT_USER_ID { bot_user() } else { self::user(user) },
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": "2026-01-05T09:00:00.000000+00:00",
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
    })
}

/// The author Discord shows for interaction replies and follow-ups: the application's webhook, named like the bot.
fn webhook_author() -> Value {
    json!({
        "id": APPLICATION_ID.to_string(),
        "username": BOT_USERNAME,
        "discriminator": "0000",
        "global_name": null,
        "avatar": null,
        "bot": true,
    })
}

/// How a posted message came to be, which decides its author, `type` and `webhook_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Channel,
    Interaction,
}

/// Builds the Message Discord returns for a create/edit body. Files become attachments with loopback URLs.
pub(crate) fn message(
    id: u64,
    channel_id: u64,
    origin: Origin,
    body: &Value,
    files: &[(String, Vec<u8>)],
    first_attachment_id: u64,
    base_url: &str,
) -> Value {
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            let aid = first_attachment_id + i as u64;
            let url = format!("{base_url}/attachments/{channel_id}/{aid}/{name}");
            json!({"id": aid.to_string(), "filename": name, "size": data.len(), "url": url, "proxy_url": url})
        })
        .collect();
    let embeds: Vec<Value> = body
        .get("embeds")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let mut e = e.clone();
                    if let Some(obj) = e.as_object_mut() {
                        obj.entry("type").or_insert_with(|| json!("rich"));
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let (author, kind, webhook_id) = match origin {
        Origin::Channel => (bot_user(), 0, Value::Null),
        Origin::Interaction => (webhook_author(), 20, json!(APPLICATION_ID.to_string())),
    };
    let mut msg = json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
        "timestamp": now_timestamp(),
        "edited_timestamp": null,
        "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": embeds,
        "pinned": false,
        "type": kind,
        "flags": body.get("flags").and_then(Value::as_u64).unwrap_or(0),
        "components": body.get("components").cloned().filter(Value::is_array).unwrap_or_else(|| json!([])),
        "application_id": APPLICATION_ID.to_string(),
        "webhook_id": webhook_id,
    });
    if let (Some(obj), Some(nonce)) = (msg.as_object_mut(), body.get("nonce").filter(|n| !n.is_null())) {
        obj.insert("nonce".into(), nonce.clone());
    }
    fit_for_serenity(msg)
}

/// Applies an edit body (content, embeds, components, flags; attachments replaced by new files) to a stored message.
pub(crate) fn edit_message(
    stored: &Value,
    body: &Value,
    files: &[(String, Vec<u8>)],
    first_attachment_id: u64,
    base_url: &str,
) -> Value {
    let id = snowflake_of(stored.get("id")).unwrap_or(0);
    let channel_id = snowflake_of(stored.get("channel_id")).unwrap_or(0);
    let origin =
        if stored.get("webhook_id").is_some_and(|w| !w.is_null()) { Origin::Interaction } else { Origin::Channel };
    let mut merged = Map::new();
    for key in ["content", "embeds", "components", "flags", "tts"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()).or_else(|| stored.get(key)) {
            merged.insert(key.into(), v.clone());
        }
    }
    // The first edit of a deferred reply replaces its "thinking…" state (LOADING, 1 << 7).
    if let Some(flags) = merged.get("flags").and_then(Value::as_u64) {
        merged.insert("flags".into(), json!(flags & !(1 << 7)));
    }
    let mut msg = message(id, channel_id, origin, &Value::Object(merged), files, first_attachment_id, base_url);
    if let Some(obj) = msg.as_object_mut() {
        if files.is_empty()
            && let Some(old) = stored.get("attachments")
        {
            obj.insert("attachments".into(), old.clone());
        }
        if let Some(ts) = stored.get("timestamp") {
            obj.insert("timestamp".into(), ts.clone());
        }
        obj.insert("edited_timestamp".into(), json!(now_timestamp()));
    }
    fit_for_serenity(msg)
}

/// serenity rejects a whole Message when one embed or component does not match its model; Discord would have
/// normalised those, so fall back to a message without them rather than fail the bot's call.
fn fit_for_serenity(msg: Value) -> Value {
    if serde_json::from_value::<serenity::model::channel::Message>(msg.clone()).is_ok() {
        return msg;
    }
    let mut stripped = msg;
    if let Some(obj) = stripped.as_object_mut() {
        obj.insert("embeds".into(), json!([]));
        obj.insert("components".into(), json!([]));
    }
    tracing::debug!("loopback: echoed embeds/components do not fit serenity's Message model; dropped them");
    stripped
}

/// The command object Discord returns for one element of a bulk-overwrite body.
pub(crate) fn command(id: u64, guild: Option<u64>, body: &Value) -> Value {
    let mut cmd = Map::new();
    cmd.insert("id".into(), json!(id.to_string()));
    cmd.insert("application_id".into(), json!(APPLICATION_ID.to_string()));
    cmd.insert("version".into(), json!(id.to_string()));
    cmd.insert("type".into(), body.get("type").cloned().filter(|t| !t.is_null()).unwrap_or(json!(1)));
    cmd.insert("name".into(), body.get("name").cloned().unwrap_or(json!("")));
    cmd.insert("description".into(), body.get("description").cloned().filter(|d| !d.is_null()).unwrap_or(json!("")));
    for key in ["name_localizations", "description_localizations"] {
        cmd.insert(key.into(), body.get(key).cloned().unwrap_or(Value::Null));
    }
    let perms = match body.get("default_member_permissions") {
        Some(Value::Number(n)) => json!(n.to_string()),
        Some(Value::String(s)) => json!(s),
        _ => Value::Null,
    };
    cmd.insert("default_member_permissions".into(), perms);
    cmd.insert(
        "dm_permission".into(),
        body.get("dm_permission").cloned().filter(|d| !d.is_null()).unwrap_or(json!(true)),
    );
    cmd.insert("nsfw".into(), body.get("nsfw").cloned().filter(|d| !d.is_null()).unwrap_or(json!(false)));
    cmd.insert(
        "integration_types".into(),
        body.get("integration_types").cloned().filter(|d| !d.is_null()).unwrap_or(json!([0])),
    );
    cmd.insert("contexts".into(), body.get("contexts").cloned().unwrap_or(Value::Null));
    if let Some(options) = body.get("options").filter(|o| o.is_array()) {
        cmd.insert("options".into(), options.clone());
    }
    if let Some(g) = guild {
        cmd.insert("guild_id".into(), json!(g.to_string()));
    }
    Value::Object(cmd)
}

/// A DM channel with one recipient, as `POST /users/@me/channels` returns it.
pub(crate) fn dm_channel(channel_id: u64, user_id: u64) -> Value {
    json!({
        "id": channel_id.to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [user(user_id)],
    })
}

/// Reads a snowflake that Discord may send as a string or a number.
pub(crate) fn snowflake_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A stable id per command name, shared with `payload::command` so dispatched interactions carry the id the
/// bulk overwrite returned.
pub(crate) fn command_id(name: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike std's RandomState.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    700_000_000_000_000_000 + hash % 100_000_000_000_000_000
}
