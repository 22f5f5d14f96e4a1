//! Interaction JSON -> serenity's `Interaction` -> our transport-agnostic `Invocation`. Reading the
//! JSON is shared by `rally serve` and by the gateway client for the events serenity drops.

use std::panic::AssertUnwindSafe;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serenity::model::application::{
    ActionRowComponent, CommandDataOption, CommandDataOptionValue, CommandInteraction, ComponentInteraction,
    Interaction, ModalInteraction,
};
use serenity::model::guild::Member;
use serenity::model::user::User;

use crate::domain::activity::Snowflake;
use crate::handlers::{Action, CommandCall, Invocation, OptionValue};

/// Why an interaction cannot be handled; answered with a short ephemeral note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("rally works inside a server, not in direct messages")]
    NotInGuild,
    #[error("this kind of interaction is not used by rally")]
    Kind,
}

fn display_name(user: &User, member: Option<&Member>) -> String {
    member.and_then(|m| m.nick.clone()).or_else(|| user.global_name.clone()).unwrap_or_else(|| user.name.clone())
}

fn options(opts: &[CommandDataOption], call: &mut CommandCall, focused: &mut Option<String>) {
    for opt in opts {
        let value = match &opt.value {
            CommandDataOptionValue::SubCommand(inner) => {
                call.sub = Some(opt.name.clone());
                options(inner, call, focused);
                continue;
            }
            CommandDataOptionValue::SubCommandGroup(inner) => {
                // rally has no subcommand groups; flatten defensively rather than fail.
                options(inner, call, focused);
                continue;
            }
            CommandDataOptionValue::Autocomplete { value, .. } => {
                *focused = Some(opt.name.clone());
                OptionValue::String(value.clone())
            }
            CommandDataOptionValue::String(s) => OptionValue::String(s.clone()),
            CommandDataOptionValue::Integer(i) => OptionValue::Integer(*i),
            CommandDataOptionValue::Number(n) => OptionValue::Number(*n),
            CommandDataOptionValue::Boolean(b) => OptionValue::Boolean(*b),
            CommandDataOptionValue::User(u) => OptionValue::User(u.get()),
            CommandDataOptionValue::Channel(c) => OptionValue::Channel(c.get()),
            CommandDataOptionValue::Role(r) => OptionValue::Role(r.get()),
            CommandDataOptionValue::Mentionable(m) => OptionValue::User(m.get()),
            _ => continue,
        };
        call.options.push((opt.name.clone(), value));
    }
}

fn guild_and_member(
    guild: Option<serenity::model::id::GuildId>,
    user: &User,
    member: Option<&Member>,
) -> Result<(Snowflake, Snowflake, String, Vec<u64>, u64), Unsupported> {
    let guild = guild.and_then(|g| Snowflake::new(g.get()).ok()).ok_or(Unsupported::NotInGuild)?;
    let member = member.ok_or(Unsupported::NotInGuild)?;
    let user_id = Snowflake::new(user.id.get()).map_err(|_| Unsupported::Kind)?;
    Ok((
        guild,
        user_id,
        display_name(user, Some(member)),
        member.roles.iter().map(|r| r.get()).collect(),
        member.permissions.map(|p| p.bits()).unwrap_or(0),
    ))
}

fn from_command(c: &CommandInteraction, autocomplete: bool) -> Result<Invocation, Unsupported> {
    let (guild, user, user_name, roles, permissions) = guild_and_member(c.guild_id, &c.user, c.member.as_deref())?;
    let mut call = CommandCall { name: c.data.name.clone(), ..CommandCall::default() };
    let mut focused = None;
    options(&c.data.options, &mut call, &mut focused);
    let mut resolved_users: Vec<(u64, String)> = c
        .data
        .resolved
        .users
        .iter()
        .map(|(id, u)| {
            let nick = c.data.resolved.members.get(id).and_then(|m| m.nick.clone());
            (id.get(), nick.or_else(|| u.global_name.clone()).unwrap_or_else(|| u.name.clone()))
        })
        .collect();
    resolved_users.sort();
    let action = match (autocomplete, focused) {
        (true, Some(focused)) => Action::Autocomplete { call, focused },
        (true, None) => return Err(Unsupported::Kind),
        (false, _) => Action::Command(call),
    };
    Ok(Invocation {
        id: c.id.get(),
        guild,
        channel: Some(c.channel_id.get()),
        user,
        user_name,
        roles,
        permissions,
        app_permissions: c.app_permissions.map(|p| p.bits()),
        resolved_users,
        locale: c.guild_locale.clone(),
        action,
    })
}

