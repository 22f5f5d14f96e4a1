//! Makes any interaction Discord documents readable by serenity 0.12.5. serenity's model requires
//! fields that Discord's own examples leave out and that rally never reads (`entitlements`,
//! `attachment_size_limit`, `member.flags`, a whole `message` under a button press...). Before
//! serenity sees a payload, [`normalise`] keeps the fields rally reads exactly as they came and puts
//! a fixed neutral value in every other field serenity insists on, so neither the absence nor the
//! shape of a field rally ignores can make an interaction unreadable. A field rally reads is never
//! invented: when it is missing, serenity's error names it. Imports nothing of ours.
//!
//! What rally reads (see `convert`): `id`, `application_id`, `type`, `token`, `guild_id`,
//! `guild_locale` (the server's currency and number format until it chooses them),
//! `channel_id` (or `channel.id`), `app_permissions`; `member.{user, nick, roles, permissions}`;
//! a user's `id`, `username` and `global_name`; a command's `data.{name, options}` and the users and
//! member nicks in `data.resolved`; a component's `data.custom_id`. Reading another field means
//! adding it here first: until then serenity holds a placeholder for it.

use serde_json::{Map, Value, json};

/// A snowflake for ids serenity requires and rally never reads (serenity's ids are non-zero).
const PLACEHOLDER_ID: &str = "1";

const TOP: &[&str] = &[
    "id",
    "application_id",
    "type",
    "token",
    "guild_id",
    "guild_locale",
    "channel_id",
    "app_permissions",
    "member",
    "user",
    "data",
];
const MEMBER: &[&str] = &["user", "nick", "roles", "permissions"];
const USER: &[&str] = &["id", "username", "global_name"];

/// Rewrites an application command, component, autocomplete or modal interaction (types 2 to 5)
/// in place; anything else, a PING included, is left as it is.
pub fn normalise(interaction: &mut Value) {
    let kind = interaction.get("type").and_then(Value::as_u64);
    let Some(obj) = interaction.as_object_mut().filter(|_| matches!(kind, Some(2..=5))) else {
        return;
    };
    // Newer payloads carry the whole channel beside (and one day instead of) `channel_id`.
    if !obj.contains_key("channel_id")
        && let Some(id) = obj.get("channel").and_then(|c| c.get("id")).cloned()
    {
        obj.insert("channel_id".into(), id);
    }
    obj.retain(|k, _| TOP.contains(&k.as_str()));
    // The locale only gives defaults; one of another shape is as good as none.
    if obj.get("guild_locale").is_some_and(|l| !l.is_string()) {
        obj.remove("guild_locale");
    }
    obj.insert("version".into(), json!(1));
    obj.insert("locale".into(), json!(""));
    obj.insert("entitlements".into(), json!([]));
    obj.insert("attachment_size_limit".into(), json!(0));
    if let Some(member) = obj.get_mut("member").and_then(Value::as_object_mut) {
        normalise_member(member);
    }
    if let Some(user) = obj.get_mut("user") {
        normalise_user(user);
    }
    let data = obj.get_mut("data").and_then(Value::as_object_mut);
    match (kind, data) {
        (Some(2 | 4), Some(data)) => normalise_command_data(data),
        (Some(3), data) => {
            if let Some(data) = data {
                data.retain(|k, _| k == "custom_id");
                // Rally answers every component as a button press.
                data.insert("component_type".into(), json!(2));
            }
            obj.insert("message".into(), placeholder_message());
        }
        // Of a submitted form rally reads its custom_id and each text input's custom_id and value,
        // wherever Discord nests them (action rows, or labels around them).
        (Some(5), data) => {
            let custom_id = data.as_ref().and_then(|d| d.get("custom_id")).and_then(Value::as_str).unwrap_or("");
            let custom_id = custom_id.to_string();
            let mut inputs = Vec::new();
            if let Some(data) = &data {
                collect_inputs(data.get("components"), &mut inputs, 0);
            }
            let rows: Vec<Value> = inputs.into_iter().map(|i| json!({"type": 1, "components": [i]})).collect();
            obj.insert("data".into(), json!({"custom_id": custom_id, "components": rows}));
        }
        _ => {}
    }
}

/// The text inputs (type 4) under `v`, as `{type, custom_id, value}`, at most 5 levels deep and 25
/// in all (Discord's most); anything else is dropped.
fn collect_inputs(v: Option<&Value>, out: &mut Vec<Value>, depth: usize) {
    let Some(v) = v.filter(|_| depth < 5 && out.len() < 25) else { return };
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_inputs(Some(i), out, depth + 1)),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_u64) == Some(4)
                && let Some(id) = o.get("custom_id").and_then(Value::as_str)
            {
                let value = o.get("value").and_then(Value::as_str).unwrap_or("");
                out.push(json!({"type": 4, "custom_id": id, "value": value}));
                return;
            }
            collect_inputs(o.get("components"), out, depth + 1);
            collect_inputs(o.get("component"), out, depth + 1);
        }
        _ => {}
    }
}

fn normalise_member(member: &mut Map<String, Value>) {
    member.retain(|k, _| MEMBER.contains(&k.as_str()));
    member.insert("deaf".into(), json!(false));
    member.insert("mute".into(), json!(false));
    member.insert("flags".into(), json!(0));
    if let Some(user) = member.get_mut("user") {
        normalise_user(user);
    }
}

/// Avatars, banners and the like are dropped too: serenity panics on some malformed image hashes.
fn normalise_user(user: &mut Value) {
    if let Some(user) = user.as_object_mut() {
        user.retain(|k, _| USER.contains(&k.as_str()));
    }
}

fn normalise_command_data(data: &mut Map<String, Value>) {
    data.retain(|k, _| matches!(k.as_str(), "name" | "options" | "resolved"));
    data.insert("id".into(), json!(PLACEHOLDER_ID));
    data.insert("type".into(), json!(1));
    let Some(resolved) = data.get_mut("resolved").and_then(Value::as_object_mut) else {
        return;
    };
    resolved.retain(|k, _| k == "users" || k == "members");
    if let Some(users) = resolved.get_mut("users").and_then(Value::as_object_mut) {
        users.values_mut().for_each(normalise_user);
    }
    if let Some(members) = resolved.get_mut("members").and_then(Value::as_object_mut) {
        for member in members.values_mut().filter_map(Value::as_object_mut) {
            member.retain(|k, _| k == "nick");
            member.insert("roles".into(), json!([]));
        }
    }
}

/// The message a button sat on: serenity requires one in full; rally answers from `custom_id`.
fn placeholder_message() -> Value {
    json!({
        "id": PLACEHOLDER_ID,
        "channel_id": PLACEHOLDER_ID,
        "author": {"id": PLACEHOLDER_ID, "username": ""},
        "content": "",
        "timestamp": "1970-01-01T00:00:00Z",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
    })
}
