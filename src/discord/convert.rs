//! serenity's `Interaction` -> our transport-agnostic `Invocation`.

use serenity::model::application::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, ComponentInteraction, Interaction,
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
    let (guild, user, user_name, roles, permissions) = guild_and_member(c.guild_id, &c.user, c.member.as_ref())?;
    Ok(Invocation {
        id: c.id.get(),
        guild,
        channel: Some(c.channel_id.get()),
        user,
        user_name,
        roles,
        permissions,
        app_permissions: c.app_permissions.map(|p| p.bits()),
        resolved_users: Vec::new(),
        locale: c.guild_locale.clone(),
        action: Action::Button { custom_id: c.data.custom_id.clone() },
    })
}

/// Converts an interaction; pings are the transport's business and come back as `Kind`.
pub fn invocation(interaction: &Interaction) -> Result<Invocation, Unsupported> {
    match interaction {
        Interaction::Command(c) => from_command(c, false),
        Interaction::Autocomplete(c) => from_command(c, true),
        Interaction::Component(c) => from_component(c),
        _ => Err(Unsupported::Kind),
    }
}

/// Parses an interaction from JSON. serenity's model panics on some malformed values (an image
/// hash, for one), so the parse runs under `catch_unwind`: a hostile body is an error, not a crash.
pub fn parse(body: &[u8]) -> Result<Interaction, String> {
    match std::panic::catch_unwind(|| serde_json::from_slice::<Interaction>(body)) {
        Ok(Ok(interaction)) => Ok(interaction),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the interaction could not be parsed".into()),
    }
}