fn from_component(c: &ComponentInteraction) -> Result<Invocation, Unsupported> {
    let action = Action::Button { custom_id: c.data.custom_id.clone() };
    let at = Pressed {
        id: c.id.get(),
        guild: c.guild_id,
        channel: c.channel_id.get(),
        user: &c.user,
        member: c.member.as_ref(),
        app_permissions: c.app_permissions.map(|p| p.bits()),
        locale: c.guild_locale.as_ref(),
    };
    from_pressed(at, &c.data.custom_id, action)
}

fn from_modal(m: &ModalInteraction) -> Result<Invocation, Unsupported> {
    let fields = m
        .data
        .components
        .iter()
        .flat_map(|row| &row.components)
        .filter_map(|c| match c {
            ActionRowComponent::InputText(i) => Some((i.custom_id.clone(), i.value.clone().unwrap_or_default())),
            _ => None,
        })
        .collect();
    let action = Action::ModalSubmit { custom_id: m.data.custom_id.clone(), fields };
    let at = Pressed {
        id: m.id.get(),
        guild: m.guild_id,
        channel: m.channel_id.get(),
        user: &m.user,
        member: m.member.as_ref(),
        app_permissions: m.app_permissions.map(|p| p.bits()),
        locale: m.guild_locale.as_ref(),
    };
    from_pressed(at, &m.data.custom_id, action)
}

/// What a button press and a modal submission share.
struct Pressed<'a> {
    id: u64,
    guild: Option<serenity::model::id::GuildId>,
    channel: u64,
    user: &'a User,
    member: Option<&'a Member>,
    app_permissions: Option<u64>,
    locale: Option<&'a String>,
}

fn from_pressed(at: Pressed<'_>, custom_id: &str, action: Action) -> Result<Invocation, Unsupported> {
    // A hygiene DM's buttons (and the form one opens) are used in a DM, which has no guild: the
    // custom_id names its guild, and the handler lets only the deal's owner act. No roles or
    // permissions come with a DM.
    if at.guild.is_none() && at.member.is_none() {
        let guild = crate::handlers::hygiene::button_guild(custom_id)
            .and_then(|g| Snowflake::new(g).ok())
            .ok_or(Unsupported::NotInGuild)?;
        return Ok(Invocation {
            id: at.id,
            guild,
            channel: Some(at.channel),
            user: Snowflake::new(at.user.id.get()).map_err(|_| Unsupported::Kind)?,
            user_name: display_name(at.user, None),
            roles: Vec::new(),
            permissions: 0,
            app_permissions: None,
            resolved_users: Vec::new(),
            locale: None,
            action,
        });
    }
    let (guild, user, user_name, roles, permissions) = guild_and_member(at.guild, at.user, at.member)?;
    Ok(Invocation {
        id: at.id,
        guild,
        channel: Some(at.channel),
        user,
        user_name,
        roles,
        permissions,
        app_permissions: at.app_permissions,
        resolved_users: Vec::new(),
        locale: at.locale.cloned(),
        action,
    })
}

/// Converts an interaction; pings are the transport's business and come back as `Kind`.
pub fn invocation(interaction: &Interaction) -> Result<Invocation, Unsupported> {
    match interaction {
        Interaction::Command(c) => from_command(c, false),
        Interaction::Autocomplete(c) => from_command(c, true),
        Interaction::Component(c) => from_component(c),
        Interaction::Modal(m) => from_modal(m),
        _ => Err(Unsupported::Kind),
    }
}

/// Why a body is not an interaction rally can answer, naming the field at fault
/// (`missing field data.name`, `member.user.id: invalid value ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(String);

impl Unreadable {
    pub(super) fn new(why: impl Into<String>) -> Unreadable {
        Unreadable(why.into())
    }

    fn missing(field: &str) -> Unreadable {
        Unreadable(format!("missing field {field}"))
    }

