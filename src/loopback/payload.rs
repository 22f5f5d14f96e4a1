//! Builders for INTERACTION_CREATE `d` payloads carrying every field serenity 0.12.5 requires: serenity silently
//! drops an event that misses one (it becomes `Event::Unknown` and no handler runs).

use serde_json::{Map, Value, json};

use super::{APPLICATION_ID, objects};

/// Permissions the bot holds in the test guild (`app_permissions`): view, send, embed links, attach files, read
/// history, use application commands, manage roles. Enough for everything rally does.
pub const APP_PERMISSIONS: u64 = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31) | (1 << 28);

/// Discord's attachment size limit for a guild without boosts (25 MiB).
pub const ATTACHMENT_SIZE_LIMIT: u64 = 25 * 1024 * 1024;

/// The guild member who triggers an interaction.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: u64,
    pub username: String,
    pub roles: Vec<u64>,
    /// The member's computed permissions in the channel, as Discord sends them in `member.permissions`.
    pub permissions: u64,
}

impl Member {
    /// A member with no roles and an ordinary member's permissions (view, send, read history, use commands).
    pub fn new(user_id: u64, username: &str) -> Member {
        Member {
            user_id,
            username: username.to_string(),
            roles: Vec::new(),
            permissions: (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31),
        }
    }
}

/// The webhook token of an interaction built here; the loopback also accepts callbacks carrying it for
/// interactions it never dispatched (HTTP-mode tests).
pub fn token(id: u64) -> String {
    format!("tok{id}")
}

/// The id the loopback gives a registered command of this name, so dispatched commands match registered ones.
pub fn command_id(name: &str) -> u64 {
    objects::command_id(name)
}

fn user(member: &Member) -> Value {
    json!({
        "id": member.user_id.to_string(),
        "username": member.username,
        "discriminator": "0",
        "global_name": member.username,
        "avatar": null,
        "public_flags": 0,
    })
}

fn member_json(member: &Member) -> Value {
    json!({
        "user": user(member),
        "roles": member.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": null,
        "nick": null,
        "avatar": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "permissions": member.permissions.to_string(),
        "communication_disabled_until": null,
    })
}

fn base(id: u64, kind: u8, guild: u64, channel: u64, member: &Member, data: Value) -> Value {
    json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": guild.to_string(),
        "channel": {"id": channel.to_string(), "type": 0, "name": "general", "guild_id": guild.to_string()},
        "channel_id": channel.to_string(),
        "member": member_json(member),
        "token": token(id),
        "version": 1,
        "app_permissions": APP_PERMISSIONS.to_string(),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild.to_string()},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
}

/// Users named by USER (6) options, so `data.resolved.users` holds them as Discord's would.
fn resolved_users(options: &Value, out: &mut Map<String, Value>) {
    let Some(list) = options.as_array() else {
        return;
    };
    for option in list {
        if option.get("type").and_then(Value::as_u64) == Some(6)
            && let Some(uid) = objects::snowflake_of(option.get("value"))
        {
            out.insert(uid.to_string(), objects::user(uid));
        }
        if let Some(nested) = option.get("options") {
            resolved_users(nested, out);
        }
    }
}

fn command_data(name: &str, options: Value) -> Value {
    let options = if options.is_null() { json!([]) } else { options };
    let mut users = Map::new();
    resolved_users(&options, &mut users);
    let mut data = json!({
        "id": command_id(name).to_string(),
        "name": name,
        "type": 1,
        "options": options,
    });
    if !users.is_empty()
        && let Some(obj) = data.as_object_mut()
    {
        obj.insert("resolved".into(), json!({"users": users}));
    }
    data
}

/// A slash command (type 2). `options` is Discord's options array (`[]` or `null` for none), e.g.
/// `[{"name":"kind","type":3,"value":"call"}]`, with subcommands nested as Discord nests them.
pub fn command(id: u64, guild: u64, channel: u64, member: &Member, name: &str, options: Value) -> Value {
    base(id, 2, guild, channel, member, command_data(name, options))
}

/// An autocomplete request (type 4). One option should carry `"focused": true`; when none does, the last leaf
/// option is marked focused, as Discord always marks one.
pub fn autocomplete(id: u64, guild: u64, channel: u64, member: &Member, name: &str, options: Value) -> Value {
    let mut options = if options.is_null() { json!([]) } else { options };
    if !has_focused(&options) {
        mark_last_leaf_focused(&mut options);
    }
    base(id, 4, guild, channel, member, command_data(name, options))
}

fn has_focused(options: &Value) -> bool {
    options.as_array().is_some_and(|list| {
        list.iter().any(|o| {
            o.get("focused").and_then(Value::as_bool) == Some(true) || o.get("options").is_some_and(has_focused)
        })
    })
}

fn mark_last_leaf_focused(options: &mut Value) {
    let Some(last) = options.as_array_mut().and_then(|l| l.last_mut()) else {
        return;
    };
    if last.get("options").and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
        if let Some(nested) = last.get_mut("options") {
            mark_last_leaf_focused(nested);
        }
    } else if let Some(obj) = last.as_object_mut() {
        obj.insert("focused".into(), json!(true));
    }
}

/// A button press (type 3) on a message the bot posted earlier in `channel`; the message's id is `id - 1`.
pub fn button(id: u64, guild: u64, channel: u64, member: &Member, custom_id: &str) -> Value {
    let message = json!({
        "id": id.saturating_sub(1).max(1).to_string(),
        "channel_id": channel.to_string(),
        "author": objects::bot_user(),
        "content": "",
        "timestamp": "2024-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "button", "custom_id": custom_id}]}],
        "application_id": APPLICATION_ID.to_string(),
        "webhook_id": null,
    });
    let mut payload = base(id, 3, guild, channel, member, json!({"custom_id": custom_id, "component_type": 2}));
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("message".into(), message);
    }
    payload
}

/// A button press (type 3) in the bot's DM `channel` with `user_id`, on a message the bot sent
/// there (its id is `id - 1`): `user` instead of `member`, no guild, as Discord sends it.
pub fn dm_button(id: u64, channel: u64, user_id: u64, username: &str, custom_id: &str) -> Value {
    let member = Member::new(user_id, username);
    let mut payload = json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": 3,
        "data": {"custom_id": custom_id, "component_type": 2},
        "channel": {"id": channel.to_string(), "type": 1, "recipients": [user(&member)]},
        "channel_id": channel.to_string(),
        "user": user(&member),
        "token": token(id),
        "version": 1,
        "app_permissions": APP_PERMISSIONS.to_string(),
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": "0"},
        "context": 1,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    });
    if let Some(message) = button(id, 1, channel, &member, custom_id).get("message").cloned()
        && let Some(obj) = payload.as_object_mut()
    {
        obj.insert("message".into(), message);
    }
    payload
}

/// A submitted form (MODAL_SUBMIT, type 5) in the bot's DM `channel` with `user_id`: the form's
/// `custom_id` and each text input's (custom_id, value), one action row each, as Discord sends it.
pub fn dm_modal_submit(
    id: u64,
    channel: u64,
    user_id: u64,
    username: &str,
    custom_id: &str,
    fields: &[(&str, &str)],
) -> Value {
    let mut payload = dm_button(id, channel, user_id, username, custom_id);
    let rows: Vec<Value> = fields
        .iter()
        .map(|(id, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]}))
        .collect();
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("type".into(), json!(5));
        obj.insert("data".into(), json!({"custom_id": custom_id, "components": rows}));
        obj.remove("message");
    }
    payload
}

/// A PING (type 1), as Discord sends to an HTTP interactions endpoint to check it.
pub fn ping(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": 1,
        "token": token(id),
        "version": 1,
        "user": null,
        "entitlements": [],
        "authorizing_integration_owners": {},
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
}

/// A slash command used in the bot's DM with `user_id` (context 1): `user` instead of `member`, no guild.
pub fn dm_command(id: u64, channel: u64, user_id: u64, username: &str, name: &str, options: Value) -> Value {
    let member = Member::new(user_id, username);
    json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": 2,
        "data": command_data(name, options),
        "channel": {"id": channel.to_string(), "type": 1, "recipients": [user(&member)]},
        "channel_id": channel.to_string(),
        "user": user(&member),
        "token": token(id),
        "version": 1,
        "app_permissions": APP_PERMISSIONS.to_string(),
        "locale": "en-US",
        "entitlements": [],
        // "0" is how Discord says "installed to a guild, used outside one".
        "authorizing_integration_owners": {"0": "0"},
        "context": 1,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
}