    /// serde reports a missing field from inside the object that lacks it (`data` + "missing field
    /// `name`"); joined, that reads `missing field data.name`.
    fn at(error: serde_path_to_error::Error<serde_json::Error>) -> Unreadable {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let missing = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`'));
        match (path.as_str(), missing) {
            (".", Some(field)) => Unreadable::missing(field),
            (".", None) => Unreadable(message),
            (path, Some(field)) => Unreadable::missing(&format!("{path}.{field}")),
            (path, None) => Unreadable(format!("{path}: {message}")),
        }
    }
}

/// An interaction body as rally reads it.
#[derive(Debug)]
pub enum Incoming {
    /// Discord checking the endpoint: answered PONG, whatever else the body holds or lacks.
    Ping,
    Interaction(Box<Interaction>),
}

/// Reads an interaction body: any interaction Discord documents, abridged examples included (see
/// [`normalise`](super::normalise)); only a field rally needs, missing or malformed, makes it
/// unreadable.
pub fn read(body: &[u8]) -> Result<Incoming, Unreadable> {
    let value = serde_json::from_slice(body).map_err(|e| Unreadable(format!("the body is not JSON: {e}")))?;
    read_value(value)
}

/// [`read`] for an interaction already parsed as JSON (an INTERACTION_CREATE's `d`).
pub fn read_value(mut value: Value) -> Result<Incoming, Unreadable> {
    if !value.is_object() {
        return Err(Unreadable::new("an interaction is a JSON object"));
    }
    let kind = match value.get("type") {
        None | Some(Value::Null) => return Err(Unreadable::missing("type")),
        Some(kind) => kind.as_u64().ok_or_else(|| Unreadable(format!("type: {kind} is not an interaction type")))?,
    };
    if kind == 1 {
        return Ok(Incoming::Ping);
    }
    // Discord sends `member` exactly when it sends `guild_id`; serenity would take either alone,
    // and rally would answer a guild command as if it came from a DM.
    let present = |field: &str| value.get(field).is_some_and(|v| !v.is_null());
    match (present("guild_id"), present("member")) {
        (false, true) => return Err(Unreadable::missing("guild_id")),
        (true, false) => return Err(Unreadable::missing("member")),
        _ => {}
    }
    super::normalise::normalise(&mut value);
    let interaction = match kind {
        2 => Interaction::Command(deserialize(value)?),
        3 => Interaction::Component(deserialize(value)?),
        4 => Interaction::Autocomplete(deserialize(value)?),
        5 => Interaction::Modal(deserialize(value)?),
        other => return Err(Unreadable(format!("type: {other} is not an interaction type"))),
    };
    Ok(Incoming::Interaction(Box::new(interaction)))
}

/// Parses an interaction in serenity's model, as [`read`] does; a PING, which [`read`] answers
/// without looking further, must then be complete.
pub fn parse(body: &[u8]) -> Result<Interaction, Unreadable> {
    match read(body)? {
        Incoming::Interaction(interaction) => Ok(*interaction),
        Incoming::Ping => {
            let value = serde_json::from_slice(body).map_err(|e| Unreadable(e.to_string()))?;
            deserialize(value).map(Interaction::Ping)
        }
    }
}

/// serenity's model panics on some malformed values (an image hash, for one), so deserializing runs
/// under `catch_unwind`: a hostile body is an error, not a crash.
fn deserialize<T: DeserializeOwned>(value: Value) -> Result<T, Unreadable> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| serde_path_to_error::deserialize(value))) {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(e)) => Err(Unreadable::at(e)),
        Err(_) => Err(Unreadable::new("the interaction could not be parsed")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn submitted(components: Value) -> Result<Invocation, String> {
        let mut payload = crate::loopback::payload::dm_modal_submit(77, 5, 42, "ann", "hyg:step:9:3", &[]);
        payload["data"]["components"] = components;
        let Ok(Incoming::Interaction(i)) = read_value(payload) else { return Err("unreadable".into()) };
        invocation(&i).map_err(|e| e.to_string())
    }

    #[test]
    fn a_submitted_form_in_a_dm_gives_its_inputs_in_order_whether_in_rows_or_labels() {
        let rows = json!([
            {"type": 1, "id": 1, "components": [{"type": 4, "id": 2, "custom_id": "what", "value": "demo", "style": 1}]},
            // Discord's newer shape: a label around the input; an input without a value reads as "".
            {"type": 18, "id": 3, "component": {"type": 4, "custom_id": "due"}},
            {"type": 10, "id": 4, "content": "text that is no input"},
        ]);
        let inv = submitted(rows).unwrap();
        assert_eq!(inv.guild.get(), 9, "the form names its guild");
        assert_eq!(inv.user.get(), 42);
        assert_eq!(
            inv.action,
            Action::ModalSubmit {
                custom_id: "hyg:step:9:3".into(),
                fields: vec![("what".into(), "demo".into()), ("due".into(), String::new())],
            }
        );
        for odd in [json!(null), json!("x"), json!([1, [2], {"type": 4}]), json!([{"type": 4, "custom_id": 5}])] {
            let inv = submitted(odd.clone()).unwrap_or_else(|e| panic!("{odd}: {e}"));
            assert!(matches!(inv.action, Action::ModalSubmit { ref fields, .. } if fields.is_empty()), "{odd}");
        }
    }

    #[test]
    fn a_form_from_a_dm_that_names_no_guild_is_refused() {
        let mut payload = crate::loopback::payload::dm_modal_submit(77, 5, 42, "ann", "other:1", &[("a", "b")]);
        payload["data"]["custom_id"] = json!("other:1");
        let Ok(Incoming::Interaction(i)) = read_value(payload) else { panic!("unreadable") };
        assert_eq!(invocation(&i), Err(Unsupported::NotInGuild));
    }
}
